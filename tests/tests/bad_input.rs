//! Bad input of every class gets a precise status word and changes nothing:
//! malformed APDUs, forged or malformed personalization, wrong-state commands,
//! oversize chains, and a tampered card.

use apdu_specs::capdu;
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::perso::Profile;
use apdu_specs::signed::{self, DOMAIN_PERSONALIZATION, Signed};
use apdu_specs::sw::Sw;
use authority::SigningKeyPair;
use testkit::{DirectCard, VECTOR_SERIAL, vector_keys, vector_options};

#[test]
fn malformed_apdus_get_6700_and_change_nothing() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    let before = c.snapshot();
    for bad in [
        "",
        "00",
        "00CA",
        "00CADF",
        "00CADF200500",       // Lc 5, one byte
        "00CADF20000002AA",   // extended Lc 2 with one byte
        "00CADF2000000100AA", // extended Lc 1 then junk
        "8060000013010000",   // truncated data
        "00CADF20020102",     // case 3 Lc 2 plus an extra byte
    ] {
        let (_, sw) = c.hex(bad);
        assert_eq!(sw, Sw::WRONG_LENGTH, "{bad}");
    }
    // Well-formed APDUs with a wrong data length for their command.
    for (bad, sw) in [
        ("00CADF200101 00", Sw::WRONG_LENGTH),
        ("80600000020102 00", Sw::WRONG_LENGTH),
        ("0020008107 26123456FFFFFF", Sw::WRONG_LENGTH),
    ] {
        assert_eq!(c.hex(bad).1, sw, "{bad}");
    }
    assert_eq!(c.snapshot(), before);
}

fn personalize(c: &mut DirectCard, signed: &[u8]) -> u16 {
    c.send_chained([0x80, 0xE2, 0x00, 0x00], signed).1
}

#[test]
fn forged_or_malformed_personalization_is_refused() {
    let keys = vector_keys();
    let good = pcmeter::simulated::signed_profile(&keys, &vector_options(), VECTOR_SERIAL).unwrap();
    let body = Signed::parse(&good).unwrap().body.to_vec();
    let mut c = DirectCard::blank();
    let before = c.snapshot();

    // Signed by someone other than the issuer installed at manufacture.
    let impostor = SigningKeyPair::from_seed("impostor");
    let forged = signed::encode(&body, &impostor.sign_message(DOMAIN_PERSONALIZATION, &body));
    assert_eq!(personalize(&mut c, &forged), Sw::VERIFICATION_FAILED);
    // Body changed after signing.
    let mut tampered = good.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x40;
    assert_eq!(personalize(&mut c, &tampered), Sw::VERIFICATION_FAILED);
    // A signature for another message kind (domain separation).
    let cross = signed::encode(&body, &keys.issuer.sign_message(apdu_specs::signed::DOMAIN_RATE_TABLE, &body));
    assert_eq!(personalize(&mut c, &cross), Sw::VERIFICATION_FAILED);
    // Properly signed, but the profile is malformed.
    let junk = b"\x81\x01X".to_vec();
    assert_eq!(
        personalize(&mut c, &signed::encode(&junk, &keys.issuer.sign_message(DOMAIN_PERSONALIZATION, &junk))),
        Sw::BAD_DATA
    );
    // Properly signed profile whose rate table is not signed by its authority.
    let mut profile = Profile::parse_body(&body).unwrap();
    let mut rt = profile.rate_table.clone();
    let last = rt.len() - 1;
    rt[last] ^= 1;
    profile.rate_table = rt;
    let re = profile.encode_body();
    assert_eq!(
        personalize(&mut c, &signed::encode(&re, &keys.issuer.sign_message(DOMAIN_PERSONALIZATION, &re))),
        Sw::VERIFICATION_FAILED
    );
    // A profile key that is not a curve point.
    let mut profile = Profile::parse_body(&body).unwrap();
    profile.ca_key = [4u8; 65];
    let re = profile.encode_body();
    assert_eq!(
        personalize(&mut c, &signed::encode(&re, &keys.issuer.sign_message(DOMAIN_PERSONALIZATION, &re))),
        Sw::BAD_DATA
    );

    assert_eq!(c.snapshot(), before, "nothing was personalized");
    assert_eq!(c.status().lifecycle, Lifecycle::Personalization);
    assert_eq!(c.hex("00CADF2400").1, Sw::NOT_FOUND, "no keys were generated");
    assert_eq!(personalize(&mut c, &good), Sw::OK);
}

#[test]
fn commands_in_the_wrong_lifecycle_state_get_6985() {
    let mut c = DirectCard::blank();
    let before = c.snapshot();
    assert_eq!(c.print(1, 20).1, Sw::CONDITIONS_NOT_SATISFIED);
    assert_eq!(c.update_rates(&testkit::signed_table(2, 0, |_| {})), Sw::CONDITIONS_NOT_SATISFIED);
    assert_eq!(c.snapshot(), before);

    let mut c = DirectCard::operational();
    c.verify("123456");
    let before = c.snapshot();
    assert_eq!(c.sw(&[0x00, 0x44, 0x00, 0x00]), Sw::CONDITIONS_NOT_SATISFIED, "ACTIVATE is irreversible and once only");
    let good = pcmeter::simulated::signed_profile(&vector_keys(), &vector_options(), VECTOR_SERIAL).unwrap();
    assert_eq!(personalize(&mut c, &good), Sw::CONDITIONS_NOT_SATISFIED, "no personalization after ACTIVATE");
    assert_eq!(c.snapshot(), before);
}

#[test]
fn an_oversize_chain_gets_6a84_and_is_dropped() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    let before = c.snapshot();
    let block = vec![0x11u8; 255];
    let mut sw = Sw::OK.0;
    let mut sent = 0;
    while sw == Sw::OK {
        let mut a = vec![0x90, 0x62, 0, 0, 255];
        a.extend_from_slice(&block);
        sw = c.sw(&a);
        sent += 1;
        assert!(sent < 100);
    }
    assert_eq!(sw, Sw::NOT_ENOUGH_MEMORY);
    assert_eq!(sent, apdu_specs::commands::MAX_COMMAND_DATA / 255 + 1);
    // A single extended APDU over the limit too.
    let a = capdu::encode([0x80, 0x62, 0, 0], &vec![0u8; 9000], 0, true).unwrap();
    assert_eq!(c.sw(&a), Sw::NOT_ENOUGH_MEMORY);
    assert_eq!(c.snapshot(), before);
    assert_eq!(c.print(1, 20).1, Sw::OK, "the card works normally afterwards");
}

#[test]
fn a_tampered_card_answers_only_status_forever() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    assert_eq!(c.print(1, 20).1, Sw::OK);
    c.card.tamper().unwrap();
    assert!(c.card.applet().unwrap().secrets_are_zeroized());
    for _ in 0..2 {
        c.select();
        let st = c.status();
        assert_eq!(st.lifecycle, Lifecycle::Terminated);
        assert_ne!(st.flags & apdu_specs::registers::flags::TAMPERED, 0);
        assert_eq!(c.print(1, 20).1, Sw::CONDITIONS_NOT_SATISFIED);
        assert_eq!(c.verify("123456"), Sw::CONDITIONS_NOT_SATISFIED);
        assert_eq!(c.hex("00CADF2000").1, Sw::CONDITIONS_NOT_SATISFIED);
        assert_eq!(c.hex("00CADF2400").1, Sw::CONDITIONS_NOT_SATISFIED);
        assert_eq!(c.hex("00CBDF250400000000").1, Sw::CONDITIONS_NOT_SATISFIED);
        c.power_cycle();
        assert!(c.card.applet().unwrap().secrets_are_zeroized(), "keys stay gone after restart");
    }
}
