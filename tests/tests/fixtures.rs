//! Saved card images, one per journal format version, committed under
//! `tests/fixtures/`. Each must still load, with its money intact, so that a
//! format change can never silently orphan a user's meter. A fixture is
//! written once (`PCMETER_WRITE_FIXTURES=1` creates a missing one) and never
//! rewritten.

use apdu_specs::sw::Sw;
use apdu_specs::{Lifecycle, Service};
use card_core::Applet;
use card_sim::journal::FORMAT_VERSION;
use card_sim::{DirMedium, Entropy, JournalStore, SimClock, SimPlatform};
use std::path::PathBuf;
use testkit::{DirectCard, FIXTURE_TIME};

fn fixture(version: u16) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/journal-v{version}.pcmj"))
}

/// Writes the fixture of the current format: the vector meter, personalized,
/// activated, three letters printed.
fn write_current_fixture(path: &PathBuf) {
    let dir = std::env::temp_dir().join(format!("pcmeter-fixture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = JournalStore::open_with_capacity(DirMedium::new(&dir).unwrap(), "card", 8192).unwrap();
    let platform = SimPlatform::new(store, Entropy::seeded(5), SimClock::fixed(FIXTURE_TIME));
    let mut card =
        Applet::manufacture(platform, &testkit::vector_keys().issuer.public(), testkit::VECTOR_SERIAL).unwrap();
    let ok = |r: Vec<u8>| assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
    ok(card.process(&testkit::select_apdu()));
    for a in testkit::personalization_apdus(&testkit::vector_keys(), &testkit::vector_options()) {
        ok(card.process(&a));
    }
    let verify = testkit::verify_apdu("123456");
    ok(card.process(&verify));
    ok(card.process(&[0x00, 0x44, 0x00, 0x00]));
    let ind = testkit::indicium_apdu(1, 20);
    for _ in 0..3 {
        ok(card.process(&ind));
    }
    drop(card);
    std::fs::copy(dir.join("card"), path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_saved_format_version_still_loads_with_its_money() {
    let current = fixture(FORMAT_VERSION);
    if !current.exists() && std::env::var_os("PCMETER_WRITE_FIXTURES").is_some() {
        write_current_fixture(&current);
    }
    assert!(
        current.exists(),
        "no fixture for format {FORMAT_VERSION}: run PCMETER_WRITE_FIXTURES=1 cargo test -p tests --test fixtures"
    );
    for version in 1..=FORMAT_VERSION {
        let dir = std::env::temp_dir().join(format!("pcmeter-load-{}-{version}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(fixture(version), dir.join("card")).unwrap();
        let store = JournalStore::open(DirMedium::new(&dir).unwrap(), "card")
            .unwrap_or_else(|e| panic!("format {version}: {e}"));
        let platform = SimPlatform::new(store, Entropy::Os, SimClock::fixed(FIXTURE_TIME + 60));
        let applet = Applet::power_on(platform).unwrap();
        // Drive it like any card.
        let mut c =
            DirectCard { card: card_sim::SimCard::from_applet(applet), clock: SimClock::fixed(FIXTURE_TIME + 60) };
        c.select();
        let st = c.status();
        assert_eq!(st.lifecycle, Lifecycle::Operational, "format {version}");
        let regs = c.registers();
        assert_eq!(
            (regs.count(Service::Postage), regs.ar_postage, regs.descending),
            (3, 219, 2000 - 219),
            "format {version}"
        );
        assert!(regs.balanced());
        assert_eq!(c.verify("123456"), Sw::OK);
        assert_eq!(c.print(1, 20).1, Sw::OK, "format {version}: the meter still prints");
        // Images from before card serials are given one at power-on, for good.
        let serial = c.card.applet().unwrap().card_serial();
        c.power_cycle();
        assert_eq!(c.card.applet().unwrap().card_serial(), serial, "format {version}: the serial is kept");
        std::fs::remove_dir_all(&dir).ok();
    }
}
