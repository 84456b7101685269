//! `authority-load`: the authority under a bounded loopback load, on SQLite
//! and on PostgreSQL, each beside the raw single-row commit rate of the same
//! database measured in the same run (DESIGN §7, issue 14: recharges/s ≥ 0.5 ×
//! the raw commit rate).
//!
//! The service runs in this process on 127.0.0.1:0 exactly as `serve` runs it
//! (storage threads, axum router, the configured thread count); 100 software
//! meters, one client thread each, post precomputed requests over HTTP
//! keep-alive connections, so the clients spend no signing time during the
//! measured phase. Counted and time-bounded; loopback only.
//!
//! - raw commit: one `UPDATE` of one row per transaction, one connection,
//!   measured before and after the load (the better of the two), through the
//!   same store layer (SQLite WAL + synchronous FULL; PostgreSQL
//!   SERIALIZABLE, fsync on);
//! - recharges: `POST /v1/recharges`, S1 → S2 (one device-signature verify,
//!   one S2 signature, one transaction);
//! - settlements: `POST /v1/settlements`, a payment certificate under a line
//!   of credit (two verifies, one transaction).
//!
//! Run: `cargo run --release -p bench --bin authority-load -- [--quick] [--only sqlite|postgresql] [--pg-threads N] [--json]`
//! (`--json`: standard output is one JSON object,
//! `{"runs":[{"database","store_threads","raw_commits_per_s","recharges","recharges_per_s","settlements","settlements_per_s"}]}`,
//! and the human table goes to standard error.)
//! (PostgreSQL from `/usr/lib/postgresql/*/bin`; skipped with a note when absent.)

use apdu_specs::credit::{DOMAIN_PAYMENT_CERTIFICATE, PaymentCertificate};
use apdu_specs::recharge::RechargeAuthorization;
use authority::service::http::{App, RegisterMeter, router};
use authority::service::pool::StorePool;
use authority::service::{Authority, Policy, clock, credit, meters};
use authority::store::{AnyBackend, Location, Tx, transact};
use authority::{CertDb, CertificateAuthority, SigningKeyPair};
use host_driver::authority::{AuthorityClient, ClientError, CreditRequest, IdempotencyKey};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use testkit::soft_meter::SoftMeter;

/// Load shape.
#[derive(Debug, Clone, Copy)]
struct Shape {
    meters: u32,
    recharges_per_meter: u32,
    payments_per_meter: u32,
    raw_commits: u32,
    time_limit: Duration,
    /// Storage threads (connections) on PostgreSQL; `serve` defaults to 4.
    pg_threads: usize,
}

const FULL: Shape = Shape {
    meters: 100,
    recharges_per_meter: 30,
    payments_per_meter: 20,
    raw_commits: 3_000,
    time_limit: Duration::from_secs(60),
    pg_threads: 4,
};
const QUICK: Shape = Shape {
    meters: 20,
    recharges_per_meter: 10,
    payments_per_meter: 5,
    raw_commits: 500,
    time_limit: Duration::from_secs(30),
    pg_threads: 4,
};

/// One database's figures.
#[derive(Debug)]
struct Figures {
    engine: &'static str,
    store_threads: usize,
    raw_commits_per_s: f64,
    recharges: usize,
    recharges_per_s: f64,
    settlements: usize,
    settlements_per_s: f64,
}

/// Stops the run: a panic, so the temporary PostgreSQL server is stopped as `main` unwinds.
fn fail(message: impl std::fmt::Display) -> ! {
    panic!("authority-load: {message}")
}

fn authority(dir: &std::path::Path) -> Authority {
    let now = clock::unix_now();
    let db = CertDb::open(&dir.join("ca.db")).unwrap_or_else(|e| fail(e));
    let ca = CertificateAuthority::new(SigningKeyPair::from_seed("load CA"), "Load CA", now - 86_400, db)
        .unwrap_or_else(|e| fail(e));
    let policy = Policy { max_credit_line: u64::from(u32::MAX), ..Policy::default() };
    Authority::new(SigningKeyPair::from_seed("load authority"), SigningKeyPair::from_seed("load issuer"), ca, policy)
        .unwrap_or_else(|e| fail(e))
}

/// Requests answered 503 and retried, in the current phase.
static RETRIED: AtomicUsize = AtomicUsize::new(0);

/// Retries a call the authority answered with 503 (its serializable retries
/// ran out; nothing was acknowledged) with the same idempotency key, as the
/// protocol tells a client to, a bounded number of times with a short backoff.
fn retry_unavailable<T>(mut call: impl FnMut() -> Result<T, ClientError>) -> Result<T, ClientError> {
    const ATTEMPTS: u64 = 8;
    let mut attempt = 1;
    loop {
        match call() {
            Err(ClientError::Refused { status: 503, .. }) if attempt < ATTEMPTS => {
                RETRIED.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10 * attempt));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One-row UPDATE commits per second through the store layer, one connection.
fn raw_commit_rate(location: &Location, commits: u32) -> f64 {
    let mut backend = AnyBackend::open(location).unwrap_or_else(|e| fail(e));
    let setup = transact(&mut backend, |tx: &mut dyn Tx| {
        tx.execute("CREATE TABLE IF NOT EXISTS bench_raw (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)", &[])?;
        tx.execute("DELETE FROM bench_raw", &[])?;
        tx.execute("INSERT INTO bench_raw (id, n) VALUES (1, 0)", &[])?;
        Ok(Ok::<_, ()>(()))
    });
    if !matches!(setup, Ok(Ok(()))) {
        fail(format!("raw table: {setup:?}"));
    }
    let start = Instant::now();
    for _ in 0..commits {
        let r = transact(&mut backend, |tx: &mut dyn Tx| {
            Ok(Ok::<_, ()>(tx.execute("UPDATE bench_raw SET n = n + 1 WHERE id = 1", &[])?))
        });
        if !matches!(r, Ok(Ok(1))) {
            fail(format!("raw update: {r:?}"));
        }
    }
    f64::from(commits) / start.elapsed().as_secs_f64()
}

fn serve(app: Arc<App>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| fail(e));
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| fail(e));
            let _ = tx.send(listener.local_addr().unwrap_or_else(|e| fail(e)));
            if let Err(e) = axum::serve(listener, router(app)).await {
                fail(e);
            }
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|e| fail(e));
    format!("http://{addr}")
}

/// The S1 sequence of a meter, made by crediting an S2 signed here with the
/// service's key (the service signs the same fields; only its time differs).
fn recharge_requests(m: &mut SoftMeter, authority: &Authority, count: u32) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let amount = 100 + u64::from(i);
            let s1 = m.s1(amount);
            let s2 = authority::orders::recharge_authorization(
                &authority.key,
                &RechargeAuthorization {
                    meter_id: m.id,
                    sequence: m.nt + 1,
                    nonce: m.pending_nonce.unwrap_or_default(),
                    amount,
                    new_control_total: m.regs.control_total + amount,
                    next_deadline: 0,
                    time: 0,
                },
            );
            m.credit(&s2, &authority.key.public()).unwrap_or_else(|e| fail(e));
            s1
        })
        .collect()
}

/// Runs `work` on one thread per item until each is done or the time limit
/// passes; the number done and the wall time.
fn run_clients<T: Send + 'static>(
    base: &str,
    items: Vec<Vec<T>>,
    limit: Duration,
    work: fn(&AuthorityClient, &T),
) -> (usize, Duration) {
    let expired = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = items
        .into_iter()
        .map(|list| {
            let client = AuthorityClient::new(base, Duration::from_secs(60));
            let expired = Arc::clone(&expired);
            std::thread::spawn(move || {
                let mut n = 0;
                for item in &list {
                    if expired.load(Ordering::Relaxed) {
                        break;
                    }
                    work(&client, item);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let watchdog = {
        let expired = Arc::clone(&expired);
        std::thread::spawn(move || {
            let end = start + limit;
            while Instant::now() < end && !expired.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            expired.store(true, Ordering::Relaxed);
        })
    };
    let done: usize = threads.into_iter().map(|t| t.join().unwrap_or_else(|_| fail("a client failed"))).sum();
    let elapsed = start.elapsed();
    expired.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    (done, elapsed)
}

fn ledger(backend: &mut AnyBackend) -> (u64, u64, u64) {
    let r = transact(backend, |tx: &mut dyn Tx| {
        let r = tx.query_one(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM recharges",
            &[],
        )?;
        let s = tx.query_one("SELECT CAST(COUNT(*) AS BIGINT) FROM settled_payments", &[])?;
        Ok(Ok::<_, ()>((r.uint(0)?, r.uint(1)?, s.uint(0)?)))
    });
    match r {
        Ok(Ok(v)) => v,
        other => fail(format!("ledger: {other:?}")),
    }
}

fn measure(location: Location, dir: &std::path::Path, shape: Shape) -> Figures {
    let authority = Arc::new(authority(dir));
    let raw_before = raw_commit_rate(&location, shape.raw_commits);
    let now = clock::unix_now();
    let mut backend = AnyBackend::open(&location).unwrap_or_else(|e| fail(e));
    let engine = authority::store::Backend::engine(&backend);
    let opening = 1_000_000_000u64;
    let mut soft: Vec<SoftMeter> = (0..shape.meters).map(|n| SoftMeter::new(10_000 + n)).collect();
    for (n, m) in soft.iter().enumerate() {
        let request = RegisterMeter {
            meter_id: hex::encode(m.id),
            device_key: hex::encode(m.key.public()),
            account_id: format!("load-{n}"),
            control_total: Some(m.regs.control_total),
        };
        let r = transact(&mut backend, |tx: &mut dyn Tx| {
            if let Err(e) = authority::service::http::register(tx, &authority, &request, now)? {
                return Ok(Err(e));
            }
            meters::credit_account(tx, &request.account_id, opening, now)
        });
        if !matches!(r, Ok(Ok(_))) {
            fail(format!("register: {r:?}"));
        }
    }

    // A published rate table: a line of credit is in the currency of the meters' table.
    let spec = authority::rates::RateTableSpec {
        version: 1,
        effective_from: now - 60,
        currency: "USD".into(),
        exponent: 2,
        classes: vec![(1, vec![(20, 73), (1000, 500)])],
        fees: Vec::new(),
    };
    if let Err(e) =
        transact(&mut backend, |tx: &mut dyn Tx| authority::service::rates::publish(tx, &authority, &spec, now))
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| format!("{e:?}")))
    {
        fail(format!("rate table: {e}"));
    }

    // Lines of credit (postmark-backed requests, decided by the service's own rule) and the payments.
    let tsa_message = b"load test credit request".to_vec();
    let mut lines = Vec::new();
    for m in &soft {
        let tsa = authority.with_ca(|ca| testkit::forge::TestTsa::new(ca, &m.id));
        let token = tsa.token(tsa.tst_info(&testkit::forge::sha256(&tsa_message))).signed_by(&tsa.key);
        let request = CreditRequest {
            meter_id: hex::encode(m.id),
            holder: "Load".into(),
            amount: u64::from(shape.payments_per_meter) * 10,
            postmark: hex::encode(&token),
            message: hex::encode(&tsa_message),
        };
        let r = transact(&mut backend, |tx: &mut dyn Tx| {
            credit::decide(tx, &authority, &request, &token, &tsa_message, now)
        });
        match r {
            Ok(Ok(d)) if d.granted => lines.push(hex::decode(d.credit_line.unwrap_or_default()).unwrap_or_default()),
            other => fail(format!("credit line: {other:?}")),
        }
    }
    let settlements: Vec<Vec<(Vec<u8>, Vec<u8>)>> = soft
        .iter()
        .zip(&lines)
        .map(|(m, line)| {
            let digest = host_driver::signature::P256Verifier.sha256(&[line]);
            (1..=shape.payments_per_meter)
                .map(|serial| {
                    let body = PaymentCertificate {
                        serial,
                        holder: "Load".into(),
                        meter_id: m.id,
                        credit_line_digest: digest,
                        amount: 10,
                        credit_remaining: u64::from(shape.payments_per_meter - serial) * 10,
                        currency: *b"USD",
                        exponent: 2,
                        time: now,
                        merchant: "Shop".into(),
                        reference: format!("INV-{serial}"),
                    }
                    .encode();
                    (line.clone(), m.sign(DOMAIN_PAYMENT_CERTIFICATE, &body))
                })
                .collect()
        })
        .collect();
    let recharges: Vec<Vec<Vec<u8>>> =
        soft.iter_mut().map(|m| recharge_requests(m, &authority, shape.recharges_per_meter)).collect();
    let expected_amount: u64 =
        shape.meters as u64 * (0..shape.recharges_per_meter).map(|i| 100 + u64::from(i)).sum::<u64>();

    let threads = match location {
        Location::Sqlite(_) => 1,
        Location::Postgres(_) => shape.pg_threads,
    };
    let pool = StorePool::start(&location, threads).unwrap_or_else(|e| fail(e));
    let base = serve(Arc::new(App::new(pool, Arc::clone(&authority), None)));
    eprintln!("{engine}: {} meters, serving at {base}", shape.meters);

    RETRIED.store(0, Ordering::Relaxed);
    let (recharged, recharge_time) = run_clients(&base, recharges, shape.time_limit, |client, s1| {
        let key = IdempotencyKey::generate().unwrap_or_else(|e| fail(e));
        retry_unavailable(|| client.recharge(&key, s1)).unwrap_or_else(|e| fail(format!("recharge: {e}")));
    });
    let (settled, settle_time) = run_clients(&base, settlements, shape.time_limit, |client, (line, payment)| {
        let key = IdempotencyKey::generate().unwrap_or_else(|e| fail(e));
        retry_unavailable(|| client.settle(&key, line, payment)).unwrap_or_else(|e| fail(format!("settle: {e}")));
    });
    eprintln!(
        "{engine}: {} requests answered 503 and retried with the same idempotency key",
        RETRIED.load(Ordering::Relaxed)
    );

    // The raw rate again after the load: the disk is shared, so the better of the two is the limit.
    let raw_commits_per_s = raw_before.max(raw_commit_rate(&location, shape.raw_commits));

    // Totals reconcile: every answered request is one ledger row, and nothing else is.
    let (rows, amount, settled_rows) = ledger(&mut backend);
    if rows != recharged as u64 || settled_rows != settled as u64 {
        fail(format!("ledger {rows} recharges / {settled_rows} settlements, clients saw {recharged} / {settled}"));
    }
    if recharged as u64 == u64::from(shape.meters * shape.recharges_per_meter) && amount != expected_amount {
        fail(format!("recharged total {amount}, expected {expected_amount}"));
    }
    Figures {
        engine,
        store_threads: threads,
        raw_commits_per_s,
        recharges: recharged,
        recharges_per_s: recharged as f64 / recharge_time.as_secs_f64(),
        settlements: settled,
        settlements_per_s: settled as f64 / settle_time.as_secs_f64(),
    }
}

fn report(out: &mut dyn std::io::Write, shape: Shape, figures: &[Figures]) -> std::io::Result<()> {
    writeln!(
        out,
        "| database | store threads | raw 1-row commits/s | recharges/s (n) | ratio | target ≥ 0.5× | settlements/s (n) | ratio |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    for f in figures {
        let ratio = f.recharges_per_s / f.raw_commits_per_s;
        writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} ({}) | {:.2}× | {} | {:.0} ({}) | {:.2}× |",
            f.engine,
            f.store_threads,
            f.raw_commits_per_s,
            f.recharges_per_s,
            f.recharges,
            ratio,
            if ratio >= 0.5 { "met" } else { "missed" },
            f.settlements_per_s,
            f.settlements,
            f.settlements_per_s / f.raw_commits_per_s,
        )?;
    }
    writeln!(
        out,
        "\n{} meters, one client thread each; {} recharges and {} payments per meter; {} raw commits; time limit {:?} per phase.",
        shape.meters, shape.recharges_per_meter, shape.payments_per_meter, shape.raw_commits, shape.time_limit
    )?;
    Ok(())
}

/// A JSON number, or `null` when not finite (a phase that measured nothing).
fn json_number(v: f64) -> String {
    if v.is_finite() { format!("{v:.3}") } else { "null".to_string() }
}

/// The `--json` document (the field names are read by other tools; keep them).
fn json(figures: &[Figures]) -> String {
    let runs: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{{\"database\":\"{}\",\"store_threads\":{},\"raw_commits_per_s\":{},\"recharges\":{},\"recharges_per_s\":{},\"settlements\":{},\"settlements_per_s\":{}}}",
                f.engine,
                f.store_threads,
                json_number(f.raw_commits_per_s),
                f.recharges,
                json_number(f.recharges_per_s),
                f.settlements,
                json_number(f.settlements_per_s),
            )
        })
        .collect();
    format!("{{\"runs\":[{}]}}", runs.join(","))
}

fn main() {
    let mut shape = if std::env::args().any(|a| a == "--quick") { QUICK } else { FULL };
    if let Some(n) = std::env::args().skip_while(|a| a != "--pg-threads").nth(1) {
        shape.pg_threads = n.parse().unwrap_or_else(|e| fail(format!("--pg-threads: {e}")));
    }
    let dir = std::env::temp_dir().join(format!("pcmeter-authority-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    let wanted = |engine: &str| only.as_deref().is_none_or(|o| o == engine);
    let mut figures = Vec::new();
    if wanted("sqlite") {
        let sqlite_dir = dir.join("sqlite");
        std::fs::create_dir_all(&sqlite_dir).unwrap_or_else(|e| fail(e));
        figures.push(measure(Location::Sqlite(sqlite_dir.join("authority.db")), &sqlite_dir, shape));
    }
    match wanted("postgresql").then(|| testkit::postgres::TempPostgres::start_or_skip("load")).flatten() {
        Some(pg) => {
            let pg_dir = dir.join("postgres");
            std::fs::create_dir_all(&pg_dir).unwrap_or_else(|e| fail(e));
            figures.push(measure(Location::Postgres(pg.url().to_string()), &pg_dir, shape));
        }
        None if wanted("postgresql") => eprintln!("PostgreSQL is not installed: its row is missing"),
        None => {}
    }
    let as_json = std::env::args().any(|a| a == "--json");
    let written = if as_json {
        report(&mut std::io::stderr(), shape, &figures).and_then(|()| {
            use std::io::Write;
            let mut stdout = std::io::stdout();
            writeln!(stdout, "{}", json(&figures)).and_then(|()| stdout.flush())
        })
    } else {
        report(&mut std::io::stdout(), shape, &figures)
    };
    if let Err(e) = written {
        fail(format!("writing the report: {e}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
