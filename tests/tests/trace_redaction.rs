//! The APDU trace never shows a PIN, a PUK or personalization data. Kept in
//! its own test binary: `tracing` caches callsite interest process-wide, so a
//! scoped subscriber must not race with other tests' threads.

use apdu_specs::commands::ins;
use host_driver::{Meter, Pin};
use pcmeter::simulated::{AuthorityKeys, Options, operational};
use std::io::Write;
use std::sync::{Arc, Mutex};
use testkit::scripted::ScriptedCard;
use testkit::{FIXTURE_TIME, piece};

fn meter(credit: u64) -> pcmeter::simulated::SimulatedMeter {
    operational(&AuthorityKeys::from_seed("trace-tests"), &Options::at(FIXTURE_TIME, credit)).unwrap()
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tests in this binary take turns: each installs its own scoped subscriber.
static TURN: Mutex<()> = Mutex::new(());

/// The APDU trace written while `f` runs.
fn trace_of(f: impl FnOnce()) -> String {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("pcmeter::apdu=debug")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn the_apdu_trace_never_shows_a_pin() {
    let log = trace_of(|| {
        let mut sim = meter(1_000);
        sim.meter.run(|tx| tx.verify_pin(&Pin::new("4321").unwrap())).ok();
        sim.meter.run(|tx| tx.verify_pin(&sim.pin)).unwrap();
        sim.meter.run(|tx| tx.change_pin(&sim.pin, &Pin::new("97531").unwrap())).unwrap();
        sim.meter.run(|tx| tx.print_indicium(&piece(1, 20))).unwrap();
    });
    assert!(log.contains("> 80600000"), "the trace is on: {log}");
    assert!(log.contains("redacted"));
    for secret in ["24 4321", "244321", "26123456", "2597531", "2812345678"] {
        assert!(!log.replace(' ', "").contains(&secret.replace(' ', "")), "{secret} leaked into the trace");
    }
    // The personalization profile (PIN, PUK) is redacted too: no STORE DATA data is traced.
    assert!(!log.contains("80E20000FF") && !log.contains("90E20000FF"));
}

/// Review item 6: a card that answers VERIFY with 6Cxx made the channel
/// re-issue the command and trace the re-issued APDU, PIN block included.
#[test]
fn a_6cxx_answer_to_verify_leaves_no_pin_in_the_trace() {
    let mut first = true;
    let (card, log) = ScriptedCard::new(move |apdu| {
        Ok(if apdu.get(1) == Some(&ins::VERIFY) && std::mem::take(&mut first) {
            vec![0x6C, 0x08]
        } else {
            vec![0x90, 0x00]
        })
    });
    let trace = trace_of(|| {
        let mut meter = Meter::new(card);
        let _ = meter.run(|tx| tx.verify_pin(&Pin::new("4321").unwrap()));
    });
    assert!(log.sent_with_ins(ins::VERIFY) >= 1 && trace.contains("> 00200081"), "the trace is on: {trace}");
    assert!(!trace.contains("244321"), "the PIN block leaked into the trace: {trace}");
}

/// Review item 6: DECRYPT returns the plaintext, in one response or through
/// 61xx and GET RESPONSE; neither may reach the trace.
#[test]
fn decrypt_plaintext_never_reaches_the_trace() {
    const PLAINTEXT: &[u8] = b"the merger closes on friday";
    for through_get_response in [false, true] {
        let (card, _log) = ScriptedCard::new(move |apdu| {
            let mut r = match (apdu.get(1), through_get_response) {
                (Some(&ins::DECRYPT), true) => return Ok(vec![0x61, PLAINTEXT.len() as u8]),
                (Some(&ins::DECRYPT), false) | (Some(&ins::GET_RESPONSE), true) => PLAINTEXT.to_vec(),
                _ => Vec::new(),
            };
            r.extend_from_slice(&[0x90, 0x00]);
            Ok(r)
        });
        let mut plaintext = Vec::new();
        let trace = trace_of(|| {
            let mut meter = Meter::new(card);
            plaintext = meter.run(|tx| tx.decrypt(3, &[0x04; 100])).unwrap().to_vec();
        });
        assert_eq!(plaintext, PLAINTEXT, "the caller gets the plaintext");
        assert!(trace.contains("< "), "the trace is on: {trace}");
        assert!(
            !trace.contains(&hex::encode_upper(PLAINTEXT)) && !trace.contains(&hex::encode(PLAINTEXT)),
            "DECRYPT plaintext leaked into the trace (GET RESPONSE: {through_get_response}): {trace}"
        );
    }
}
