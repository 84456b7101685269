//! A hot loop to profile: indicia (or digest postmarks) in process on the
//! memory store, on the engine named by the first argument.
//!
//! `perf record -g target/release/examples/indicium_loop aws-lc indicium 200000`
use card_core::Applet;
use card_sim::{Engine, Entropy, MemoryStore, SimClock, SimPlatform};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let engine: Engine = args.next().unwrap_or_else(|| "aws-lc".into()).parse().expect("engine");
    let what = args.next().unwrap_or_else(|| "indicium".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    if what == "sign" {
        use card_core::platform::CryptoEngine;
        let mut crypto = engine.instantiate(Entropy::Os);
        let (key, _) = crypto.p256_generate().expect("key");
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(crypto.p256_sign_digest(&key, &[7u8; 32]).expect("sign"));
        }
        println!("{engine} raw sign: {:.2} µs each", t.elapsed().as_secs_f64() * 1e6 / n as f64);
        return;
    }
    let keys = testkit::vector_keys();
    let mut opts = testkit::vector_options();
    opts.profile.initial_credit = 100_000_000_000;
    let platform =
        SimPlatform::with_engine(engine, MemoryStore::new(), Entropy::Os, SimClock::fixed(testkit::FIXTURE_TIME));
    let mut card = Applet::manufacture(platform, &keys.issuer.public(), testkit::VECTOR_SERIAL).expect("card");
    card.process(&testkit::select_apdu());
    for a in testkit::personalization_apdus(&keys, &opts) {
        card.process(&a);
    }
    card.process(&testkit::verify_apdu("123456"));
    card.process(&[0x00, 0x44, 0x00, 0x00]);
    let mut ca = testkit::pki::ca_for(&keys);
    let mut send = |c: &[u8]| card.process(c);
    testkit::pki::register_raw(&mut send, &mut ca);
    send(&testkit::verify_apdu("123456"));
    testkit::pki::certify_raw(&mut send, &mut ca, 0, apdu_specs::x509::Usage::Postmark);
    let apdu = match what.as_str() {
        "postmark" => testkit::pki::ext_apdu([0x80, 0x56, 0x00, 0x00], &[9u8; 32]),
        _ => testkit::indicium_apdu(1, 1),
    };
    let t = Instant::now();
    for _ in 0..n {
        let r = card.process(&apdu);
        assert!(r.ends_with(&[0x90, 0x00]));
    }
    println!("{engine} {what}: {:.2} µs each", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
