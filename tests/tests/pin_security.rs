//! PIN and security-state behaviour: 6982 without the PIN, 6983 when blocked,
//! the retry limit, decrement-before-compare, and reset clearing the state.

use apdu_specs::sw::Sw;
use card_core::Applet;
use card_core::platform::{Platform, RecordId, Store, StoreError, WriteSet};
use card_sim::{Entropy, MemoryStore, SimClock, SimPlatform};
use testkit::{DirectCard, FIXTURE_TIME, signed_table};

#[test]
fn each_state_change_without_the_pin_gets_6982_and_changes_nothing() {
    // ACTIVATE in PERSONALIZATION.
    let mut c = DirectCard::blank();
    for a in testkit::personalization_apdus(&testkit::vector_keys(), &testkit::vector_options()) {
        assert_eq!(c.sw(&a), Sw::OK);
    }
    let before = c.snapshot();
    assert_eq!(c.sw(&[0x00, 0x44, 0x00, 0x00]), Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(c.snapshot(), before);

    // PRINT INDICIUM and UPDATE RATES when OPERATIONAL.
    let mut c = DirectCard::operational();
    let before = c.snapshot();
    assert_eq!(c.print(1, 20).1, Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(c.update_rates(&signed_table(2, FIXTURE_TIME - 10, |_| {})), Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(c.snapshot(), before);
}

#[test]
fn a_blocked_pin_gets_6983() {
    let mut c = DirectCard::operational();
    assert_eq!(c.verify("000000"), Sw::wrong_pin(2));
    assert_eq!(c.verify("000000"), Sw::wrong_pin(1));
    assert_eq!(c.verify("000000"), Sw::wrong_pin(0));
    assert_eq!(c.verify("123456"), Sw::PIN_BLOCKED, "the right PIN must not pass once blocked");
    assert_eq!(c.sw(&[0x00, 0x20, 0x00, 0x81]), Sw::PIN_BLOCKED);
    assert_eq!(c.print(1, 20).1, Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(c.status().pin_tries, 0);
}

#[test]
fn ten_wrong_pins_cannot_go_past_the_retry_limit() {
    let mut c = DirectCard::operational();
    let limit = c.status().pin_tries;
    assert_eq!(limit, 3);
    let mut wrong_answers = 0;
    for i in 0..10 {
        let sw = c.verify("999999");
        if Sw(sw).tries_left().is_some() {
            wrong_answers += 1;
            assert_eq!(sw & 0x0F, u16::from(limit) - 1 - i as u16);
        } else {
            assert_eq!(sw, Sw::PIN_BLOCKED);
        }
        // Power cuts between tries give nothing back.
        c.power_cycle();
    }
    assert_eq!(wrong_answers, limit, "exactly `limit` tries were compared");
    assert_eq!(c.verify("123456"), Sw::PIN_BLOCKED);
    // The PUK unblocks and sets a new PIN.
    let mut a = vec![0x00, 0x2C, 0x00, 0x81, 0x10];
    a.extend_from_slice(apdu_specs::pin::PinBlock::from_digits("12345678").unwrap().as_bytes());
    a.extend_from_slice(apdu_specs::pin::PinBlock::from_digits("2468").unwrap().as_bytes());
    assert_eq!(c.sw(&a), Sw::OK);
    assert_eq!(c.verify("123456"), Sw::wrong_pin(2));
    assert_eq!(c.verify("2468"), Sw::OK);
    assert_eq!(c.print(1, 20).1, Sw::OK);
}

#[test]
fn reset_power_loss_and_deselect_clear_the_verified_state() {
    let mut c = DirectCard::operational();
    assert_eq!(c.verify("123456"), Sw::OK);
    assert_eq!(c.print(1, 20).1, Sw::OK);

    // Warm reset.
    c.card.reset().unwrap();
    assert!(c.card.applet().unwrap().volatile_state_is_clear());
    c.select();
    assert_eq!(c.print(1, 20).1, Sw::SECURITY_STATUS_NOT_SATISFIED);

    // Power loss.
    assert_eq!(c.verify("123456"), Sw::OK);
    c.power_cycle();
    assert_eq!(c.print(1, 20).1, Sw::SECURITY_STATUS_NOT_SATISFIED);

    // Deselect by selecting another application, then come back.
    assert_eq!(c.verify("123456"), Sw::OK);
    assert_eq!(c.hex("00A4040005A000000003").1, Sw::FILE_NOT_FOUND);
    assert_eq!(c.print(1, 20).1, Sw::CONDITIONS_NOT_SATISFIED, "not selected");
    c.select();
    assert_eq!(c.print(1, 20).1, Sw::SECURITY_STATUS_NOT_SATISFIED);

    // Re-selecting the meter itself also starts a new session.
    assert_eq!(c.verify("123456"), Sw::OK);
    c.select();
    assert_eq!(c.sw(&[0x00, 0x20, 0x00, 0x81]), Sw::wrong_pin(3));
}

/// A store whose next commits can be made to fail, as a power cut would.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail_next: bool,
}

impl Store for FlakyStore {
    fn read(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read(id)
    }
    fn commit(&mut self, set: &WriteSet) -> Result<(), StoreError> {
        if std::mem::take(&mut self.fail_next) {
            return Err(StoreError::Io);
        }
        self.inner.commit(set)
    }
}

#[test]
fn the_pin_is_not_compared_unless_the_decrement_was_committed() {
    let keys = testkit::vector_keys();
    let platform = SimPlatform::new(FlakyStore::default(), Entropy::seeded(3), SimClock::fixed(FIXTURE_TIME));
    let mut applet = Applet::manufacture(platform, &keys.issuer.public(), testkit::VECTOR_SERIAL).unwrap();
    let send = |a: &[u8], applet: &mut Applet<SimPlatform<FlakyStore>>| {
        let r = applet.process(a);
        u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
    };
    assert_eq!(send(&testkit::select_apdu(), &mut applet), Sw::OK);
    for a in testkit::personalization_apdus(&keys, &testkit::vector_options()) {
        assert_eq!(send(&a, &mut applet), Sw::OK);
    }
    let verify = {
        let mut a = vec![0x00, 0x20, 0x00, 0x81, 0x08];
        a.extend_from_slice(apdu_specs::pin::PinBlock::from_digits("123456").unwrap().as_bytes());
        a
    };
    // The decrement cannot be made durable: the card answers 6581 and does
    // not compare, so the correct PIN does not verify either.
    applet.platform_mut().store().fail_next = true;
    assert_eq!(send(&verify, &mut applet), Sw::MEMORY_FAILURE);
    assert_eq!(send(&[0x00, 0x20, 0x00, 0x81], &mut applet), Sw::wrong_pin(3), "not verified, no try consumed");
    assert_eq!(send(&verify, &mut applet), Sw::OK);
}

#[test]
fn change_pin_and_puk_follow_the_same_rules() {
    let mut c = DirectCard::operational();
    let block = |d: &str| apdu_specs::pin::PinBlock::from_digits(d).unwrap().as_bytes().to_vec();
    let change = |c: &mut DirectCard, p2: u8, old: &str, new: &str| {
        let mut a = vec![0x00, 0x24, 0x00, p2, 0x10];
        a.extend(block(old));
        a.extend(block(new));
        c.sw(&a)
    };
    assert_eq!(change(&mut c, 0x81, "111111", "654321"), Sw::wrong_pin(2));
    assert_eq!(change(&mut c, 0x81, "123456", "654321"), Sw::OK);
    assert_eq!(c.print(1, 20).1, Sw::OK, "a PIN change leaves the PIN verified");
    c.power_cycle();
    assert_eq!(c.verify("123456"), Sw::wrong_pin(2));
    assert_eq!(c.verify("654321"), Sw::OK);
    assert_eq!(change(&mut c, 0x82, "12345678", "87654321"), Sw::OK);
    // Malformed blocks are refused without consuming a try.
    assert_eq!(c.hex("0020008108 2612345AFFFFFFFF").1, Sw::BAD_DATA);
    assert_eq!(c.status().pin_tries, 3);
    assert_eq!(c.hex("00200081 04 26123456").1, Sw::WRONG_LENGTH);
    assert_eq!(c.hex("00200082 08 26123456FFFFFFFF").1, Sw::WRONG_P1P2);
}
