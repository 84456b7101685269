//! Issue 13 acceptance: a batch killed with SIGKILL mid-run and resumed
//! prints every CSV row exactly once, loses no paid indicium and charges
//! exactly the postage it printed.
//!
//! The real `pcmeter batch` runs as a child process on a `--sim` meter made
//! by `pcmeter sim create` (a durable state file). It is killed with SIGKILL
//! at seeded random moments while it charges (each kill waits for a seeded
//! number of journaled answers, then a seeded few milliseconds more), and
//! resumed each time; a last run finishes the batch. Then:
//! - the journal binds every CSV line to one indicium and nothing is pending;
//! - every indicium verifies against `postal.pem` (the trust material `sim
//!   create` wrote) and their piece counts are exactly 1..=N: no row charged
//!   twice, no paid piece missing from the journal;
//! - the PDF, rendered with `pdftoppm` and decoded with `dmtxread`, holds
//!   each journaled indicium exactly once;
//! - the postage total equals the rise of AR (postage) and the drop of DR
//!   from `status --json`, and CT does not move.

mod common;

use common::scratch;
use pcmeter::batch::journal::{Journal, path_for};
use pcmeter::scan::{Limit, TrustedKey, decode_pdf_pages};
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PIN: &str = "246810";
const ROWS: usize = 60;
const KILLS: usize = 5;
/// Seeds of the kill schedule (each test run replays the same schedules).
const SEEDS: [u64; 2] = [0x5EED_0013, 0xD1E5_0014];

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pcmeter"))
}

/// splitmix64: a small seeded generator for the kill schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn pcmeter(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(dir)
        .env("PCMETER_PIN", PIN)
        .env("PCMETER_CONFIG", dir.join("no-config.toml"))
        .stdin(Stdio::null());
    c
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let out = pcmeter(dir, args).output().expect("pcmeter runs");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn registers(dir: &Path) -> Value {
    json(dir, &["--sim", "meter.pcmj", "--json", "status"])["registers"].clone()
}

fn reg(v: &Value, name: &str) -> u64 {
    v[name].as_u64().unwrap_or_else(|| panic!("register {name} in {v}"))
}

/// Today's date (UTC, the sim meter's system clock) as CSV text.
fn today() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let d = apdu_specs::date::yyyymmdd_from_unix(now);
    format!("{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100)
}

fn mailing(n: usize) -> String {
    let mut csv = String::from("class,weight,origin,destination,date\n");
    for i in 0..n {
        csv.push_str(&format!("{},{},{:05},{:05},{}\n", 1 + i % 2, 10 + i % 15, 10_000 + i % 7, 30_000 + i, today()));
    }
    csv
}

/// Journaled answers so far (`done` records).
fn done_records(journal: &Path) -> usize {
    std::fs::read_to_string(journal).map(|t| t.lines().filter(|l| l.starts_with("done ")).count()).unwrap_or(0)
}

/// One batch run killed with SIGKILL once `after` answers are journaled plus
/// `extra_ms`; returns whether the kill landed while the batch was running.
fn run_and_kill(dir: &Path, journal: &Path, after: usize, extra_ms: u64) -> bool {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("runs.log")).expect("run log");
    let mut child = pcmeter(dir, &["--sim", "meter.pcmj", "batch", "mailing.csv", "--out", "labels.pdf"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("pcmeter batch starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while done_records(journal) < after && Instant::now() < deadline {
        if child.try_wait().expect("child status").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(extra_ms));
    let running = child.try_wait().expect("child status").is_none();
    child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
    let status = child.wait().expect("reaped");
    running && std::os::unix::process::ExitStatusExt::signal(&status) == Some(9)
}

fn killed_and_resumed(seed: u64) {
    let dir = scratch(&format!("batch-kill-{seed:x}"));
    let created = json(&dir, &["--json", "sim", "create", "meter.pcmj", "--credit", "500", "--pin", PIN]);
    assert_eq!(created["state"], "meter.pcmj");
    let csv = mailing(ROWS);
    std::fs::write(dir.join("mailing.csv"), &csv).unwrap();
    let out = dir.join("labels.pdf");
    let journal = path_for(&out);
    let before = registers(&dir);

    let mut rng = Rng(seed);
    let mut landed = 0;
    let mut at = Vec::new();
    for k in 0..KILLS {
        // Spread the kills over the rows still to charge.
        let done = done_records(&journal);
        let left = ROWS.saturating_sub(done) as u64;
        let after = done + 1 + rng.below(left / (KILLS - k) as u64 + 1) as usize;
        let extra_ms = rng.below(4);
        if run_and_kill(&dir, &journal, after.min(ROWS), extra_ms) {
            landed += 1;
        }
        at.push(done_records(&journal));
    }
    assert!(landed >= KILLS - 1, "the kills must land mid-run: {landed} of {KILLS} at {at:?}");
    assert!(at.iter().any(|&n| n > 0 && n < ROWS), "journaled answers at each kill: {at:?}");

    // The last run finishes the batch.
    let last = json(&dir, &["--sim", "meter.pcmj", "--json", "batch", "mailing.csv", "--out", "labels.pdf"]);
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    let recovered = log.matches("recovered a paid indicium from the card").count();
    eprintln!("seed {seed:#x}: kills after {at:?} journaled answers; {recovered} paid indicia recovered from the card");
    assert_eq!(last["pieces"], ROWS, "{last}");
    assert!(last["stopped"].is_null() && last["not_printed"].as_array().is_some_and(|a| a.is_empty()), "{last}");

    // The journal: every CSV line once, nothing pending.
    let digest: [u8; 32] = sha2::Sha256::digest(csv.as_bytes()).into();
    let j = Journal::open(&journal, &digest).unwrap();
    assert!(j.pending().is_none(), "no unresolved charge after the last run");
    assert_eq!(j.paid().keys().copied().collect::<Vec<_>>(), (2..ROWS + 2).collect::<Vec<_>>());
    let indicia: Vec<Vec<u8>> = j.paid().values().map(|p| p.indicium.clone()).collect();

    // Every indicium verifies under the postal key; piece counts 1..=ROWS exactly.
    let key = TrustedKey::postal_from_text(&std::fs::read_to_string(dir.join("postal.pem")).unwrap()).unwrap();
    let mut pieces = Vec::new();
    let mut total = 0u64;
    for (paid, ind) in j.paid().values().zip(&indicia) {
        let body = key.verify(ind).expect("a paid indicium verifies");
        assert_eq!(body.piece_count, paid.piece_count);
        pieces.push(body.piece_count);
        total += u64::from(body.postage);
    }
    pieces.sort();
    assert_eq!(pieces, (1..=ROWS as u32).collect::<Vec<_>>(), "one charge per row, none lost");

    // The registers moved by exactly the postage printed.
    let after = registers(&dir);
    assert_eq!(reg(&after, "ar_postage") - reg(&before, "ar_postage"), total);
    assert_eq!(reg(&before, "descending") - reg(&after, "descending"), total);
    assert_eq!(reg(&after, "control_total"), reg(&before, "control_total"));
    assert_eq!(after["balanced"], true);

    // The PDF holds each paid indicium exactly once (A4: 14 labels a page).
    let per_page = 14;
    let pages = decode_pdf_pages(&out, 300, |p| Limit::Count(ROWS.saturating_sub(p * per_page).min(per_page)))
        .expect("pdftoppm and dmtxread");
    assert_eq!(pages.len(), ROWS.div_ceil(per_page));
    let mut got: Vec<Vec<u8>> = pages.concat();
    let mut want = indicia;
    got.sort();
    want.sort();
    assert_eq!(got.len(), ROWS, "every label decoded");
    assert_eq!(got, want, "the PDF holds every paid indicium once");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_batch_killed_with_sigkill_and_resumed_prints_every_row_once_and_matches_the_registers() {
    for seed in SEEDS {
        killed_and_resumed(seed);
    }
}
