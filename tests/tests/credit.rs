//! Line of credit and payment certificates on the in-process card through
//! the host API (Figs. 7A, 7B, 8, 9): install checks, PAY within the credit
//! remaining, serials, the fee through the one debit path, and the
//! merchant's offline check.

use apdu_specs::audit::Event;
use apdu_specs::credit::{CreditLine, CreditStatus, PaymentCertificate};
use apdu_specs::service::Service;
use apdu_specs::signed::Signed;
use host_driver::verify::{PaymentError, verify_payment};
use host_driver::{CardStatus, MeterError};
use testkit::FIXTURE_TIME;
use testkit::oracle::operational_store;
use testkit::services::{StoredMeter, credit_issuer, credit_line, payment, with_pin};

fn card_refused<T: std::fmt::Debug>(r: Result<T, MeterError>) -> CardStatus {
    match r {
        Err(MeterError::Card(status)) => status,
        other => panic!("expected a card refusal, got {other:?}"),
    }
}

/// A meter and a line of `amount` for it (serial `serial`), signed by the vector issuer.
fn meter_and_line(serial: u64, amount: u64) -> (StoredMeter, CreditLine) {
    let mut m = StoredMeter::on(&operational_store());
    let line = credit_line(serial, amount, m.meter_id(), m.device_key());
    (m, line)
}

fn signed(line: &CreditLine) -> Vec<u8> {
    authority::orders::credit_line(&credit_issuer(), line)
}

fn install(m: &mut StoredMeter, envelope: &[u8]) -> Result<(), MeterError> {
    with_pin(&mut m.meter, |tx| tx.install_credit_line(envelope))
}

#[test]
fn a_line_is_installed_only_from_a_trusted_issuer_for_this_meter_and_now() {
    let (mut m, line) = meter_and_line(10, 50_000);
    assert_eq!(card_refused(m.meter.run(|tx| tx.credit_status())), CardStatus::NotFound, "no line yet");
    let other_issuer = authority::SigningKeyPair::from_seed("another bank");
    let refusals = [
        (authority::orders::credit_line(&other_issuer, &line), CardStatus::SignatureRejected, "signed by another key"),
        (
            authority::orders::credit_line(
                &other_issuer,
                &CreditLine { issuer_key_id: other_issuer_id(&other_issuer), ..line.clone() },
            ),
            CardStatus::SignatureRejected,
            "an issuer the card does not trust",
        ),
        (signed(&CreditLine { meter_id: *b"PCM-OTHER-01", ..line.clone() }), CardStatus::BadData, "another meter"),
        (signed(&CreditLine { currency: *b"EUR", ..line.clone() }), CardStatus::BadData, "another currency"),
        (
            signed(&CreditLine { creditor_key: credit_issuer().public(), ..line.clone() }),
            CardStatus::CertificateKeyMismatch,
            "another creditor key",
        ),
        (
            signed(&CreditLine { not_before: FIXTURE_TIME - 10, not_after: FIXTURE_TIME - 1, ..line.clone() }),
            CardStatus::CertificateOutsideValidity,
            "expired",
        ),
        (
            signed(&CreditLine { not_before: FIXTURE_TIME + 1, ..line.clone() }),
            CardStatus::CertificateOutsideValidity,
            "not yet valid",
        ),
    ];
    for (envelope, want, why) in refusals {
        assert_eq!(card_refused(install(&mut m, &envelope)), want, "{why}");
    }
    assert_eq!(card_refused(m.meter.run(|tx| tx.credit_status())), CardStatus::NotFound, "nothing installed");

    let envelope = signed(&line);
    install(&mut m, &envelope).unwrap();
    let status = m.meter.run(|tx| tx.credit_status()).unwrap();
    let digest: [u8; 32] = testkit::forge::sha256(&envelope);
    assert_eq!(
        status,
        CreditStatus {
            line_serial: 10,
            line: 50_000,
            remaining: 50_000,
            not_before: line.not_before,
            not_after: line.not_after,
            payment_serial: 0,
            line_digest: digest
        }
    );
    assert_eq!(m.meter.run(|tx| tx.credit_line()).unwrap(), envelope);
    // The same line again (it would restore the credit) or an older one: refused.
    assert_eq!(card_refused(install(&mut m, &envelope)), CardStatus::ConditionsNotSatisfied);
    let older = signed(&CreditLine { serial: 9, ..line.clone() });
    assert_eq!(card_refused(install(&mut m, &older)), CardStatus::ConditionsNotSatisfied);
    m.power_cycle();
    assert_eq!(m.meter.run(|tx| tx.credit_status()).unwrap(), status, "persistent");
}

fn other_issuer_id(key: &authority::SigningKeyPair) -> [u8; 8] {
    testkit::forge::sha256(&key.public())[..8].try_into().unwrap()
}

#[test]
fn pay_subtracts_credit_charges_the_fee_and_issues_increasing_serials() {
    let (mut m, line) = meter_and_line(1, 1_000);
    let envelope = signed(&line);
    install(&mut m, &envelope).unwrap();
    let fee = u64::from(m.meter.run(|tx| tx.rate_table()).unwrap().table.fee(Service::PaymentCertificate));
    let before = m.meter.run(|tx| tx.registers()).unwrap();
    let first = with_pin(&mut m.meter, |tx| tx.pay(&payment(600))).unwrap();
    let second = with_pin(&mut m.meter, |tx| tx.pay(&payment(300))).unwrap();
    let after = m.meter.run(|tx| tx.registers()).unwrap();
    assert_eq!(after.descending, before.descending - 2 * fee, "DR moves by the fees only");
    assert_eq!(after.ar_certificates, before.ar_certificates + 2 * fee);
    assert_eq!(after.control_total, before.control_total, "credit is not money of the registers");
    assert_eq!(after.count(Service::PaymentCertificate), before.count(Service::PaymentCertificate) + 2);
    assert!(after.balanced());

    let issuer = credit_issuer().public();
    let a = verify_payment(&first, &envelope, &issuer).unwrap().certificate;
    let b = verify_payment(&second, &envelope, &issuer).unwrap().certificate;
    assert_eq!((a.serial, a.amount, a.credit_remaining), (1, 600, 400));
    assert_eq!((b.serial, b.amount, b.credit_remaining), (2, 300, 100));
    assert_eq!((b.holder.as_str(), b.merchant.as_str(), b.currency), (line.holder.as_str(), "Stationer", *b"USD"));

    // 906: more than remains is refused, and nothing changes.
    let status = m.meter.run(|tx| tx.credit_status()).unwrap();
    let head = m.meter.run(|tx| tx.audit_head()).unwrap();
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.pay(&payment(101)))), CardStatus::InsufficientCredit);
    assert_eq!(m.meter.run(|tx| tx.credit_status()).unwrap(), status);
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap(), after);
    assert_eq!(m.meter.run(|tx| tx.audit_head()).unwrap(), head);
    // Exactly what remains is fine; the serial keeps counting.
    let last = with_pin(&mut m.meter, |tx| tx.pay(&payment(100))).unwrap();
    let c = verify_payment(&last, &envelope, &issuer).unwrap().certificate;
    assert_eq!((c.serial, c.credit_remaining), (3, 0));
    let (_, log) = m.meter.run(|tx| tx.audit_log()).unwrap();
    assert_eq!(log.iter().filter(|r| r.event == Event::Payment).count(), 3);

    // A new line replaces the old one; the payment serial never goes back.
    let renewed = signed(&CreditLine { serial: 2, line: 500, ..line.clone() });
    install(&mut m, &renewed).unwrap();
    let next = with_pin(&mut m.meter, |tx| tx.pay(&payment(50))).unwrap();
    let d = verify_payment(&next, &renewed, &issuer).unwrap().certificate;
    assert_eq!((d.serial, d.credit_remaining), (4, 450));
    assert!(matches!(verify_payment(&next, &envelope, &issuer), Err(PaymentError::LineDigestMismatch)));
}

#[test]
fn pay_is_refused_without_a_line_outside_its_validity_and_when_overdue() {
    let (mut m, line) = meter_and_line(1, 1_000);
    let line = CreditLine { not_after: FIXTURE_TIME + 10 * 86_400, ..line };
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.pay(&payment(5)))), CardStatus::NotFound);
    install(&mut m, &signed(&line)).unwrap();
    let before = m.meter.run(|tx| tx.registers()).unwrap();
    m.clock.set(line.not_after + 1);
    let deadline = m.meter.run(|tx| tx.status()).unwrap().inspection_deadline;
    assert!(line.not_after < deadline);
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.pay(&payment(5)))), CardStatus::CertificateOutsideValidity);
    m.clock.set(deadline + 1);
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.pay(&payment(5)))), CardStatus::InspectionOverdue);
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap(), before, "nothing charged");
    assert_eq!(m.meter.run(|tx| tx.credit_status()).unwrap().remaining, 1_000);
}

#[test]
fn a_merchant_refuses_a_tampered_payment_certificate() {
    let (mut m, line) = meter_and_line(1, 1_000);
    let envelope = signed(&line);
    install(&mut m, &envelope).unwrap();
    let cert = with_pin(&mut m.meter, |tx| tx.pay(&payment(250))).unwrap();
    let issuer = credit_issuer().public();
    verify_payment(&cert, &envelope, &issuer).unwrap();

    // The amount raised in the signed body.
    let body = Signed::parse(&cert).unwrap();
    let mut parsed = PaymentCertificate::parse(body.body).unwrap();
    parsed.amount = 900;
    let raised = apdu_specs::signed::encode(&parsed.encode(), &body.signature);
    assert!(matches!(verify_payment(&raised, &envelope, &issuer), Err(PaymentError::CertificateSignature(_))));
    // Any flipped byte.
    let mut flipped = cert.clone();
    flipped[30] ^= 0x40;
    assert!(verify_payment(&flipped, &envelope, &issuer).is_err());
    // Checked with another issuer's key, or against a forged line.
    let bank = authority::SigningKeyPair::from_seed("another bank");
    assert!(matches!(verify_payment(&cert, &envelope, &bank.public()), Err(PaymentError::WrongIssuer)));
    let forged_line = authority::orders::credit_line(&bank, &CreditLine { line: 1_000_000, ..line.clone() });
    assert!(matches!(verify_payment(&cert, &forged_line, &issuer), Err(PaymentError::LineSignature(_))));
    // A certificate signed by a key other than the line's creditor (the meter).
    let mallory = authority::SigningKeyPair::from_seed("mallory");
    let resigned = apdu_specs::signed::encode(
        body.body,
        &mallory.sign_message(apdu_specs::credit::DOMAIN_PAYMENT_CERTIFICATE, body.body),
    );
    assert!(matches!(verify_payment(&resigned, &envelope, &issuer), Err(PaymentError::CertificateSignature(_))));
}
