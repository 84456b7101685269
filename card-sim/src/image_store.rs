//! A file store that keeps the whole persistent image in one file and
//! replaces it atomically on every commit (shadow image: write a temporary
//! file, fsync it, rename it over the old one, fsync the directory). A power
//! cut leaves either the old image or the new one.
//!
//! Image format (big-endian): magic `PCMIMG`, format version u16, record
//! count u32, then `id u16 | length u32 | bytes` per record, then SHA-256 over
//! everything before it. A truncated, corrupted or unknown-version image is
//! refused with an error naming the path; it is never silently read.
//!
//! This costs a data sync plus a rename and a directory sync per commit. The
//! journal store of the tear-safety work replaces it on the hot path.

use crate::memory_store::MemoryStore;
use card_core::platform::{RecordId, Store, StoreError, WriteSet};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"PCMIMG";
/// Current image format version.
pub const IMAGE_VERSION: u16 = 1;

/// Why an image could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The image is not valid.
    #[error("{path}: {what}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
}

/// The shadow-image file store.
#[derive(Debug)]
pub struct ImageFileStore {
    path: PathBuf,
    records: MemoryStore,
}

fn encode(records: &MemoryStore) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.image_size() + 48);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&IMAGE_VERSION.to_be_bytes());
    let all: Vec<(u16, &[u8])> = records.records().collect();
    out.extend_from_slice(&(all.len() as u32).to_be_bytes());
    for (id, value) in all {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn decode(path: &Path, bytes: &[u8]) -> Result<MemoryStore, ImageError> {
    let invalid = |what| ImageError::Invalid { path: path.to_path_buf(), what };
    let body_len = bytes.len().checked_sub(32).ok_or_else(|| invalid("truncated image"))?;
    let (body, digest) = bytes.split_at(body_len);
    if body.len() < 12 || &body[..6] != MAGIC {
        return Err(invalid("not a PCMeter card image"));
    }
    if Sha256::digest(body).as_slice() != digest {
        return Err(invalid("checksum mismatch: the image is corrupted or truncated"));
    }
    if u16::from_be_bytes([body[6], body[7]]) != IMAGE_VERSION {
        return Err(invalid("unsupported image format version"));
    }
    let count = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
    let mut rest = &body[12..];
    let mut set = WriteSet::new();
    for _ in 0..count {
        if rest.len() < 6 {
            return Err(invalid("truncated record header"));
        }
        let id = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
        let value = rest.get(6..6 + len).ok_or_else(|| invalid("truncated record"))?;
        set.put(RecordId(id), value.to_vec());
        rest = &rest[6 + len..];
    }
    if !rest.is_empty() {
        return Err(invalid("trailing bytes after the records"));
    }
    let mut records = MemoryStore::new();
    records.commit(&set).map_err(|_| invalid("records do not load"))?;
    Ok(records)
}

impl ImageFileStore {
    /// Opens the image at `path`, or starts an empty store if it does not exist.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        let io = |source| ImageError::Io { path: path.to_path_buf(), source };
        let records = match fs::read(path) {
            Ok(bytes) => decode(path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                if !dir.is_dir() {
                    return Err(io(std::io::Error::new(std::io::ErrorKind::NotFound, "directory does not exist")));
                }
                MemoryStore::new()
            }
            Err(e) => return Err(io(e)),
        };
        Ok(Self { path: path.to_path_buf(), records })
    }

    /// True when the store holds no record (a new card).
    pub fn is_empty(&self) -> bool {
        self.records.records().next().is_none()
    }

    /// The image path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_image(&self, image: &[u8]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f: File = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(image)?;
        f.sync_data()?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
}

impl Store for ImageFileStore {
    fn read(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        self.records.read(id)
    }

    fn commit(&mut self, set: &WriteSet) -> Result<(), StoreError> {
        let mut next = self.records.clone();
        next.commit(set)?;
        if let Err(e) = self.write_image(&encode(&next)) {
            tracing::error!(path = %self.path.display(), error = %e, "card image commit failed; previous image kept");
            return Err(if e.raw_os_error() == Some(28) { StoreError::Full } else { StoreError::Io });
        }
        self.records = next;
        Ok(())
    }
}
