//! Every typed command encodes to what its own parser reads back, through
//! the one table lookup the card does; refusals keep their status words.

use super::*;
use crate::commands::{Lookup, lookup};
use crate::mailpiece::MailPiece;
use crate::pin::PinBlock;
use crate::x509::Usage;
use alloc::vec;

fn pin(digits: &str) -> PinBlock {
    PinBlock::from_digits(digits).unwrap()
}

fn slot(n: u8) -> KeySlot {
    KeySlot::new(n).unwrap()
}

/// The encoding of a command: header, data, Ne.
fn wire<C: CardCommand>(cmd: &C) -> ([u8; 4], Vec<u8>, usize) {
    (cmd.header(), cmd.data(), cmd.expected())
}

/// Parses an encoding the way the card does: one lookup, then the row's parser.
fn parse(header: [u8; 4], data: &[u8], ne: usize) -> Result<Command<'_>, Sw> {
    let [cla, ins, p1, p2] = header;
    let Lookup::Found(spec) = lookup(cla, ins) else { panic!("{header:02X?} is not in the table") };
    (spec.parse)(&Apdu { p1, p2, data, ne })
}

/// Encodes `cmd`, parses it back as the variant `$variant`, and checks the
/// re-encoding is the same and the row is the type's own.
macro_rules! round_trip {
    ($variant:ident, $cmd:expr) => {{
        let cmd = $cmd;
        let (header, data, ne) = wire(&cmd);
        assert_eq!((header[0], header[1]), (spec_of_value(&cmd).cla, spec_of_value(&cmd).ins));
        assert_eq!(lookup_spec(header).name, spec_of_value(&cmd).name);
        match parse(header, &data, ne) {
            Ok(Command::$variant(parsed)) => assert_eq!(wire(&parsed), (header, data.clone(), ne)),
            other => panic!("{} parsed as {other:?}", stringify!($variant)),
        }
    }};
}

fn lookup_spec(header: [u8; 4]) -> &'static CommandSpec {
    match lookup(header[0], header[1]) {
        Lookup::Found(spec) => spec,
        _ => panic!("not found"),
    }
}

fn spec_of_value<C: CardCommand>(_: &C) -> &'static CommandSpec {
    C::SPEC
}

#[test]
fn every_command_parses_back_from_its_encoding() {
    let piece =
        MailPiece { rate_class: 1, weight_grams: 20, date: 20261126, origin: *b"75001", destination: *b"10115" };
    round_trip!(Select, Select::METER);
    round_trip!(Select, Select { aid: &crate::commands::AID[..5], response: SelectResponse::Nothing });
    round_trip!(GetResponse, GetResponse { ne: 17 });
    round_trip!(Verify, Verify(VerifyOp::Check(pin("123456"))));
    round_trip!(Verify, Verify(VerifyOp::Status));
    round_trip!(Verify, Verify(VerifyOp::Logout));
    for reference in [Reference::Pin, Reference::Puk] {
        round_trip!(ChangeReferenceData, ChangeReferenceData { reference, old: pin("1234"), new: pin("98765432") });
    }
    round_trip!(ResetRetryCounter, ResetRetryCounter { puk: pin("12345678"), new_pin: Some(pin("4321")) });
    round_trip!(ResetRetryCounter, ResetRetryCounter { puk: pin("12345678"), new_pin: None });
    round_trip!(GetData, GetData { tag: crate::tags::REGISTERS });
    round_trip!(GetAuditRecords, GetAuditRecords { first: 7, count: None });
    round_trip!(GetAuditRecords, GetAuditRecords { first: 7, count: Some(64) });
    round_trip!(StoreData, StoreData { signed_profile: &[1, 2, 3] });
    round_trip!(Activate, Activate);
    round_trip!(PrintIndicium, PrintIndicium { piece });
    round_trip!(UpdateRates, UpdateRates { signed_table: &[9; 300] });
    round_trip!(GenerateKeyPair, GenerateKeyPair { slot: slot(3), usage: Usage::Encryption });
    round_trip!(ReadSlot, ReadSlot { slot: slot(7) });
    round_trip!(CertificateRequest, CertificateRequest { slot: slot(1), challenge: [5; 16] });
    round_trip!(InstallCertificate, InstallCertificate { slot: slot(2), der: &[0x30, 0] });
    round_trip!(Hash, Hash::Start);
    round_trip!(Hash, Hash::Absorb(b"message"));
    let nonce = |content: &[u8]| Some(crate::postmark::Nonce::new(content).unwrap());
    round_trip!(Postmark, Postmark { slot: slot(0), digest: Some([1; 32]), nonce: None });
    round_trip!(Postmark, Postmark { slot: slot(0), digest: None, nonce: None });
    round_trip!(Postmark, Postmark { slot: slot(1), digest: Some([1; 32]), nonce: nonce(&[0x00, 0x80, 7]) });
    round_trip!(Postmark, Postmark { slot: slot(1), digest: None, nonce: nonce(&[0x7F; 32]) });
    round_trip!(Postmark, Postmark { slot: slot(1), digest: None, nonce: nonce(&[0xFF]) });
    round_trip!(ValidatePostmark, ValidatePostmark { digest: Some([2; 32]), token: &[0x30, 1, 0] });
    round_trip!(ValidatePostmark, ValidatePostmark { digest: None, token: &[0x30, 1, 0] });
    round_trip!(VerifyCertificate, VerifyCertificate { path: &[0x30, 0] });
    round_trip!(UpdateCaAnchor, UpdateCaAnchor { order: &[4; 90] });
    round_trip!(AgentIssue, AgentIssue { slot: slot(4), request: &[0x81, 0] });
    round_trip!(SignData, SignData { slot: slot(5), input: SignInput::Data(b"data") });
    round_trip!(SignData, SignData { slot: slot(5), input: SignInput::Digest([3; 32]) });
    round_trip!(Decrypt, Decrypt { slot: slot(6), blob: &[7; 40] });
    round_trip!(Revoke, Revoke { order: &[8; 120] });
}

#[test]
fn host_ne_is_none_for_commands_without_response_data_and_a_short_le_otherwise() {
    assert_eq!(Verify(VerifyOp::Status).expected(), 0);
    assert_eq!(Activate.expected(), 0);
    assert_eq!(Select::METER.expected(), SHORT_NE);
    assert_eq!(GenerateKeyPair { slot: slot(0), usage: Usage::Postmark }.expected(), SHORT_NE);
    assert_eq!(GetAuditRecords { first: 0, count: Some(2) }.expected(), 2 * crate::audit::RECORD_LEN);
}

#[test]
fn refusals_keep_their_status_words() {
    let apdu = |p1, p2, data| Apdu { p1, p2, data, ne: 0 };
    assert_eq!(Select::try_from(&apdu(4, 1, &[1; 9])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(Select::try_from(&apdu(4, 0, &[1; 4])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(Verify::try_from(&apdu(0, 0x81, &[1; 3])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(Verify::try_from(&apdu(0, 0x82, &[])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(Verify::try_from(&apdu(0, 0x81, &[0; 8])).unwrap_err(), Sw::BAD_DATA);
    assert_eq!(ChangeReferenceData::try_from(&apdu(0, 0x83, &[])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(ResetRetryCounter::try_from(&apdu(1, 0x81, &[0; 16])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(GetData::try_from(&apdu(0xDF, 0x20, &[1])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(GetAuditRecords::try_from(&apdu(0xDF, 0x25, &[0, 0, 0, 1, 0, 0])).unwrap_err(), Sw::BAD_DATA);
    assert_eq!(GetAuditRecords::try_from(&apdu(0xDF, 0x25, &[0, 0, 0, 1, 0, 65])).unwrap_err(), Sw::BAD_DATA);
    assert_eq!(GetAuditRecords::try_from(&apdu(0xDF, 0x25, &[0; 5])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(GetAuditRecords::try_from(&apdu(0xDF, 0x24, &[0; 4])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(PrintIndicium::try_from(&apdu(0, 0, &[0; 19])).unwrap_err(), Sw::BAD_DATA);
    assert_eq!(PrintIndicium::try_from(&apdu(0, 0, &[0; 18])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(GenerateKeyPair::try_from(&apdu(0, 8, &[1])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(GenerateKeyPair::try_from(&apdu(0, 1, &[9])).unwrap_err(), Sw::BAD_DATA);
    assert_eq!(CertificateRequest::try_from(&apdu(0, 1, &[0; 15])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(Hash::try_from(&apdu(0, 0, &[1])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(Hash::try_from(&apdu(2, 0, &[])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(Postmark::try_from(&apdu(0, 0, &[0; 33])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(Postmark::try_from(&apdu(0, 0, &[0; 31])).unwrap_err(), Sw::WRONG_LENGTH);
    let with_nonce = |tail: &[u8]| [&[0u8; 32][..], tail].concat();
    for (tail, sw, why) in [
        (&[0x02, 0x02, 0x01][..], Sw::WRONG_LENGTH, "nonce cut short"),
        (&[0x02, 0x01, 0x01, 0x00], Sw::WRONG_LENGTH, "bytes after the nonce"),
        (&[0x04, 0x01, 0x01], Sw::BAD_DATA, "not an INTEGER"),
        (&[0x02, 0x00], Sw::BAD_DATA, "empty INTEGER"),
        (&[0x02, 0x02, 0x00, 0x01], Sw::BAD_DATA, "non-minimal INTEGER"),
        (&[0x02, 0x02, 0xFF, 0x80], Sw::BAD_DATA, "non-minimal negative INTEGER"),
        (&[0x02, 0x81, 0x01, 0x01], Sw::BAD_DATA, "long-form length"),
    ] {
        let data = with_nonce(tail);
        let by_digest = Apdu { p1: 0, p2: 0, data: &data, ne: 0 };
        assert_eq!(Postmark::try_from(&by_digest).unwrap_err(), sw, "{why}");
        let by_stream = Apdu { p1: 1, p2: 0, data: tail, ne: 0 };
        assert_eq!(Postmark::try_from(&by_stream).unwrap_err(), sw, "{why}, HASH stream");
    }
    let long = [&[0x02, 33, 0x01][..], &[0; 32]].concat();
    let long = Apdu { p1: 1, p2: 0, data: &long, ne: 0 };
    assert_eq!(Postmark::try_from(&long).unwrap_err(), Sw::BAD_DATA, "33-octet nonce");
    assert_eq!(Postmark::try_from(&apdu(2, 8, &[])).unwrap_err(), Sw::WRONG_P1P2, "slot before P1");
    assert_eq!(ValidatePostmark::try_from(&apdu(0, 1, &[0; 40])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(SignData::try_from(&apdu(1, 0, &[0; 31])).unwrap_err(), Sw::WRONG_LENGTH);
    assert_eq!(SignData::try_from(&apdu(2, 0, &[])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(Revoke::try_from(&apdu(0, 1, &[])).unwrap_err(), Sw::WRONG_P1P2);
    assert_eq!(GetResponse::try_from(&apdu(0, 0, &[1])).unwrap_err(), Sw::WRONG_LENGTH);
}

#[test]
fn get_data_of_anything_but_the_status_is_refused_once_terminated() {
    use crate::lifecycle::Lifecycle;
    let status = GetData { tag: crate::tags::STATUS };
    let registers = GetData { tag: crate::tags::REGISTERS };
    assert!(status.states().contains(Lifecycle::Terminated));
    assert!(!registers.states().contains(Lifecycle::Terminated));
    assert!(registers.states().contains(Lifecycle::Operational));
    assert!(Select::METER.states().contains(Lifecycle::Terminated));
}

#[test]
fn the_data_len_counter_matches_the_written_data() {
    let cmd = ChangeReferenceData { reference: Reference::Puk, old: pin("1234"), new: pin("5678") };
    let mut len = DataLen::default();
    cmd.write_data(&mut len);
    assert_eq!(len.0, cmd.data().len());
    assert_eq!(cmd.data().len(), 16);
    assert_eq!(vec![0x00u8, 0x82], cmd.p1p2().to_vec());
}
