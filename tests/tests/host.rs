//! Host protocol errors with a transport that answers with canned bytes.
//! The typed-API suite itself is in `testkit/src/suite.rs` and runs in
//! `host_suite.rs` (in process) and `pcsc.rs` (through pcscd).

use apdu_specs::command::GetData;
use apdu_specs::commands::{COMMANDS, ins};
use apdu_specs::sw::Sw;
use host_driver::channel::CommandApdu;
use host_driver::transport::{CardTransaction, Transport, TransportError};
use host_driver::{Ambiguity, CardStatus, Meter, MeterError, ProtocolError};
use testkit::scripted::{Log, ScriptedCard};

/// A transport answering with fixed bytes.
struct Canned(Vec<u8>);
struct CannedTx<'a>(&'a [u8]);
impl Transport for Canned {
    type CardTransaction<'a> = CannedTx<'a>;
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
impl CardTransaction for CannedTx<'_> {
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.to_vec())
    }
    fn end_session(self) -> Result<(), TransportError> {
        Ok(())
    }
}

#[test]
fn short_or_overlong_responses_are_protocol_errors() {
    let mut m = Meter::new(Canned(vec![0x90]));
    assert!(matches!(m.run(|tx| tx.registers()), Err(MeterError::Protocol(ProtocolError::ShortResponse(1)))));
    let mut m = Meter::new(Canned(vec![0x00, 0x90, 0x00]));
    assert!(matches!(
        m.run(|tx| tx.activate()),
        Err(MeterError::Protocol(ProtocolError::TooLong { got: 1, asked: 0 }))
    ));
    let mut m = Meter::new(Canned(vec![0x61, 0x10]));
    assert!(matches!(m.run(|tx| tx.registers()), Err(MeterError::Protocol(ProtocolError::Runaway))));
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
    assert!(matches!(m.run(|tx| tx.audit_log()), Err(MeterError::Format(_))));
}

/// A card answering `sw` to every command with instruction `ins`, 9000 otherwise.
fn refusing(ins: u8, sw: Sw) -> (ScriptedCard, Log) {
    ScriptedCard::new(move |apdu| Ok(if apdu.get(1) == Some(&ins) { sw.to_bytes().to_vec() } else { vec![0x90, 0x00] }))
}

/// Review item 4: a card that answers 6Cxx to a command that spends value may
/// have committed it (a card that checks Le after the commit), so the host
/// must not send it again: once charged, never twice. The outcome is
/// reported as unknown, for the caller to read the registers back.
#[test]
fn a_6cxx_answer_to_a_value_command_is_never_resent_so_nothing_is_charged_twice() {
    let (card, log) = refusing(ins::PRINT_INDICIUM, Sw::wrong_le(124));
    let mut meter = Meter::new(card);
    let err = meter.run(|tx| tx.print_indicium(&testkit::piece(1, 20))).unwrap_err();
    assert_eq!(log.sent_with_ins(ins::PRINT_INDICIUM), 1, "PRINT INDICIUM re-sent after 6C7C: {err}");
    assert!(
        matches!(
            err,
            MeterError::OutcomeUnknown { command: "PRINT INDICIUM", cause: Ambiguity::WrongLe(sw) } if sw == Sw::wrong_le(124)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("read the registers"), "{err}");
    // Every command of the table that spends value, through the channel.
    for spec in COMMANDS.iter().filter(|s| s.is_value()) {
        let (card, log) = refusing(spec.ins, Sw::wrong_le(16));
        let mut meter = Meter::new(card);
        let mut s = meter.transaction().unwrap();
        let result = s.call(CommandApdu::new(spec, 0, 0).data(&[1, 2, 3]).expect(256));
        assert!(matches!(result, Err(MeterError::OutcomeUnknown { .. })), "{}: {result:?}", spec.name);
        assert_eq!(log.sent_with_ins(spec.ins), 1, "{} was re-sent after 6C10", spec.name);
    }
    // A command that spends nothing is still re-issued with the Le the card asked for.
    let mut answers = vec![vec![0x6C, 0x05], vec![1, 2, 3, 4, 5, 0x90, 0x00]].into_iter();
    let (card, log) = ScriptedCard::new(move |_| Ok(answers.next().unwrap_or_else(|| vec![0x6F, 0x00])));
    let mut meter = Meter::new(card);
    let mut s = meter.transaction().unwrap();
    let r = s.call(CommandApdu::encode(&GetData { tag: apdu_specs::tags::STATUS })).unwrap();
    assert_eq!((r.len(), log.sent_with_ins(ins::GET_DATA)), (5, 2));
}

/// Review item 4: a transport failure once a value command was handed over
/// is an unknown outcome too; neither the channel nor the meter retries it.
#[test]
fn a_value_command_lost_in_transit_is_reported_unknown_and_never_retried() {
    let (card, log) = ScriptedCard::new(|apdu| {
        if apdu.get(1) == Some(&ins::PRINT_INDICIUM) { Err(TransportError::Timeout) } else { Ok(vec![0x90, 0x00]) }
    });
    let mut meter = Meter::new(card);
    let err = meter.run(|tx| tx.print_indicium(&testkit::piece(1, 20))).unwrap_err();
    assert!(
        matches!(err, MeterError::OutcomeUnknown { cause: Ambiguity::Transport(TransportError::Timeout), .. }),
        "{err:?}"
    );
    assert_eq!(log.sent_with_ins(ins::PRINT_INDICIUM), 1);
}

/// Review item 3: `with_session` ends the host session (the transport's
/// logout and reset) whether the work inside succeeded or failed.
#[test]
fn with_session_logs_out_and_ends_the_session_on_success_and_on_error() {
    let (card, log) = refusing(ins::PRINT_INDICIUM, Sw::INSUFFICIENT_FUNDS);
    let mut meter = Meter::new(card);
    let pin = host_driver::Pin::new("123456").unwrap();
    meter.with_session(|s| s.verify_pin(&pin)).unwrap();
    let err = meter
        .with_session(|s| {
            s.verify_pin(&pin)?;
            s.print_indicium(&testkit::piece(1, 20))
        })
        .unwrap_err();
    assert!(matches!(err, MeterError::Card(CardStatus::InsufficientFunds)), "{err:?}");
    assert_eq!(log.sessions_ended(), 2);
    assert_eq!(log.sent_with_ins(ins::PRINT_INDICIUM), 1);
}
