//! The durable card store: a journal in one preallocated file.
//!
//! # Why a journal
//! A value command changes two small records (the counters and one cell of
//! the audit ring). Rewriting the whole image per command (shadow image: temp file,
//! fsync, rename, directory fsync) costs a data sync *and* two metadata
//! syncs, about 420 µs here. Appending one small record to a file whose
//! blocks are already allocated costs one `pwrite` and one `fdatasync`
//! (about 120 µs), and the directory is untouched. So each commit is:
//! write the record at the tail, then `fdatasync`. Nothing is acknowledged
//! before that sync returns.
//!
//! # File format (version 2)
//! - Header, 64 bytes: magic `PCMJRNL1`, format version u16, generation
//!   u64, SHA-256 of those 18 bytes, zero padding.
//! - Records from offset 64: `length u32 | seq u64 | head check [4] |
//!   payload | SHA-256(everything before) | A5`. The head check (the first 4
//!   bytes of SHA-256(length || seq)) vouches for the length on its own; the
//!   last byte is never zero. The payload is `count u16` then `(id u16,
//!   length u32, bytes)` per record write (an empty value deletes the
//!   record). Sequence numbers increase by one.
//! - The rest of the file is zeros.
//!
//! Version 1 (no head check, no end byte) still opens; its first commit
//! rewrites the whole state as version 2 (see compaction).
//!
//! # Recovery
//! Records are replayed in order. The first record that is not valid ends
//! the log. A torn append and a damaged record are told apart by what a
//! power cut can leave (the crash model of [`fault`]): a write cut short
//! keeps a prefix of its bytes, so a torn record keeps its head and lacks
//! its last byte, and a record is acknowledged only after its sync, when all
//! of it is on disk.
//! - A torn append (intact head with the next sequence number, nothing on
//!   disk from the record's last byte on) was never acknowledged: it is
//!   zeroed and the state is that of the last complete commit.
//! - Anything else is damage: a record that reached the disk whole and fails
//!   its checksum, a damaged head, a valid record later in the file. Opening
//!   fails with an error that names the path. A bit flip must never
//!   silently roll money back.
//!
//! # Compaction
//! When a record does not fit, the whole state is written as one record into
//! a new zero-filled file (`<name>.new`). That file is synced, renamed over
//! the journal, and the directory is synced. A power cut leaves either the
//! old journal or the new one. [`Store::discard_history`] compacts on
//! demand, so that overwritten values (keys and PINs after tamper) leave the
//! file.
//!
//! # One owner
//! Opening takes an exclusive lock ([`Medium::lock`]) held as long as the
//! store lives; a second process on the same file is refused with the path
//! named ([`JournalError::InUse`]).
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
pub mod format;
pub mod medium;

use crate::memory_store::MemoryStore;
use card_core::platform::{RecordId, Store, StoreError, WriteSet};
pub use format::{FORMAT_VERSION, HEADER_LEN, MAGIC};
use format::{Layout, decode_payload, encode_payload, encode_record, header, is_torn_append, parse_record};
use medium::Medium;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Default file size (zero-filled); grows when the state needs more.
pub const DEFAULT_CAPACITY: usize = 1024 * 1024;

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
    /// Another process has the journal open.
    #[error("{path}: the card state is already in use by another process (one process owns a state file)")]
    InUse {
        /// File.
        path: PathBuf,
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

impl<M: Medium> JournalStore<M> {
    /// Opens (recovering) or creates the journal `name` on `medium`.
    pub fn open(medium: M, name: &str) -> Result<Self, JournalError> {
        Self::open_with_capacity(medium, name, DEFAULT_CAPACITY)
    }

    /// As [`Self::open`], compacting into files of `capacity` bytes.
    pub fn open_with_capacity(mut medium: M, name: &str, capacity: usize) -> Result<Self, JournalError> {
        let path = medium.path_of(name);
        match medium.lock(name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(JournalError::InUse { path }),
            Err(source) => return Err(JournalError::Io { path, source }),
        }
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
        match store.medium.read(name) {
            Ok(Some(file)) => store.recover(&file, &path)?,
            Ok(None) => {}
            Err(source) => return Err(JournalError::Io { path, source }),
        }
        Ok(store)
    }

    /// Replays `file` into the store. See the module documentation for the rules.
    fn recover(&mut self, file: &[u8], path: &std::path::Path) -> Result<(), JournalError> {
        let invalid = |what: String| JournalError::Invalid { path: path.to_path_buf(), what };
        let head = file.get(..HEADER_LEN).ok_or_else(|| invalid("truncated journal header".into()))?;
        if &head[..8] != MAGIC {
            return Err(invalid("not a PCMeter card journal".into()));
        }
        if Sha256::digest(&head[..18]).as_slice() != &head[18..50] {
            return Err(invalid("journal header checksum mismatch: the file is corrupted".into()));
        }
        let version = u16::from_be_bytes([head[8], head[9]]);
        let layout = Layout::of_version(version).ok_or_else(|| {
            invalid(format!("unsupported journal format version {version} (this build reads 1 to {FORMAT_VERSION})"))
        })?;
        self.generation = u64::from_be_bytes(head[10..18].try_into().unwrap_or_default());
        let mut at = HEADER_LEN;
        let mut last_seq = None;
        while let Some(record) = parse_record(layout, file, at) {
            if last_seq.is_some_and(|l: u64| record.seq != l + 1) {
                break;
            }
            let set = decode_payload(record.payload)
                .ok_or_else(|| invalid(format!("record at offset {at} does not decode")))?;
            self.records.commit(&set).map_err(|_| invalid("record does not apply".into()))?;
            last_seq = Some(record.seq);
            at += record.total;
        }
        let garbage_end = file.iter().rposition(|b| *b != 0).map_or(at, |i| (i + 1).max(at));
        if garbage_end > at {
            let after = last_seq.unwrap_or(0);
            let later = (at + 1..garbage_end)
                .any(|o| parse_record(layout, file, o).is_some_and(|r| r.seq > after && r.seq <= after + 1_000_000));
            if later {
                return Err(invalid(format!("record at offset {at} is corrupted and later records exist")));
            }
            if !is_torn_append(layout, file, at, last_seq.map(|l| l + 1), garbage_end) {
                return Err(invalid(format!(
                    "record at offset {at} is damaged: it reached the disk whole, so it may have been \
                     acknowledged, and it is not dropped (that would roll committed state back)"
                )));
            }
            // A torn append, never acknowledged: wipe it so that it can never be mistaken for data.
            let io = |source| JournalError::Io { path: path.to_path_buf(), source };
            let zeros = vec![0u8; garbage_end - at];
            self.medium.write_at(&self.name, at as u64, &zeros).map_err(io)?;
            self.medium.sync(&self.name).map_err(io)?;
            tracing::warn!(path = %path.display(), offset = at, bytes = zeros.len(), "discarded a torn journal record");
        }
        self.tail = at;
        self.file_len = file.len();
        self.next_seq = last_seq.map_or(1, |l| l + 1);
        if layout != Layout::V2 {
            // Upgrade: the next commit rewrites the whole state in the current format.
            self.file_len = self.tail;
            tracing::info!(path = %path.display(), version, "journal of an older format: rewritten on the next commit");
        }
        Ok(())
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

    /// Logs a failed operation and maps it to the store error the card reports.
    fn failed(&self, what: &str, e: &std::io::Error) -> StoreError {
        tracing::error!(path = %self.medium.path_of(&self.name).display(), error = %e, "{what}");
        if e.raw_os_error() == Some(28) { StoreError::Full } else { StoreError::Io }
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
            Err(e) => Err(self.failed("card commit failed; nothing committed", &e)),
        }
    }

    fn discard_history(&mut self) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Io);
        }
        if self.tail == 0 {
            return Ok(());
        }
        let current = self.records.clone();
        match self.compact(&current) {
            Ok(()) => {
                self.next_seq += 1;
                Ok(())
            }
            Err(e) => Err(self.failed("discarding the journal history failed; the old file stays", &e)),
        }
    }
}
