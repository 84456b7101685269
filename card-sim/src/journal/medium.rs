//! The low-level operations a durable store performs, as a trait, so that a
//! fault-injecting medium can cut power after any one of them.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A directory of files with explicit durability points.
pub trait Medium {
    /// Reads a whole file; `None` when it does not exist.
    fn read(&mut self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Creates (or truncates) a file readable only by its owner.
    fn create(&mut self, name: &str) -> io::Result<()>;
    /// Writes `data` at `offset` (not durable until [`Medium::sync`]).
    fn write_at(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes a file's data durable (`fdatasync`).
    fn sync(&mut self, name: &str) -> io::Result<()>;
    /// Atomically renames `from` over `to` (not durable until [`Medium::sync_dir`]).
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()>;
    /// Makes the directory entries durable (`fsync` on the directory).
    fn sync_dir(&mut self) -> io::Result<()>;
    /// The full path of `name`, for error messages.
    fn path_of(&self, name: &str) -> PathBuf;
    /// Takes an exclusive lock on `name` for as long as the medium lives
    /// (across renames over it); fails with [`io::ErrorKind::WouldBlock`]
    /// when another process holds it. A medium no other process can reach
    /// has nothing to lock.
    fn lock(&mut self, name: &str) -> io::Result<()> {
        let _ = name;
        Ok(())
    }
}

/// The real file system: files in one directory, kept open between writes.
#[derive(Debug)]
pub struct DirMedium {
    dir: PathBuf,
    open: HashMap<String, File>,
    /// Lock files held (see [`Medium::lock`]).
    locks: Vec<File>,
}

impl DirMedium {
    /// A medium over `dir`, which must exist.
    pub fn new(dir: &Path) -> io::Result<Self> {
        if !dir.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "directory does not exist"));
        }
        Ok(Self { dir: dir.to_path_buf(), open: HashMap::new(), locks: Vec::new() })
    }

    fn file(&mut self, name: &str) -> io::Result<&File> {
        if !self.open.contains_key(name) {
            let f = OpenOptions::new().read(true).write(true).open(self.dir.join(name))?;
            self.open.insert(name.to_owned(), f);
        }
        self.open.get(name).ok_or_else(|| io::Error::other("file handle vanished"))
    }
}

impl Medium for DirMedium {
    fn read(&mut self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.dir.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create(&mut self, name: &str) -> io::Result<()> {
        self.open.remove(name);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(self.dir.join(name))?;
        self.open.insert(name.to_owned(), f);
        Ok(())
    }

    fn write_at(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file(name)?.write_all_at(data, offset)
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        self.file(name)?.sync_data()
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.dir.join(from), self.dir.join(to))?;
        if let Some(f) = self.open.remove(from) {
            self.open.insert(to.to_owned(), f);
        }
        Ok(())
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Locks `<name>.lock` next to the file (`flock`), not the file itself:
    /// compaction renames a new inode over the journal, and a fresh card has
    /// no journal yet. The lock file is never removed (removing it would let
    /// two processes lock two different inodes).
    fn lock(&mut self, name: &str) -> io::Result<()> {
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir.join(format!("{name}.lock")))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(io::Error::from)?;
        self.locks.push(lock);
        Ok(())
    }
}
