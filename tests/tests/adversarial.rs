//! The adversarial suite: each test names the attack it defeats. Attacks
//! covered elsewhere are listed in the README's "Security model" table
//! (wrong lifecycle, forged personalization, chaining abuse, reset, tamper,
//! PIN brute force across power cuts).

use apdu_specs::signed::{self, DOMAIN_PERSONALIZATION, Signed};
use tests::{DirectCard, FIXTURE_TIME, signed_table, vector_keys};

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
    assert_eq!(c.update_rates(&cross), 0x6300);
    let issuer_signed =
        signed::encode(&body, &vector_keys().issuer.sign_message(apdu_specs::signed::DOMAIN_RATE_TABLE, &body));
    assert_eq!(c.update_rates(&issuer_signed), 0x6300, "the issuer key is not the authority key");
    assert_eq!(c.snapshot(), before);
    assert_eq!(c.update_rates(&good), 0x9000);
    assert_eq!(c.update_rates(&good), 0x6985, "a replay of the same table");
}

/// Attack: read a private key out of any response. A full session exercises
/// every command of the table, certificate services included; every response
/// byte is scanned for every private key the card held before or after
/// (device, postal and slot keys; whole, and any 8-byte window of them).
#[test]
fn attack_private_keys_never_appear_in_any_response() {
    let services = tests::services::prepared(100_000);
    let mut card = tests::oracle::fresh_card(&services.store, true);
    let mut keys = tests::oracle::secrets(card.platform_mut().store_ref());
    let mut responses = Vec::new();
    let mut send = |apdu: &[u8]| {
        let r = card.process(apdu);
        responses.push(r.clone());
        r
    };
    for pin in ["000000", "123456"] {
        send(&tests::verify_apdu(pin));
    }
    for class in 1..=3 {
        send(&tests::indicium_apdu(class, 50));
    }
    for tag in [0xDF20u16, 0xDF21, 0xDF22, 0xDF23, 0xDF24] {
        send(&[0x00, 0xCA, (tag >> 8) as u8, tag as u8, 0x00]);
        send(&[0x00, 0xC0, 0x00, 0x00, 0x00]);
    }
    send(&[0x00, 0xCB, 0xDF, 0x25, 0x06, 0, 0, 0, 0, 0, 64, 0x00]);
    for slot in 0..apdu_specs::certs::SLOT_COUNT {
        send(&tests::pki::ext_apdu([0x80, 0x4A, 0x00, slot], &[]));
    }
    // UPDATE CA ANCHOR last: after it the slot certificates are no longer under
    // the current anchor, and the slots rightly serve nothing (9402).
    let mut commands: Vec<_> = services.commands.iter().collect();
    commands.sort_by_key(|c| c.spec.ins == apdu_specs::commands::ins::UPDATE_CA_ANCHOR);
    for command in commands {
        // SELECT and RESET RETRY COUNTER drop the verified PIN: verify before each.
        send(&tests::verify_apdu("123456"));
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
    for k in tests::oracle::secrets(card.platform_mut().store_ref()) {
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

/// Attack: timing side channels on PIN and MAC comparisons. A lint-style
/// check of the sources: the comparisons go through `subtle`'s `ct_eq`, and
/// no reference data is compared with `==`.
#[test]
fn attack_timing_compares_are_constant_time() {
    let pin = include_str!("../../card-core/src/handlers/pin.rs");
    let compare = pin.split("fn blocks_match").nth(1).expect("blocks_match exists");
    let body = &compare[..compare.find("\n}").unwrap()];
    assert!(body.contains("ct_eq"), "PIN comparison must use subtle::ConstantTimeEq");
    assert!(
        pin.contains("blocks_match(pins.reference(which), candidate.as_bytes())"),
        "the PIN check goes through blocks_match"
    );
    for (name, src) in [
        ("card-core/src/handlers/pin.rs", pin),
        ("card-core/src/handlers/indicium.rs", include_str!("../../card-core/src/handlers/indicium.rs")),
        ("card-core/src/applet.rs", include_str!("../../card-core/src/applet.rs")),
    ] {
        for (i, line) in src.lines().enumerate() {
            let l = line.replace(' ', "");
            let bad = ["pin==", "puk==", "==candidate", ".pin==", "mac==", "==mac"].iter().any(|p| l.contains(p));
            assert!(!bad, "{name}:{}: reference data compared with ==: {line}", i + 1);
        }
    }
    let verify = include_str!("../../host-driver/src/verify.rs");
    assert!(verify.contains("ct_eq(ind.authenticator)"), "the host compares MACs in constant time");
}

/// Attack: GET RESPONSE without a pending response, and a pending response
/// carried across another command.
#[test]
fn attack_get_response_abuse() {
    let mut c = DirectCard::operational();
    assert_eq!(c.hex("00C0000000").1, 0x6985, "nothing pending");
    let (d, sw) = c.hex("00CADF2200");
    assert_eq!((d.len(), sw), (256, 0x6106));
    c.hex("00CADF2000");
    assert_eq!(c.hex("00C0000006").1, 0x6985, "the other command dropped the pending response");
    assert_eq!(c.hex("00C0010000").1, 0x6A86);
}
