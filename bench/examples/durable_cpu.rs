//! The durable store's CPU cost without the disk: the journal on tmpfs.
use card_core::Applet;
use card_sim::{DirMedium, Entropy, JournalStore, SimClock, SimPlatform};
use std::time::Instant;
fn main() {
    let dir = std::path::Path::new("/dev/shm/pcmeter-cpu");
    std::fs::create_dir_all(dir).unwrap();
    let store = JournalStore::open(DirMedium::new(dir).unwrap(), "card").unwrap();
    let platform = SimPlatform::new(store, Entropy::Os, SimClock::fixed(testkit::FIXTURE_TIME));
    let mut card =
        Applet::manufacture(platform, &testkit::vector_keys().issuer.public(), testkit::VECTOR_SERIAL).unwrap();
    card.process(&testkit::select_apdu());
    let mut opts = testkit::vector_options();
    opts.profile.initial_credit = 100_000_000_000;
    for a in testkit::personalization_apdus(&testkit::vector_keys(), &opts) {
        card.process(&a);
    }
    let verify = testkit::verify_apdu("123456");
    card.process(&verify);
    card.process(&[0x00, 0x44, 0x00, 0x00]);
    let ind = testkit::indicium_apdu(1, 1);
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
