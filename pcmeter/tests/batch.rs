//! Bulk mailing on an in-process meter: validation before any charge, a
//! 500-piece batch, a stop on insufficient funds and its resumption, a lost
//! answer recovered from the card, and re-runs that charge nothing.

mod common;

use apdu_specs::indicium::Indicium;
use apdu_specs::registers::Registers;
use apdu_specs::service::Service;
use common::*;
use host_driver::verify::{IndiciumKey, verify_indicium};
use pcmeter::batch::journal::{Journal, path_for};
use pcmeter::batch::progress::Silent;
use pcmeter::batch::{self, BatchError, BatchOptions};
use pcmeter::label::sheet::Sheet;
use pcmeter::simulated::SimulatedMeter;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::Path;

fn registers(m: &mut SimulatedMeter) -> Registers {
    m.meter.run(|tx| tx.registers()).unwrap()
}

fn run(m: &mut SimulatedMeter, csv: &str, out: &Path, sheet: Sheet) -> Result<batch::Summary, BatchError> {
    let pin = m.pin.clone();
    batch::run(&mut m.meter, &pin, csv, &BatchOptions { out: out.into(), sheet }, &mut Silent)
}

/// The journal's paid rows: CSV line → indicium.
fn paid(csv: &str, out: &Path) -> BTreeMap<usize, Vec<u8>> {
    let digest: [u8; 32] = sha2::Sha256::digest(csv.as_bytes()).into();
    let journal = Journal::open(&path_for(out), &digest).unwrap();
    journal.paid().iter().map(|(l, p)| (*l, p.indicium.clone())).collect()
}

/// CSV lines of the data rows of [`mailing`] (line 1 is the header).
fn lines(n: usize) -> Vec<usize> {
    (2..n + 2).collect()
}

#[test]
fn malformed_rows_are_reported_with_line_numbers_and_nothing_is_charged() {
    let mut m = meter(100_000, "PCM-BAD-0001");
    let before = registers(&mut m);
    let dir = scratch("batch-bad");
    let out = dir.join("labels.pdf");
    let csv = format!(
        "class,weight,origin,destination,date\n1,20,12345,67890,{d}\n9,20,12345,67890,{d}\n# a comment\n1,5000,12345,67890,{d}\n\
1,20,12-45,67890,{d}\n1,20,12345,67890,2026-02-30\n1,20,12345,67890,1999-01-01\n1,20,12345\n",
        d = today()
    );
    let Err(BatchError::Invalid(errors)) = run(&mut m, &csv, &out, Sheet::A4) else {
        panic!("bad rows must be refused")
    };
    let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    let expect_prefix = [
        (3, "unknown class 9"),
        (5, "weight 5000 g out of range"),
        (6, "bad origin postcode"),
        (7, "bad date"),
        (8, "date 1999-01-01 is outside"),
        (9, "expected 5 columns"),
    ];
    assert_eq!(got.len(), expect_prefix.len(), "{got:?}");
    for ((line, reason), (want_line, want)) in got.iter().zip(expect_prefix) {
        assert_eq!(*line, want_line);
        assert!(reason.starts_with(want), "line {line}: {reason}");
    }
    assert_eq!(registers(&mut m), before, "nothing charged");
    assert!(!out.exists() && !path_for(&out).exists(), "no journal, no PDF");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_500_piece_batch_prints_every_row_once_and_matches_the_registers() {
    let mut m = meter(1_000_000, "PCM-BULK-500");
    let key = postal_key(&mut m.meter);
    let dir = scratch("batch-500");
    let out = dir.join("labels.pdf");
    let csv = mailing(500);
    let s = run(&mut m, &csv, &out, Sheet::A4).unwrap();
    let regs = registers(&mut m);
    assert_eq!((s.printed_now, s.pieces, s.pages), (500, 500, 36));
    assert!(s.stopped.is_none() && s.not_printed.is_empty());
    assert_eq!(s.total_postage, regs.ar_postage);
    assert_eq!(s.funds_left, regs.descending);
    assert_eq!(regs.count(Service::Postage), 500);
    assert!(regs.balanced());
    let journal = paid(&csv, &out);
    assert_eq!(journal.keys().copied().collect::<Vec<_>>(), lines(500));
    let mut counts: Vec<u32> =
        journal.values().map(|i| verify_indicium(i, IndiciumKey::Ecdsa(&key)).unwrap().piece_count).collect();
    counts.sort();
    assert_eq!(counts, (1..=500).collect::<Vec<_>>());

    // The first and last sheets carry exactly the journal's indicia, in CSV order.
    let in_order: Vec<Vec<u8>> = journal.values().cloned().collect();
    for page in [0, 35] {
        let count = if page == 35 { 500 - 35 * 14 } else { 14 };
        let mut got = pcmeter::scan::decode_pdf_page(&out, 300, page + 1, pcmeter::scan::Limit::Count(count)).unwrap();
        let mut want = in_order[page * 14..((page + 1) * 14).min(500)].to_vec();
        got.sort();
        want.sort();
        assert_eq!(got, want, "page {}", page + 1);
    }

    // A re-run charges nothing and rebuilds the same labels.
    let again = run(&mut m, &csv, &out, Sheet::A4).unwrap();
    assert_eq!((again.printed_now, again.pieces, again.total_postage), (0, 500, s.total_postage));
    assert_eq!(registers(&mut m), regs);
    // Another mailing list cannot reuse this journal.
    assert!(matches!(run(&mut m, &mailing(3), &out, Sheet::A4), Err(BatchError::Journal(_))));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn insufficient_funds_stops_cleanly_and_a_topped_up_resume_prints_each_row_once() {
    // Rows alternate 0.73 and 1.50: 10 USD pays for 9 pieces (9.65), not 10 (11.15).
    let mut poor = meter(1_000, "PCM-FUNDS-01");
    let dir = scratch("batch-funds");
    let out = dir.join("labels.pdf");
    let csv = mailing(20);
    let first = run(&mut poor, &csv, &out, Sheet::Letter).unwrap();
    assert_eq!(first.printed_now, 9);
    assert_eq!(first.stopped.as_deref(), Some("insufficient funds at CSV line 11"));
    assert_eq!(first.not_printed, (11..22).collect::<Vec<_>>());
    let regs = registers(&mut poor);
    assert_eq!((regs.count(Service::Postage), regs.ar_postage, regs.descending), (9, 965, 35));
    assert_eq!(first.total_postage, regs.ar_postage);

    // Resuming on the same meter charges nothing more and stops at the same row.
    let second = run(&mut poor, &csv, &out, Sheet::Letter).unwrap();
    assert_eq!((second.printed_now, second.pieces), (0, 9));
    assert_eq!(second.not_printed, first.not_printed);
    assert_eq!(registers(&mut poor), regs);

    // Top-up: recharge does not exist yet, so the rest goes on a second,
    // funded fixture meter (what a mail room with two meters would do).
    let mut funded = meter(100_000, "PCM-FUNDS-02");
    let third = run(&mut funded, &csv, &out, Sheet::Letter).unwrap();
    let regs2 = registers(&mut funded);
    assert_eq!((third.printed_now, third.pieces), (11, 20));
    assert!(third.stopped.is_none() && third.not_printed.is_empty());
    assert_eq!(third.total_postage, regs.ar_postage + regs2.ar_postage);
    let journal = paid(&csv, &out);
    assert_eq!(journal.keys().copied().collect::<Vec<_>>(), lines(20));
    let meters: Vec<String> = journal
        .values()
        .map(|i| String::from_utf8_lossy(&Indicium::parse(i).unwrap().body.device_id).into_owned())
        .collect();
    assert_eq!(meters.iter().filter(|m| *m == "PCM-FUNDS-01").count(), 9);
    assert_eq!(meters.iter().filter(|m| *m == "PCM-FUNDS-02").count(), 11);
    let pages = decode_sheets(&out, 20, 30);
    let mut got = pages.concat();
    let mut want: Vec<Vec<u8>> = journal.into_values().collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the PDF holds every paid indicium once");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_answer_lost_before_the_journal_is_recovered_from_the_card_not_charged_again() {
    let mut m = meter(100_000, "PCM-RECOVER1");
    let dir = scratch("batch-recover");
    let out = dir.join("labels.pdf");
    let csv = mailing(5);
    // Rows 2 and 3 were journaled; row 4 was announced and charged, then the process died.
    let digest: [u8; 32] = sha2::Sha256::digest(csv.as_bytes()).into();
    let meter_id = *b"PCM-RECOVER1";
    let rows = pcmeter::batch::csv::parse(&csv, &m.meter.run(|tx| tx.rate_table()).unwrap().table, NOW).unwrap();
    let lost = {
        let mut journal = Journal::open(&path_for(&out), &digest).unwrap();
        let pin = m.pin.clone();
        m.meter
            .with_session(|s| {
                s.verify_pin(&pin)?;
                for (i, row) in rows[..2].iter().enumerate() {
                    let ind = s.print_indicium(&row.piece)?;
                    journal.intent(row.line, &meter_id, i as u32).unwrap();
                    journal.done(row.line, i as u32 + 1, &ind).unwrap();
                }
                journal.intent(rows[2].line, &meter_id, 2).unwrap();
                s.print_indicium(&rows[2].piece)
            })
            .unwrap()
    };
    m.meter.select().unwrap();
    let s = run(&mut m, &csv, &out, Sheet::A4).unwrap();
    assert_eq!(s.recovered, vec![rows[2].line]);
    assert_eq!((s.printed_now, s.pieces), (2, 5));
    let regs = registers(&mut m);
    assert_eq!(regs.count(Service::Postage), 5, "five rows, five charges");
    assert_eq!(s.total_postage, regs.ar_postage);
    assert_eq!(paid(&csv, &out)[&rows[2].line], lost, "the card's copy is the indicium that was paid");

    // An announced charge that never reached the card is simply voided.
    let csv2 = mailing(2);
    let out2 = dir.join("second.pdf");
    let digest2: [u8; 32] = sha2::Sha256::digest(csv2.as_bytes()).into();
    Journal::open(&path_for(&out2), &digest2).unwrap().intent(2, &meter_id, 5).unwrap();
    let s2 = run(&mut m, &csv2, &out2, Sheet::A4).unwrap();
    assert!(s2.recovered.is_empty());
    assert_eq!(s2.printed_now, 2);
    assert_eq!(registers(&mut m).count(Service::Postage), 7);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_last_indicium_is_readable_from_the_card_and_absent_before_the_first() {
    let mut m = meter(10_000, "PCM-LAST-001");
    let none = m.meter.run(|tx| tx.get_data(apdu_specs::tags::LAST_INDICIUM));
    assert!(matches!(none, Err(host_driver::MeterError::Card(host_driver::CardStatus::NotFound))), "{none:?}");
    let rows = pcmeter::batch::csv::parse(&mailing(2), &m.meter.run(|tx| tx.rate_table()).unwrap().table, NOW).unwrap();
    let pin = m.pin.clone();
    for row in &rows {
        let ind = m
            .meter
            .with_session(|s| {
                s.verify_pin(&pin)?;
                s.print_indicium(&row.piece)
            })
            .unwrap();
        m.meter.select().unwrap();
        assert_eq!(m.meter.run(|tx| tx.get_data(apdu_specs::tags::LAST_INDICIUM)).unwrap(), ind);
    }
}
