//! A fault-injecting medium: an in-memory file system with the crash
//! semantics of a real disk, that "cuts power" after the N-th low-level
//! operation (write, sync, create, rename, directory sync).
//!
//! Crash model. Each file is an inode with live and durable contents; the
//! directory has live and durable entries. `sync` makes an inode's data
//! durable; `sync_dir` makes the entries durable. At the cut:
//! - an interrupted write is *torn*: only its first part (up to the last
//!   512-byte sector boundary inside it, at least one byte) reaches the disk;
//! - in [`CrashMode::LoseUnsynced`] everything not yet synced is lost;
//! - in [`CrashMode::KeepUnsynced`] everything issued before the cut reached
//!   the disk (the other extreme).
//!
//! After the cut every operation fails until [`FaultMedium::reboot`], which
//! applies the crash and brings the medium back. A disk-full error can also
//! be injected at an operation without a crash.

use super::medium::Medium;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

/// What survives a power cut besides synced data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Unsynced data and directory changes are lost.
    LoseUnsynced,
    /// Everything issued before the cut survived.
    KeepUnsynced,
}

#[derive(Debug, Clone, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
}

/// The in-memory fault-injecting medium.
#[derive(Debug, Clone)]
pub struct FaultMedium {
    inodes: Vec<Inode>,
    live_dir: HashMap<String, usize>,
    durable_dir: HashMap<String, usize>,
    ops: usize,
    cut_at: Option<(usize, CrashMode)>,
    enospc_at: Option<usize>,
    read_only: bool,
    dead: bool,
}

impl Default for FaultMedium {
    fn default() -> Self {
        Self::new()
    }
}

fn power_cut() -> io::Error {
    io::Error::other("power cut (fault injection)")
}

impl FaultMedium {
    /// An empty, healthy medium.
    pub fn new() -> Self {
        Self {
            inodes: Vec::new(),
            live_dir: HashMap::new(),
            durable_dir: HashMap::new(),
            ops: 0,
            cut_at: None,
            enospc_at: None,
            read_only: false,
            dead: false,
        }
    }

    /// Makes every write fail as on a read-only file system (EROFS).
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// Cuts power when the `n`-th operation from now (0-based) starts.
    pub fn arm(&mut self, n: usize, mode: CrashMode) {
        self.ops = 0;
        self.cut_at = Some((n, mode));
    }

    /// Starts counting operations from zero without arming a cut.
    pub fn count_from_now(&mut self) {
        self.ops = 0;
        self.cut_at = None;
    }

    /// Fails the `n`-th operation from now with ENOSPC (no power cut).
    pub fn disk_full_at(&mut self, n: usize) {
        self.ops = 0;
        self.enospc_at = Some(n);
    }

    /// Operations since the last `arm` / `count_from_now`.
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// Applies the crash (if any) and powers the medium back on.
    pub fn reboot(&mut self) {
        let keep = matches!(self.cut_at, Some((_, CrashMode::KeepUnsynced)));
        if keep || !self.dead {
            // Nothing was lost (healthy shutdown, or everything issued survived).
            for inode in &mut self.inodes {
                inode.durable = inode.live.clone();
            }
            self.durable_dir = self.live_dir.clone();
        }
        for inode in &mut self.inodes {
            inode.live = inode.durable.clone();
        }
        self.live_dir = self.durable_dir.clone();
        self.dead = false;
        self.cut_at = None;
        self.enospc_at = None;
        self.ops = 0;
    }

    /// Edits a file as it sits on the disk (tests that corrupt images).
    pub fn edit(&mut self, name: &str, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        let Some(id) = self.durable_dir.get(name).copied() else { return false };
        let Some(inode) = self.inodes.get_mut(id) else { return false };
        f(&mut inode.durable);
        inode.live = inode.durable.clone();
        true
    }

    /// Counts an operation; returns `Ok(true)` if it is the one to tear.
    fn step(&mut self) -> io::Result<bool> {
        if self.dead {
            return Err(power_cut());
        }
        let n = self.ops;
        self.ops += 1;
        if self.enospc_at == Some(n) {
            return Err(io::Error::from_raw_os_error(28));
        }
        if self.read_only {
            return Err(io::Error::from_raw_os_error(30));
        }
        Ok(matches!(self.cut_at, Some((at, _)) if at == n))
    }

    fn inode(&mut self, name: &str) -> io::Result<&mut Inode> {
        let id = *self.live_dir.get(name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        self.inodes.get_mut(id).ok_or_else(|| io::Error::other("dangling inode"))
    }

    fn cut(&mut self) -> io::Error {
        self.dead = true;
        power_cut()
    }
}

fn write_into(buf: &mut Vec<u8>, offset: usize, data: &[u8]) {
    if buf.len() < offset + data.len() {
        buf.resize(offset + data.len(), 0);
    }
    buf[offset..offset + data.len()].copy_from_slice(data);
}

impl Medium for FaultMedium {
    fn read(&mut self, name: &str) -> io::Result<Option<Vec<u8>>> {
        if self.dead {
            return Err(power_cut());
        }
        match self.live_dir.get(name) {
            Some(id) => Ok(self.inodes.get(*id).map(|i| i.live.clone())),
            None => Ok(None),
        }
    }

    fn create(&mut self, name: &str) -> io::Result<()> {
        if self.step()? {
            return Err(self.cut());
        }
        self.inodes.push(Inode::default());
        self.live_dir.insert(name.to_owned(), self.inodes.len() - 1);
        Ok(())
    }

    fn write_at(&mut self, name: &str, offset: u64, data: &[u8]) -> io::Result<()> {
        let tear = self.step()?;
        let offset = offset as usize;
        if tear {
            // The torn prefix reaches the disk itself, synced or not.
            let keep = if data.len() > 512 { (data.len() - 1) / 512 * 512 } else { data.len() / 2 }.max(1);
            let inode = self.inode(name)?;
            write_into(&mut inode.durable, offset, &data[..keep]);
            write_into(&mut inode.live, offset, &data[..keep]);
            return Err(self.cut());
        }
        write_into(&mut self.inode(name)?.live, offset, data);
        Ok(())
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        if self.step()? {
            return Err(self.cut());
        }
        let inode = self.inode(name)?;
        inode.durable = inode.live.clone();
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        if self.step()? {
            return Err(self.cut());
        }
        let id = self.live_dir.remove(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        self.live_dir.insert(to.to_owned(), id);
        Ok(())
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        if self.step()? {
            return Err(self.cut());
        }
        self.durable_dir = self.live_dir.clone();
        Ok(())
    }

    fn path_of(&self, name: &str) -> PathBuf {
        PathBuf::from("fault-medium").join(name)
    }
}
