//! Test helper for `session_end.rs`: connects to the virtual reader,
//! verifies the PIN from `PCMETER_PIN` inside a transaction, says
//! `verified` on standard output and holds the transaction until it is
//! killed, so the test can SIGKILL a client in the middle of its session.

use host_driver::transport::pcsc::PcscTransport;
use host_driver::{Meter, Pin};
use std::io::Write;

fn main() -> Result<(), String> {
    let pin = Pin::new(&std::env::var("PCMETER_PIN").map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let transport = PcscTransport::connect(testkit::pcsc_rig::READER, false).map_err(|e| e.to_string())?;
    let mut meter = Meter::connect(transport).map_err(|e| e.to_string())?;
    let mut session = meter.transaction().map_err(|e| e.to_string())?;
    session.verify_pin(&pin).map_err(|e| e.to_string())?;
    println!("verified");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
