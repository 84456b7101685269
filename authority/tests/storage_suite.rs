//! The storage suite, run against SQLite and against a temporary PostgreSQL
//! server: migrations, the recharge ledger's uniqueness and idempotency,
//! debits that happen once, refusals that write nothing, idempotency keys,
//! and concurrent debits of one account under SERIALIZABLE retries.

mod common;

use authority::service::{idempotency, meters, recharge};
use authority::store::{AnyBackend, Location, Tx, transact};
use common::{NOW, SoftMeter, authority};
use std::sync::Arc;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pcmeter-storage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn register(b: &mut AnyBackend, m: &SoftMeter, account: &str) {
    transact(b, |tx: &mut dyn Tx| {
        meters::register(tx, &m.id, &m.key.public(), account, Some(m.regs.control_total), NOW + 100, NOW)
    })
    .unwrap()
    .unwrap();
}

fn balance(b: &mut AnyBackend, account: &str) -> u64 {
    transact(b, |tx: &mut dyn Tx| Ok(Ok::<_, ()>(meters::balance(tx, account)?))).unwrap().unwrap().unwrap()
}

fn count(b: &mut AnyBackend, table: &str) -> i64 {
    transact(b, |tx: &mut dyn Tx| {
        Ok(Ok::<_, ()>(tx.query_one(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"), &[])?.int(0)?))
    })
    .unwrap()
    .unwrap()
}

fn suite(location: Location) {
    let auth = Arc::new(authority(None));
    let mut b = AnyBackend::open(&location).unwrap();
    // Migrating again applies nothing twice.
    let mut again = AnyBackend::open(&location).unwrap();
    assert_eq!(count(&mut again, "schema_migrations"), authority::store::migrations::MIGRATIONS.len() as i64);

    let mut m = SoftMeter::new(1);
    register(&mut b, &m, "acct");
    transact(&mut b, |tx: &mut dyn Tx| meters::credit_account(tx, "acct", 10_000, NOW)).unwrap().unwrap();

    // S1 → S2, debited once; the same S1 again returns the same S2.
    let s1 = m.s1(2_500);
    let s2 = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &s1, NOW)).unwrap().unwrap();
    let again = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &s1, NOW + 5)).unwrap().unwrap();
    assert_eq!(s2, again, "a replayed S1 gets the same S2");
    assert_eq!(balance(&mut b, "acct"), 7_500);

    // A new nonce for the uncredited sequence re-signs without a second debit.
    let s1b = m.s1(2_500);
    let s2b = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &s1b, NOW)).unwrap().unwrap();
    assert_ne!(s2b.s2, s2.s2);
    assert_eq!(balance(&mut b, "acct"), 7_500);
    assert!(
        m.credit(&hex::decode(&s2.s2).unwrap(), &auth.key.public()).is_err(),
        "the old nonce's S2 is refused by the card"
    );
    let s3 = m.credit(&hex::decode(&s2b.s2).unwrap(), &auth.key.public()).unwrap();
    transact(&mut b, |tx: &mut dyn Tx| recharge::settle(tx, &s3, NOW)).unwrap().unwrap();
    let (n, settled, total) =
        transact(&mut b, |tx: &mut dyn Tx| Ok(Ok::<_, ()>(recharge::ledger_totals(tx, &m.id)?))).unwrap().unwrap();
    assert_eq!((n, settled, total), (1, 1, 2_500));
    assert_eq!(m.regs.control_total, 3_500);

    // After settlement, a new nonce for the settled sequence is a replay.
    let mut stale = m.clone();
    stale.nt -= 1;
    stale.regs.control_total -= 2_500;
    stale.regs.descending -= 2_500;
    let replay = stale.s1(2_500);
    let refused = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &replay, NOW)).unwrap();
    assert_eq!(refused.unwrap_err().code, "replay");

    // Refusals write nothing: insufficient funds, wrong CT, bad signature.
    let ledger_before = count(&mut b, "recharges");
    let big = m.clone().s1(1_000_000);
    let e = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &big, NOW)).unwrap().unwrap_err();
    assert_eq!((e.status, e.code), (402, "insufficient_funds"));
    let mut liar = m.clone();
    liar.regs.control_total += 1;
    liar.regs.descending += 1;
    let lie = liar.s1(10);
    let e = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &lie, NOW)).unwrap().unwrap_err();
    assert_eq!(e.code, "registers_mismatch");
    let mut forged = m.clone().s1(10);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let e = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &forged, NOW)).unwrap().unwrap_err();
    assert_eq!((e.status, e.code), (403, "bad_signature"));
    assert_eq!(count(&mut b, "recharges"), ledger_before);
    assert_eq!(balance(&mut b, "acct"), 7_500);

    // Idempotency keys: a replay returns the stored answer; another body under the key is refused.
    let hash = [7u8; 32];
    let first =
        transact(&mut b, |tx: &mut dyn Tx| idempotency::run(tx, "k1", &hash, NOW, |_| Ok(Ok(41)))).unwrap().unwrap();
    let replay =
        transact(&mut b, |tx: &mut dyn Tx| idempotency::run(tx, "k1", &hash, NOW, |_| Ok(Ok(99)))).unwrap().unwrap();
    assert_eq!(first, replay);
    assert_eq!(replay.body, b"41");
    let other = transact(&mut b, |tx: &mut dyn Tx| idempotency::run(tx, "k1", &[8; 32], NOW, |_| Ok(Ok(1)))).unwrap();
    assert_eq!(other.unwrap_err().status, 422);

    // Concurrent recharges of many meters on one account: every debit lands once.
    transact(&mut b, |tx: &mut dyn Tx| meters::credit_account(tx, "shared", 1_000_000, NOW)).unwrap().unwrap();
    let workers: Vec<_> = (0..4u32)
        .map(|w| {
            let location = location.clone();
            let auth = Arc::clone(&auth);
            std::thread::spawn(move || {
                let mut b = AnyBackend::open(&location).unwrap();
                for i in 0..5u32 {
                    let mut m = SoftMeter::new(100 + w * 10 + i);
                    register(&mut b, &m, "shared");
                    for _ in 0..3 {
                        let s1 = m.s1(100);
                        let s2 = transact(&mut b, |tx: &mut dyn Tx| recharge::authorize(tx, &auth, &s1, NOW))
                            .unwrap()
                            .unwrap();
                        let s3 = m.credit(&hex::decode(&s2.s2).unwrap(), &auth.key.public()).unwrap();
                        transact(&mut b, |tx: &mut dyn Tx| recharge::settle(tx, &s3, NOW)).unwrap().unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(balance(&mut b, "shared"), 1_000_000 - 4 * 5 * 3 * 100);
    assert_eq!(count(&mut b, "recharges"), 1 + 60);
}

#[test]
fn storage_suite_on_sqlite() {
    let dir = scratch("sqlite");
    suite(Location::Sqlite(dir.join("authority.db")));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn storage_suite_on_postgresql() {
    let Some(pg) = testkit::postgres::TempPostgres::start_or_skip("storage") else { return };
    suite(Location::Postgres(pg.url().to_string()));
}
