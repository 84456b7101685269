//! The typed command set, written once for both sides: each command is one
//! type that the card parses from a de-chained C-APDU ([`Apdu`], data
//! borrowed, never copied) and the host encodes ([`CardCommand`]). P1 and P2
//! are typed; every refusal is the exact status word the card gives.
//!
//! The command table ([`crate::commands::COMMANDS`]) holds each command's
//! parser, so an INS byte is decoded once: one table lookup yields the row
//! and, through its parser, the typed [`Command`].

mod authority;
mod credit;
mod data;
mod perso;
mod pin;
mod postmark;
mod select;
mod slots;

pub use authority::{
    AcknowledgeInspection, ApplyLockOrder, GetRechargeProof, RechargeCredit, RechargeInit, SignInspectionReport,
};
pub use credit::{InstallCreditLine, Pay};
pub use data::{GetAuditRecords, GetData, GetResponse};
pub use perso::{Activate, PrintIndicium, StoreData, UpdateRates};
pub use pin::{ChangeReferenceData, Reference, ResetRetryCounter, Verify, VerifyOp};
pub use postmark::{Hash, Postmark, ValidatePostmark};
pub use select::{Select, SelectResponse};
pub use slots::{
    AgentIssue, CertificateRequest, Decrypt, GenerateKeyPair, InstallCertificate, ReadSlot, RequestRevocation, Revoke,
    SignData, SignInput, UpdateCaAnchor, VerifyCertificate, crl_reason_defined,
};

use crate::certs::SLOT_COUNT;
use crate::commands::{COMMANDS, CommandSpec, ResponseLength};
use crate::lifecycle::StateSet;
use crate::sw::Sw;
use alloc::vec::Vec;

/// A complete (de-chained) command as the card received it: what a typed
/// command is parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Apdu<'a> {
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// The assembled data field.
    pub data: &'a [u8],
    /// Ne: the most response bytes the host accepts.
    pub ne: usize,
}

impl Apdu<'_> {
    /// P1-P2 as one word.
    pub fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }

    fn expect_p1p2(&self, want: u16) -> Result<(), Sw> {
        if self.p1p2() == want { Ok(()) } else { Err(Sw::WRONG_P1P2) }
    }

    fn expect_len(&self, len: usize) -> Result<(), Sw> {
        if self.data.len() == len { Ok(()) } else { Err(Sw::WRONG_LENGTH) }
    }

    /// P1 must be `p1` and P2 a key slot number.
    fn slot_in_p2(&self, p1: u8) -> Result<KeySlot, Sw> {
        if self.p1 == p1 { KeySlot::new(self.p2) } else { Err(Sw::WRONG_P1P2) }
    }
}

/// Where the bytes of a command data field go: a buffer, or a counter that
/// sizes a secret buffer before the data is written into it (so a secret is
/// never left behind by a reallocation).
pub trait DataSink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl DataSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts the bytes of a data field without keeping them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DataLen(pub usize);

impl DataSink for DataLen {
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
}

/// One command of the table, as a type: the host encodes it from here.
pub trait CardCommand {
    /// Its row of the command table (CLA, INS, lifecycle, security, charge,
    /// response length, secrecy).
    const SPEC: &'static CommandSpec;

    /// P1 and P2.
    fn p1p2(&self) -> [u8; 2];

    /// Writes the data field (none by default).
    fn write_data(&self, _out: &mut impl DataSink) {}

    /// Ne the host asks for: none when the command returns no data,
    /// otherwise a short Le `00` (256; the rest follows through `61xx`).
    fn expected(&self) -> usize {
        match Self::SPEC.response {
            ResponseLength::None => 0,
            _ => SHORT_NE,
        }
    }

    /// The lifecycle states in which this command runs: the table's column,
    /// narrowed by a command whose P1-P2 select what it may do.
    fn states(&self) -> StateSet {
        Self::SPEC.states
    }

    /// The header: CLA, INS, P1, P2.
    fn header(&self) -> [u8; 4] {
        let [p1, p2] = self.p1p2();
        [Self::SPEC.cla, Self::SPEC.ins, p1, p2]
    }

    /// The data field as a plain buffer (the host keeps a secret one in its own secret type).
    fn data(&self) -> Vec<u8> {
        let mut len = DataLen::default();
        self.write_data(&mut len);
        let mut out = Vec::with_capacity(len.0);
        self.write_data(&mut out);
        out
    }
}

/// Ne of a short Le `00`.
pub const SHORT_NE: usize = 256;

/// A key slot number, `0..SLOT_COUNT` (P2 of the slot commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeySlot(u8);

impl KeySlot {
    /// A slot number; `6A86` (wrong P1-P2) when out of range.
    pub fn new(n: u8) -> Result<Self, Sw> {
        if n < SLOT_COUNT { Ok(Self(n)) } else { Err(Sw::WRONG_P1P2) }
    }

    /// The slot number.
    pub fn number(self) -> u8 {
        self.0
    }
}

/// A parsed command (it may carry PIN blocks and secret profiles: no `PartialEq`).
#[derive(Debug, Clone)]
pub enum Command<'a> {
    /// SELECT.
    Select(Select<'a>),
    /// GET RESPONSE (served by the ISO layer).
    GetResponse(GetResponse),
    /// VERIFY.
    Verify(Verify),
    /// CHANGE REFERENCE DATA.
    ChangeReferenceData(ChangeReferenceData),
    /// RESET RETRY COUNTER.
    ResetRetryCounter(ResetRetryCounter),
    /// GET DATA by tag.
    GetData(GetData),
    /// GET DATA of audit records.
    GetAuditRecords(GetAuditRecords),
    /// STORE DATA.
    StoreData(StoreData<'a>),
    /// ACTIVATE.
    Activate(Activate),
    /// PRINT INDICIUM.
    PrintIndicium(PrintIndicium),
    /// UPDATE RATES.
    UpdateRates(UpdateRates<'a>),
    /// GENERATE KEY PAIR.
    GenerateKeyPair(GenerateKeyPair),
    /// READ SLOT.
    ReadSlot(ReadSlot),
    /// CERTIFICATE REQUEST.
    CertificateRequest(CertificateRequest),
    /// INSTALL CERTIFICATE.
    InstallCertificate(InstallCertificate<'a>),
    /// HASH.
    Hash(Hash<'a>),
    /// POSTMARK.
    Postmark(Postmark),
    /// VALIDATE POSTMARK.
    ValidatePostmark(ValidatePostmark<'a>),
    /// VERIFY CERTIFICATE.
    VerifyCertificate(VerifyCertificate<'a>),
    /// UPDATE CA ANCHOR.
    UpdateCaAnchor(UpdateCaAnchor<'a>),
    /// AGENT ISSUE.
    AgentIssue(AgentIssue<'a>),
    /// SIGN DATA.
    SignData(SignData<'a>),
    /// DECRYPT.
    Decrypt(Decrypt<'a>),
    /// REVOKE.
    Revoke(Revoke<'a>),
    /// REVOCATION REQUEST.
    RequestRevocation(RequestRevocation),
    /// RECHARGE INIT.
    RechargeInit(RechargeInit),
    /// RECHARGE CREDIT.
    RechargeCredit(RechargeCredit<'a>),
    /// GET RECHARGE PROOF.
    GetRechargeProof(GetRechargeProof),
    /// INSPECTION REPORT.
    SignInspectionReport(SignInspectionReport),
    /// INSPECTION ACK.
    AcknowledgeInspection(AcknowledgeInspection<'a>),
    /// LOCK ORDER.
    ApplyLockOrder(ApplyLockOrder<'a>),
    /// INSTALL CREDIT LINE.
    InstallCreditLine(InstallCreditLine<'a>),
    /// PAY.
    Pay(Pay),
}

/// A row's parser: P1, P2 and the data field into the typed command.
pub type Parser = for<'a, 'b> fn(&'b Apdu<'a>) -> Result<Command<'a>, Sw>;

/// The row of `ins`. Evaluated only in constants (each command's
/// [`CardCommand::SPEC`]): an INS missing from the table fails the build.
#[allow(clippy::panic)]
pub(crate) const fn spec_of(ins: u8) -> &'static CommandSpec {
    let mut rest = COMMANDS;
    while let [first, tail @ ..] = rest {
        if first.ins == ins {
            return first;
        }
        rest = tail;
    }
    panic!("INS missing from the command table")
}

#[cfg(test)]
mod tests;
