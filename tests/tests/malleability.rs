//! Signature malleability (review item 7): for every ECDSA signature (r, s)
//! the twin (r, n − s) verifies too, so every signed object would have a
//! byte-different valid copy. The system signs low-S only, and the card, the
//! host and the CA refuse the high-S twin of each signed format.

use apdu_specs::crl;
use apdu_specs::csr;
use apdu_specs::p256_signature::is_low_s;
use apdu_specs::postmark::Verdict;
use apdu_specs::signed::Signed;
use apdu_specs::x509::{self, Certificate, CertificateFault, Usage};
use authority::ca::IssueError;
use authority::orders::anchor_update;
use authority::{SigningKeyPair, default_rate_table, sign_rate_table};
use card_core::EngineCheck;
use card_core::soft_engine::verifier;
use host_driver::certificates::{CrlAt, CrlError, verify_crl, verify_postmark};
use host_driver::verify::{IndiciumKey, VerifyError, verify_indicium};
use host_driver::{CardStatus, MeterError};
use proptest::prelude::*;
use testkit::FIXTURE_TIME;
use testkit::forge::{self, PkiMeter};
use testkit::pki::{self, changes_nothing, slots};

#[test]
fn attack_high_s_twin_of_an_indicium_is_refused_offline() {
    let mut f = PkiMeter::new("malleable indicium");
    let postal = f.meter.run(|tx| tx.public_keys()).unwrap().postal.unwrap();
    let indicium = f.meter.run(|tx| tx.print_indicium(&testkit::piece(1, 20))).unwrap();
    verify_indicium(&indicium, IndiciumKey::Ecdsa(&postal)).unwrap();
    let twin = forge::indicium_twin(&indicium);
    assert_ne!(twin, indicium);
    assert_eq!(verify_indicium(&twin, IndiciumKey::Ecdsa(&postal)), Err(VerifyError::BadAuthenticator));
}

#[test]
fn attack_high_s_twin_of_a_certificate_is_refused_by_card_and_host() {
    let mut f = PkiMeter::new("malleable certificate");
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let request =
        f.meter.run(|tx| tx.certificate_request(slots::SIGNATURE, &f.ca.challenge(FIXTURE_TIME).unwrap())).unwrap();
    let genuine = f.ca.issue(&request, FIXTURE_TIME).unwrap();
    let twin = forge::signed_object_twin(&genuine);
    assert_ne!(twin, genuine);

    // The host's certificate check (the one the CA, the card and the host share).
    let engine = verifier();
    let ca_key = f.ca.public_key();
    let check = |der: &[u8]| Certificate::parse(der).unwrap().check(&ca_key, FIXTURE_TIME, &EngineCheck(&engine));
    assert_eq!(check(&genuine), Ok(()));
    assert_eq!(check(&twin), Err(CertificateFault::NotSignedByIssuer));

    // The card: INSTALL refuses it (9402) and changes nothing; VERIFY CERTIFICATE says "not from the CA".
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::SIGNATURE, &twin)));
    assert!(matches!(e, MeterError::Card(CardStatus::CertificateNotFromCa)), "{e:?}");
    assert_eq!(
        f.meter.run(|tx| tx.verify_certificate(&twin)).unwrap(),
        apdu_specs::certs::CertificateVerdict::NotSignedByCa
    );
    f.meter.run(|tx| tx.install_certificate(slots::SIGNATURE, &genuine)).unwrap();
}

#[test]
fn attack_high_s_twin_of_a_crl_is_refused() {
    let mut f = PkiMeter::new("malleable crl");
    let genuine = f.ca.crl(FIXTURE_TIME, 86_400).unwrap();
    let twin = forge::signed_object_twin(&genuine);
    assert_ne!(twin, genuine);
    let ca_key = f.ca.public_key();
    let engine = verifier();
    assert!(crl::parse_verified(&genuine, &ca_key, &EngineCheck(&engine)).is_ok());
    assert!(crl::parse_verified(&twin, &ca_key, &EngineCheck(&engine)).is_err());
    assert!(verify_crl(CrlAt { der: &genuine, now: FIXTURE_TIME }, &ca_key).is_ok());
    let e = verify_crl(CrlAt { der: &twin, now: FIXTURE_TIME }, &ca_key).unwrap_err();
    assert!(matches!(e, CrlError::Malformed(_)), "{e:?}");
}

#[test]
fn attack_high_s_twin_of_a_postmark_token_is_refused_by_card_and_host() {
    let mut f = PkiMeter::new("malleable token");
    pki::certified(&mut f.meter, &mut f.ca, slots::POSTMARK, Usage::Postmark).unwrap();
    let message = b"contract 77";
    let digest = forge::sha256(message);
    let token = f.meter.run(|tx| tx.postmark_digest(slots::POSTMARK, &digest)).unwrap();
    let twin = forge::token_twin(&token);
    assert_ne!(twin, token);
    let ca_key = f.ca.public_key();
    assert_eq!(verify_postmark(&token, message, &ca_key, None).unwrap(), Verdict::Valid);
    assert_eq!(verify_postmark(&twin, message, &ca_key, None).unwrap(), Verdict::SignatureInvalid);
    assert_eq!(f.meter.run(|tx| tx.validate_postmark(&digest, &token)).unwrap(), Verdict::Valid);
    assert_eq!(f.meter.run(|tx| tx.validate_postmark(&digest, &twin)).unwrap(), Verdict::SignatureInvalid);
}

#[test]
fn attack_high_s_twins_of_signed_envelopes_are_refused_by_card_and_ca() {
    let mut f = PkiMeter::new("malleable envelopes");
    // An authority-signed rate table: 6300, nothing changes, the genuine one still loads.
    let table = sign_rate_table(&f.keys.authority, &default_rate_table(2, FIXTURE_TIME));
    let twin = forge::envelope_twin(&table);
    let before = f.meter.run(|tx| tx.rate_table()).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.update_rates(&twin)));
    assert!(matches!(e, MeterError::Card(CardStatus::SignatureRejected)), "{e:?}");
    assert_eq!(f.meter.run(|tx| tx.rate_table()).unwrap(), before);
    f.meter.run(|tx| tx.update_rates(&table)).unwrap();

    // An authority-signed CA anchor order.
    let next_ca = SigningKeyPair::from_seed("next CA").public();
    let order = anchor_update(&f.keys.authority, &f.meter_id, 1, &next_ca);
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.update_ca_anchor(&forge::envelope_twin(&order))));
    assert!(matches!(e, MeterError::Card(CardStatus::SignatureRejected)), "{e:?}");

    // A device-signed certificate request at the CA.
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let request =
        f.meter.run(|tx| tx.certificate_request(slots::SIGNATURE, &f.ca.challenge(FIXTURE_TIME).unwrap())).unwrap();
    let e = f.ca.issue(&forge::envelope_twin(&request), FIXTURE_TIME).unwrap_err();
    assert!(matches!(e, IssueError::DeviceSignature(_)), "{e}");
    f.ca.issue(&request, FIXTURE_TIME).unwrap();
    f.meter.run(|tx| tx.update_ca_anchor(&order)).unwrap();
}

/// Collects the raw signatures of everything a meter and its CA sign.
fn signatures_of_a_working_day(f: &mut PkiMeter) -> Vec<(&'static str, [u8; 64])> {
    let mut out = Vec::new();
    pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    pki::certified(&mut f.meter, &mut f.ca, slots::POSTMARK, Usage::Postmark).unwrap();
    for i in 0..48u32 {
        let indicium = f.meter.run(|tx| tx.print_indicium(&testkit::piece(1, 1 + i % 40))).unwrap();
        out.push(("indicium", indicium[indicium.len() - 64..].try_into().unwrap()));
    }
    for i in 0..16u8 {
        let token = f.meter.run(|tx| tx.postmark_digest(slots::POSTMARK, &[i; 32])).unwrap();
        out.push(("postmark token", forge::token_signature(&token)));
        let der = f.meter.run(|tx| tx.sign_digest(slots::SIGNATURE, &[i; 32])).unwrap();
        out.push(("SIGN DATA", x509::ecdsa_raw_from_der(&der).unwrap()));
    }
    for slot in 4..8u8 {
        f.meter.run(|tx| tx.generate_key_pair(slot, Usage::Signature)).unwrap();
        let envelope = f.meter.run(|tx| tx.certificate_request(slot, &f.ca.challenge(FIXTURE_TIME).unwrap())).unwrap();
        let signed = Signed::parse(&envelope).unwrap();
        out.push(("device envelope", signed.signature));
        let request = apdu_specs::certs::CertificateRequest::parse(signed.body).unwrap();
        out.push(("PKCS#10", csr::Request::parse(request.csr).unwrap().signature));
        let cert = f.ca.issue(&envelope, FIXTURE_TIME).unwrap();
        out.push(("CA certificate", forge::split_signed(&cert).1));
    }
    for i in 0..16u64 {
        out.push(("CRL", forge::split_signed(&f.ca.crl(FIXTURE_TIME + i, 86_400).unwrap()).1));
        let table = sign_rate_table(&f.keys.authority, &default_rate_table(10 + i as u32, FIXTURE_TIME));
        out.push(("rate table", Signed::parse(&table).unwrap().signature));
    }
    out.push(("root certificate", forge::split_signed(f.ca.certificate()).1));
    out
}

#[test]
fn every_signature_the_system_produces_is_low_s() {
    let mut f = PkiMeter::new("low-S day");
    let signatures = signatures_of_a_working_day(&mut f);
    assert!(signatures.len() > 100);
    let high: Vec<_> = signatures.iter().filter(|(_, s)| !is_low_s(s)).map(|(what, _)| *what).collect();
    assert!(high.is_empty(), "high-S signatures from: {high:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_authority_signature_is_low_s(seed in any::<u64>(), digest in any::<[u8; 32]>()) {
        let key = SigningKeyPair::from_seed(&format!("authority {seed}"));
        let signature = key.sign_digest(&digest);
        prop_assert!(is_low_s(&signature));
        let engine = verifier();
        prop_assert!(card_core::CryptoEngine::p256_verify_digest(&engine, &key.public(), &digest, &signature));
    }
}
