//! The APDU trace never shows a PIN, a PUK or personalization data. Kept in
//! its own test binary: `tracing` caches callsite interest process-wide, so a
//! scoped subscriber must not race with other tests' threads.

use host_driver::Pin;
use host_driver::simulated::{AuthorityKeys, Options, operational};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tests::{FIXTURE_TIME, piece};

fn meter(credit: u64) -> host_driver::simulated::SimulatedMeter {
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

#[test]
fn the_apdu_trace_never_shows_a_pin() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("pcmeter::apdu=debug")
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut sim = meter(1_000);
        sim.meter.verify_pin(&Pin::new("4321").unwrap()).ok();
        sim.meter.verify_pin(&sim.pin).unwrap();
        sim.meter.change_pin(&sim.pin, &Pin::new("97531").unwrap()).unwrap();
        sim.meter.print_indicium(&piece(1, 20)).unwrap();
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("> 80600000"), "the trace is on: {log}");
    assert!(log.contains("redacted"));
    for secret in ["24 4321", "244321", "26123456", "2597531", "2812345678"] {
        assert!(!log.replace(' ', "").contains(&secret.replace(' ', "")), "{secret} leaked into the trace");
    }
    // The personalization profile (PIN, PUK) is redacted too: no STORE DATA data is traced.
    assert!(!log.contains("80E20000FF") && !log.contains("90E20000FF"));
}
