//! The kill test: software meters recharge concurrently against the real
//! `pcmeter-authority serve`; the server is SIGKILLed at random moments
//! during the load and restarted on the same database. A client that lost an
//! answer replays the same request under the same `Idempotency-Key`, as a
//! host does. At the end every recharge acknowledged to a client (S2
//! received) is in the ledger once, the provider account was debited once
//! for each, every receipt is settled, and replays after the last restart
//! return the same S2. On SQLite and on PostgreSQL.

mod common;

use common::SoftMeter;
use common::service::{Server, Site};
use host_driver::authority::{AuthorityClient, ClientError, IdempotencyKey};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const METERS: u32 = 8;
const RECHARGES_PER_METER: u32 = 12;
const KILLS: usize = 4;
const OPENING_BALANCE: u64 = 10_000_000;
const DEADLINE: Duration = Duration::from_secs(240);

/// One recharge as its client saw it.
#[derive(Debug, Clone)]
struct Acknowledged {
    key: IdempotencyKey,
    s1: Vec<u8>,
    s2: String,
    amount: u64,
}

/// A tiny xorshift: the kill moments, reproducible from the printed seed.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Retries `call` against whatever server is up until it answers (the server
/// may be dead or restarting), as a host does: under the same key, whenever
/// [`ClientError::is_retriable`] says so (no answer, still running, 503).
/// Any other refusal fails the test.
fn until_answered<T>(base: &Mutex<String>, mut call: impl FnMut(&AuthorityClient) -> Result<T, ClientError>) -> T {
    let start = Instant::now();
    loop {
        let url = base.lock().unwrap().clone();
        let client = AuthorityClient::new(&url, Duration::from_secs(30));
        match call(&client) {
            Ok(v) => return v,
            Err(e) if e.is_retriable() => {}
            Err(e) => panic!("refused: {e}"),
        }
        assert!(start.elapsed() < DEADLINE, "no answer within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn meter_load(
    mut m: SoftMeter,
    authority_key: [u8; 65],
    base: Arc<Mutex<String>>,
    done: Arc<AtomicUsize>,
) -> Vec<Acknowledged> {
    let mut acknowledged = Vec::new();
    for i in 0..RECHARGES_PER_METER {
        let amount = 100 + u64::from(m.id[11]) * 10 + u64::from(i);
        let key = IdempotencyKey::generate().unwrap();
        let s1 = m.s1(amount);
        let s2 = until_answered(&base, |c| c.recharge(&key, &s1)).s2;
        done.fetch_add(1, Ordering::SeqCst);
        acknowledged.push(Acknowledged { key, s1, s2: s2.clone(), amount });
        let s3 = m.credit(&hex::decode(&s2).unwrap(), &authority_key).unwrap();
        let receipt_key = IdempotencyKey::generate().unwrap();
        let state = until_answered(&base, |c| c.receipt(&receipt_key, &s3)).state;
        assert_eq!(state, "settled");
    }
    acknowledged
}

fn kill_and_restart(site_name: &str, database: Option<&str>) {
    let site = Site::new(site_name, database);
    site.ok(&["init"]);
    let meters: Vec<SoftMeter> = (0..METERS).map(|n| SoftMeter::new(100 + n)).collect();
    for (n, m) in meters.iter().enumerate() {
        let account = format!("account-{n}");
        site.ok(&[
            "register",
            "--meter-id",
            &hex::encode(m.id),
            "--device-key",
            &hex::encode(m.key.public()),
            "--account",
            &account,
            "--control-total",
            &m.regs.control_total.to_string(),
        ]);
        site.ok(&["credit", "--account", &account, "--amount", &OPENING_BALANCE.to_string()]);
    }
    let authority_key = site.authority_key();
    let mut server: Server = site.serve();
    let base = Arc::new(Mutex::new(server.base.clone()));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = meters
        .iter()
        .cloned()
        .map(|m| {
            let (base, done) = (Arc::clone(&base), Arc::clone(&done));
            std::thread::spawn(move || meter_load(m, authority_key, base, done))
        })
        .collect();

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill moments seed {seed:#x}");
    let mut jitter = Jitter(seed);
    let total = (METERS * RECHARGES_PER_METER) as usize;
    let start = Instant::now();
    let mut kills_mid_run = 0;
    for k in 0..KILLS {
        // Kill somewhere in the k-th fifth of the run, a random few milliseconds after it starts.
        let threshold = total * (k + 1) / (KILLS + 1);
        while done.load(Ordering::SeqCst) < threshold {
            assert!(start.elapsed() < DEADLINE, "the load stalled at {}", done.load(Ordering::SeqCst));
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(jitter.next(15)));
        server.kill();
        if done.load(Ordering::SeqCst) < total {
            kills_mid_run += 1;
        }
        std::thread::sleep(Duration::from_millis(jitter.next(50)));
        server = site.serve();
        *base.lock().unwrap() = server.base.clone();
    }
    let acknowledged: Vec<Vec<Acknowledged>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(kills_mid_run >= KILLS - 1, "the server died during the load ({kills_mid_run} of {KILLS} kills)");

    // One last SIGKILL, then the ledger as the operator reads it from the database.
    server.kill();
    let report: serde_json::Value = serde_json::from_str(&site.ok(&["report"])).unwrap();
    for (m, acks) in meters.iter().zip(&acknowledged) {
        let row = report["meters"].as_array().unwrap().iter().find(|r| r["meter_id"] == hex::encode(m.id)).unwrap();
        let credited: u64 = acks.iter().map(|a| a.amount).sum();
        assert_eq!(acks.len(), RECHARGES_PER_METER as usize);
        assert_eq!(row["recharges"].as_u64(), Some(acks.len() as u64), "each acknowledged recharge once: {row}");
        assert_eq!(row["settled"].as_u64(), Some(acks.len() as u64), "{row}");
        assert_eq!(row["nt"].as_u64(), Some(u64::from(RECHARGES_PER_METER)), "{row}");
        assert_eq!(row["recharged_total"].as_u64(), Some(credited), "{row}");
        assert_eq!(row["control_total"].as_u64(), Some(m.regs.control_total + credited), "{row}");
        assert_eq!(row["balance"].as_u64(), Some(OPENING_BALANCE - credited), "debited once each: {row}");
    }

    // Replays after the restart: the same key and S1 give the same S2; so does a new key.
    let server = site.serve();
    let client = AuthorityClient::new(&server.base, Duration::from_secs(30));
    for acks in &acknowledged {
        for a in acks {
            assert_eq!(client.recharge(&a.key, &a.s1).unwrap().s2, a.s2, "stored response for the same key");
        }
        let last = acks.last().unwrap();
        assert_eq!(client.recharge(&IdempotencyKey::generate().unwrap(), &last.s1).unwrap().s2, last.s2);
    }
    let after: serde_json::Value = serde_json::from_str(&site.ok(&["report"])).unwrap();
    assert_eq!(after, report, "replays wrote nothing");
}

#[test]
fn sigkill_during_recharges_loses_and_duplicates_nothing_on_sqlite() {
    kill_and_restart("kill-sqlite", None);
}

#[test]
fn sigkill_during_recharges_loses_and_duplicates_nothing_on_postgresql() {
    let Some(pg) = testkit::postgres::TempPostgres::start_or_skip("kill") else { return };
    kill_and_restart("kill-postgres", Some(pg.url()));
}
