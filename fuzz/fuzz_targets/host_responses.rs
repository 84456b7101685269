//! The host's response handling: the channel (61xx, 6Cxx, lengths) and the
//! typed parsers, fed arbitrary R-APDUs by a scripted transport.
#![no_main]
use host_driver::Meter;
use host_driver::transport::{CardTransaction, Transport, TransportError};
use libfuzzer_sys::fuzz_target;

struct Script(Vec<Vec<u8>>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);
impl Transport for Script {
    type CardTransaction<'a> = Tx<'a>;
    fn begin(&mut self) -> Result<Tx<'_>, TransportError> {
        Ok(Tx(&mut self.0))
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
    fn reader_name(&self) -> String {
        String::new()
    }
}
impl CardTransaction for Tx<'_> {
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.0.is_empty() { Err(TransportError::CardRemoved) } else { Ok(self.0.remove(0)) }
    }
    fn end_session(self) -> Result<(), TransportError> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let responses: Vec<Vec<u8>> = testkit::oracle::split_apdus(data).into_iter().map(<[u8]>::to_vec).collect();
    let mut m = Meter::new(Script(responses));
    let _ = m.select();
    let _ = m.run(|tx| tx.registers());
    let _ = m.run(|tx| tx.status());
    let _ = m.run(|tx| tx.rate_table());
    let _ = m.run(|tx| tx.public_keys());
    let _ = m.run(|tx| tx.audit_log());
    let _ = m.run(|tx| tx.print_indicium(&testkit::piece(1, 20)));
    let _ = m.run(|tx| tx.pin_status());
});
