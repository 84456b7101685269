//! `pcmeter-bench`: measures the meter against the raw limits of the machine
//! in one run and prints a Markdown report (copied into docs/BENCHMARKS.md).
//!
//! Run: `cargo run --release -p bench -- [--quick]`

use card_core::Applet;
use card_core::platform::CryptoEngine;
use card_core::soft_engine::SoftEngine;
use card_sim::{Engine, Entropy, MemoryStore, SimClock, SimPlatform};
mod durable_bench;
mod pcsc_bench;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live and peak heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only adds counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn best_of<F: FnMut() -> Duration>(runs: usize, mut f: F) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

type SimApplet = Applet<SimPlatform<MemoryStore>>;

fn operational_applet(engine: Engine) -> SimApplet {
    let keys = testkit::vector_keys();
    let mut opts = testkit::vector_options();
    opts.profile.initial_credit = 100_000_000_000;
    let platform =
        SimPlatform::with_engine(engine, MemoryStore::new(), Entropy::Os, SimClock::fixed(testkit::FIXTURE_TIME));
    let mut a = Applet::manufacture(platform, &keys.issuer.public(), testkit::VECTOR_SERIAL).unwrap();
    let ok = |r: Vec<u8>| assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
    ok(a.process(&testkit::select_apdu()));
    for apdu in testkit::personalization_apdus(&keys, &opts) {
        ok(a.process(&apdu));
    }
    let verify = testkit::verify_apdu("123456");
    ok(a.process(&verify));
    ok(a.process(&[0x00, 0x44, 0x00, 0x00]));
    a
}

/// Certifies slot 0 for postmarks, then measures postmarks of a digest and of
/// a 1 MiB message streamed into the card, and the raw SHA-256 rate of 1 MiB.
fn postmark_rates(applet: &mut SimApplet, n: usize, runs: usize, mib_n: usize) -> (f64, f64, f64) {
    use apdu_specs::x509::Usage;
    use testkit::pki::{self, ext_apdu};
    let mut ca = pki::ca_for(&testkit::vector_keys());
    let mut send = |a: &[u8]| applet.process(a);
    pki::register_raw(&mut send, &mut ca);
    assert_eq!(&send(&testkit::verify_apdu("123456"))[..], [0x90, 0x00]);
    pki::certify_raw(&mut send, &mut ca, 0, Usage::Postmark);
    let postmark = ext_apdu([0x80, 0x56, 0x00, 0x00], &[9u8; 32]);
    let ok = |r: &[u8]| assert_eq!(&r[r.len() - 2..], [0x90, 0x00], "postmark refused");
    let digest_time = best_of(runs, || {
        let t = Instant::now();
        for _ in 0..n {
            let r = send(&postmark);
            ok(&r);
            std::hint::black_box(r);
        }
        t.elapsed()
    });
    let message = vec![0xA5u8; 1 << 20];
    let start = ext_apdu([0x80, 0x54, 0x00, 0x00], &[]);
    let chunks: Vec<Vec<u8>> = message.chunks(8192).map(|c| ext_apdu([0x80, 0x54, 0x01, 0x00], c)).collect();
    let streamed = ext_apdu([0x80, 0x56, 0x01, 0x00], &[]);
    let mib_time = best_of(runs, || {
        let t = Instant::now();
        for _ in 0..mib_n {
            ok(&send(&start));
            for c in &chunks {
                ok(&send(c));
            }
            let r = send(&streamed);
            ok(&r);
            std::hint::black_box(r);
        }
        t.elapsed()
    });
    let engine = SoftEngine::new(Entropy::Os);
    let hash_time = best_of(runs, || {
        let t = Instant::now();
        for _ in 0..mib_n {
            std::hint::black_box(CryptoEngine::sha256(&engine, &[&message]));
        }
        t.elapsed()
    });
    (rate(n, digest_time), rate(mib_n, mib_time), rate(mib_n, hash_time))
}

/// Raw P-256 signs per second of a fresh `engine` (one key, as the card signs).
fn raw_sign_rate(engine: Engine, n: usize, runs: usize) -> f64 {
    let mut crypto = engine.instantiate(Entropy::Os);
    let (key, _) = crypto.p256_generate().unwrap();
    let digest = [7u8; 32];
    let sign = best_of(runs, || {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(crypto.p256_sign_digest(&key, &digest).unwrap());
        }
        t.elapsed()
    });
    rate(n, sign)
}

/// Indicia per second through the full APDU path of `applet`.
fn indicium_rate(applet: &mut SimApplet, n: usize, runs: usize) -> f64 {
    let ind = testkit::indicium_apdu(1, 1);
    let time = best_of(runs, || {
        let t = Instant::now();
        for _ in 0..n {
            let r = applet.process(&ind);
            assert_eq!(r.len(), 126, "indicium refused: {:02X?}", &r[r.len() - 2..]);
            std::hint::black_box(r);
        }
        t.elapsed()
    });
    rate(n, time)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 500 } else { 5_000 };
    let runs = if quick { 2 } else { 5 };

    // Per engine: the raw limit (P-256 sign of a 32-byte digest, as the card
    // signs: low-S) and indicia through the full APDU path on the memory store.
    let per_engine: Vec<(Engine, f64, f64)> = Engine::compiled()
        .iter()
        .map(|&engine| {
            (engine, raw_sign_rate(engine, n, runs), indicium_rate(&mut operational_applet(engine), n, runs))
        })
        .collect();
    let fastest = per_engine.iter().map(|(_, sign, _)| *sign).fold(0.0, f64::max);
    let sign_rate = per_engine.iter().find(|(e, _, _)| *e == Engine::Soft).map_or(fastest, |(_, sign, _)| *sign);
    // The rows below run on the soft engine, against its raw sign rate.
    let mut applet = operational_applet(Engine::Soft);
    let ind = testkit::indicium_apdu(1, 1);

    // Postmarks (Fig. 3) on a certified postmark slot of the same applet.
    let (pm_rate, mib_rate, hash_mib_rate) = postmark_rates(&mut applet, n, runs, if quick { 10 } else { 40 });

    // Peak heap of one indicium APDU.
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    std::hint::black_box(applet.process(&ind));
    let peak_indicium = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    // Peak heap of the largest command: a 262-byte rate table chained in.
    let table = testkit::signed_table(2, testkit::FIXTURE_TIME - 1, |_| {});
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    for (i, chunk) in table.chunks(255).enumerate() {
        let last = (i + 1) * 255 >= table.len();
        let mut a = vec![if last { 0x80 } else { 0x90 }, 0x62, 0, 0, chunk.len() as u8];
        a.extend_from_slice(chunk);
        std::hint::black_box(applet.process(&a));
    }
    let peak_rates = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let image = applet.platform_mut().store_ref().image_size();

    // The same through host-driver's typed API (in-process transport).
    let keys = pcmeter::simulated::AuthorityKeys::from_seed("bench");
    let mut sim = pcmeter::simulated::operational(
        &keys,
        &pcmeter::simulated::Options::at(testkit::FIXTURE_TIME, 100_000_000_000),
    )
    .unwrap();
    sim.meter.run(|tx| tx.verify_pin(&sim.pin)).unwrap();
    let piece = testkit::piece(1, 1);
    let host_time = best_of(runs, || {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(sim.meter.run(|tx| tx.print_indicium(&piece)).unwrap());
        }
        t.elapsed()
    });
    let host_rate = rate(n, host_time);

    // Bulk: 10,000 labels (indicium + Data Matrix PNG), with progress.
    let labels = if quick { 1_000 } else { 10_000 };
    let t = Instant::now();
    let mut s = sim.meter.transaction().unwrap();
    for i in 1..=labels {
        let ind = s.print_indicium(&piece).unwrap();
        std::hint::black_box(pcmeter::render::png(&ind, 4).unwrap());
        if i % (labels / 10) == 0 {
            eprintln!("bulk: {i}/{labels} labels, {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    drop(s);
    let bulk = t.elapsed();

    println!("| measurement | value | target | verdict |");
    println!("|---|---|---|---|");
    for (engine, sign, _) in &per_engine {
        println!("| raw P-256 sign ({engine} engine, 32-byte digest, low-S) | {sign:.0} /s | limit | — |");
    }
    for (engine, sign, indicia) in &per_engine {
        let own = indicia / sign;
        let against_fastest = indicia / fastest;
        println!(
            "| indicia, {engine} engine, in process, memory store (APDU + state machine + commit + sign) | {indicia:.0} /s = {own:.3} × its raw sign = {against_fastest:.3} × the fastest raw sign | ≥ 0.85 × both | {} |",
            if own >= 0.85 && against_fastest >= 0.85 { "met" } else { "NOT met" }
        );
    }
    println!(
        "| indicia through host-driver `Meter` (in-process transport, typed API) | {host_rate:.0} /s = {:.3} × raw sign (soft) | — | — |",
        host_rate / sign_rate
    );
    let pm_ratio = pm_rate / sign_rate;
    println!(
        "| postmarks, 32-byte digest, in process, memory store (RFC 3161 TSTInfo + signed attributes + commit + sign) | {pm_rate:.0} /s = {pm_ratio:.3} × raw sign (soft) | ≥ 0.85 × raw sign | {} |",
        if pm_ratio >= 0.85 { "met" } else { "NOT met" }
    );
    println!(
        "| postmarks of a 1 MiB message hashed on the card (HASH start + 128 × 8 KiB + POSTMARK) | {mib_rate:.1} /s; raw SHA-256 of 1 MiB {hash_mib_rate:.1} /s; limit 1/(1/sign + 1/hash) = {:.1} /s | reported | — |",
        1.0 / (1.0 / sign_rate + 1.0 / hash_mib_rate)
    );
    println!(
        "| peak heap, one PRINT INDICIUM APDU | {peak_indicium} B | < 16 KiB | {} |",
        if peak_indicium < 16 * 1024 { "met" } else { "NOT met" }
    );
    println!(
        "| peak heap, UPDATE RATES (262 B, chained) | {peak_rates} B | < 16 KiB | {} |",
        if peak_rates < 16 * 1024 { "met" } else { "NOT met" }
    );
    println!(
        "| persistent image, personalized, full rate table, 64 audit records | {image} B | < 64 KiB | {} |",
        if image < 64 * 1024 { "met" } else { "NOT met" }
    );
    println!(
        "| bulk: {labels} labels (indicium + Data Matrix PNG) | {:.2} s ({:.0} labels/s) | reported | — |",
        bulk.as_secs_f64(),
        rate(labels, bulk)
    );

    durable_bench::run(if quick { 300 } else { 2_000 }, if quick { 2 } else { 3 });
    if std::path::Path::new("/usr/sbin/pcscd").exists() {
        pcsc_bench::run(if quick { 300 } else { 2_000 });
    } else {
        eprintln!("pcscd not installed: PC/SC rows skipped (scripts/test.sh installs it)");
    }
}
