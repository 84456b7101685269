//! Remote recharge on the in-process card through the host API (claims 15,
//! 30; DESIGN §5): S1 → S2 → S3, replayed and altered S2, a tear between
//! INIT and CREDIT, GET RECHARGE PROOF after a lost answer, and a recharge
//! ending an overdue inspection.

use apdu_specs::audit::Event;
use apdu_specs::recharge::{
    DOMAIN_RECHARGE_RECEIPT, DOMAIN_RECHARGE_REQUEST, MoneyRegisters, RechargeAuthorization, RechargeReceipt,
    RechargeRequest,
};
use host_driver::verify::verify_device_signed;
use host_driver::{CardStatus, MeterError};
use testkit::oracle::operational_store;
use testkit::services::{StoredMeter, authorization_for, with_pin};
use testkit::vector_keys;

fn card_refused<T: std::fmt::Debug>(r: Result<T, MeterError>) -> CardStatus {
    match r {
        Err(MeterError::Card(status)) => status,
        other => panic!("expected a card refusal, got {other:?}"),
    }
}

fn s1_of(envelope: &[u8], device: &[u8; 65]) -> RechargeRequest {
    RechargeRequest::parse(verify_device_signed(envelope, DOMAIN_RECHARGE_REQUEST, device).unwrap()).unwrap()
}

fn s3_of(envelope: &[u8], device: &[u8; 65]) -> RechargeReceipt {
    RechargeReceipt::parse(verify_device_signed(envelope, DOMAIN_RECHARGE_RECEIPT, device).unwrap()).unwrap()
}

fn signed_s2(s2: &RechargeAuthorization) -> Vec<u8> {
    authority::orders::recharge_authorization(&vector_keys().authority, s2)
}

/// RECHARGE INIT for `amount`: S1 parsed (its signature checked) and the honest S2 for it.
fn request(m: &mut StoredMeter, amount: u64) -> (RechargeRequest, RechargeAuthorization) {
    let device = m.device_key();
    let s1 = s1_of(&with_pin(&mut m.meter, |tx| tx.recharge_init(amount)).unwrap(), &device);
    (s1, authorization_for(&s1))
}

#[test]
fn a_recharge_credits_dr_and_ct_once_and_stores_its_receipt() {
    let mut m = StoredMeter::on(&operational_store());
    let device = m.device_key();
    let before = m.meter.run(|tx| tx.registers()).unwrap();
    let (s1, s2) = request(&mut m, 700);
    assert_eq!((s1.sequence, s1.amount, s1.meter_id), (before.recharge_seq + 1, 700, m.meter_id()));
    assert_eq!(s1.registers, MoneyRegisters::of(&before));

    let s3_envelope = with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed_s2(&s2))).unwrap();
    let s3 = s3_of(&s3_envelope, &device);
    let after = m.meter.run(|tx| tx.registers()).unwrap();
    assert_eq!((after.descending, after.control_total), (before.descending + 700, before.control_total + 700));
    assert_eq!((after.ar_postage, after.ar_certificates), (before.ar_postage, before.ar_certificates));
    assert_eq!(after.recharge_seq, before.recharge_seq + 1);
    assert!(after.balanced());
    assert_eq!((s3.sequence, s3.amount, s3.registers), (s1.sequence, 700, MoneyRegisters::of(&after)));
    let status = m.meter.run(|tx| tx.status()).unwrap();
    assert_eq!(status.inspection_deadline, s2.next_deadline, "a recharge counts as an inspection");
    let (_, log) = m.meter.run(|tx| tx.audit_log()).unwrap();
    let last = log.last().unwrap();
    assert_eq!((last.event, last.amount), (Event::Recharged, 700));

    // The receipt survives a power cycle and is served again, byte for byte.
    m.power_cycle();
    assert_eq!(m.meter.run(|tx| tx.recharge_proof(s1.sequence)).unwrap(), s3_envelope);
}

#[test]
fn a_replayed_s2_is_refused_and_credits_nothing() {
    let mut m = StoredMeter::on(&operational_store());
    let (_, s2) = request(&mut m, 300);
    let signed = signed_s2(&s2);
    with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed)).unwrap();
    let credited = m.meter.run(|tx| tx.registers()).unwrap();
    // The same S2 again: the request it answered is consumed.
    assert_eq!(
        card_refused(with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed))),
        CardStatus::ConditionsNotSatisfied
    );
    // Against a newer request it answers another sequence and nonce.
    request(&mut m, 300);
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed))), CardStatus::BadData);
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap(), credited, "credited once");
}

#[test]
fn an_altered_s2_is_refused_and_the_genuine_one_still_credits() {
    let mut m = StoredMeter::on(&operational_store());
    let before = m.meter.run(|tx| tx.registers()).unwrap();
    let (_, s2) = request(&mut m, 400);
    let genuine = signed_s2(&s2);
    // A byte of the signed body flipped: the authority signature fails.
    let mut flipped = genuine.clone();
    flipped[20] ^= 0x01;
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.recharge_credit(&flipped))), CardStatus::SignatureRejected);
    // Signed by another key.
    let forged = authority::orders::recharge_authorization(&authority::SigningKeyPair::from_seed("mallory"), &s2);
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.recharge_credit(&forged))), CardStatus::SignatureRejected);
    // Properly signed but not what was asked for: more money, another CT, a past deadline, another meter.
    let variants = [
        RechargeAuthorization { amount: 4_000, new_control_total: s2.new_control_total + 3_600, ..s2 },
        RechargeAuthorization { new_control_total: s2.new_control_total + 1, ..s2 },
        RechargeAuthorization { next_deadline: testkit::FIXTURE_TIME - 1, ..s2 },
        RechargeAuthorization { meter_id: *b"PCM-OTHER-01", ..s2 },
        RechargeAuthorization { sequence: s2.sequence + 1, ..s2 },
    ];
    for bad in &variants {
        assert_eq!(
            card_refused(with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed_s2(bad)))),
            CardStatus::BadData,
            "{bad:?}"
        );
    }
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap(), before, "nothing credited");
    with_pin(&mut m.meter, |tx| tx.recharge_credit(&genuine)).unwrap();
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap().descending, before.descending + 400);
}

#[test]
fn a_tear_between_init_and_credit_voids_the_request() {
    let mut m = StoredMeter::on(&operational_store());
    let before = m.meter.run(|tx| tx.registers()).unwrap();
    let (_, s2) = request(&mut m, 250);
    m.power_cycle();
    assert_eq!(
        card_refused(with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed_s2(&s2)))),
        CardStatus::ConditionsNotSatisfied,
        "the pending request lived in RAM only"
    );
    assert_eq!(m.meter.run(|tx| tx.registers()).unwrap(), before);
    // The authority's S2 for the lost request is useless; a new request starts over at the same NT.
    let (s1, s2) = request(&mut m, 250);
    assert_eq!(s1.sequence, before.recharge_seq + 1);
    with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed_s2(&s2))).unwrap();
}

#[test]
fn a_lost_receipt_is_fetched_again_and_only_the_last_eight_are_kept() {
    let mut m = StoredMeter::on(&operational_store());
    let device = m.device_key();
    let mut receipts = Vec::new();
    for i in 1..=9u64 {
        let (_, s2) = request(&mut m, i * 10);
        // The answer is "lost": the host fetches the receipt by NT instead.
        let _lost = with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed_s2(&s2))).unwrap();
        let proof = m.meter.run(|tx| tx.recharge_proof(s2.sequence)).unwrap();
        assert_eq!(s3_of(&proof, &device).amount, i * 10);
        receipts.push((s2.sequence, proof));
    }
    let nt = m.meter.run(|tx| tx.registers()).unwrap().recharge_seq;
    assert_eq!(nt, 9);
    assert_eq!(card_refused(m.meter.run(|tx| tx.recharge_proof(1))), CardStatus::NotFound, "no longer held");
    assert_eq!(card_refused(m.meter.run(|tx| tx.recharge_proof(0))), CardStatus::NotFound);
    assert_eq!(card_refused(m.meter.run(|tx| tx.recharge_proof(10))), CardStatus::NotFound, "not yet made");
    for (sequence, proof) in &receipts[1..] {
        assert_eq!(&m.meter.run(|tx| tx.recharge_proof(*sequence)).unwrap(), proof);
    }
}

#[test]
fn a_recharge_ends_an_overdue_inspection() {
    let mut m = StoredMeter::on(&operational_store());
    let deadline = m.meter.run(|tx| tx.status()).unwrap().inspection_deadline;
    m.clock.set(deadline + 1);
    let piece = apdu_specs::mailpiece::MailPiece {
        date: apdu_specs::date::yyyymmdd_from_unix(deadline + 1),
        ..testkit::piece(1, 20)
    };
    assert_eq!(card_refused(with_pin(&mut m.meter, |tx| tx.print_indicium(&piece))), CardStatus::InspectionOverdue);
    let (_, mut s2) = request(&mut m, 100);
    s2.next_deadline = deadline + 90 * 86_400;
    with_pin(&mut m.meter, |tx| tx.recharge_credit(&signed_s2(&s2))).unwrap();
    with_pin(&mut m.meter, |tx| tx.print_indicium(&piece)).unwrap();
}
