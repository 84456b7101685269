//! Inspection, lockout and revocation requests on the in-process card
//! through the host API (DESIGN §5): an overdue meter refuses value services
//! with 9409 and nothing else until an acknowledgement of its last report;
//! authority LOCK/UNLOCK orders in sequence; the device-signed request of
//! Fig. 6 (602).

use apdu_specs::audit::Event;
use apdu_specs::certs::{DOMAIN_REVOCATION_REQUEST, RevocationRequest};
use apdu_specs::inspection::{DOMAIN_INSPECTION_REPORT, InspectionAck, InspectionReport, LockAction, LockOrder};
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::registers::flags;
use host_driver::verify::verify_device_signed;
use host_driver::{CardStatus, MeterError};
use sha2::{Digest, Sha256};
use testkit::services::{self, StoredMeter, slots, with_pin};
use testkit::{FIXTURE_TIME, vector_keys};

fn card_refused<T: std::fmt::Debug>(r: Result<T, MeterError>) -> CardStatus {
    match r {
        Err(MeterError::Card(status)) => status,
        other => panic!("expected a card refusal, got {other:?}"),
    }
}

fn ack(meter_id: [u8; 12], report_body: &[u8], next_deadline: u64) -> Vec<u8> {
    let digest: [u8; 32] = Sha256::digest(report_body).into();
    let body = InspectionAck { meter_id, report_digest: digest, next_deadline, time: FIXTURE_TIME };
    authority::orders::inspection_ack(&vector_keys().authority, &body)
}

fn order(meter_id: [u8; 12], action: LockAction, sequence: u32) -> Vec<u8> {
    let body = LockOrder { meter_id, action, sequence, reason: 4, time: FIXTURE_TIME };
    authority::orders::lock_order(&vector_keys().authority, &body)
}

/// A report signed by the card: the envelope's body, after checking the device signature.
fn report(m: &mut StoredMeter) -> (Vec<u8>, InspectionReport) {
    let device = m.device_key();
    let envelope = with_pin(&mut m.meter, |tx| tx.inspection_report()).unwrap();
    let body = verify_device_signed(&envelope, DOMAIN_INSPECTION_REPORT, &device).unwrap().to_vec();
    let parsed = InspectionReport::parse(&body).unwrap();
    (body, parsed)
}

#[test]
fn an_overdue_meter_refuses_print_and_postmark_until_an_acknowledged_inspection() {
    let prepared = services::prepared(10_000);
    let mut m = StoredMeter::on(&prepared.store);
    let meter_id = m.meter_id();
    let deadline = m.meter.run(|tx| tx.status()).unwrap().inspection_deadline;
    let now = deadline + 1;
    m.clock.set(now);
    let piece =
        apdu_specs::mailpiece::MailPiece { date: apdu_specs::date::yyyymmdd_from_unix(now), ..testkit::piece(1, 20) };
    let before = m.meter.run(|tx| tx.registers()).unwrap();
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.print_indicium(&piece))), CardStatus::InspectionOverdue);
    let postmark = with_pin(&mut m.meter, |tx| tx.postmark_digest(slots::POSTMARK, &[7; 32]));
    assert_eq!(card_refused(postmark), CardStatus::InspectionOverdue);
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap(), before, "nothing charged");
    assert_eq!(m.meter.run(|tx| tx.status()).unwrap().lifecycle, Lifecycle::Operational, "not locked");
    // Reading, proofs and the inspection itself keep working.
    m.meter.run(|tx| tx.audit_log()).unwrap();
    m.meter.run(|tx| tx.recharge_proof(1)).unwrap();
    let (body, parsed) = report(&mut m);
    assert_eq!((parsed.meter_id, parsed.deadline, parsed.registers), (meter_id, deadline, before));
    assert_eq!(parsed.time, now);
    let next = now + 90 * 86_400;
    with_pin(&mut m.meter, |tx| tx.inspection_ack(&ack(meter_id, &body, next))).unwrap();
    assert_eq!(m.meter.run(|tx| tx.status()).unwrap().inspection_deadline, next);
    with_pin(&mut m.meter, |tx| tx.print_indicium(&piece)).unwrap();
    with_pin(&mut m.meter, |tx| tx.postmark_digest(slots::POSTMARK, &[7; 32])).unwrap();
    let (_, log) = m.meter.run(|tx| tx.audit_log()).unwrap();
    assert!(log.iter().any(|r| r.event == Event::Inspected));
}

#[test]
fn an_acknowledgement_answers_only_the_last_report_once() {
    let mut m = StoredMeter::on(&testkit::oracle::operational_store());
    let meter_id = m.meter_id();
    let next = FIXTURE_TIME + 100 * 86_400;
    let (_, _) = report(&mut m);
    let (body, _) = report(&mut m);
    let status = m.meter.run(|tx| tx.status()).unwrap();
    let bad = |m: &mut StoredMeter, data: Vec<u8>| card_refused(with_pin(&mut m.meter, |tx| tx.inspection_ack(&data)));
    assert_eq!(bad(&mut m, ack(meter_id, b"another report", next)), CardStatus::BadData);
    assert_eq!(bad(&mut m, ack(meter_id, &body, FIXTURE_TIME - 1)), CardStatus::BadData, "a deadline in the past");
    assert_eq!(bad(&mut m, ack(*b"PCM-OTHER-01", &body, next)), CardStatus::BadData, "another meter");
    let mut forged = ack(meter_id, &body, next);
    forged[10] ^= 1;
    assert_eq!(bad(&mut m, forged), CardStatus::SignatureRejected);
    assert_eq!(m.meter.run(|tx| tx.status()).unwrap(), status, "nothing changed");
    let good = ack(meter_id, &body, next);
    with_pin(&mut m.meter, |tx| tx.inspection_ack(&good)).unwrap();
    assert_eq!(bad(&mut m, good.clone()), CardStatus::ConditionsNotSatisfied, "answered once");
    // A reset forgets the report.
    let (body, _) = report(&mut m);
    m.power_cycle();
    assert_eq!(bad(&mut m, ack(meter_id, &body, next)), CardStatus::ConditionsNotSatisfied);
}

#[test]
fn lock_and_unlock_orders_apply_in_sequence_and_a_stale_one_is_refused() {
    let mut m = StoredMeter::on(&testkit::oracle::operational_store());
    let meter_id = m.meter_id();
    let apply = |m: &mut StoredMeter, o: Vec<u8>| m.meter.run(|tx| tx.lock_order(&o));
    apply(&mut m, order(meter_id, LockAction::Lock, 5)).unwrap();
    let st = m.meter.run(|tx| tx.status()).unwrap();
    assert_eq!((st.lifecycle, st.flags & flags::LOCKED_AUTHORITY), (Lifecycle::Locked, flags::LOCKED_AUTHORITY));
    let piece = testkit::piece(1, 20);
    assert_eq!(
        card_refused(with_pin(&mut m.meter, |tx| tx.print_indicium(&piece))),
        CardStatus::ConditionsNotSatisfied
    );
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.recharge_init(100))), CardStatus::ConditionsNotSatisfied);
    // Stale: the same sequence, or a lower one, even for the other action.
    assert_eq!(card_refused(apply(&mut m, order(meter_id, LockAction::Unlock, 5))), CardStatus::ConditionsNotSatisfied);
    assert_eq!(card_refused(apply(&mut m, order(meter_id, LockAction::Unlock, 4))), CardStatus::ConditionsNotSatisfied);
    assert_eq!(card_refused(apply(&mut m, order(*b"PCM-OTHER-01", LockAction::Unlock, 6))), CardStatus::BadData);
    let forged = authority::orders::lock_order(
        &authority::SigningKeyPair::from_seed("mallory"),
        &LockOrder { meter_id, action: LockAction::Unlock, sequence: 6, reason: 0, time: FIXTURE_TIME },
    );
    assert_eq!(card_refused(apply(&mut m, forged)), CardStatus::SignatureRejected);
    // The last sequence applied survives a power cycle.
    m.power_cycle();
    assert_eq!(card_refused(apply(&mut m, order(meter_id, LockAction::Unlock, 5))), CardStatus::ConditionsNotSatisfied);
    apply(&mut m, order(meter_id, LockAction::Unlock, 6)).unwrap();
    let st = m.meter.run(|tx| tx.status()).unwrap();
    assert_eq!((st.lifecycle, st.flags & flags::LOCKED_AUTHORITY), (Lifecycle::Operational, 0));
    with_pin(&mut m.meter, |tx| tx.print_indicium(&piece)).unwrap();
    let (_, log) = m.meter.run(|tx| tx.audit_log()).unwrap();
    let events: Vec<Event> = log.iter().map(|r| r.event).collect();
    assert!(events.contains(&Event::Locked) && events.contains(&Event::Unlocked));
}

#[test]
fn a_revocation_request_is_device_signed_free_and_only_for_a_held_key() {
    let prepared = services::prepared(10_000);
    let mut m = StoredMeter::on(&prepared.store);
    let device = m.device_key();
    let before = m.meter.run(|tx| tx.registers()).unwrap();
    let slot_key = m.meter.run(|tx| tx.read_slot(slots::SIGNATURE)).unwrap().public_key.unwrap();
    let envelope = with_pin(&mut m.meter, |tx| tx.revocation_request(slots::SIGNATURE, 1)).unwrap();
    let body = verify_device_signed(&envelope, DOMAIN_REVOCATION_REQUEST, &device).unwrap();
    let request = RevocationRequest::parse(body).unwrap();
    assert_eq!(
        (request.meter_id, request.slot, request.reason, request.time, request.public_key),
        (m.meter_id(), slots::SIGNATURE, 1, FIXTURE_TIME, slot_key)
    );
    // Not under another domain or key.
    assert!(verify_device_signed(&envelope, apdu_specs::certs::DOMAIN_REVOCATION_ORDER, &device).is_err());
    assert!(verify_device_signed(&envelope, DOMAIN_REVOCATION_REQUEST, &vector_keys().authority.public()).is_err());
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap(), before, "free: REVOKE charges the fee");
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.revocation_request(slots::FREE, 1))), CardStatus::NotFound);
    assert!(matches!(
        with_pin(&mut m.meter, |tx| tx.revocation_request(slots::SIGNATURE, 7)),
        Err(MeterError::Format(_))
    ));
    // The card refuses an undefined reason itself too.
    let raw = with_pin(&mut m.meter, |tx| {
        tx.call_raw(
            host_driver::channel::CommandApdu::new(
                apdu_specs::commands::by_ins(apdu_specs::commands::ins::REVOCATION_REQUEST).unwrap(),
                0,
                slots::SIGNATURE,
            )
            .data(&[11])
            .expect(256),
        )
    });
    assert_eq!(raw.unwrap().1, apdu_specs::Sw::BAD_DATA);
    // Once the authority's order is carried out, the slot is revoked.
    let order = authority::orders::revocation_order(
        &vector_keys().authority,
        &m.meter_id(),
        slots::SIGNATURE,
        &slot_key,
        1,
        FIXTURE_TIME,
    );
    m.meter.run(|tx| tx.revoke(&order)).unwrap();
    assert_eq!(
        card_refused(with_pin(&mut m.meter, |tx| tx.revocation_request(slots::SIGNATURE, 1))),
        CardStatus::KeyRevoked
    );
}
