//! Round trips through pcscd + vpcd: the meter against an echo card on the
//! same path, for the same response sizes, in the same run.

use card_sim::vpcd::{EchoCard, Shared, VirtualCard};
use host_driver::transport::{CardTransaction, Transport};
use std::time::{Duration, Instant};
use testkit::pcsc_rig::PcscRig;

/// Best of three timed loops of `n` round trips, each in one transaction that
/// first sends `prelude` (untimed). A host session ends with a logout and a
/// card reset, so the meter is selected and verified inside the session.
fn round_trips(rig: &PcscRig, prelude: &[Vec<u8>], apdu: &[u8], expect_len: usize, n: usize) -> f64 {
    let mut t = rig.transport();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let mut tx = t.begin().unwrap();
        for command in prelude {
            let r = tx.transmit(command).unwrap();
            assert!(r.ends_with(&[0x90, 0x00]), "prelude refused: {:02X?}", &r[r.len().saturating_sub(2)..]);
        }
        let start = Instant::now();
        for _ in 0..n {
            let r = tx.transmit(apdu).unwrap();
            assert_eq!(r.len(), expect_len, "unexpected response {:02X?}", &r[r.len().saturating_sub(2)..]);
        }
        best = best.min(start.elapsed());
    }
    n as f64 / best.as_secs_f64()
}

/// The label of the indicium case.
pub const INDICIUM: &str = "PRINT INDICIUM (19 bytes in, 124-byte indicium out)";

/// The echo APDU of the same sizes as a PRINT INDICIUM: 19 data bytes, Le 124.
fn echo_of_indicium() -> Vec<u8> {
    let mut a = testkit::indicium_apdu(1, 1);
    a[0] = 0x80;
    a[1] = 0x01;
    if let Some(le) = a.last_mut() {
        *le = 124;
    }
    a
}

/// The control card of the indicium case: the echo card's answer after
/// spinning for `work`, the card's own in-process time per indicium. Beside
/// the meter, it tells the stack's cost when a card computes (the host's
/// threads sleep meanwhile and must be woken) from the meter's own.
struct ComputingEcho {
    work: Duration,
}

impl VirtualCard for ComputingEcho {
    fn power_on(&mut self) {}
    fn power_off(&mut self) {}
    fn reset(&mut self) {}
    fn atr(&self) -> Vec<u8> {
        EchoCard.atr()
    }
    fn apdu(&mut self, capdu: &[u8]) -> Vec<u8> {
        let start = Instant::now();
        while start.elapsed() < self.work {
            std::hint::spin_loop();
        }
        EchoCard.apdu(capdu)
    }
}

/// Round trips per second of one case: the meter and the echo card.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the case sends.
    pub label: &'static str,
    /// Meter round trips per second.
    pub meter: f64,
    /// Echo card round trips per second, same response size.
    pub echo: f64,
    /// For the indicium: round trips per second of the echo card that first
    /// computes for the in-process indicium time ([`ComputingEcho`]).
    pub computing_echo: Option<f64>,
}

/// Runs the PC/SC section: the three transport cases, then indicia (one
/// APDU each) beside the echo card answering the same 126 bytes, and beside
/// the echo card computing for `indicium_work` first.
pub fn run(n: usize, indicium_work: Duration) -> Vec<Case> {
    let _slot = testkit::pcsc_rig::slot();
    let mut rig = PcscRig::start();
    let records = 60u16;
    let audit_len = usize::from(records) * apdu_specs::audit::RECORD_LEN;
    let le = (audit_len as u16).to_be_bytes();
    // (label, meter APDU, echo APDU, response length including SW)
    let mut audit = vec![0x00, 0xCB, 0xDF, 0x25, 0x00, 0x00, 0x06, 0, 0, 0, 8];
    audit.extend_from_slice(&records.to_be_bytes());
    audit.extend_from_slice(&le);
    let cases: Vec<(&'static str, Vec<u8>, Vec<u8>, usize)> = vec![
        ("empty response", vec![0x00, 0x20, 0x00, 0x81], vec![0x80, 0x01, 0x00, 0x00], 2),
        ("256-byte response", vec![0x00, 0xCA, 0xDF, 0x22, 0x00], vec![0x80, 0x01, 0x00, 0x00, 0x00], 258),
        (
            "4 KiB response (60 audit records, extended Le)",
            audit,
            vec![0x80, 0x01, 0x00, 0x00, 0x00, le[0], le[1]],
            audit_len + 2,
        ),
    ];

    // The meter card, with 70 indicia in its audit log and the PIN to be verified.
    let mut card = testkit::DirectCard::operational_with_credit(100_000_000);
    card.verify("123456");
    for _ in 0..70 {
        assert_eq!(card.print(1, 1).1, 0x9000);
    }
    card.card.power_off();
    let meter_card = std::sync::Arc::new(std::sync::Mutex::new(card.card));

    // Echo and meter alternate twice on the one slot; the best of each counts.
    let session = [testkit::select_apdu(), testkit::verify_apdu("123456")];
    let mut echo = vec![0f64; cases.len()];
    let mut meter = vec![0f64; cases.len()];
    for _ in 0..2 {
        rig.plug(EchoCard);
        for (best, (_, _, e, len)) in echo.iter_mut().zip(&cases) {
            *best = best.max(round_trips(&rig, &[], e, *len, n));
        }
        rig.plug(Shared(std::sync::Arc::clone(&meter_card)));
        for (best, (_, m, _, len)) in meter.iter_mut().zip(&cases) {
            *best = best.max(round_trips(&rig, &session, m, *len, n));
        }
    }
    let mut out: Vec<Case> = cases
        .iter()
        .zip(echo.iter().zip(meter.iter()))
        .map(|((label, ..), (e, m))| Case { label, meter: *m, echo: *e, computing_echo: None })
        .collect();
    // Indicia last: they push the audit records read above out of the card's log.
    let (mut e, mut m, mut c) = (0f64, 0f64, 0f64);
    for _ in 0..2 {
        rig.plug(EchoCard);
        e = e.max(round_trips(&rig, &[], &echo_of_indicium(), 126, n));
        rig.plug(Shared(std::sync::Arc::clone(&meter_card)));
        m = m.max(round_trips(&rig, &session, &testkit::indicium_apdu(1, 1), 126, n));
        rig.plug(ComputingEcho { work: indicium_work });
        c = c.max(round_trips(&rig, &[], &echo_of_indicium(), 126, n));
    }
    out.push(Case { label: INDICIUM, meter: m, echo: e, computing_echo: Some(c) });
    out
}
