//! The host library: typed errors with raw status words, the channel layer
//! (chaining, 61xx, 6Cxx, protocol errors), PIN redaction in the APDU trace,
//! and recovery after a card reset without re-sending the PIN.

use apdu_specs::commands::{CLA_ISO, ins};
use apdu_specs::sw::Sw;
use host_driver::channel::{ChannelConfig, Command, exchange};
use host_driver::simulated::{AuthorityKeys, Options, SimulatedMeter, operational};
use host_driver::transport::{Transaction, Transport, TransportError};
use host_driver::{Meter, MeterError, Pin, PinStatus, ProtocolError};
use tests::{FIXTURE_TIME, piece};

fn meter(credit: u64) -> SimulatedMeter {
    operational(&AuthorityKeys::from_seed("host-tests"), &Options::at(FIXTURE_TIME, credit)).unwrap()
}

#[test]
fn typed_errors_keep_the_status_word() {
    let mut sim = meter(1_000);
    let m = &mut sim.meter;
    match m.print_indicium(&piece(1, 20)) {
        Err(e @ MeterError::PinRequired { .. }) => assert_eq!(e.sw(), Some(Sw(0x6982))),
        other => panic!("{other:?}"),
    }
    match m.verify_pin(&Pin::new("0000").unwrap()) {
        Err(MeterError::WrongPin { tries_left: 2, sw }) => assert_eq!(sw, Sw(0x63C2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.pin_status().unwrap(), PinStatus::NotVerified(2));
    m.verify_pin(&sim.pin).unwrap();
    assert_eq!(m.pin_status().unwrap(), PinStatus::Verified);
    assert_eq!(m.print_indicium(&piece(1, 20)).unwrap().len(), 124);
}

#[test]
fn insufficient_funds_and_not_found_are_typed() {
    let mut sim = meter(1_000);
    let m = &mut sim.meter;
    m.verify_pin(&sim.pin).unwrap();
    match m.print_indicium(&piece(3, 2000)) {
        Err(MeterError::InsufficientFunds { sw }) => assert_eq!(sw, Sw::INSUFFICIENT_FUNDS),
        other => panic!("{other:?}"),
    }
    assert!(matches!(m.print_indicium(&piece(7, 20)), Err(MeterError::NotFound { .. })));
    assert!(matches!(m.audit_record(9999), Err(MeterError::NotFound { .. })));
    let regs = m.registers().unwrap();
    assert_eq!((regs.descending, regs.ar_postage), (1_000, 0));
}

#[test]
fn the_channel_follows_61xx_and_6cxx_and_chains_long_data() {
    let mut sim = meter(1_000);
    // 262-byte rate table: one 61xx round.
    let rt = sim.meter.rate_table().unwrap();
    assert_eq!(rt.signed.len(), 262);
    assert_eq!(rt.table.version, 1);
    // Le too short: the channel re-issues with the exact length.
    {
        let mut tx = sim.meter.transport_mut().begin().unwrap();
        let cmd = Command::new(CLA_ISO, ins::GET_DATA, 0xDF, 0x21).expect(5);
        let r = exchange(&mut tx, &cmd, &ChannelConfig::default()).unwrap();
        assert_eq!((r.data.len(), r.sw), (33, Sw::OK));
    }
    // Extended framing without chaining carries the same table update.
    let mut s = sim.meter.transaction().unwrap();
    assert!(matches!(s.update_rates(&rt.signed), Err(MeterError::PinRequired { .. })));
}

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

#[test]
fn a_reset_is_recovered_by_reselecting_and_the_pin_must_be_given_again() {
    let mut sim = meter(1_000);
    sim.meter.verify_pin(&sim.pin).unwrap();
    sim.meter.print_indicium(&piece(1, 20)).unwrap();

    sim.card.lock().unwrap().reset().unwrap();
    assert!(matches!(sim.meter.print_indicium(&piece(1, 20)), Err(MeterError::PinStateLost)));
    // Recovered: selected again, but the PIN was not re-sent.
    assert!(matches!(sim.meter.print_indicium(&piece(1, 20)), Err(MeterError::PinRequired { .. })));
    sim.meter.verify_pin(&sim.pin).unwrap();
    sim.meter.print_indicium(&piece(1, 20)).unwrap();

    // Removal and re-insertion.
    sim.card.lock().unwrap().power_off();
    assert!(matches!(sim.meter.registers(), Err(MeterError::Transport(TransportError::CardRemoved))));
    sim.card.lock().unwrap().power_on().unwrap();
    sim.meter.recover().unwrap();
    assert_eq!(sim.meter.pin_status().unwrap(), PinStatus::NotVerified(3));
    // Nothing was double-spent: exactly two indicia.
    assert_eq!(sim.meter.registers().unwrap().count(apdu_specs::Service::Postage), 2);
}

#[test]
fn a_transaction_groups_verify_and_several_indicia() {
    let mut sim = meter(10_000);
    let mut s = sim.meter.transaction().unwrap();
    s.verify_pin(&sim.pin).unwrap();
    for _ in 0..5 {
        s.print_indicium(&piece(1, 20)).unwrap();
    }
    let regs = s.registers().unwrap();
    assert_eq!(regs.ar_postage, 5 * 73);
    assert!(regs.balanced());
}
