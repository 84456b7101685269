//! The durable store's CPU cost without the disk: the journal on tmpfs.
use card_core::Applet;
use card_sim::{DirMedium, Entropy, JournalStore, SimClock, SimPlatform};
use std::time::Instant;
fn main() {
    let dir = std::path::Path::new("/dev/shm/pcmeter-cpu");
    std::fs::create_dir_all(dir).unwrap();
    let store = JournalStore::open(DirMedium::new(dir).unwrap(), "card").unwrap();
    let platform = SimPlatform::new(store, Entropy::Os, SimClock::fixed(tests::FIXTURE_TIME));
    let mut card = Applet::manufacture(platform, &tests::vector_keys().issuer.public()).unwrap();
    card.process(&tests::select_apdu());
    let mut opts = tests::vector_options();
    opts.profile.initial_credit = 100_000_000_000;
    for a in tests::personalization_apdus(&tests::vector_keys(), &opts) {
        card.process(&a);
    }
    let mut verify = vec![0x00, 0x20, 0x00, 0x81, 0x08];
    verify.extend_from_slice(apdu_specs::pin::PinBlock::from_digits("123456").unwrap().as_bytes());
    card.process(&verify);
    card.process(&[0x00, 0x44, 0x00, 0x00]);
    let mut ind = vec![0x80, 0x60, 0x00, 0x00, 19];
    ind.extend_from_slice(&tests::piece(1, 1).encode());
    ind.push(0);
    for _ in 0..3 {
        let n = 5000;
        let t = Instant::now();
        for _ in 0..n {
            assert_eq!(card.process(&ind).len(), 126);
        }
        println!("durable path on tmpfs: {:.1} µs per indicium", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    std::fs::remove_dir_all(dir).ok();
}
