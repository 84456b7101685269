//! A personalization profile is bound to one card and expires (review item 1):
//! the same signed profile never personalizes a second card, an expired one is
//! refused, a serial changed after signing breaks the signature, and each
//! refusal changes nothing on the card. Cards made before card serials get
//! one at power-on.

use apdu_specs::fci::Fci;
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::perso::{CardSerial, Profile};
use apdu_specs::signed::{self, Signed};
use apdu_specs::sw::Sw;
use card_core::Applet;
use card_core::platform::{Store, WriteSet};
use card_core::state::{CardState, Counters, records};
use card_sim::{Entropy, MemoryStore, SimCard, SimClock, SimPlatform};
use testkit::{DirectCard, FIXTURE_TIME, VECTOR_SERIAL, vector_keys, vector_options};

/// A second card from the same factory.
const OTHER_SERIAL: CardSerial = CardSerial(*b"PCMV0002");

fn personalize(c: &mut DirectCard, signed: &[u8]) -> Sw {
    Sw(c.send_chained([0x80, 0xE2, 0x00, 0x00], signed).1)
}

fn profile_for(serial: CardSerial) -> Vec<u8> {
    pcmeter::simulated::signed_profile(&vector_keys(), &vector_options(), serial).unwrap()
}

fn fci(c: &mut DirectCard) -> Fci {
    let (data, sw) = c.send(&testkit::select_apdu());
    assert_eq!(Sw(sw), Sw::OK);
    Fci::parse(&data).unwrap()
}

/// The card is still blank: PERSONALIZATION, no keys generated.
fn assert_blank(c: &mut DirectCard) {
    assert_eq!(c.status().lifecycle, Lifecycle::Personalization);
    assert_eq!(Sw(c.hex("00CADF2400").1), Sw::NOT_FOUND, "no keys were generated");
}

#[test]
fn the_card_serial_is_readable_before_personalization() {
    let mut c = DirectCard::blank_with_serial(OTHER_SERIAL);
    let fci = fci(&mut c);
    assert_eq!(fci.card_serial, OTHER_SERIAL);
    assert_eq!((fci.lifecycle, fci.meter_id), (Lifecycle::Personalization, None));
}

#[test]
fn one_profile_cannot_personalize_two_cards() {
    let profile = profile_for(VECTOR_SERIAL);
    let mut first = DirectCard::blank();
    assert_eq!(personalize(&mut first, &profile), Sw::OK);

    let mut second = DirectCard::blank_with_serial(OTHER_SERIAL);
    let before = second.snapshot();
    assert_eq!(personalize(&mut second, &profile), Sw::PROFILE_FOR_ANOTHER_CARD);
    assert_eq!(second.snapshot(), before, "the refusal changed nothing");
    assert_blank(&mut second);
    // Its own profile still personalizes it.
    assert_eq!(personalize(&mut second, &profile_for(OTHER_SERIAL)), Sw::OK);
}

#[test]
fn expired_profile_is_refused() {
    let profile = profile_for(VECTOR_SERIAL);
    let not_after = Profile::parse_body(Signed::parse(&profile).unwrap().body).unwrap().not_after;
    let mut c = DirectCard::blank();
    c.clock.set(not_after + 1);
    let before = c.snapshot();
    assert_eq!(personalize(&mut c, &profile), Sw::PROFILE_EXPIRED);
    assert_eq!(c.snapshot(), before, "the refusal changed nothing");
    assert_blank(&mut c);
}

#[test]
fn a_profile_is_accepted_until_its_last_second() {
    let profile = profile_for(VECTOR_SERIAL);
    let not_after = Profile::parse_body(Signed::parse(&profile).unwrap().body).unwrap().not_after;
    let mut c = DirectCard::blank();
    c.clock.set(not_after);
    assert_eq!(personalize(&mut c, &profile), Sw::OK);
}

#[test]
fn a_serial_changed_after_signing_fails_the_signature() {
    let good = profile_for(VECTOR_SERIAL);
    let signed = Signed::parse(&good).unwrap();
    let mut profile = Profile::parse_body(signed.body).unwrap();
    profile.card_serial = OTHER_SERIAL;
    let retargeted = signed::encode(&profile.encode_body(), &signed.signature);

    let mut c = DirectCard::blank_with_serial(OTHER_SERIAL);
    let before = c.snapshot();
    assert_eq!(personalize(&mut c, &retargeted), Sw::VERIFICATION_FAILED);
    assert_eq!(c.snapshot(), before, "the refusal changed nothing");
    assert_blank(&mut c);
}

#[test]
fn a_card_made_before_card_serials_gets_one_that_lasts() {
    // The factory record as it was written before card serials: the bare issuer key.
    let mut store = MemoryStore::new();
    let mut set = WriteSet::new();
    set.put(records::FACTORY, vector_keys().issuer.public().to_vec());
    set.put(records::CARD, CardState::default().encode());
    set.put(records::COUNTERS, Counters::default().encode());
    store.commit(&set).unwrap();

    let clock = SimClock::fixed(FIXTURE_TIME);
    let applet = Applet::power_on(SimPlatform::new(store, Entropy::seeded(3), clock.clone())).unwrap();
    let serial = applet.card_serial();
    // The migrated record survives a power cycle (a new draw would differ).
    let applet = Applet::power_on(applet.into_platform()).unwrap();
    assert_eq!(applet.card_serial(), serial);

    let mut c = DirectCard { card: SimCard::from_applet(applet), clock };
    assert_eq!(fci(&mut c).card_serial, serial);
    assert_eq!(personalize(&mut c, &profile_for(VECTOR_SERIAL)), Sw::PROFILE_FOR_ANOTHER_CARD);
    assert_eq!(personalize(&mut c, &profile_for(serial)), Sw::OK);
}

#[test]
fn the_daemon_refuses_a_serial_its_state_file_contradicts() {
    let dir = std::env::temp_dir().join(format!("pcmeter-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = card_sim::JournalStore::open(card_sim::DirMedium::new(&dir).unwrap(), "card.pcmj").unwrap();
    let platform = SimPlatform::new(store, Entropy::seeded(4), SimClock::fixed(FIXTURE_TIME));
    drop(Applet::manufacture(platform, &vector_keys().issuer.public(), VECTOR_SERIAL).unwrap());

    // Refused before it reaches vpcd: no reader is involved.
    let mut daemon = std::process::Command::new(testkit::workspace_bin("card-sim", "pcmeter-card"))
        .arg("--state")
        .arg(dir.join("card.pcmj"))
        .args(["--serial", &OTHER_SERIAL.to_string(), "--vpcd", "127.0.0.1:1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            daemon.kill().ok();
            daemon.wait().ok();
            panic!("the daemon served a card whose serial contradicts --serial");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains(&format!("has serial {VECTOR_SERIAL}, not {OTHER_SERIAL}")), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
