//! The adversarial suite: each test names the attack it defeats. Attacks
//! covered elsewhere are listed in the README's "Security model" table
//! (wrong lifecycle, forged personalization, chaining abuse, reset, tamper,
//! PIN brute force across power cuts).

use apdu_specs::signed::{self, DOMAIN_PERSONALIZATION, Signed};
use apdu_specs::sw::Sw;
use card_core::platform::Store;
use card_core::state::{Secrets, records};
use testkit::{DirectCard, FIXTURE_TIME, signed_table, vector_keys};

/// Attack: a rate table the authority really signed, but for another message
/// kind (domain separation), or with a valid signature from another key.
#[test]
fn attack_resigned_and_cross_domain_rate_tables() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    let before = c.snapshot();
    let good = signed_table(2, FIXTURE_TIME - 1, |_| {});
    let body = Signed::parse(&good).unwrap().body.to_vec();
    let cross = signed::encode(&body, &vector_keys().authority.sign_message(DOMAIN_PERSONALIZATION, &body));
    assert_eq!(c.update_rates(&cross), Sw::VERIFICATION_FAILED);
    let issuer_signed =
        signed::encode(&body, &vector_keys().issuer.sign_message(apdu_specs::signed::DOMAIN_RATE_TABLE, &body));
    assert_eq!(c.update_rates(&issuer_signed), Sw::VERIFICATION_FAILED, "the issuer key is not the authority key");
    assert_eq!(c.snapshot(), before);
    assert_eq!(c.update_rates(&good), Sw::OK);
    assert_eq!(c.update_rates(&good), Sw::CONDITIONS_NOT_SATISFIED, "a replay of the same table");
}

/// Attack: read a private key out of any response. A full session exercises
/// every command of the table, certificate services included; every response
/// byte is scanned for every private key the card held before or after
/// (device, postal and slot keys; whole, and any 8-byte window of them).
#[test]
fn attack_private_keys_never_appear_in_any_response() {
    let services = testkit::services::prepared(100_000);
    let mut card = testkit::oracle::fresh_card(&services.store, true);
    let mut keys = testkit::oracle::secrets(card.platform_mut().store_ref());
    let mut responses = Vec::new();
    let mut send = |apdu: &[u8]| {
        let r = card.process(apdu);
        responses.push(r.clone());
        r
    };
    for pin in ["000000", "123456"] {
        send(&testkit::verify_apdu(pin));
    }
    for class in 1..=3 {
        send(&testkit::indicium_apdu(class, 50));
    }
    for tag in [0xDF20u16, 0xDF21, 0xDF22, 0xDF23, 0xDF24] {
        send(&[0x00, 0xCA, (tag >> 8) as u8, tag as u8, 0x00]);
        send(&[0x00, 0xC0, 0x00, 0x00, 0x00]);
    }
    send(&[0x00, 0xCB, 0xDF, 0x25, 0x06, 0, 0, 0, 0, 0, 64, 0x00]);
    for slot in 0..apdu_specs::certs::SLOT_COUNT {
        send(&testkit::pki::ext_apdu([0x80, 0x4A, 0x00, slot], &[]));
    }
    // UPDATE CA ANCHOR last: after it the slot certificates are no longer under
    // the current anchor, and the slots rightly serve nothing (9402).
    let mut commands: Vec<_> = services.commands.iter().collect();
    commands.sort_by_key(|c| c.spec.ins == apdu_specs::commands::ins::UPDATE_CA_ANCHOR);
    for command in commands {
        // SELECT and RESET RETRY COUNTER drop the verified PIN: verify before each.
        send(&testkit::verify_apdu("123456"));
        let command = testkit::services::with_pending(command, &mut send);
        let answer = send(&command.apdu(65_536));
        if command.spec.is_value() {
            assert!(
                answer.ends_with(&[0x90, 0x00]),
                "{} ran and answered {:02X?}",
                command.spec.name,
                &answer[answer.len().saturating_sub(2)..]
            );
        }
    }
    for k in testkit::oracle::secrets(card.platform_mut().store_ref()) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    assert!(keys.len() >= 2 + 6, "device, postal and six slot keys, one of them revoked ({})", keys.len());
    let total: usize = responses.iter().map(Vec::len).sum();
    assert!(total > 5_000, "the session produced real output ({total} bytes)");
    for r in &responses {
        for k in &keys {
            assert!(!k.windows(8).any(|w| r.windows(8).any(|x| x == w)), "8 bytes of a private key leaked");
        }
    }
}

/// Fails to compile when a listed type implements `PartialEq`.
///
/// For each type, a probe trait gets two blanket impls: one for every type
/// (parameter `()`), one for types with `PartialEq` (parameter
/// `HasPartialEq`). Naming the probe's item with the parameter left to
/// inference resolves only while exactly one impl applies.
macro_rules! assert_no_partial_eq {
    ($($secret:ty),+ $(,)?) => {$(
        const _: fn() = || {
            trait Probe<Which> {
                fn item() {}
            }
            impl<T: ?Sized> Probe<()> for T {}
            struct HasPartialEq;
            impl<T: ?Sized + PartialEq> Probe<HasPartialEq> for T {}
            let _ = <$secret as Probe<_>>::item;
        };
    )+};
}

// Attack: timing side channels on secrets. A secret that cannot be compared
// with `==` can only be compared through `subtle` (constant time): the card's
// and the host's secret types (keys, PINs, PIN blocks, MAC keys, and the
// payloads that carry them) have no `PartialEq`, checked when this file
// compiles.
assert_no_partial_eq!(
    card_core::SecretKey,
    card_core::state::Secrets,
    card_core::state::PinState,
    card_core::state::Slot,
    apdu_specs::command::Command<'static>,
    apdu_specs::command::VerifyOp,
    apdu_specs::pin::PinBlock,
    apdu_specs::perso::Profile,
    host_driver::Pin,
    host_driver::channel::CommandApdu,
    host_driver::certificates::DeliveryKey,
    authority::MasterMacKey,
    authority::SigningKeyPair,
);

/// Attack: GET RESPONSE without a pending response, and a pending response
/// carried across another command.
#[test]
fn attack_get_response_abuse() {
    let mut c = DirectCard::operational();
    assert_eq!(c.hex("00C0000000").1, Sw::CONDITIONS_NOT_SATISFIED, "nothing pending");
    let (d, sw) = c.hex("00CADF2200");
    assert_eq!((d.len(), Sw(sw)), (256, Sw::more_available(6)));
    c.hex("00CADF2000");
    assert_eq!(c.hex("00C0000006").1, Sw::CONDITIONS_NOT_SATISFIED, "the other command dropped the pending response");
    assert_eq!(c.hex("00C0010000").1, Sw::WRONG_P1P2);
}

/// Attack: read the keys and PINs of a tampered card out of its state file.
/// Tamper zeroizes them in the card's state, but a journal keeps every value
/// it ever wrote: the device, postal and slot keys, the MAC key, the PIN and
/// PUK blocks (old and new) must all be gone from every file of the state
/// directory, byte for byte, after tamper.
#[test]
fn tamper_leaves_no_key_or_pin_bytes_in_the_state_file() {
    use apdu_specs::x509::Usage;
    use card_core::state::{PinState, Slot, slot_record};
    use card_sim::{DirMedium, Entropy, JournalStore, SimCard, SimClock, SimPlatform};
    use card_sim::{InProcessTransport, SharedCard};
    use host_driver::Meter;
    use pcmeter::simulated::{AuthorityKeys, bring_up};

    for hmac_variant in [false, true] {
        let dir = std::env::temp_dir().join(format!("pcmeter-tamper-{}-{hmac_variant}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let keys = AuthorityKeys::from_seed("tamper scrub");
        let mut opts = testkit::vector_options();
        opts.profile.hmac_variant = hmac_variant;
        let store = JournalStore::open(DirMedium::new(&dir).unwrap(), "card.pcmj").unwrap();
        let platform = SimPlatform::new(store, Entropy::seeded(3), SimClock::fixed(FIXTURE_TIME));
        let shared =
            SharedCard::new(SimCard::manufacture(platform, &keys.issuer.public(), testkit::VECTOR_SERIAL).unwrap());
        let mut meter = Meter::connect(InProcessTransport::new(shared.clone())).unwrap();
        let up = bring_up(&mut meter, &keys, &opts).unwrap();
        meter.run(|tx| tx.verify_pin(&up.pin)).unwrap();
        for (slot, usage) in [(0, Usage::Postmark), (1, Usage::Signature), (2, Usage::Encryption), (3, Usage::Agent)] {
            meter.run(|tx| tx.generate_key_pair(slot, usage)).unwrap();
        }
        let new_pin = host_driver::Pin::new("97531864").unwrap();
        meter.run(|tx| tx.change_pin(&up.pin, &new_pin)).unwrap();
        drop(meter);

        let mut guard = shared.lock().unwrap();
        let store = guard.card().platform_mut().unwrap().store_ref();
        let record = |id| store.read(id).unwrap().expect("record present before tamper");
        let secrets = Secrets::decode(&record(records::SECRETS)).unwrap();
        let pins = PinState::decode(&record(records::PINS)).unwrap();
        let mut needles: Vec<(String, Vec<u8>)> = vec![("device key".into(), secrets.device.0.to_vec())];
        needles.extend(secrets.postal.as_ref().map(|k| ("postal key".into(), k.0.to_vec())));
        needles.extend(secrets.mac_key.as_ref().map(|k| ("MAC key".into(), k.expose().to_vec())));
        for slot in 0..4u8 {
            let s = Slot::decode(&record(slot_record(slot))).unwrap();
            needles.push((format!("slot {slot} key"), s.secret.as_ref().expect("generated").0.to_vec()));
        }
        needles.push(("PIN block".into(), pins.pin.to_vec()));
        needles.push(("PUK block".into(), pins.puk.to_vec()));
        needles.push(("old PIN block".into(), up.pin.block().as_bytes().to_vec()));
        assert_eq!(needles.len(), 2 + 4 + 3);

        let files = |dir: &std::path::Path| -> Vec<Vec<u8>> {
            std::fs::read_dir(dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect()
        };
        let found =
            |files: &[Vec<u8>], needle: &[u8]| files.iter().any(|f| f.windows(needle.len()).any(|w| w == needle));
        let before = files(&dir);
        for (what, needle) in &needles {
            assert!(found(&before, needle), "the scan sees the {what} before tamper");
        }
        guard.card().tamper().unwrap();
        drop(guard);
        let after = files(&dir);
        for (what, needle) in &needles {
            assert!(!found(&after, needle), "hmac {hmac_variant}: the {what} is still in the state directory");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// Attack: cut the power while tamper discards the journal's history, hoping
/// the old key bytes stay on disk. Whatever the cut, once the card has
/// powered on again, either tamper never committed (the card still works,
/// keys and all) or the card is terminated and no byte of its device key is
/// left in any file of the medium.
#[test]
fn a_power_cut_during_tamper_still_scrubs_the_keys_at_the_next_power_on() {
    use apdu_specs::Lifecycle;
    use card_core::Applet;
    use card_core::platform::Platform;
    use card_sim::journal::JournalStore;
    use card_sim::journal::fault::{CrashMode, FaultMedium};
    use card_sim::{Entropy, SimClock, SimPlatform};
    type Card = Applet<SimPlatform<JournalStore<FaultMedium>>>;
    let clock = SimClock::fixed(FIXTURE_TIME);
    let power_on = |medium: FaultMedium| -> Card {
        let store = JournalStore::open(medium, "card").unwrap();
        Applet::power_on(SimPlatform::new(store, Entropy::seeded(4), clock.clone())).unwrap()
    };
    let power_off = |card: Card| {
        let mut medium = card.into_platform().into_store().into_medium();
        medium.reboot();
        medium
    };
    let store = JournalStore::open(FaultMedium::new(), "card").unwrap();
    let mut card = Applet::manufacture(
        SimPlatform::new(store, Entropy::seeded(4), clock.clone()),
        &testkit::vector_keys().issuer.public(),
        testkit::VECTOR_SERIAL,
    )
    .unwrap();
    let mut setup = vec![testkit::select_apdu()];
    setup.extend(testkit::personalization_apdus(&testkit::vector_keys(), &testkit::vector_options()));
    setup.extend([testkit::verify_apdu("123456"), vec![0x00, 0x44, 0x00, 0x00]]);
    for a in &setup {
        let r = card.process(a);
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
    }
    let device_key =
        Secrets::decode(&card.platform_mut().store().read(records::SECRETS).unwrap().unwrap()).unwrap().device.0;
    let operational = power_off(card);

    let mut dry = power_on(operational.clone());
    dry.platform_mut().store().medium_mut().count_from_now();
    dry.tamper().unwrap();
    let ops = dry.platform_mut().store().medium_mut().ops();
    assert!(ops >= 5, "tamper commits, then compacts: {ops} operations");
    let mut terminated = 0;
    for n in 0..=ops {
        for mode in [CrashMode::LoseUnsynced, CrashMode::KeepUnsynced] {
            let mut card = power_on(operational.clone());
            card.platform_mut().store().medium_mut().arm(n, mode);
            let _ = card.tamper();
            let mut card = power_on(power_off(card));
            card.process(&testkit::select_apdu());
            let r = card.process(&[0x00, 0xCA, 0xDF, 0x21, 0x00]);
            let status = apdu_specs::registers::Status::parse(&r[..r.len() - 2]).unwrap();
            let mut medium = power_off(card);
            let mut on_disk = Vec::new();
            for name in ["card", "card.new"] {
                medium.edit(name, |f| on_disk.extend_from_slice(f));
            }
            let key_on_disk = on_disk.windows(32).any(|w| w == device_key);
            if status.lifecycle == Lifecycle::Terminated {
                terminated += 1;
                assert!(!key_on_disk, "cut at op {n}/{ops} {mode:?}: terminated, but the device key is on disk");
            } else {
                assert!(key_on_disk, "cut at op {n}/{ops} {mode:?}: not tampered, so the card keeps its key");
            }
        }
    }
    assert!(terminated > ops, "most cuts come after the tamper commit");
}
