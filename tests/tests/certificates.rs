//! Certificate services through host-driver's typed API on the in-process
//! card: every service, its charge, the validation verdicts on and off the
//! card, the CA side (Fig. 5 steps 514/516, database, CRL), openssl interop
//! for CSRs and user chains, and the bad inputs the card must refuse with a
//! precise status word, charging nothing.

use apdu_specs::Service;
use apdu_specs::certs::meter_subject;
use apdu_specs::certs::{AgentRequest, CertificateRequest, CertificateVerdict, RevocationConfirmation, SlotState};
use apdu_specs::postmark::Verdict;
use apdu_specs::signed::{self, Signed};
use apdu_specs::sw::Sw;
use apdu_specs::x509::{self, Certificate, Usage};
use authority::ca::IssueError;
use authority::certdb::IssueRefusal;
use authority::certdb::Status;
use authority::orders::{anchor_update, revocation_order};
use authority::{CertificateAuthority, SigningKeyPair};
use card_sim::InProcessTransport;
use host_driver::certificates::{CrlAt, DeliveryKey, encrypt_to, verify_postmark};
use host_driver::{CardStatus, Meter, MeterError};
use pcmeter::simulated::{AuthorityKeys, Options, operational};
use sha2::{Digest, Sha256};
use testkit::FIXTURE_TIME;
use testkit::pki::{self, Scratch, changes_nothing, charges, openssl, slots};

struct Fixture {
    meter: Meter<InProcessTransport>,
    card: std::sync::Arc<std::sync::Mutex<card_sim::SharedCard>>,
    pin: host_driver::Pin,
    clock: card_sim::SimClock,
    ca: CertificateAuthority,
    keys: AuthorityKeys,
    meter_id: [u8; 12],
}

fn fixture_with(label: &str, credit: u64) -> Fixture {
    let keys = AuthorityKeys::from_seed(label);
    let mut opts = Options::at(FIXTURE_TIME, credit);
    let mut id = format!("PCM-{}", label.to_uppercase());
    id.truncate(12);
    opts.profile.meter_id = format!("{id:<12}");
    let sim = operational(&keys, &opts).unwrap();
    let mut meter = sim.meter;
    let mut ca = pki::ca_for(&keys);
    let meter_id = pki::register(&mut ca, &mut meter);
    meter.run(|tx| tx.verify_pin(&sim.pin)).unwrap();
    Fixture { meter, card: sim.card, pin: sim.pin, clock: sim.clock, ca, keys, meter_id }
}

fn fixture() -> Fixture {
    fixture_with("certificates", 100_000)
}

fn postmark_fixture() -> (Fixture, Vec<u8>) {
    let mut f = fixture();
    let cert = pki::certified(&mut f.meter, &mut f.ca, slots::POSTMARK, Usage::Postmark).unwrap();
    (f, cert)
}

#[test]
fn certification_charges_each_step_and_fills_the_slot_and_the_database() {
    let mut f = fixture();
    assert_eq!(f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap().state, SlotState::Empty);
    let public = charges(&mut f.meter, Service::KeyGeneration, 50, |m| {
        m.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap()
    });
    let slot = f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap();
    assert_eq!((slot.state, slot.usage, slot.public_key), (SlotState::Key, Some(Usage::Signature), Some(public)));
    let challenge = f.ca.challenge(FIXTURE_TIME).unwrap();
    let request = charges(&mut f.meter, Service::CertificateRequest, 200, |m| {
        m.run(|tx| tx.certificate_request(slots::SIGNATURE, &challenge)).unwrap()
    });
    let cert = f.ca.issue(&request, FIXTURE_TIME).unwrap();
    charges(&mut f.meter, Service::CertificateInstall, 100, |m| {
        m.run(|tx| tx.install_certificate(slots::SIGNATURE, &cert)).unwrap()
    });
    let slot = f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap();
    assert_eq!(slot.state, SlotState::Certified);
    assert_eq!(slot.certificate.as_deref(), Some(&cert[..]));

    // The CA's database knows the certificate: serial, meter, slot, subject, validity, status.
    let parsed = Certificate::parse(&cert).unwrap();
    let row = f.ca.db().certificate(&parsed.serial).unwrap().unwrap();
    assert_eq!((row.meter_id, row.slot, row.usage), (f.meter_id, slots::SIGNATURE, Usage::Signature as u8));
    assert_eq!(row.subject, meter_subject(&f.meter_id, slots::SIGNATURE, Usage::Signature).unwrap());
    assert_eq!((row.not_before, row.not_after), (parsed.not_before, parsed.not_after));
    assert_eq!(row.status, Status::Valid);
    assert_eq!(row.der, cert);
    // Each charge left a ServiceCharged audit record naming its service.
    let (_, log) = f.meter.run(|tx| tx.audit_log()).unwrap();
    let services: Vec<u8> =
        log.iter().filter(|r| r.event == apdu_specs::audit::Event::ServiceCharged).map(|r| r.detail[0]).collect();
    assert_eq!(services, [1, 2, 3]);
}

#[test]
fn csr_and_user_certificates_pass_openssl() {
    let mut f = fixture();
    let dir = Scratch::new("csr");
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let envelope = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    let body = Signed::parse(&envelope).unwrap().body;
    let request = CertificateRequest::parse(body).unwrap();
    dir.write("req.der", request.csr);
    let v = openssl(&dir.0, &["req", "-inform", "DER", "-in", "req.der", "-verify", "-noout", "-text"]);
    assert!(
        v.ok && v.output.contains("verify OK") || v.output.contains("Certificate request self-signature verify OK"),
        "{}",
        v.output
    );
    assert!(v.output.contains("Requested Extensions"), "{}", v.output);

    let cert = f.ca.issue(&envelope, FIXTURE_TIME).unwrap();
    f.meter.run(|tx| tx.install_certificate(slots::SIGNATURE, &cert)).unwrap();
    let postmark = pki::certified(&mut f.meter, &mut f.ca, slots::POSTMARK, Usage::Postmark).unwrap();
    let encryption = pki::certified(&mut f.meter, &mut f.ca, slots::ENCRYPTION, Usage::Encryption).unwrap();
    let ca_pem = dir.write("ca.pem", f.ca.certificate_pem().as_bytes());
    let t = openssl(&dir.0, &["x509", "-in", ca_pem.to_str().unwrap(), "-noout", "-text"]);
    assert!(t.ok && t.output.contains("CA:TRUE"), "{}", t.output);
    for (name, der) in [("signature", &cert), ("postmark", &postmark), ("encryption", &encryption)] {
        let pem = dir.cert_pem(&format!("{name}.pem"), der);
        let t = openssl(&dir.0, &["x509", "-in", pem.to_str().unwrap(), "-noout", "-text"]);
        assert!(t.ok, "{name}: {}", t.output);
        let v = openssl(&dir.0, &["verify", "-CAfile", ca_pem.to_str().unwrap(), pem.to_str().unwrap()]);
        assert!(v.ok && v.output.contains(": OK"), "{name}: {}", v.output);
    }
    let t = openssl(&dir.0, &["x509", "-in", "postmark.pem", "-noout", "-ext", "extendedKeyUsage"]);
    assert!(t.output.contains("critical") && t.output.contains("Time Stamping"), "{}", t.output);
}

#[test]
fn sign_data_verifies_with_openssl_and_decrypt_round_trips() {
    let mut f = fixture();
    let cert = pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    let data = b"purchase order 4711";
    let sig =
        charges(&mut f.meter, Service::SignData, 5, |m| m.run(|tx| tx.sign_data(slots::SIGNATURE, data)).unwrap());
    let sig2 = charges(&mut f.meter, Service::SignData, 5, |m| {
        m.run(|tx| tx.sign_digest(slots::SIGNATURE, &Sha256::digest(data).into())).unwrap()
    });
    let dir = Scratch::new("sign");
    let pem = dir.cert_pem("signer.pem", &cert);
    dir.write("data.txt", data);
    assert!(openssl(&dir.0, &["x509", "-in", pem.to_str().unwrap(), "-pubkey", "-noout", "-out", "signer.pub"]).ok);
    for (i, s) in [sig, sig2].iter().enumerate() {
        dir.write(&format!("sig{i}.der"), s);
        let v = openssl(
            &dir.0,
            &["dgst", "-sha256", "-verify", "signer.pub", "-signature", &format!("sig{i}.der"), "data.txt"],
        );
        assert!(v.ok && v.output.contains("Verified OK"), "{}", v.output);
    }

    let public = f.meter.run(|tx| tx.generate_key_pair(slots::ENCRYPTION, Usage::Encryption)).unwrap();
    let blob = encrypt_to(&public, b"the secret terms").unwrap();
    let plain =
        charges(&mut f.meter, Service::Decrypt, 5, |m| m.run(|tx| tx.decrypt(slots::ENCRYPTION, &blob)).unwrap());
    assert_eq!(&plain[..], b"the secret terms");
    let mut tampered = blob.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.decrypt(slots::ENCRYPTION, &tampered)));
    assert!(matches!(e, MeterError::Card(CardStatus::BadData)), "{e:?}");
    // Keys are separated by usage.
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.decrypt(slots::SIGNATURE, &blob)));
    assert!(matches!(e, MeterError::Card(CardStatus::UsageNotAllowed)), "{e:?}");
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.sign_data(slots::ENCRYPTION, data)));
    assert!(matches!(e, MeterError::Card(CardStatus::UsageNotAllowed)), "{e:?}");
}

/// The card keeps what a postmark needs of its certificate (subject, digest,
/// validity, usage) in RAM, derived from the slot record; after a power
/// cycle it derives them again, and the token still names and hashes the
/// installed certificate.
#[test]
fn postmarks_before_and_after_power_on_name_and_hash_the_installed_certificate() {
    let (mut f, cert) = postmark_fixture();
    let subject = Certificate::parse(&cert).unwrap().subject;
    let cert_digest: [u8; 32] = Sha256::digest(&cert).into();
    let message = b"contract 44".to_vec();
    let digest: [u8; 32] = Sha256::digest(&message).into();
    for round in ["installed", "after power-on"] {
        let token = f.meter.run(|tx| tx.postmark_digest(slots::POSTMARK, &digest)).unwrap();
        let parsed = apdu_specs::postmark::Token::parse(&token).unwrap();
        assert_eq!(parsed.certificate_digest, cert_digest, "{round}: ESSCertIDv2 hashes the installed certificate");
        assert!(token.windows(subject.len()).any(|w| w == subject), "{round}: the TSA name is the subject");
        assert_eq!(verify_postmark(&token, &message, &f.ca.public_key(), None).unwrap(), Verdict::Valid, "{round}");
        {
            let mut card = f.card.lock().unwrap();
            card.power_off();
            card.power_on().unwrap();
        }
        f.meter.recover().unwrap();
        f.meter.run(|tx| tx.verify_pin(&f.pin)).unwrap();
    }
}

#[test]
fn postmark_validation_gives_each_verdict_on_and_off_the_card() {
    let (mut f, _) = postmark_fixture();
    let message = b"invoice 2026-117".to_vec();
    let digest: [u8; 32] = Sha256::digest(&message).into();
    let token = f.meter.run(|tx| tx.postmark_digest(slots::POSTMARK, &digest)).unwrap();
    let ca_key = f.ca.public_key();
    let fee = 10;

    // Valid.
    let v = charges(&mut f.meter, Service::PostmarkValidation, fee, |m| {
        m.run(|tx| tx.validate_postmark(&digest, &token)).unwrap()
    });
    assert_eq!(v, Verdict::Valid);
    assert_eq!(verify_postmark(&token, &message, &ca_key, None).unwrap(), Verdict::Valid);

    // Digest mismatch: another message.
    let other = b"invoice 2026-118";
    let v = charges(&mut f.meter, Service::PostmarkValidation, fee, |m| {
        m.run(|tx| tx.validate_postmark(&Sha256::digest(other).into(), &token)).unwrap()
    });
    assert_eq!(v, Verdict::DigestMismatch);
    assert_eq!(verify_postmark(&token, other, &ca_key, None).unwrap(), Verdict::DigestMismatch);

    // Signature invalid: the stamped time altered inside the TSTInfo.
    let mut forged = token.clone();
    let at = forged.windows(4).position(|w| w == b"2026").unwrap();
    forged[at + 3] = b'7';
    let v = charges(&mut f.meter, Service::PostmarkValidation, fee, |m| {
        m.run(|tx| tx.validate_postmark(&digest, &forged)).unwrap()
    });
    assert_eq!(v, Verdict::SignatureInvalid);
    assert_eq!(verify_postmark(&forged, &message, &ca_key, None).unwrap(), Verdict::SignatureInvalid);

    // Certificate invalid: a postmark from a meter certified by a foreign CA.
    let mut g = fixture_with("foreign", 100_000);
    let mut foreign_ca = pki::ca_with_key(SigningKeyPair::from_seed("foreign CA"), "Foreign CA");
    pki::register(&mut foreign_ca, &mut g.meter);
    // g's card trusts g.keys.ca, so re-anchor it to the foreign CA first.
    let order = anchor_update(&g.keys.authority, &g.meter_id, 1, &foreign_ca.public_key());
    g.meter.run(|tx| tx.update_ca_anchor(&order)).unwrap();
    pki::certified(&mut g.meter, &mut foreign_ca, slots::POSTMARK, Usage::Postmark).unwrap();
    let foreign = g.meter.run(|tx| tx.postmark_digest(slots::POSTMARK, &digest)).unwrap();
    let v = charges(&mut f.meter, Service::PostmarkValidation, fee, |m| {
        m.run(|tx| tx.validate_postmark(&digest, &foreign)).unwrap()
    });
    assert_eq!(v, Verdict::CertificateInvalid);
    assert_eq!(verify_postmark(&foreign, &message, &ca_key, None).unwrap(), Verdict::CertificateInvalid);

    // Revoked (off-card, with the CA's CRL).
    let serial = Certificate::parse(&f.meter.run(|tx| tx.read_slot(slots::POSTMARK)).unwrap().certificate.unwrap())
        .unwrap()
        .serial
        .to_vec();
    let clean_crl = f.ca.crl(FIXTURE_TIME, 86_400).unwrap();
    assert_eq!(
        verify_postmark(&token, &message, &ca_key, Some(CrlAt { der: &clean_crl, now: FIXTURE_TIME })).unwrap(),
        Verdict::Valid
    );
    assert!(f.ca.revoke(&serial, 1, FIXTURE_TIME + 60).unwrap());
    let crl = f.ca.crl(FIXTURE_TIME + 120, 86_400).unwrap();
    assert_eq!(
        verify_postmark(&token, &message, &ca_key, Some(CrlAt { der: &crl, now: FIXTURE_TIME + 120 })).unwrap(),
        Verdict::Revoked
    );
    // A CRL not signed by the CA is refused, not believed.
    let fake = foreign_ca.crl(FIXTURE_TIME, 86_400).unwrap();
    assert!(verify_postmark(&token, &message, &ca_key, Some(CrlAt { der: &fake, now: FIXTURE_TIME })).is_err());

    // openssl reads the CRL and sees the revocation.
    let dir = Scratch::new("crl");
    dir.write("ca.pem", f.ca.certificate_pem().as_bytes());
    dir.write("crl.der", &crl);
    let c = openssl(&dir.0, &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text", "-CAfile", "ca.pem"]);
    assert!(c.ok && c.output.contains("verify OK") && c.output.contains("Key Compromise"), "{}", c.output);
}

#[test]
fn postmark_of_a_streamed_message_and_serials() {
    let (mut f, _) = postmark_fixture();
    let message = vec![0x5Au8; 70_000];
    let token = f.meter.run(|tx| tx.postmark_message(slots::POSTMARK, &message)).unwrap();
    assert_eq!(verify_postmark(&token, &message, &f.ca.public_key(), None).unwrap(), Verdict::Valid);
    // The stream is consumed: a second postmark without HASH is refused, uncharged.
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.postmark_parts(slots::POSTMARK, None, None)));
    assert!(matches!(e, MeterError::Card(CardStatus::ConditionsNotSatisfied)), "{e:?}");
    let before = f.meter.run(|tx| tx.registers()).unwrap().postmark_serial;
    f.meter.run(|tx| tx.postmark_digest(slots::POSTMARK, &[1; 32])).unwrap();
    assert_eq!(f.meter.run(|tx| tx.registers()).unwrap().postmark_serial, before + 1);
}

#[test]
fn certificate_verification_is_charged_and_the_anchor_moves_only_by_authority_order() {
    let mut f = fixture();
    let cert = pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    let fee = 10;
    let v = charges(&mut f.meter, Service::CertificateVerification, fee, |m| {
        m.run(|tx| tx.verify_certificate(&cert)).unwrap()
    });
    assert_eq!(v, CertificateVerdict::Valid);
    let mut other_ca = pki::ca_with_key(SigningKeyPair::from_seed("next CA"), "Next CA");
    let (_, device) = pki::identity(&mut f.meter);
    other_ca.register_meter(&f.meter_id, &device, FIXTURE_TIME).unwrap();
    let spki_key = f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap().public_key.unwrap();
    let by_other =
        other_ca.certify(&f.meter_id, 5, &spki_key, Usage::Signature, FIXTURE_TIME, FIXTURE_TIME + 1000).unwrap();
    let v = charges(&mut f.meter, Service::CertificateVerification, fee, |m| {
        m.run(|tx| tx.verify_certificate(&by_other)).unwrap()
    });
    assert_eq!(v, CertificateVerdict::NotSignedByCa);
    let expired =
        f.ca.certify(&f.meter_id, 5, &spki_key, Usage::Signature, FIXTURE_TIME - 9000, FIXTURE_TIME - 10).unwrap();
    let v = charges(&mut f.meter, Service::CertificateVerification, fee, |m| {
        m.run(|tx| tx.verify_certificate(&expired)).unwrap()
    });
    assert_eq!(v, CertificateVerdict::OutsideValidity);

    // Anchor update: a forged order and a replayed version are refused.
    let forged = anchor_update(&f.keys.issuer, &f.meter_id, 1, &other_ca.public_key());
    assert!(matches!(
        f.meter.run(|tx| tx.update_ca_anchor(&forged)),
        Err(MeterError::Card(CardStatus::SignatureRejected))
    ));
    let for_another_meter = anchor_update(&f.keys.authority, &[9; 12], 1, &other_ca.public_key());
    assert!(matches!(
        f.meter.run(|tx| tx.update_ca_anchor(&for_another_meter)),
        Err(MeterError::Card(CardStatus::BadData))
    ));
    let order = anchor_update(&f.keys.authority, &f.meter_id, 1, &other_ca.public_key());
    f.meter.run(|tx| tx.update_ca_anchor(&order)).unwrap();
    assert!(matches!(
        f.meter.run(|tx| tx.update_ca_anchor(&order)),
        Err(MeterError::Card(CardStatus::ConditionsNotSatisfied))
    ));
    assert_eq!(f.meter.run(|tx| tx.verify_certificate(&by_other)).unwrap(), CertificateVerdict::Valid);
    assert_eq!(f.meter.run(|tx| tx.verify_certificate(&cert)).unwrap(), CertificateVerdict::NotSignedByCa);
}

#[test]
fn the_ca_refuses_unknown_and_unverified_identities_with_a_reason() {
    let mut f = fixture();
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let request = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    // Step 514: a CA that never registered the meter.
    let mut stranger = pki::ca_with_key(f.keys.ca.clone(), "Same key, empty registry");
    let e = stranger.issue(&request, FIXTURE_TIME).unwrap_err();
    assert!(matches!(e, IssueError::UnknownMeter(_)) && e.to_string().contains("not registered"), "{e}");
    // Step 516: the body re-signed by a key that is not the meter's device key.
    let body = Signed::parse(&request).unwrap().body.to_vec();
    let impostor = SigningKeyPair::from_seed("impostor");
    let forged = signed::encode(&body, &impostor.sign_message(apdu_specs::certs::DOMAIN_CERTIFICATE_REQUEST, &body));
    let e = f.ca.issue(&forged, FIXTURE_TIME).unwrap_err();
    assert!(matches!(e, IssueError::DeviceSignature(_)) && e.to_string().contains("unverified identity"), "{e}");
    // Garbage.
    assert!(matches!(f.ca.issue(b"not a request", FIXTURE_TIME), Err(IssueError::Malformed(_))));
    // The genuine request is issued.
    f.ca.issue(&request, FIXTURE_TIME).unwrap();
}

#[test]
fn revocation_order_destroys_the_key_and_confirms_payment() {
    let (mut f, cert) = postmark_fixture();
    let key: [u8; 65] = Certificate::parse(&cert).unwrap().public_key;
    let order = revocation_order(&f.keys.authority, &f.meter_id, slots::POSTMARK, &key, 1, FIXTURE_TIME);
    let confirmation = charges(&mut f.meter, Service::Revocation, 100, |m| m.run(|tx| tx.revoke(&order)).unwrap());
    let signed = Signed::parse(&confirmation).unwrap();
    let c = RevocationConfirmation::parse(signed.body).unwrap();
    assert!(c.paid && c.public_key == key && c.slot == slots::POSTMARK && c.fee == 100);
    let device = f.meter.run(|tx| tx.public_keys()).unwrap().device;
    let digest: [u8; 32] = Sha256::new()
        .chain_update(apdu_specs::certs::DOMAIN_REVOCATION_CONFIRMATION)
        .chain_update([0])
        .chain_update(signed.body)
        .finalize()
        .into();
    assert!(card_core::CryptoEngine::p256_verify_digest(
        &card_core::soft_engine::verifier(),
        &device,
        &digest,
        &signed.signature
    ));
    let slot = f.meter.run(|tx| tx.read_slot(slots::POSTMARK)).unwrap();
    assert_eq!(slot.state, SlotState::Revoked);
    assert!(matches!(f.meter.run(|tx| tx.revoke(&order)), Err(MeterError::Card(CardStatus::KeyRevoked))));
    // An order naming another key than the slot's revokes nothing; the CA knows no such key either.
    let sig = pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    let wrong = revocation_order(&f.keys.authority, &f.meter_id, slots::SIGNATURE, &key, 1, FIXTURE_TIME);
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.revoke(&wrong)));
    assert_eq!(e.sw(), Some(Sw::CERT_KEY_MISMATCH), "{e:?}");
    assert_eq!(f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap().state, SlotState::Certified);
    let e = f.ca.revoke_key(&f.meter_id, slots::SIGNATURE, &key, 1, FIXTURE_TIME).unwrap_err();
    assert!(matches!(e, authority::RevokeError::UnknownKey { .. }), "{e}");
    assert_eq!(
        f.ca.db().certificate(&Certificate::parse(&sig).unwrap().serial).unwrap().unwrap().status,
        Status::Valid
    );
}

#[test]
fn bad_input_is_refused_precisely_and_charges_nothing() {
    let mut f = fixture();
    let good = pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    f.meter.run(|tx| tx.generate_key_pair(slots::AGENT, Usage::Signature)).unwrap();
    let key = f.meter.run(|tx| tx.read_slot(slots::AGENT)).unwrap().public_key.unwrap();

    // Truncated and garbage DER.
    for bad in [&good[..good.len() - 1], &good[..40], &b"\x30\x03garbage"[..], &[][..]] {
        let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::AGENT, bad)));
        assert!(matches!(e, MeterError::Card(_)), "{e:?}");
        assert_eq!(e.sw(), Some(apdu_specs::sw::Sw::BAD_DATA));
    }
    // A certificate for a different key (the signature slot's).
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::AGENT, &good)));
    assert!(matches!(e, MeterError::Card(CardStatus::CertificateKeyMismatch)), "{e:?}");
    // Signed by an unknown CA.
    let mut unknown = pki::ca_with_key(SigningKeyPair::from_seed("unknown CA"), "Unknown CA");
    pki::register(&mut unknown, &mut f.meter);
    let foreign =
        unknown.certify(&f.meter_id, slots::AGENT, &key, Usage::Signature, FIXTURE_TIME, FIXTURE_TIME + 1000).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::AGENT, &foreign)));
    assert!(matches!(e, MeterError::Card(CardStatus::CertificateNotFromCa)), "{e:?}");
    // Expired.
    let expired =
        f.ca.certify(&f.meter_id, slots::AGENT, &key, Usage::Signature, FIXTURE_TIME - 9000, FIXTURE_TIME - 1).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::AGENT, &expired)));
    assert!(matches!(e, MeterError::Card(CardStatus::CertificateOutsideValidity)), "{e:?}");
    // The wrong profile for the slot.
    let wrong =
        f.ca.certify(&f.meter_id, slots::AGENT, &key, Usage::Postmark, FIXTURE_TIME, FIXTURE_TIME + 1000).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::AGENT, &wrong)));
    assert!(matches!(e, MeterError::Card(CardStatus::UsageNotAllowed)), "{e:?}");
    // An oversized chain.
    let huge = vec![0x30; apdu_specs::commands::MAX_COMMAND_DATA + 1];
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::AGENT, &huge)));
    assert!(matches!(e, MeterError::Card(CardStatus::NotEnoughMemory)), "{e:?}");
    // A postmark for an empty slot, and for a revoked one.
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.postmark_digest(slots::POSTMARK, &[0; 32])));
    assert!(matches!(e, MeterError::Card(CardStatus::NotFound)), "{e:?}");
    let pm = pki::certified(&mut f.meter, &mut f.ca, slots::POSTMARK, Usage::Postmark).unwrap();
    let pm_key: [u8; 65] = Certificate::parse(&pm).unwrap().public_key;
    f.meter
        .run(|tx| {
            tx.revoke(&revocation_order(&f.keys.authority, &f.meter_id, slots::POSTMARK, &pm_key, 1, FIXTURE_TIME))
        })
        .unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.postmark_digest(slots::POSTMARK, &[0; 32])));
    assert!(matches!(e, MeterError::Card(CardStatus::KeyRevoked)), "{e:?}");
    // An agent request without an agent certificate.
    let delivery = DeliveryKey::generate().unwrap();
    let subject = pki::subject("receiver");
    let request = AgentRequest {
        subject: &subject,
        not_after: FIXTURE_TIME + 100,
        usage: Usage::Signature,
        delivery_key: delivery.public,
    };
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.agent_issue(slots::SIGNATURE, &request)));
    assert!(matches!(e, MeterError::Card(CardStatus::UsageNotAllowed)), "{e:?}");
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.agent_issue(6, &request)));
    assert!(
        matches!(e, MeterError::Card(CardStatus::NotFound) | MeterError::Card(CardStatus::UsageNotAllowed)),
        "{e:?}"
    );
}

#[test]
fn a_request_without_funds_changes_nothing() {
    let mut f = fixture_with("poor", 60);
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let challenge = f.ca.challenge(FIXTURE_TIME).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.certificate_request(slots::SIGNATURE, &challenge)));
    assert!(matches!(e, MeterError::Card(CardStatus::InsufficientFunds)), "{e:?}");
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.generate_key_pair(slots::ENCRYPTION, Usage::Encryption)));
    assert!(matches!(e, MeterError::Card(CardStatus::InsufficientFunds)), "{e:?}");
    assert_eq!(f.meter.run(|tx| tx.read_slot(slots::ENCRYPTION)).unwrap().state, SlotState::Empty);
}

#[test]
fn a_reset_drops_the_hash_stream_and_the_pin() {
    let (mut f, _) = postmark_fixture();
    f.meter.transaction().unwrap().hash_message(b"half of a message").unwrap();
    f.card.lock().unwrap().reset().unwrap();
    assert!(matches!(f.meter.run(|tx| tx.registers()), Err(MeterError::PinStateLost)));
    assert!(matches!(
        f.meter.run(|tx| tx.postmark_parts(slots::POSTMARK, None, None)),
        Err(MeterError::Card(CardStatus::PinRequired))
    ));
    f.meter.run(|tx| tx.verify_pin(&f.pin)).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.postmark_parts(slots::POSTMARK, None, None)));
    assert!(matches!(e, MeterError::Card(CardStatus::ConditionsNotSatisfied)), "{e:?}");
}

/// Test support: a postmark token signed by `secret` for `certificate`, as a
/// host holding an agent-delivered key would forge it (any time, any meter ID).
fn forged_token(certificate: &[u8], secret: &[u8], digest: [u8; 32], time: u64, meter_id: [u8; 12]) -> Vec<u8> {
    use apdu_specs::postmark::{self, Postmark, SignedParts};
    use card_core::CryptoEngine;
    let cert = Certificate::parse(certificate).unwrap();
    let tst = Postmark { digest, time, serial: 4242, meter_id, nonce: None }.tst_info(&cert.subject).unwrap();
    let attributes =
        postmark::signed_attributes(&Sha256::digest(&tst).into(), &Sha256::digest(certificate).into()).unwrap();
    let key = card_core::SecretKey(secret.try_into().unwrap());
    let mut engine = card_core::soft_engine::SoftEngine::new(card_sim::Entropy::Os);
    let signature = engine.p256_sign_digest(&key, &Sha256::digest(&attributes).into()).unwrap();
    let parts = SignedParts::encode(&tst, &attributes, &signature).unwrap();
    postmark::wrap_token(&SignedParts::parse(&parts).unwrap(), certificate).unwrap()
}

/// An agent request for `usage` with the validity of the agent certificate.
fn agent_request<'a>(subject: &'a [u8], agent: &[u8], usage: Usage, delivery: &DeliveryKey) -> AgentRequest<'a> {
    let agent = Certificate::parse(agent).unwrap();
    AgentRequest { subject, not_after: agent.not_after, usage, delivery_key: delivery.public }
}

/// The attack of review item 2: the agent issued a timestamping certificate
/// whose delivered key forged RFC 3161 tokens with any time and meter ID,
/// unpaid, which `openssl ts -verify -untrusted agent.pem` accepted. An
/// agent now issues signature and encryption certificates only.
#[test]
fn agent_issued_timestamping_certificate_cannot_forge_postmarks() {
    let mut f = fixture();
    let agent = pki::certified(&mut f.meter, &mut f.ca, slots::AGENT, Usage::Agent).unwrap();
    let delivery = DeliveryKey::generate().unwrap();
    let subject = pki::subject("forger");
    for usage in [Usage::Postmark, Usage::Agent] {
        let request = agent_request(&subject, &agent, usage, &delivery);
        let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.agent_issue(slots::AGENT, &request)));
        assert_eq!(e.sw(), Some(Sw::USAGE_NOT_ALLOWED), "{usage:?}: {e:?}");
    }
    // Signature and encryption certificates are still issued.
    for usage in [Usage::Signature, Usage::Encryption] {
        let request = agent_request(&subject, &agent, usage, &delivery);
        let issued = f.meter.run(|tx| tx.agent_issue(slots::AGENT, &request)).unwrap();
        assert!(usage.allowed_by(&Certificate::parse(&issued.certificate).unwrap().extensions));
    }
}

/// An agent certificate's validity starts at the card's time, never earlier
/// (the host asked for one backdated to the agent certificate's start).
#[test]
fn agent_issued_certificates_start_at_the_card_time() {
    let mut f = fixture();
    let agent = pki::certified(&mut f.meter, &mut f.ca, slots::AGENT, Usage::Agent).unwrap();
    f.clock.advance(600);
    let delivery = DeliveryKey::generate().unwrap();
    let subject = pki::subject("receiver");
    let request = agent_request(&subject, &agent, Usage::Signature, &delivery);
    let issued = f.meter.run(|tx| tx.agent_issue(slots::AGENT, &request)).unwrap();
    let cert = Certificate::parse(&issued.certificate).unwrap();
    assert_eq!(cert.not_before, FIXTURE_TIME + 600);
    assert_eq!(cert.not_after, Certificate::parse(&agent).unwrap().not_after);
}

/// Generates a key in `slot` and installs a CA certificate for it valid from
/// `not_before` to `not_after` (the CA's own issuance path, not a request).
fn install_short_lived(f: &mut Fixture, slot: u8, usage: Usage, not_after: u64) -> Vec<u8> {
    let key = f.meter.run(|tx| tx.generate_key_pair(slot, usage)).unwrap();
    let cert = f.ca.certify(&f.meter_id, slot, &key, usage, FIXTURE_TIME - 60, not_after).unwrap();
    f.meter.run(|tx| tx.install_certificate(slot, &cert)).unwrap();
    cert
}

/// POSTMARK, SIGN DATA and AGENT ISSUE on slots whose certificates are all
/// installed and usable, for the certificate-at-use tests.
fn slots_in_use(f: &mut Fixture, not_after: u64) -> Vec<u8> {
    install_short_lived(f, slots::POSTMARK, Usage::Postmark, not_after);
    install_short_lived(f, slots::SIGNATURE, Usage::Signature, not_after);
    let agent = install_short_lived(f, slots::AGENT, Usage::Agent, not_after);
    f.meter.run(|tx| tx.postmark_digest(slots::POSTMARK, &[1; 32])).unwrap();
    f.meter.run(|tx| tx.sign_digest(slots::SIGNATURE, &[1; 32])).unwrap();
    agent
}

/// Each certificate-based service refused with `sw`, charging nothing.
fn each_service_refused(f: &mut Fixture, agent: &[u8], sw: Sw) {
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.postmark_digest(slots::POSTMARK, &[1; 32])));
    assert_eq!(e.sw(), Some(sw), "POSTMARK: {e:?}");
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.sign_digest(slots::SIGNATURE, &[1; 32])));
    assert_eq!(e.sw(), Some(sw), "SIGN DATA: {e:?}");
    let delivery = DeliveryKey::generate().unwrap();
    let subject = pki::subject("receiver");
    let request = agent_request(&subject, agent, Usage::Signature, &delivery);
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.agent_issue(slots::AGENT, &request)));
    assert_eq!(e.sw(), Some(sw), "AGENT ISSUE: {e:?}");
}

#[test]
fn a_slot_whose_certificate_expired_serves_nothing() {
    let mut f = fixture();
    let agent = slots_in_use(&mut f, FIXTURE_TIME + 1_000);
    f.clock.advance(1_001);
    each_service_refused(&mut f, &agent, Sw::CERT_OUTSIDE_VALIDITY);
}

#[test]
fn a_slot_whose_certificate_is_not_under_the_current_anchor_serves_nothing() {
    let mut f = fixture();
    let agent = slots_in_use(&mut f, FIXTURE_TIME + 86_400);
    let next = pki::ca_with_key(SigningKeyPair::from_seed("next CA"), "Next CA");
    f.meter
        .run(|tx| tx.update_ca_anchor(&anchor_update(&f.keys.authority, &f.meter_id, 1, &next.public_key())))
        .unwrap();
    each_service_refused(&mut f, &agent, Sw::CERT_NOT_FROM_CA);
}

/// The CA profile gives agent certificates pathLen 0; a CA certificate
/// without it, or with a longer path, is not an agent certificate and is not
/// installed.
#[test]
fn an_agent_certificate_without_path_length_zero_is_refused() {
    let mut f = fixture();
    let key = f.meter.run(|tx| tx.generate_key_pair(slots::AGENT, Usage::Agent)).unwrap();
    for path in [None, Some(1)] {
        let unconstrained = agent_like(&f.keys.ca, &key, path);
        let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::AGENT, &unconstrained)));
        assert_eq!(e.sw(), Some(Sw::USAGE_NOT_ALLOWED), "pathLen {path:?}: {e:?}");
    }
    f.meter.run(|tx| tx.install_certificate(slots::AGENT, &agent_like(&f.keys.ca, &key, Some(0)))).unwrap();
}

/// A hand-made agent-like certificate (cA, keyCertSign) for `key` with path
/// length `path`, signed by `issuer` under the test CA's name.
fn agent_like(issuer: &SigningKeyPair, key: &[u8], path: Option<u64>) -> Vec<u8> {
    use apdu_specs::oid;
    use testkit::forge::tlv;
    let mut bc = tlv::boolean(true);
    if let Some(p) = path {
        bc.extend_from_slice(&tlv::small_unsigned(p));
    }
    let ext = |id: &[u8], value: &[u8]| tlv::seq(&[&tlv::oid(id), &tlv::boolean(true), &tlv::octets(value)]);
    let exts = tlv::seq(&[
        &ext(oid::BASIC_CONSTRAINTS.as_bytes(), &tlv::seq(&[&bc])),
        &ext(oid::KEY_USAGE.as_bytes(), &tlv::tlv(0x03, &[1, 0x86])),
    ]);
    let validity = tlv::seq(&[&tlv::x509_time(FIXTURE_TIME - 60), &tlv::x509_time(FIXTURE_TIME + 86_400)]);
    let tbs = tlv::seq(&[
        &tlv::tlv(tlv::explicit(0), &tlv::small_unsigned(2)),
        &tlv::unsigned(&[0x7F, 1]),
        &x509::ecdsa_sha256_algorithm().unwrap(),
        &x509::name(&[(oid::ORGANIZATION, "PCMeter"), (oid::COMMON_NAME, "PCMeter Test CA")]).unwrap(),
        &validity,
        &pki::subject("hand-made agent"),
        &x509::spki(key).unwrap(),
        &tlv::tlv(tlv::explicit(3), &exts),
    ]);
    x509::signed_object(&tbs, &issuer.sign_digest(&Sha256::digest(&tbs).into())).unwrap()
}

/// A captured device-signed request cannot be presented to the CA again.
#[test]
fn a_replayed_certificate_request_is_refused() {
    let mut f = fixture();
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let request = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    f.ca.issue(&request, FIXTURE_TIME).unwrap();
    let issued = f.ca.db().certificates_of(&f.meter_id).unwrap().len();
    let e = f.ca.issue(&request, FIXTURE_TIME + 30 * 86_400).unwrap_err();
    assert!(matches!(e, IssueError::Refused(IssueRefusal::ChallengeUsed)), "{e}");
    assert_eq!(f.ca.db().certificates_of(&f.meter_id).unwrap().len(), issued);
    // A challenge this CA never handed out, and one that expired, issue nothing either.
    let mut other = pki::ca_with_key(f.keys.ca.clone(), "Same key, other challenges");
    pki::register(&mut other, &mut f.meter);
    let foreign = pki::request(&mut f.meter, &mut other, slots::SIGNATURE);
    let e = f.ca.issue(&foreign, FIXTURE_TIME).unwrap_err();
    assert!(matches!(e, IssueError::Refused(IssueRefusal::UnknownChallenge)), "{e}");
    let late = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    let e = f.ca.issue(&late, FIXTURE_TIME + authority::ca::CHALLENGE_LIFETIME + 1).unwrap_err();
    assert!(matches!(e, IssueError::Refused(IssueRefusal::ChallengeExpired)), "{e}");
    assert_eq!(f.ca.db().certificates_of(&f.meter_id).unwrap().len(), issued);
    // The challenge of the refused late request was not consumed: in time, it issues.
    f.ca.issue(&late, FIXTURE_TIME).unwrap();
}

/// A request captured before a revocation does not re-certify the revoked key.
#[test]
fn a_key_with_a_revoked_certificate_is_never_recertified() {
    let mut f = fixture();
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let first = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    let held_back = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    let cert = f.ca.issue(&first, FIXTURE_TIME).unwrap();
    f.meter.run(|tx| tx.install_certificate(slots::SIGNATURE, &cert)).unwrap();
    assert!(f.ca.revoke(&Certificate::parse(&cert).unwrap().serial, 1, FIXTURE_TIME + 60).unwrap());
    let e = f.ca.issue(&held_back, FIXTURE_TIME + 120).unwrap_err();
    assert!(matches!(e, IssueError::Refused(IssueRefusal::KeyRevoked)), "{e}");
    assert_eq!(f.ca.db().certificates_of(&f.meter_id).unwrap().len(), 1);
    // Nor does the CA operator's own path.
    let key = f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap().public_key.unwrap();
    let e =
        f.ca.certify(&f.meter_id, slots::SIGNATURE, &key, Usage::Signature, FIXTURE_TIME, FIXTURE_TIME + 60)
            .unwrap_err();
    assert!(matches!(e, IssueError::Refused(IssueRefusal::KeyRevoked)), "{e}");
}

/// A second certificate installed on the slot used to make the revocation
/// order (which named the first serial) fail, leaving the key live.
#[test]
fn a_second_certificate_on_the_same_slot_cannot_evade_revocation() {
    let mut f = fixture();
    let first = pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    let again = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    let second = f.ca.issue(&again, FIXTURE_TIME).unwrap();
    f.meter.run(|tx| tx.install_certificate(slots::SIGNATURE, &second)).unwrap();
    let serials = [&first, &second].map(|c| Certificate::parse(c).unwrap().serial.to_vec());
    let key = f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap().public_key.unwrap();
    let revoked = f.ca.revoke_key(&f.meter_id, slots::SIGNATURE, &key, 1, FIXTURE_TIME + 60).unwrap();
    assert_eq!(revoked, serials);
    let order = revocation_order(&f.keys.authority, &f.meter_id, slots::SIGNATURE, &key, 1, FIXTURE_TIME + 60);
    f.meter.run(|tx| tx.revoke(&order)).unwrap();
    assert_eq!(f.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap().state, SlotState::Revoked);
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.sign_digest(slots::SIGNATURE, &[1; 32])));
    assert_eq!(e.sw(), Some(Sw::KEY_REVOKED));
    let der = f.ca.crl(FIXTURE_TIME + 120, 86_400).unwrap();
    let engine = card_core::soft_engine::verifier();
    let crl = apdu_specs::crl::parse_verified(&der, &f.ca.public_key(), &card_core::EngineCheck(&engine)).unwrap();
    for serial in &serials {
        assert!(crl.lists(serial), "serial {} not on the CRL", hex::encode(serial));
    }
}

/// The CA sets the subject (with the meter ID): the host, which once sent the
/// subject in CERTIFICATE REQUEST and could ask for the CA's own name, has no
/// say in it.
#[test]
fn the_host_cannot_choose_the_certificate_subject() {
    let mut f = fixture();
    let ca_name = Certificate::parse(f.ca.certificate()).unwrap().subject.to_vec();
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let request = pki::request(&mut f.meter, &mut f.ca, slots::SIGNATURE);
    let cert = f.ca.issue(&request, FIXTURE_TIME).unwrap();
    let subject = Certificate::parse(&cert).unwrap().subject.to_vec();
    assert_ne!(subject, ca_name);
    let meter_hex = hex::encode_upper(f.meter_id);
    assert!(subject.windows(meter_hex.len()).any(|w| w == meter_hex.as_bytes()), "{}", hex::encode(&subject));
}

/// Registering a meter again with another device key is refused and the registry keeps the first key.
#[test]
fn a_registered_meter_is_never_silently_rekeyed() {
    let mut f = fixture();
    let (_, device) = pki::identity(&mut f.meter);
    let other = SigningKeyPair::from_seed("impostor device").public();
    assert!(f.ca.register_meter(&f.meter_id, &other, FIXTURE_TIME).is_err());
    assert_eq!(f.ca.db().device_key(&f.meter_id).unwrap(), Some(device));
    f.ca.register_meter(&f.meter_id, &device, FIXTURE_TIME + 1).unwrap();
}

/// A path, the card's verdict on it, and the host's refusal (none: accepted).
type PathCase<'a> = (&'a [&'a [u8]], CertificateVerdict, Option<apdu_specs::path::PathFault>);

/// A certificate for `key` with `profile`, signed by `issuer` under `issuer_cert`'s subject.
fn issued_under(issuer: &SigningKeyPair, issuer_cert: &[u8], key: &[u8], profile: x509::CertificateProfile) -> Vec<u8> {
    let issuer_name = Certificate::parse(issuer_cert).unwrap().subject.to_vec();
    let subject = pki::subject("below an agent");
    let tbs = x509::Template {
        serial: &[0x4E, 7],
        issuer: &issuer_name,
        subject: &subject,
        not_before: FIXTURE_TIME - 60,
        not_after: FIXTURE_TIME + 3_600,
        public_key: key,
        profile,
        subject_key_id: &[3; 20],
        authority_key_id: &[4; 20],
    }
    .tbs()
    .unwrap();
    x509::signed_object(&tbs, &issuer.sign_digest(&Sha256::digest(&tbs).into())).unwrap()
}

/// The card's VERIFY CERTIFICATE and the host's path check enforce the agent
/// profile: CA → agent → signature certificate is valid; a timestamping
/// certificate below an agent, an agent below an agent (pathLen 0), and a
/// certificate below a CA certificate without pathLen 0 are refused; a
/// postmark token signed under an agent-issued timestamping certificate is
/// invalid on and off the card.
#[test]
fn agent_paths_are_limited_by_path_length_zero_and_the_agent_usages() {
    use apdu_specs::path::PathFault;
    use host_driver::certificates::{PathError, verify_certificate_path};
    let mut f = fixture();
    let agent_key = SigningKeyPair::from_seed("hand-made agent key");
    let agent =
        f.ca.certify(&f.meter_id, 7, &agent_key.public(), Usage::Agent, FIXTURE_TIME - 60, FIXTURE_TIME + 86_400)
            .unwrap();
    let leaf_key = SigningKeyPair::from_seed("leaf key");
    let signer = issued_under(&agent_key, &agent, &leaf_key.public(), x509::CertificateProfile::Slot(Usage::Signature));
    let timestamping =
        issued_under(&agent_key, &agent, &leaf_key.public(), x509::CertificateProfile::Slot(Usage::Postmark));
    let sub_agent_key = SigningKeyPair::from_seed("sub-agent key");
    let sub_agent =
        issued_under(&agent_key, &agent, &sub_agent_key.public(), x509::CertificateProfile::Slot(Usage::Agent));
    let below_sub =
        issued_under(&sub_agent_key, &sub_agent, &leaf_key.public(), x509::CertificateProfile::Slot(Usage::Signature));
    let unconstrained = agent_like(&f.keys.ca, &agent_key.public(), None);
    let below_unconstrained =
        issued_under(&agent_key, &unconstrained, &leaf_key.public(), x509::CertificateProfile::Slot(Usage::Signature));

    let ca_key = f.ca.public_key();
    // (path, the card's verdict, the host's refusal)
    let cases: [PathCase<'_>; 5] = [
        (&[&agent, &signer], CertificateVerdict::Valid, None),
        (&[&agent, &timestamping], CertificateVerdict::PathNotAllowed, Some(PathFault::UsageNotAllowed)),
        (&[&agent, &sub_agent], CertificateVerdict::PathNotAllowed, Some(PathFault::UsageNotAllowed)),
        (&[&agent, &sub_agent, &below_sub], CertificateVerdict::PathNotAllowed, Some(PathFault::PathTooLong)),
        (
            &[&unconstrained, &below_unconstrained],
            CertificateVerdict::PathNotAllowed,
            Some(PathFault::IssuerNotAnAgent),
        ),
    ];
    for (path, on_card, off_card) in cases {
        let v = charges(&mut f.meter, Service::CertificateVerification, 10, |m| {
            m.run(|tx| tx.verify_certificate(&path.concat())).unwrap()
        });
        assert_eq!(v, on_card, "{} certificates", path.len());
        match (verify_certificate_path(path, &ca_key, FIXTURE_TIME), off_card) {
            (Ok(()), None) => {}
            (Err(PathError::Refused(fault)), Some(expected)) => assert_eq!(fault, expected),
            (got, expected) => panic!("{} certificates: {got:?}, expected {expected:?}", path.len()),
        }
    }

    // A token signed with the key of the agent-issued timestamping certificate.
    let message = b"forged under an agent";
    let token = forged_token(
        &timestamping,
        &leaf_key.secret_bytes()[..],
        Sha256::digest(message).into(),
        FIXTURE_TIME,
        f.meter_id,
    );
    let v = charges(&mut f.meter, Service::PostmarkValidation, 10, |m| {
        m.run(|tx| tx.validate_postmark(&Sha256::digest(message).into(), &token)).unwrap()
    });
    assert_eq!(v, Verdict::CertificateInvalid);
    assert_eq!(verify_postmark(&token, message, &ca_key, None).unwrap(), Verdict::CertificateInvalid);
}
