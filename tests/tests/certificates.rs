//! Certificate services through host-driver's typed API on the in-process
//! card: every service, its charge, the validation verdicts on and off the
//! card, the CA side (Fig. 5 steps 514/516, database, CRL), openssl interop
//! for CSRs and user chains, and the bad inputs the card must refuse with a
//! precise status word, charging nothing.

use apdu_specs::Service;
use apdu_specs::certs::{AgentRequest, CertificateRequest, CertificateVerdict, RevocationConfirmation, SlotState};
use apdu_specs::postmark::Verdict;
use apdu_specs::signed::{self, Signed};
use apdu_specs::x509::{Certificate, Usage};
use authority::ca::IssueError;
use authority::certdb::Status;
use authority::orders::{anchor_update, revocation_order};
use authority::{CertificateAuthority, SigningKeyPair};
use host_driver::certificates::{CrlAt, DeliveryKey, encrypt_to, verify_postmark};
use host_driver::simulated::{AuthorityKeys, Options, operational};
use host_driver::{InProcessTransport, Meter, MeterError};
use sha2::{Digest, Sha256};
use tests::FIXTURE_TIME;
use tests::pki::{self, Scratch, changes_nothing, charges, openssl, slots};

struct Fixture {
    meter: Meter<InProcessTransport>,
    card: std::sync::Arc<std::sync::Mutex<host_driver::SharedCard>>,
    pin: host_driver::Pin,
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
    let ca = pki::ca_for(&keys);
    let meter_id = pki::register(&ca, &mut meter);
    meter.verify_pin(&sim.pin).unwrap();
    Fixture { meter, card: sim.card, pin: sim.pin, ca, keys, meter_id }
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
    assert_eq!(f.meter.read_slot(slots::SIGNATURE).unwrap().state, SlotState::Empty);
    let public = charges(&mut f.meter, Service::KeyGeneration, 50, |m| {
        m.generate_key_pair(slots::SIGNATURE, Usage::Signature).unwrap()
    });
    let slot = f.meter.read_slot(slots::SIGNATURE).unwrap();
    assert_eq!((slot.state, slot.usage, slot.public_key), (SlotState::Key, Some(Usage::Signature), Some(public)));
    let subject = pki::subject("alice");
    let request = charges(&mut f.meter, Service::CertificateRequest, 200, |m| {
        m.certificate_request(slots::SIGNATURE, &subject).unwrap()
    });
    let cert = f.ca.issue(&request, FIXTURE_TIME).unwrap();
    charges(&mut f.meter, Service::CertificateInstall, 100, |m| {
        m.install_certificate(slots::SIGNATURE, &cert).unwrap()
    });
    let slot = f.meter.read_slot(slots::SIGNATURE).unwrap();
    assert_eq!(slot.state, SlotState::Certified);
    assert_eq!(slot.certificate.as_deref(), Some(&cert[..]));

    // The CA's database knows the certificate: serial, meter, slot, subject, validity, status.
    let parsed = Certificate::parse(&cert).unwrap();
    let row = f.ca.db().certificate(parsed.serial).unwrap().unwrap();
    assert_eq!((row.meter_id, row.slot, row.usage), (f.meter_id, slots::SIGNATURE, Usage::Signature as u8));
    assert_eq!(row.subject, subject);
    assert_eq!((row.not_before, row.not_after), (parsed.not_before, parsed.not_after));
    assert_eq!(row.status, Status::Valid);
    assert_eq!(row.der, cert);
    // Each charge left a ServiceCharged audit record naming its service.
    let (_, log) = f.meter.audit_log().unwrap();
    let services: Vec<u8> =
        log.iter().filter(|r| r.event == apdu_specs::audit::Event::ServiceCharged).map(|r| r.detail[0]).collect();
    assert_eq!(services, [1, 2, 3]);
}

#[test]
fn csr_and_user_certificates_pass_openssl() {
    let mut f = fixture();
    let dir = Scratch::new("csr");
    f.meter.generate_key_pair(slots::SIGNATURE, Usage::Signature).unwrap();
    let envelope = f.meter.certificate_request(slots::SIGNATURE, &pki::subject("bob")).unwrap();
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
    f.meter.install_certificate(slots::SIGNATURE, &cert).unwrap();
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
    let sig = charges(&mut f.meter, Service::SignData, 5, |m| m.sign_data(slots::SIGNATURE, data).unwrap());
    let sig2 = charges(&mut f.meter, Service::SignData, 5, |m| {
        m.sign_digest(slots::SIGNATURE, &Sha256::digest(data).into()).unwrap()
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

    let public = f.meter.generate_key_pair(slots::ENCRYPTION, Usage::Encryption).unwrap();
    let blob = encrypt_to(&public, b"the secret terms").unwrap();
    let plain = charges(&mut f.meter, Service::Decrypt, 5, |m| m.decrypt(slots::ENCRYPTION, &blob).unwrap());
    assert_eq!(&plain[..], b"the secret terms");
    let mut tampered = blob.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let e = changes_nothing(&mut f.meter, |m| m.decrypt(slots::ENCRYPTION, &tampered));
    assert!(matches!(e, MeterError::BadData { .. }), "{e:?}");
    // Keys are separated by usage.
    let e = changes_nothing(&mut f.meter, |m| m.decrypt(slots::SIGNATURE, &blob));
    assert!(matches!(e, MeterError::UsageNotAllowed { .. }), "{e:?}");
    let e = changes_nothing(&mut f.meter, |m| m.sign_data(slots::ENCRYPTION, data));
    assert!(matches!(e, MeterError::UsageNotAllowed { .. }), "{e:?}");
}

#[test]
fn postmark_validation_gives_each_verdict_on_and_off_the_card() {
    let (mut f, _) = postmark_fixture();
    let message = b"invoice 2026-117".to_vec();
    let digest: [u8; 32] = Sha256::digest(&message).into();
    let token = f.meter.postmark_digest(slots::POSTMARK, &digest).unwrap();
    let ca_key = f.ca.public_key();
    let fee = 10;

    // Valid.
    let v = charges(&mut f.meter, Service::PostmarkValidation, fee, |m| m.validate_postmark(&digest, &token).unwrap());
    assert_eq!(v, Verdict::Valid);
    assert_eq!(verify_postmark(&token, &message, &ca_key, None).unwrap(), Verdict::Valid);

    // Digest mismatch: another message.
    let other = b"invoice 2026-118";
    let v = charges(&mut f.meter, Service::PostmarkValidation, fee, |m| {
        m.validate_postmark(&Sha256::digest(other).into(), &token).unwrap()
    });
    assert_eq!(v, Verdict::DigestMismatch);
    assert_eq!(verify_postmark(&token, other, &ca_key, None).unwrap(), Verdict::DigestMismatch);

    // Signature invalid: the stamped time altered inside the TSTInfo.
    let mut forged = token.clone();
    let at = forged.windows(4).position(|w| w == b"2026").unwrap();
    forged[at + 3] = b'7';
    let v = charges(&mut f.meter, Service::PostmarkValidation, fee, |m| m.validate_postmark(&digest, &forged).unwrap());
    assert_eq!(v, Verdict::SignatureInvalid);
    assert_eq!(verify_postmark(&forged, &message, &ca_key, None).unwrap(), Verdict::SignatureInvalid);

    // Certificate invalid: a postmark from a meter certified by a foreign CA.
    let mut g = fixture_with("foreign", 100_000);
    let mut foreign_ca = pki::ca_with_key(SigningKeyPair::from_seed("foreign CA"), "Foreign CA");
    pki::register(&foreign_ca, &mut g.meter);
    // g's card trusts g.keys.ca, so re-anchor it to the foreign CA first.
    let order = anchor_update(&g.keys.authority, &g.meter_id, 1, &foreign_ca.public_key());
    g.meter.update_ca_anchor(&order).unwrap();
    pki::certified(&mut g.meter, &mut foreign_ca, slots::POSTMARK, Usage::Postmark).unwrap();
    let foreign = g.meter.postmark_digest(slots::POSTMARK, &digest).unwrap();
    let v =
        charges(&mut f.meter, Service::PostmarkValidation, fee, |m| m.validate_postmark(&digest, &foreign).unwrap());
    assert_eq!(v, Verdict::CertificateInvalid);
    assert_eq!(verify_postmark(&foreign, &message, &ca_key, None).unwrap(), Verdict::CertificateInvalid);

    // Revoked (off-card, with the CA's CRL).
    let serial =
        Certificate::parse(&f.meter.read_slot(slots::POSTMARK).unwrap().certificate.unwrap()).unwrap().serial.to_vec();
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
    let token = f.meter.postmark_message(slots::POSTMARK, &message).unwrap();
    assert_eq!(verify_postmark(&token, &message, &f.ca.public_key(), None).unwrap(), Verdict::Valid);
    // The stream is consumed: a second postmark without HASH is refused, uncharged.
    let e = changes_nothing(&mut f.meter, |m| m.postmark_parts(slots::POSTMARK, None));
    assert!(matches!(e, MeterError::ConditionsNotSatisfied { .. }), "{e:?}");
    let before = f.meter.registers().unwrap().postmark_serial;
    f.meter.postmark_digest(slots::POSTMARK, &[1; 32]).unwrap();
    assert_eq!(f.meter.registers().unwrap().postmark_serial, before + 1);
}

#[test]
fn certificate_verification_is_charged_and_the_anchor_moves_only_by_authority_order() {
    let mut f = fixture();
    let cert = pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    let fee = 10;
    let v = charges(&mut f.meter, Service::CertificateVerification, fee, |m| m.verify_certificate(&cert).unwrap());
    assert_eq!(v, CertificateVerdict::Valid);
    let mut other_ca = pki::ca_with_key(SigningKeyPair::from_seed("next CA"), "Next CA");
    let (_, device) = pki::identity(&mut f.meter);
    other_ca.register_meter(&f.meter_id, &device, FIXTURE_TIME).unwrap();
    let spki_key = f.meter.read_slot(slots::SIGNATURE).unwrap().public_key.unwrap();
    let by_other = other_ca
        .certify(&f.meter_id, 5, &pki::subject("x"), &spki_key, Usage::Signature, FIXTURE_TIME, FIXTURE_TIME + 1000)
        .unwrap();
    let v = charges(&mut f.meter, Service::CertificateVerification, fee, |m| m.verify_certificate(&by_other).unwrap());
    assert_eq!(v, CertificateVerdict::NotSignedByCa);
    let expired =
        f.ca.certify(
            &f.meter_id,
            5,
            &pki::subject("old"),
            &spki_key,
            Usage::Signature,
            FIXTURE_TIME - 9000,
            FIXTURE_TIME - 10,
        )
        .unwrap();
    let v = charges(&mut f.meter, Service::CertificateVerification, fee, |m| m.verify_certificate(&expired).unwrap());
    assert_eq!(v, CertificateVerdict::OutsideValidity);

    // Anchor update: a forged order and a replayed version are refused.
    let forged = anchor_update(&f.keys.issuer, &f.meter_id, 1, &other_ca.public_key());
    assert!(matches!(f.meter.update_ca_anchor(&forged), Err(MeterError::SignatureRejected { .. })));
    let for_another_meter = anchor_update(&f.keys.authority, &[9; 12], 1, &other_ca.public_key());
    assert!(matches!(f.meter.update_ca_anchor(&for_another_meter), Err(MeterError::BadData { .. })));
    let order = anchor_update(&f.keys.authority, &f.meter_id, 1, &other_ca.public_key());
    f.meter.update_ca_anchor(&order).unwrap();
    assert!(matches!(f.meter.update_ca_anchor(&order), Err(MeterError::ConditionsNotSatisfied { .. })));
    assert_eq!(f.meter.verify_certificate(&by_other).unwrap(), CertificateVerdict::Valid);
    assert_eq!(f.meter.verify_certificate(&cert).unwrap(), CertificateVerdict::NotSignedByCa);
}

#[test]
fn the_ca_refuses_unknown_and_unverified_identities_with_a_reason() {
    let mut f = fixture();
    f.meter.generate_key_pair(slots::SIGNATURE, Usage::Signature).unwrap();
    let request = f.meter.certificate_request(slots::SIGNATURE, &pki::subject("carol")).unwrap();
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
    let serial = Certificate::parse(&cert).unwrap().serial.to_vec();
    let order = revocation_order(&f.keys.authority, &f.meter_id, slots::POSTMARK, &serial, 1, FIXTURE_TIME);
    let confirmation = charges(&mut f.meter, Service::Revocation, 100, |m| m.revoke(&order).unwrap());
    let signed = Signed::parse(&confirmation).unwrap();
    let c = RevocationConfirmation::parse(signed.body).unwrap();
    assert!(c.paid && c.serial == serial && c.slot == slots::POSTMARK && c.fee == 100);
    let device = f.meter.public_keys().unwrap().device;
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
    let slot = f.meter.read_slot(slots::POSTMARK).unwrap();
    assert_eq!(slot.state, SlotState::Revoked);
    assert!(matches!(f.meter.revoke(&order), Err(MeterError::KeyRevoked { .. })));
}

#[test]
fn bad_input_is_refused_precisely_and_charges_nothing() {
    let mut f = fixture();
    let good = pki::certified(&mut f.meter, &mut f.ca, slots::SIGNATURE, Usage::Signature).unwrap();
    f.meter.generate_key_pair(slots::AGENT, Usage::Signature).unwrap();
    let key = f.meter.read_slot(slots::AGENT).unwrap().public_key.unwrap();

    // Truncated and garbage DER.
    for bad in [&good[..good.len() - 1], &good[..40], &b"\x30\x03garbage"[..], &[][..]] {
        let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::AGENT, bad));
        assert!(matches!(e, MeterError::BadData { .. } | MeterError::Card { .. }), "{e:?}");
        assert_eq!(e.sw(), Some(apdu_specs::sw::Sw::BAD_DATA));
    }
    // A certificate for a different key (the signature slot's).
    let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::AGENT, &good));
    assert!(matches!(e, MeterError::CertificateKeyMismatch { .. }), "{e:?}");
    // Signed by an unknown CA.
    let mut unknown = pki::ca_with_key(SigningKeyPair::from_seed("unknown CA"), "Unknown CA");
    pki::register(&unknown, &mut f.meter);
    let foreign = unknown
        .certify(
            &f.meter_id,
            slots::AGENT,
            &pki::subject("x"),
            &key,
            Usage::Signature,
            FIXTURE_TIME,
            FIXTURE_TIME + 1000,
        )
        .unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::AGENT, &foreign));
    assert!(matches!(e, MeterError::CertificateNotFromCa { .. }), "{e:?}");
    // Expired.
    let expired =
        f.ca.certify(
            &f.meter_id,
            slots::AGENT,
            &pki::subject("x"),
            &key,
            Usage::Signature,
            FIXTURE_TIME - 9000,
            FIXTURE_TIME - 1,
        )
        .unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::AGENT, &expired));
    assert!(matches!(e, MeterError::CertificateOutsideValidity { .. }), "{e:?}");
    // The wrong profile for the slot.
    let wrong =
        f.ca.certify(
            &f.meter_id,
            slots::AGENT,
            &pki::subject("x"),
            &key,
            Usage::Postmark,
            FIXTURE_TIME,
            FIXTURE_TIME + 1000,
        )
        .unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::AGENT, &wrong));
    assert!(matches!(e, MeterError::UsageNotAllowed { .. }), "{e:?}");
    // An oversized chain.
    let huge = vec![0x30; apdu_specs::commands::MAX_COMMAND_DATA + 1];
    let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::AGENT, &huge));
    assert!(matches!(e, MeterError::NotEnoughMemory { .. }), "{e:?}");
    // A postmark for an empty slot, and for a revoked one.
    let e = changes_nothing(&mut f.meter, |m| m.postmark_digest(slots::POSTMARK, &[0; 32]));
    assert!(matches!(e, MeterError::NotFound { .. }), "{e:?}");
    let pm = pki::certified(&mut f.meter, &mut f.ca, slots::POSTMARK, Usage::Postmark).unwrap();
    let serial = Certificate::parse(&pm).unwrap().serial.to_vec();
    f.meter
        .revoke(&revocation_order(&f.keys.authority, &f.meter_id, slots::POSTMARK, &serial, 1, FIXTURE_TIME))
        .unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.postmark_digest(slots::POSTMARK, &[0; 32]));
    assert!(matches!(e, MeterError::KeyRevoked { .. }), "{e:?}");
    // An agent request without an agent certificate.
    let delivery = DeliveryKey::generate().unwrap();
    let subject = pki::subject("receiver");
    let request = AgentRequest {
        subject: &subject,
        not_before: FIXTURE_TIME,
        not_after: FIXTURE_TIME + 100,
        usage: Usage::Signature,
        delivery_key: delivery.public,
    };
    let e = changes_nothing(&mut f.meter, |m| m.agent_issue(slots::SIGNATURE, &request));
    assert!(matches!(e, MeterError::UsageNotAllowed { .. }), "{e:?}");
    let e = changes_nothing(&mut f.meter, |m| m.agent_issue(6, &request));
    assert!(matches!(e, MeterError::NotFound { .. } | MeterError::UsageNotAllowed { .. }), "{e:?}");
}

#[test]
fn a_request_without_funds_changes_nothing() {
    let mut f = fixture_with("poor", 60);
    f.meter.generate_key_pair(slots::SIGNATURE, Usage::Signature).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.certificate_request(slots::SIGNATURE, &pki::subject("poor")));
    assert!(matches!(e, MeterError::InsufficientFunds { .. }), "{e:?}");
    let e = changes_nothing(&mut f.meter, |m| m.generate_key_pair(slots::ENCRYPTION, Usage::Encryption));
    assert!(matches!(e, MeterError::InsufficientFunds { .. }), "{e:?}");
    assert_eq!(f.meter.read_slot(slots::ENCRYPTION).unwrap().state, SlotState::Empty);
}

#[test]
fn a_reset_drops_the_hash_stream_and_the_pin() {
    let (mut f, _) = postmark_fixture();
    f.meter.transaction().unwrap().hash_message(b"half of a message").unwrap();
    f.card.lock().unwrap().reset().unwrap();
    assert!(matches!(f.meter.registers(), Err(MeterError::PinStateLost)));
    assert!(matches!(f.meter.postmark_parts(slots::POSTMARK, None), Err(MeterError::PinRequired { .. })));
    f.meter.verify_pin(&f.pin).unwrap();
    let e = changes_nothing(&mut f.meter, |m| m.postmark_parts(slots::POSTMARK, None));
    assert!(matches!(e, MeterError::ConditionsNotSatisfied { .. }), "{e:?}");
}
