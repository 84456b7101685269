//! Host protocol errors with a transport that answers with canned bytes.
//! The typed-API suite itself is in `tests/src/suite.rs` and runs in
//! `host_suite.rs` (in process) and `pcsc.rs` (through pcscd).

use host_driver::transport::{Transaction, Transport, TransportError};
use host_driver::{Meter, MeterError, ProtocolError};

/// A transport answering with fixed bytes.
struct Canned(Vec<u8>);
struct CannedTx<'a>(&'a [u8]);
impl Transport for Canned {
    type Transaction<'a> = CannedTx<'a>;
    fn begin(&mut self) -> Result<CannedTx<'_>, TransportError> {
        Ok(CannedTx(&self.0))
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
    fn reader_name(&self) -> String {
        "canned".into()
    }
}
impl Transaction for CannedTx<'_> {
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.to_vec())
    }
}

#[test]
fn short_or_overlong_responses_are_protocol_errors() {
    let mut m = Meter::new(Canned(vec![0x90]));
    assert!(matches!(m.registers(), Err(MeterError::Protocol(ProtocolError::ShortResponse(1)))));
    let mut m = Meter::new(Canned(vec![0x00, 0x90, 0x00]));
    assert!(matches!(m.activate(), Err(MeterError::Protocol(ProtocolError::TooLong { got: 1, asked: 0 }))));
    let mut m = Meter::new(Canned(vec![0x61, 0x10]));
    assert!(matches!(m.registers(), Err(MeterError::Protocol(ProtocolError::Runaway))));
}

/// Regression (found by the `host_responses` fuzz target): a card reporting an
/// audit head whose oldest record is beyond its count made `audit_log`
/// overflow. It is now a malformed response, and a card that answers with
/// other records than asked is one too.
#[test]
fn a_hostile_audit_head_is_a_format_error_not_a_panic() {
    let mut head = 3u32.to_be_bytes().to_vec();
    head.extend_from_slice(&[0u8; 32]);
    head.extend_from_slice(&9u32.to_be_bytes());
    head.extend_from_slice(&[0x90, 0x00]);
    let mut m = Meter::new(Canned(head));
    assert!(matches!(m.audit_log(), Err(MeterError::Format(_))));
}
