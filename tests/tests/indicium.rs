//! Indicia: priced by the card, debit before release, verified offline,
//! rate-table updates, the inspection lock, the audit chain, Data Matrix.

use apdu_specs::audit::{Event, Head, Record};
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::registers::flags;
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;
use apdu_specs::tags;
use host_driver::verify::{IndiciumKey, VerifyError, verify_audit_chain, verify_indicium};
use pcmeter::simulated::{AuthorityKeys, Options, operational};
use testkit::{DirectCard, FIXTURE_TIME, signed_table};

fn postal_key(c: &mut DirectCard) -> [u8; 65] {
    let keys = c.get(tags::PUBLIC_KEYS);
    apdu_specs::tlv::find(&keys, tags::POSTAL_KEY).unwrap().try_into().unwrap()
}

fn audit(c: &mut DirectCard) -> (Head, Vec<Record>) {
    let head = Head::parse(&c.get(tags::AUDIT_HEAD)).unwrap();
    let records = (head.oldest..head.records)
        .map(|seq| {
            let mut a = vec![0x00, 0xCB, 0xDF, 0x25, 0x04];
            a.extend_from_slice(&seq.to_be_bytes());
            a.push(0);
            let (d, sw) = c.send(&a);
            assert_eq!(sw, Sw::OK);
            Record::parse(&d).unwrap()
        })
        .collect();
    (head, records)
}

#[test]
fn the_card_prices_debits_then_signs_and_the_indicium_verifies_offline() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    let key = postal_key(&mut c);
    let table = authority::default_rate_table(1, 0);
    for (class, grams) in [(1u8, 20u32), (1, 56), (2, 300), (3, 907)] {
        let before = c.registers();
        let (ind, sw) = c.print(class, grams);
        assert_eq!(sw, Sw::OK);
        let after = c.registers();
        let price = u64::from(table.postage(class, grams).unwrap());
        assert_eq!(after.ar_postage, before.ar_postage + price);
        assert_eq!(after.descending, before.descending - price);
        assert_eq!(after.control_total, before.control_total);
        assert_eq!(after.count(Service::Postage), before.count(Service::Postage) + 1);
        assert!(after.balanced());
        let body = verify_indicium(&ind, IndiciumKey::Ecdsa(&key)).unwrap();
        assert_eq!(u64::from(body.postage), price);
        assert_eq!(body.ascending_register, after.ar_postage);
        assert_eq!(body.descending_register, after.descending);
        assert_eq!(body.piece_count, after.count(Service::Postage));
        assert_eq!(&body.device_id, b"PCM-VECTOR-1");
        assert_eq!(body.rate_table_version, 1);
        // Any changed byte breaks it.
        for i in [0usize, 10, 59, 60, 123] {
            let mut bad = ind.clone();
            bad[i] ^= 1;
            assert!(verify_indicium(&bad, IndiciumKey::Ecdsa(&key)).is_err(), "byte {i}");
        }
    }
    let (head, records) = audit(&mut c);
    verify_audit_chain(&head, &records).unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.event, Event::Indicium);
    assert_eq!(last.amount, 1100);
}

#[test]
fn insufficient_funds_is_9401_and_changes_nothing() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    assert_eq!(c.print(3, 2000).1, Sw::OK); // 16.00 of 20.00
    let before = c.snapshot();
    assert_eq!(c.print(3, 2000).1, Sw::INSUFFICIENT_FUNDS);
    assert_eq!(c.snapshot(), before);
    assert_eq!(c.print(1, 20).1, Sw::OK, "a cheaper piece still fits");
}

#[test]
fn the_mac_variant_verifies_with_the_diversified_key() {
    let keys = AuthorityKeys::from_seed("mac-variant");
    let mut opts = Options::at(FIXTURE_TIME, 10_000);
    opts.profile.hmac_variant = true;
    opts.profile.meter_id = String::from("PCM-MAC-0001");
    let mut sim = operational(&keys, &opts).unwrap();
    sim.meter.run(|tx| tx.verify_pin(&sim.pin)).unwrap();
    let piece = apdu_specs::mailpiece::MailPiece {
        rate_class: 1,
        weight_grams: 20,
        date: testkit::FIXTURE_DATE,
        origin: *b"10001",
        destination: *b"94105",
    };
    let ind = sim.meter.run(|tx| tx.print_indicium(&piece)).unwrap();
    assert_eq!(ind.len(), apdu_specs::indicium::MAC_LEN);
    assert!(sim.meter.run(|tx| tx.public_keys()).unwrap().postal.is_none());
    let k = keys.mac_master.diversify(b"PCM-MAC-0001");
    let body = verify_indicium(&ind, IndiciumKey::Mac(&k)).unwrap();
    assert_eq!(body.postage, 73);
    let other = keys.mac_master.diversify(b"PCM-MAC-0002");
    assert_eq!(verify_indicium(&ind, IndiciumKey::Mac(&other)), Err(VerifyError::BadAuthenticator));
    assert!(matches!(verify_indicium(&ind, IndiciumKey::Ecdsa(&[4u8; 65])), Err(VerifyError::WrongKeyType(_))));
}

#[test]
fn rate_updates_must_be_newer_authentic_and_in_the_same_currency() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    let now = FIXTURE_TIME;
    let before = c.snapshot();
    // Forged: signed by another key.
    let other = authority::SigningKeyPair::from_seed("not the authority");
    let forged = authority::sign_rate_table(&other, &authority::default_rate_table(2, now));
    assert_eq!(c.update_rates(&forged), Sw::VERIFICATION_FAILED);
    // Tampered after signing (a price changed).
    let mut tampered = signed_table(2, now, |_| {});
    let pos = tampered.len() - 80;
    tampered[pos] ^= 0x01;
    assert_eq!(c.update_rates(&tampered), Sw::VERIFICATION_FAILED);
    // Same version as installed, and older.
    assert_eq!(c.update_rates(&signed_table(1, now, |_| {})), Sw::CONDITIONS_NOT_SATISFIED);
    // Another currency.
    assert_eq!(c.update_rates(&signed_table(2, now, |t| t.currency = *b"EUR")), Sw::BAD_DATA);
    // Garbage.
    assert_eq!(c.update_rates(&[0x70, 0x01, 0x00]), Sw::BAD_DATA);
    assert_eq!(c.snapshot(), before, "refused tables change nothing");

    // A newer table in force now changes the price.
    let v2 = signed_table(2, now, |t| t.classes[0].breaks[0].price = 80);
    assert_eq!(c.update_rates(&v2), Sw::OK);
    assert_eq!(c.status().rate_table_version, 2);
    let (ind, _) = c.print(1, 20);
    let body = apdu_specs::indicium::IndiciumBody::parse(&ind[..60]).unwrap();
    assert_eq!((body.postage, body.rate_table_version), (80, 2));
    // Replaying v2 is refused.
    assert_eq!(c.update_rates(&v2), Sw::CONDITIONS_NOT_SATISFIED);

    // A future table waits for its date.
    let v3 = signed_table(3, now + 86_400, |t| t.classes[0].breaks[0].price = 90);
    assert_eq!(c.update_rates(&v3), Sw::OK);
    assert_eq!(c.status().rate_table_version, 2);
    let body = apdu_specs::indicium::IndiciumBody::parse(&c.print(1, 20).0[..60]).unwrap();
    assert_eq!((body.postage, body.rate_table_version), (80, 2));
    c.clock.advance(86_400);
    let (ind, sw) = c.print(1, 20);
    assert_eq!(sw, Sw::OK);
    let body = apdu_specs::indicium::IndiciumBody::parse(&ind[..60]).unwrap();
    assert_eq!((body.postage, body.rate_table_version), (90, 3));
    // v2 cannot come back, even though v3 was pending when it was seen.
    assert_eq!(c.update_rates(&v2), Sw::CONDITIONS_NOT_SATISFIED);
    // And the promotion survived a power cycle.
    c.power_cycle();
    assert_eq!(c.status().rate_table_version, 3);
}

#[test]
fn an_overdue_inspection_refuses_value_services_without_locking_the_meter() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    let deadline = c.status().inspection_deadline;
    assert_eq!(deadline, FIXTURE_TIME + 90 * 86_400);
    c.clock.set(deadline);
    assert_eq!(c.print(1, 20).1, Sw::OK, "on the deadline itself the meter still works");
    c.clock.set(deadline + 1);
    let before = c.snapshot();
    assert_eq!(c.print(1, 20).1, Sw::INSPECTION_OVERDUE);
    assert_eq!(c.snapshot(), before, "nothing charged, nothing recorded");
    let st = c.status();
    assert_eq!(st.lifecycle, Lifecycle::Operational, "time alone never locks the meter");
    assert_eq!(st.flags & flags::LOCKED_INSPECTION, 0);
    c.power_cycle();
    c.verify("123456");
    assert_eq!(c.print(1, 20).1, Sw::INSPECTION_OVERDUE, "still overdue after a power cycle");
    let (head, records) = audit(&mut c);
    verify_audit_chain(&head, &records).unwrap();
    assert_ne!(records.last().unwrap().event, Event::Locked);
}

#[test]
fn a_clock_that_goes_backwards_is_refused() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    c.clock.advance(3_600);
    assert_eq!(c.print(1, 20).1, Sw::OK);
    c.clock.set(FIXTURE_TIME);
    assert_eq!(c.print(1, 20).1, Sw::CONDITIONS_NOT_SATISFIED);
}

#[test]
fn the_audit_chain_holds_across_the_ring() {
    let mut c = DirectCard::operational_with_credit(1_000_000);
    c.verify("123456");
    for _ in 0..100 {
        assert_eq!(c.print(1, 1).1, Sw::OK);
    }
    let (head, records) = audit(&mut c);
    assert_eq!(head.records, 102);
    assert_eq!(records.len(), card_core::state::AUDIT_CAPACITY as usize);
    assert_eq!(records.first().unwrap().seq, head.oldest);
    verify_audit_chain(&head, &records).unwrap();
    let mut broken = records.clone();
    broken[10].amount += 1;
    assert!(verify_audit_chain(&head, &broken).is_err());
    // Records older than the ring are gone: 6A88.
    assert_eq!(c.hex("00CBDF250400000000 00").1, Sw::NOT_FOUND);
}

#[test]
fn rendered_indicia_decode_back_with_an_independent_reader() {
    let mut c = DirectCard::operational();
    c.verify("123456");
    let (ind, _) = c.print(2, 100);
    let dir = std::env::temp_dir().join(format!("pcmeter-dm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("indicium.png");
    std::fs::write(&png, pcmeter::render::png(&ind, 4).unwrap()).unwrap();
    let svg = pcmeter::render::svg(&ind, 4).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<path"));
    let out = match std::process::Command::new("dmtxread").arg(&png).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "dmtxread (dmtx-utils) is required in CI: {e}");
            eprintln!("SKIPPED: dmtxread not installed ({e}); install dmtx-utils");
            return;
        }
    };
    assert!(out.status.success(), "dmtxread failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, ind, "the decoder returns exactly the indicium bytes");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_demo_prints_three_verified_indicia() {
    let dir = std::env::temp_dir().join(format!("pcmeter-demo-{}", std::process::id()));
    for hmac in [false, true] {
        let report = pcmeter::demo::run(&dir, hmac).unwrap();
        assert_eq!(report.printed.len(), 3);
        assert!(report.registers.balanced());
        assert_eq!(report.registers.count(Service::Postage), 3);
        for p in &report.printed {
            assert!(std::fs::metadata(&p.png).unwrap().len() > 100);
            assert!(std::fs::metadata(&p.svg).unwrap().len() > 100);
        }
        assert!(report.text.contains("AR_p + AR_c + DR == CT: holds"));
    }
    std::fs::remove_dir_all(&dir).ok();
}
