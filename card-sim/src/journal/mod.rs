//! The durable card store: a journal in one preallocated file.
//!
//! # Why a journal
//! A value command changes two small records (the counters and one audit
//! slot). Rewriting the whole image per command (shadow image: temp file,
//! fsync, rename, directory fsync) costs a data sync *and* two metadata
//! syncs, about 420 µs here. Appending one small record to a file whose
//! blocks are already allocated costs one `pwrite` and one `fdatasync`
//! (about 120 µs), and the directory is untouched. So each commit is:
//! write the record at the tail, then `fdatasync`. Nothing is acknowledged
//! before that sync returns.
//!
//! # File format (version 1)
//! - Header, 64 bytes: magic `PCMJRNL1`, format version u16, generation
//!   u64, SHA-256 of those 18 bytes, zero padding.
//! - Records from offset 64: `length u32 | seq u64 | payload | SHA-256(length
//!   || seq || payload)`. The payload is `count u16` then `(id u16, length
//!   u32, bytes)` per record write (an empty value deletes the record).
//!   Sequence numbers increase by one.
//! - The rest of the file is zeros.
//!
//! # Recovery
//! Records are replayed in order. The first record that is not valid ends
//! the log:
//! - If no valid record follows it, it was a torn append. It is zeroed and
//!   the state is that of the last complete commit.
//! - If a valid later record does follow, the file is corrupted, and opening
//!   fails with an error that names the path. A bit flip must never
//!   silently roll money back.
//!
//! # Compaction
//! When a record does not fit, the whole state is written as one record into
//! a new zero-filled file (`<name>.new`). That file is synced, renamed over
//! the journal, and the directory is synced. A power cut leaves either the
//! old journal or the new one.
//!
//! # Threat model
//! What this protects: atomicity and durability of every card transaction
//! against power loss at any instruction, torn sector writes, and disk-full
//! errors, which never overwrite the last good state. It also detects
//! accidental corruption and truncation (per-record SHA-256, header
//! checksum, format version).
//!
//! What only a secure element can protect: confidentiality and integrity of
//! the file against someone who can read or write it. A host attacker can
//! read the keys in it, or replace the whole file with an older copy of
//! itself (a rollback); the checksums are not keyed. File mode 0600 limits
//! this to root and the owner. A real card keeps this state inside tamper-
//! resistant memory and has no such file.

pub mod fault;
pub mod medium;

use crate::memory_store::MemoryStore;
use card_core::platform::{RecordId, Store, StoreError, WriteSet};
use medium::Medium;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Magic bytes of a journal file.
pub const MAGIC: &[u8; 8] = b"PCMJRNL1";
/// Current journal format version.
pub const FORMAT_VERSION: u16 = 1;
/// Header length.
pub const HEADER_LEN: usize = 64;
/// Default file size (zero-filled); grows when the state needs more.
pub const DEFAULT_CAPACITY: usize = 1024 * 1024;
const RECORD_OVERHEAD: usize = 4 + 8 + 32;

/// Why a journal could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// I/O error.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a valid journal.
    #[error("{path}: {what}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The journal store over a [`Medium`].
#[derive(Debug)]
pub struct JournalStore<M: Medium> {
    medium: M,
    name: String,
    records: MemoryStore,
    /// Offset where the next record goes (0 = no file yet).
    tail: usize,
    /// Size of the zero-filled file.
    file_len: usize,
    next_seq: u64,
    generation: u64,
    capacity: usize,
    /// Set when a failure left the file in a state this handle cannot vouch
    /// for; every later commit fails until the store is reopened.
    poisoned: bool,
}

fn header(generation: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    h.extend_from_slice(&generation.to_be_bytes());
    let digest = Sha256::digest(&h);
    h.extend_from_slice(&digest);
    h.resize(HEADER_LEN, 0);
    h
}

fn encode_payload(writes: &[(RecordId, &[u8])]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&(writes.len() as u16).to_be_bytes());
    for (id, value) in writes {
        p.extend_from_slice(&id.0.to_be_bytes());
        p.extend_from_slice(&(value.len() as u32).to_be_bytes());
        p.extend_from_slice(value);
    }
    p
}

fn encode_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(payload.len() + RECORD_OVERHEAD);
    r.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes());
    r.extend_from_slice(payload);
    let digest = Sha256::digest(&r);
    r.extend_from_slice(&digest);
    r
}

/// A record parsed at an offset: its sequence number, payload and total length.
fn parse_record(file: &[u8], at: usize) -> Option<(u64, &[u8], usize)> {
    let len = u32::from_be_bytes(file.get(at..at + 4)?.try_into().ok()?) as usize;
    if len == 0 {
        return None;
    }
    let total = len.checked_add(RECORD_OVERHEAD)?;
    let rec = file.get(at..at.checked_add(total)?)?;
    let (body, digest) = rec.split_at(total - 32);
    if Sha256::digest(body).as_slice() != digest {
        return None;
    }
    let seq = u64::from_be_bytes(body.get(4..12)?.try_into().ok()?);
    Some((seq, &body[12..], total))
}

fn decode_payload(payload: &[u8]) -> Option<WriteSet> {
    let count = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?);
    let mut rest = &payload[2..];
    let mut set = WriteSet::new();
    for _ in 0..count {
        let id = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
        let len = u32::from_be_bytes(rest.get(2..6)?.try_into().ok()?) as usize;
        let value = rest.get(6..6 + len)?;
        set.put(RecordId(id), value.to_vec());
        rest = &rest[6 + len..];
    }
    rest.is_empty().then_some(set)
}

impl<M: Medium> JournalStore<M> {
    /// Opens (recovering) or creates the journal `name` on `medium`.
    pub fn open(medium: M, name: &str) -> Result<Self, JournalError> {
        Self::open_with_capacity(medium, name, DEFAULT_CAPACITY)
    }

    /// As [`Self::open`], compacting into files of `capacity` bytes.
    pub fn open_with_capacity(medium: M, name: &str, capacity: usize) -> Result<Self, JournalError> {
        let path = medium.path_of(name);
        let invalid = |what: String| JournalError::Invalid { path: path.clone(), what };
        let io = |source| JournalError::Io { path: path.clone(), source };
        let mut store = Self {
            records: MemoryStore::new(),
            tail: 0,
            file_len: 0,
            next_seq: 1,
            generation: 0,
            capacity: capacity.max(HEADER_LEN * 2),
            poisoned: false,
            name: name.to_owned(),
            medium,
        };
        let file = match store.medium.read(name) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(store),
            Err(e) => return Err(io(e)),
        };
        let head = file.get(..HEADER_LEN).ok_or_else(|| invalid("truncated journal header".into()))?;
        if &head[..8] != MAGIC {
            return Err(invalid("not a PCMeter card journal".into()));
        }
        if Sha256::digest(&head[..18]).as_slice() != &head[18..50] {
            return Err(invalid("journal header checksum mismatch: the file is corrupted".into()));
        }
        let version = u16::from_be_bytes([head[8], head[9]]);
        if version != FORMAT_VERSION {
            return Err(invalid(format!(
                "unsupported journal format version {version} (this build reads {FORMAT_VERSION})"
            )));
        }
        store.generation = u64::from_be_bytes(head[10..18].try_into().unwrap_or_default());
        let mut at = HEADER_LEN;
        let mut last_seq = 0u64;
        while let Some((seq, payload, total)) = parse_record(&file, at) {
            if last_seq != 0 && seq != last_seq + 1 {
                break;
            }
            let set =
                decode_payload(payload).ok_or_else(|| invalid(format!("record at offset {at} does not decode")))?;
            store.records.commit(&set).map_err(|_| invalid("record does not apply".into()))?;
            last_seq = seq;
            at += total;
        }
        // Anything valid after the end of the log means corruption, not a torn append.
        let garbage_end = file.iter().rposition(|b| *b != 0).map_or(at, |i| (i + 1).max(at));
        if garbage_end > at {
            let corrupted = (at + 1..garbage_end).any(|o| {
                parse_record(&file, o).is_some_and(|(seq, _, _)| seq > last_seq && seq <= last_seq + 1_000_000)
            });
            if corrupted {
                return Err(invalid(format!("record at offset {at} is corrupted and later records exist")));
            }
            // A torn append: wipe it so that it can never be mistaken for data.
            let zeros = vec![0u8; garbage_end - at];
            store.medium.write_at(name, at as u64, &zeros).map_err(io)?;
            store.medium.sync(name).map_err(io)?;
            tracing::warn!(path = %path.display(), offset = at, bytes = zeros.len(), "discarded a torn journal record");
        }
        store.tail = at;
        store.file_len = file.len();
        store.next_seq = last_seq + 1;
        Ok(store)
    }

    /// The committed records (tests compare states).
    pub fn snapshot(&self) -> BTreeMap<u16, Vec<u8>> {
        self.records.records().map(|(k, v)| (k, v.to_vec())).collect()
    }

    /// True when nothing has been committed.
    pub fn is_empty(&self) -> bool {
        self.records.records().next().is_none()
    }

    /// Makes the next commit compact into a new file (tests of the compaction path).
    pub fn force_compaction(&mut self) {
        self.file_len = self.tail;
    }

    /// The medium (tests).
    pub fn medium_mut(&mut self) -> &mut M {
        &mut self.medium
    }

    /// Gives the medium back (tests reboot it).
    pub fn into_medium(self) -> M {
        self.medium
    }

    /// Writes `next` into a new file and renames it over the journal. An error
    /// before the rename leaves the journal untouched; one after it poisons
    /// the handle (the directory entry may or may not have changed).
    fn compact(&mut self, next: &MemoryStore) -> std::io::Result<()> {
        let all: Vec<(RecordId, &[u8])> = next.records().map(|(k, v)| (RecordId(k), v)).collect();
        let record = encode_record(self.next_seq, &encode_payload(&all));
        let generation = self.generation + 1;
        let len = (HEADER_LEN + record.len() * 2).max(self.capacity);
        let mut image = header(generation);
        image.extend_from_slice(&record);
        image.resize(len, 0);
        let tmp = format!("{}.new", self.name);
        self.medium.create(&tmp)?;
        self.medium.write_at(&tmp, 0, &image)?;
        self.medium.sync(&tmp)?;
        self.poisoned = true;
        self.medium.rename(&tmp, &self.name)?;
        self.medium.sync_dir()?;
        self.poisoned = false;
        self.generation = generation;
        self.tail = HEADER_LEN + record.len();
        self.file_len = len;
        Ok(())
    }
}

impl<M: Medium> Store for JournalStore<M> {
    fn read(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        self.records.read(id)
    }

    fn commit(&mut self, set: &WriteSet) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Io);
        }
        let writes: Vec<(RecordId, &[u8])> = set.writes().iter().map(|(id, v)| (*id, v.as_slice())).collect();
        let record = encode_record(self.next_seq, &encode_payload(&writes));
        let result = if self.tail == 0 || self.tail + record.len() > self.file_len {
            // Only compaction needs the new state before it is durable.
            let mut next = self.records.clone();
            next.commit(set)?;
            self.compact(&next).map(|()| self.records = next)
        } else {
            let appended =
                self.medium.write_at(&self.name, self.tail as u64, &record).and_then(|()| self.medium.sync(&self.name));
            match appended {
                Ok(()) => {
                    self.tail += record.len();
                    self.records.commit(set).map_err(|_| std::io::Error::other("in-memory apply failed"))
                }
                Err(e) => {
                    // The record may sit unsynced in the cache and reach the disk
                    // later: scrub it, or stop trusting this handle.
                    let zeros = vec![0u8; record.len()];
                    let scrubbed = self
                        .medium
                        .write_at(&self.name, self.tail as u64, &zeros)
                        .and_then(|()| self.medium.sync(&self.name));
                    self.poisoned = scrubbed.is_err();
                    Err(e)
                }
            }
        };
        match result {
            Ok(()) => {
                self.next_seq += 1;
                Ok(())
            }
            Err(e) => {
                tracing::error!(path = %self.medium.path_of(&self.name).display(), error = %e, "card commit failed; nothing committed");
                Err(if e.raw_os_error() == Some(28) { StoreError::Full } else { StoreError::Io })
            }
        }
    }
}
