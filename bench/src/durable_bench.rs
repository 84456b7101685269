//! The card on the durable journal store against the raw limits of the same
//! file system, in one run: one 4 KiB `pwrite` + `fdatasync`, and one P-256
//! signature of the same engine, back to back.

use crate::card_bench::{self, MibApdus, RawSigner};
use card_sim::{DirMedium, Engine, JournalStore};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Rewrites 4 KiB of an allocated file and `fdatasync`s, `n` times; with
/// `signer`, one signature before each write (the pair the target names).
fn raw_sync(f: &std::fs::File, mut signer: Option<&mut RawSigner>, n: usize) -> Duration {
    let block = vec![0xA5u8; 4096];
    let start = Instant::now();
    for _ in 0..n {
        if let Some(s) = signer.as_deref_mut() {
            s.sign();
        }
        f.write_all_at(&block, 0).expect("pwrite");
        f.sync_data().expect("fdatasync");
    }
    start.elapsed()
}

/// Per-operation times (µs) of one engine on the durable store and its limits.
#[derive(Debug, Clone, Copy)]
pub struct Durable {
    /// One 4 KiB pwrite + fdatasync.
    pub sync_us: f64,
    /// One sign then one 4 KiB pwrite + fdatasync, back to back.
    pub pair_us: f64,
    /// SHA-256 of 1 MiB on the engine.
    pub hash_mib_us: f64,
    /// One indicium.
    pub indicium_us: f64,
    /// One digest postmark.
    pub postmark_us: f64,
    /// One 1 MiB postmark.
    pub postmark_mib_us: f64,
}

/// Measures `engine` on a journal store under `root` (the file system of `target/`).
pub fn run(engine: Engine, root: &Path, n: usize, runs: usize) -> Durable {
    let dir = root.join(format!("bench-durable-{}-{}", engine.name(), std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let raw_path = dir.join("raw-4k");
    let raw = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&raw_path).expect("raw file");
    raw.write_all_at(&[0u8; 4096], 0).expect("pwrite");
    raw.sync_all().expect("fsync");

    let store = JournalStore::open(DirMedium::new(&dir).expect("medium"), "card").expect("journal");
    let mut card = card_bench::operational(engine, store);
    let mut signer = RawSigner::new(engine);
    let mib = MibApdus::new();
    // The disk's sync rate drifts over seconds: alternate the limits and the
    // operations in short rounds and keep the best of each.
    let rounds = runs * 4;
    let per_round = (n / 4).max(50);
    let mib_n = 2;
    let [mut sync, mut pair, mut ind, mut pm, mut pm_mib, mut hash] = [Duration::MAX; 6];
    for _ in 0..rounds {
        pair = pair.min(raw_sync(&raw, Some(&mut signer), per_round));
        sync = sync.min(raw_sync(&raw, None, per_round));
        ind = ind.min(card_bench::indicia(&mut card, per_round).wall);
        pm = pm.min(card_bench::postmarks_digest(&mut card, per_round).wall);
    }
    for _ in 0..runs {
        hash = hash.min(signer.hashes(&mib.message, mib_n).wall);
        pm_mib = pm_mib.min(card_bench::postmarks_mib(&mut card, &mib, mib_n).wall);
    }
    drop(card);
    std::fs::remove_dir_all(&dir).ok();
    let us = |d: Duration, k: usize| d.as_secs_f64() * 1e6 / k as f64;
    Durable {
        sync_us: us(sync, per_round),
        pair_us: us(pair, per_round),
        hash_mib_us: us(hash, mib_n),
        indicium_us: us(ind, per_round),
        postmark_us: us(pm, per_round),
        postmark_mib_us: us(pm_mib, mib_n),
    }
}
