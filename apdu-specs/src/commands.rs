//! The command table: every command's coding, lifecycle states, security
//! condition, charge and status words. The card's dispatcher checks the
//! lifecycle and security columns before any handler runs, the host uses the
//! `secret_data` column to redact traces, and the Markdown reference in
//! `docs/commands/` is rendered from this table (a test fails when they differ).

use crate::certs::RevocationRequest;
use crate::command::{self, Command, Parser};
use crate::credit::PaymentCertificate;
use crate::indicium::IndiciumAlgorithm;
use crate::inspection::InspectionReport;
use crate::lifecycle::{Lifecycle, StateSet};
use crate::recharge::{RechargeReceipt, RechargeRequest};
use crate::service::Service;
use crate::signed::envelope_len;
use crate::sw::Sw;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Interindustry class.
pub const CLA_ISO: u8 = 0x00;
/// Proprietary class.
pub const CLA_PROPRIETARY: u8 = 0x80;
/// Command-chaining bit in CLA.
pub const CLA_CHAIN: u8 = 0x10;

/// The PCMeter application identifier: `F0` + "PCMETER" + version `01`.
pub const AID: [u8; 9] = [0xF0, 0x50, 0x43, 0x4D, 0x45, 0x54, 0x45, 0x52, 0x01];

/// Largest command data field the card accepts after chaining.
pub const MAX_COMMAND_DATA: usize = 8192;
/// Largest response the card serves.
pub const MAX_RESPONSE_DATA: usize = 65_536;

/// Instruction bytes.
pub mod ins {
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// GET RESPONSE.
    pub const GET_RESPONSE: u8 = 0xC0;
    /// VERIFY.
    pub const VERIFY: u8 = 0x20;
    /// CHANGE REFERENCE DATA.
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    /// RESET RETRY COUNTER.
    pub const RESET_RETRY_COUNTER: u8 = 0x2C;
    /// ACTIVATE FILE (ISO 7816-9), used as the irreversible ACTIVATE.
    pub const ACTIVATE: u8 = 0x44;
    /// GET DATA.
    pub const GET_DATA: u8 = 0xCA;
    /// GET DATA, odd INS (data field carries a record number).
    pub const GET_DATA_ODD: u8 = 0xCB;
    /// STORE DATA (personalization).
    pub const STORE_DATA: u8 = 0xE2;
    /// PRINT INDICIUM.
    pub const PRINT_INDICIUM: u8 = 0x60;
    /// UPDATE RATES.
    pub const UPDATE_RATES: u8 = 0x62;
    /// GENERATE ASYMMETRIC KEY PAIR (ISO 7816-8).
    pub const GENERATE_KEY_PAIR: u8 = 0x46;
    /// READ SLOT.
    pub const READ_SLOT: u8 = 0x4A;
    /// CERTIFICATE REQUEST.
    pub const CERTIFICATE_REQUEST: u8 = 0x50;
    /// INSTALL CERTIFICATE.
    pub const INSTALL_CERTIFICATE: u8 = 0x52;
    /// HASH (streamed SHA-256 for postmarks).
    pub const HASH: u8 = 0x54;
    /// POSTMARK.
    pub const POSTMARK: u8 = 0x56;
    /// VALIDATE POSTMARK.
    pub const VALIDATE_POSTMARK: u8 = 0x58;
    /// VERIFY CERTIFICATE.
    pub const VERIFY_CERTIFICATE: u8 = 0x5A;
    /// UPDATE CA ANCHOR.
    pub const UPDATE_CA_ANCHOR: u8 = 0x5C;
    /// AGENT ISSUE.
    pub const AGENT_ISSUE: u8 = 0x5E;
    /// SIGN DATA.
    pub const SIGN_DATA: u8 = 0x64;
    /// DECRYPT.
    pub const DECRYPT: u8 = 0x66;
    /// REVOKE (authority order).
    pub const REVOKE: u8 = 0x68;
    /// REVOCATION REQUEST (device-signed request, Fig. 6 602).
    pub const REVOCATION_REQUEST: u8 = 0x6A;
    /// RECHARGE INIT (S1).
    pub const RECHARGE_INIT: u8 = 0x72;
    /// RECHARGE CREDIT (S2 in, S3 out).
    pub const RECHARGE_CREDIT: u8 = 0x74;
    /// GET RECHARGE PROOF (a stored S3).
    pub const GET_RECHARGE_PROOF: u8 = 0x76;
    /// INSPECTION REPORT.
    pub const INSPECTION_REPORT: u8 = 0x78;
    /// INSPECTION ACK.
    pub const INSPECTION_ACK: u8 = 0x7A;
    /// LOCK ORDER (authority LOCK / UNLOCK).
    pub const LOCK_ORDER: u8 = 0x7C;
    /// INSTALL CREDIT LINE (Fig. 7A).
    pub const INSTALL_CREDIT_LINE: u8 = 0x7E;
    /// PAY (Fig. 9).
    pub const PAY: u8 = 0x4C;
}

/// Reference data qualifiers (P2 of VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER).
pub mod reference {
    /// The user PIN.
    pub const PIN: u8 = 0x81;
    /// The unblocking key.
    pub const PUK: u8 = 0x82;
}

/// What must hold before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Nothing.
    None,
    /// The PIN verified in this session.
    Pin,
    /// Signed by the issuer key installed at manufacture.
    IssuerSignature,
    /// PIN verified and the data signed by the authority.
    PinAndAuthoritySignature,
    /// The data signed by the authority (an order; no PIN).
    AuthoritySignature,
    /// The current reference data (old PIN or PUK) in the data field.
    ReferenceData,
    /// PIN verified and the data signed by a personalized credit-issuer key.
    PinAndCreditIssuerSignature,
}

impl Security {
    /// Text for the reference.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pin => "PIN verified in this session",
            Self::IssuerSignature => "data signed by the issuer key installed at manufacture",
            Self::PinAndAuthoritySignature => "PIN verified, and data signed by the authority key",
            Self::AuthoritySignature => "data signed by the authority key",
            Self::ReferenceData => "current PIN or PUK carried in the data field",
            Self::PinAndCreditIssuerSignature => "PIN verified, and data signed by a personalized credit-issuer key",
        }
    }
}

/// What the command costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Free.
    None,
    /// Postage priced by the card from the rate table (class and weight).
    Postage,
    /// The rate table's flat fee for a service.
    Fee(Service),
    /// Credits DR and CT with the amount the authority authorized (a recharge); no fee.
    Credit,
}

impl Charge {
    /// Text for the reference.
    pub fn describe(self) -> String {
        match self {
            Self::None => String::from("none"),
            Self::Postage => {
                String::from("postage from the rate table (class, weight); AR_p += postage, DR -= postage")
            }
            Self::Fee(s) => format!("rate-table fee for {}; AR_c += fee, DR -= fee", s.name()),
            Self::Credit => String::from("no fee; DR += amount and CT += amount, as the authority authorized"),
        }
    }
}

/// How long the response data field is: the Le check of value commands.
///
/// Before a value command runs, the ISO layer refuses an explicit Le that
/// is not `00` and is too short for its largest response: `6Cxx` with the
/// exact length for a fixed-length response, `6700` for a variable one.
/// Nothing is executed then. After a value command has run, the card never
/// answers `6Cxx`: what does not fit Le follows with `61xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseLength {
    /// No response data.
    None,
    /// Exactly this many bytes.
    Fixed(u16),
    /// Exactly the indicium of the card's algorithm: 124 bytes (ECDSA) or 76 (HMAC).
    Indicium,
    /// At most this many bytes.
    UpTo(u16),
    /// Depends on the command data or the stored data: a value command needs Le `00`.
    Variable,
}

impl ResponseLength {
    /// For the card's indicium algorithm: [`Self::Indicium`] becomes the fixed length.
    pub fn for_algorithm(self, algorithm: Option<IndiciumAlgorithm>) -> Self {
        match (self, algorithm) {
            (Self::Indicium, Some(a)) => Self::Fixed(a.indicium_len() as u16),
            (other, _) => other,
        }
    }

    /// The refusal of a value command whose explicit Le `ne` (not `00`) is too
    /// short; `None` when it holds every response the command can give.
    pub fn refuse_le(self, ne: usize) -> Option<Sw> {
        let largest = match self {
            Self::None => return None,
            Self::Fixed(n) => return (ne < usize::from(n)).then(|| Sw::wrong_le(usize::from(n))),
            Self::Indicium => IndiciumAlgorithm::EcdsaP256.indicium_len(),
            Self::UpTo(n) => usize::from(n),
            Self::Variable => MAX_RESPONSE_DATA,
        };
        (ne < largest).then_some(Sw::WRONG_LENGTH)
    }

    /// Text for the reference.
    pub fn describe(self) -> String {
        match self {
            Self::None => String::from("none"),
            Self::Fixed(n) => format!("{n} bytes"),
            Self::Indicium => String::from("124 bytes (ECDSA) or 76 bytes (HMAC), as personalized"),
            Self::UpTo(n) => format!("up to {n} bytes"),
            Self::Variable => String::from("variable"),
        }
    }
}

/// One command of the wire reference.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Name as in the reference.
    pub name: &'static str,
    /// Reference page file name (without `.md`).
    pub slug: &'static str,
    /// CLA without the chaining bit.
    pub cla: u8,
    /// INS.
    pub ins: u8,
    /// P1-P2 coding.
    pub p1p2: &'static str,
    /// Lifecycle states in which it runs.
    pub states: StateSet,
    /// Security condition.
    pub security: Security,
    /// Charge.
    pub charge: Charge,
    /// Response data length (the Le check of value commands).
    pub response: ResponseLength,
    /// May be sent as a command chain (CLA bit `10`).
    pub chaining: bool,
    /// The data field holds secrets (PIN, PUK, keys): traces show only its length.
    pub secret_data: bool,
    /// The response data is secret (DECRYPT plaintext): traces show only its length.
    pub secret_response: bool,
    /// Parses P1, P2 and the data field into the typed command.
    pub parse: Parser,
    /// What the command is for.
    pub purpose: &'static str,
    /// Command data field.
    pub c_data: &'static str,
    /// Response data field.
    pub r_data: &'static str,
    /// Status words specific to this command, with their meaning here.
    pub status_words: &'static [(Sw, &'static str)],
}

const P: Lifecycle = Lifecycle::Personalization;
const O: Lifecycle = Lifecycle::Operational;
const L: Lifecycle = Lifecycle::Locked;

impl CommandSpec {
    /// A value command moves money (charges or credits the registers),
    /// generates a key or revokes one:
    /// the card checks everything it can refuse for (Le included) before it
    /// commits, and the host sends it exactly once, never re-issued.
    pub fn is_value(&self) -> bool {
        !matches!(self.charge, Charge::None)
    }
}

/// What [`Sw::INSPECTION_OVERDUE`] means for a value service.
const OVERDUE: &str = "the inspection deadline is past: value services wait for an inspection acknowledgement or a \
recharge; nothing changed";

/// Status words any command may return, documented once.
pub const GENERIC_STATUS_WORDS: &[(Sw, &str)] = &[
    (Sw(0x6100), "61xx: response continues, fetch with GET RESPONSE (6100 = 256 or more bytes left)"),
    (
        Sw(0x6C00),
        "6Cxx: Le was wrong, resend with Le = xx; nothing was executed (a value command gets it only before it runs)",
    ),
    (
        Sw::WRONG_LENGTH,
        "malformed length fields, a data field of the wrong length, or for a value command an Le other than 00 \
below its largest response (nothing was executed)",
    ),
    (Sw::LOGICAL_CHANNEL_NOT_SUPPORTED, "CLA names a logical channel other than 0"),
    (Sw::SECURE_MESSAGING_NOT_SUPPORTED, "CLA asks for secure messaging"),
    (Sw::LAST_COMMAND_OF_CHAIN_EXPECTED, "a chain is open and this is not its continuation (the chain is dropped)"),
    (Sw::CHAINING_NOT_SUPPORTED, "this command cannot be chained"),
    (Sw::NOT_ENOUGH_MEMORY, "the assembled command data exceeds MAX_COMMAND_DATA (the chain is dropped)"),
    (Sw::CONDITIONS_NOT_SATISFIED, "the applet is not selected, or the lifecycle state does not allow the command"),
    (Sw::MEMORY_FAILURE, "the persistent store failed to commit; the state is as before the command"),
    (Sw::INTERNAL_ERROR, "the crypto engine failed; for a value command the debit was committed: read the registers"),
    (Sw::INS_NOT_SUPPORTED, "unknown instruction"),
    (Sw::CLA_NOT_SUPPORTED, "the instruction exists under another class"),
];

/// PCMeter's own status words, documented in the index.
pub const PROPRIETARY_STATUS_WORDS: &[Sw] = &[
    Sw::INSUFFICIENT_FUNDS,
    Sw::CERT_NOT_FROM_CA,
    Sw::CERT_KEY_MISMATCH,
    Sw::CERT_OUTSIDE_VALIDITY,
    Sw::KEY_REVOKED,
    Sw::USAGE_NOT_ALLOWED,
    Sw::PROFILE_FOR_ANOTHER_CARD,
    Sw::PROFILE_EXPIRED,
    Sw::INSPECTION_OVERDUE,
    Sw::INSUFFICIENT_CREDIT,
];

/// Every command of the applet.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "SELECT",
        slug: "select",
        cla: CLA_ISO,
        ins: ins::SELECT,
        p1p2: "`04 00` (return FCI) or `04 0C` (no response data)",
        states: StateSet::ALL,
        security: Security::None,
        charge: Charge::None,
        response: ResponseLength::Variable,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::Select::try_from(apdu).map(Command::Select),
        purpose: "Selects the meter by AID (a right-truncated AID of at least 5 bytes matches). \
Selecting clears the volatile security state (PIN verification, open chain, pending response). \
Selecting any other AID deselects the meter and also clears it.",
        c_data: "AID, 5 to 16 bytes.",
        r_data: "FCI template `6F` (see `fci.rs`): AID, applet version, meter ID once personalized, \
lifecycle byte, largest command data and largest response, and the card serial set at manufacture (tag `85`, \
8 bytes), which the personalization profile must name.",
        status_words: &[
            (Sw::OK, "selected"),
            (Sw::FILE_NOT_FOUND, "no application with that AID; the meter is now deselected"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0400 or 040C"),
        ],
    },
    CommandSpec {
        name: "GET RESPONSE",
        slug: "get-response",
        cla: CLA_ISO,
        ins: ins::GET_RESPONSE,
        p1p2: "`00 00`",
        states: StateSet::ALL,
        security: Security::None,
        charge: Charge::None,
        response: ResponseLength::Variable,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::GetResponse::try_from(apdu).map(Command::GetResponse),
        purpose: "Returns the next part of a response announced by `61xx`. Any other command drops the pending response.",
        c_data: "None; Le is the number of bytes wanted (`00` = up to 256).",
        r_data: "Up to Le bytes of the pending response, followed by `61xx` while more remain.",
        status_words: &[(Sw::OK, "last part served"), (Sw::WRONG_P1P2, "P1-P2 other than 0000")],
    },
    CommandSpec {
        name: "VERIFY",
        slug: "verify",
        cla: CLA_ISO,
        ins: ins::VERIFY,
        p1p2: "`00 81` verify the PIN; `00 81` with no data returns the retry status; `FF 81` with no data resets the verification status",
        states: StateSet::of(&[P, O, L]),
        security: Security::ReferenceData,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: false,
        secret_data: true,
        secret_response: false,
        parse: |apdu| command::Verify::try_from(apdu).map(Command::Verify),
        purpose: "Verifies the user PIN. The retry counter is decremented and committed before the comparison, \
which is constant time; a match restores the counter. The verified state lives in RAM only and is cleared by reset, \
power loss and deselection.",
        c_data: "PIN block, ISO 9564 format 2 (8 bytes), or empty.",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "PIN verified (or, with no data, already verified)"),
            (Sw(0x63C0), "63Cx: wrong PIN, or with no data not yet verified; x tries left"),
            (Sw::PIN_BLOCKED, "PIN blocked: no try is counted, use RESET RETRY COUNTER"),
            (Sw::BAD_DATA, "not a valid format-2 PIN block"),
            (Sw::NOT_FOUND, "no PIN loaded yet (before personalization)"),
            (Sw::WRONG_P1P2, "P1-P2 other than those listed"),
        ],
    },
    CommandSpec {
        name: "CHANGE REFERENCE DATA",
        slug: "change-reference-data",
        cla: CLA_ISO,
        ins: ins::CHANGE_REFERENCE_DATA,
        p1p2: "`00 81` change the PIN; `00 82` change the PUK",
        states: StateSet::of(&[P, O, L]),
        security: Security::ReferenceData,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: false,
        secret_data: true,
        secret_response: false,
        parse: |apdu| command::ChangeReferenceData::try_from(apdu).map(Command::ChangeReferenceData),
        purpose: "Replaces the PIN (or PUK) after checking the current one, with the same decrement-before-compare \
rule as VERIFY. A successful PIN change leaves the PIN verified.",
        c_data: "Current block (8) followed by the new block (8), ISO 9564 format 2.",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "changed"),
            (Sw(0x63C0), "63Cx: current PIN/PUK wrong, x tries left"),
            (Sw::PIN_BLOCKED, "that reference is blocked"),
            (Sw::BAD_DATA, "a block is not valid format 2"),
            (Sw::NOT_FOUND, "no PIN loaded yet"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0081 or 0082"),
        ],
    },
    CommandSpec {
        name: "RESET RETRY COUNTER",
        slug: "reset-retry-counter",
        cla: CLA_ISO,
        ins: ins::RESET_RETRY_COUNTER,
        p1p2: "`00 81` PUK and new PIN; `01 81` PUK only (unblock, keep the PIN)",
        states: StateSet::of(&[P, O, L]),
        security: Security::ReferenceData,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: false,
        secret_data: true,
        secret_response: false,
        parse: |apdu| command::ResetRetryCounter::try_from(apdu).map(Command::ResetRetryCounter),
        purpose: "Unblocks the PIN with the PUK and optionally sets a new PIN. The PUK has its own retry counter, \
decremented before comparing.",
        c_data: "PUK block (8), then for P1 = 00 the new PIN block (8).",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "PIN counter reset"),
            (Sw(0x63C0), "63Cx: wrong PUK, x tries left"),
            (Sw::PIN_BLOCKED, "the PUK is blocked"),
            (Sw::BAD_DATA, "a block is not valid format 2"),
            (Sw::NOT_FOUND, "no PUK loaded yet"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0081 or 0181"),
        ],
    },
    CommandSpec {
        name: "GET DATA",
        slug: "get-data",
        cla: CLA_ISO,
        ins: ins::GET_DATA,
        p1p2: "tag: `DF20` registers, `DF21` status, `DF22` rate table, `DF23` audit head, `DF24` public keys, \
`DF26` line-of-credit status, `DF27` line-of-credit envelope, `DF28` last indicium",
        states: StateSet::ALL,
        security: Security::None,
        charge: Charge::None,
        response: ResponseLength::Variable,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::GetData::try_from(apdu).map(Command::GetData),
        purpose: "Reads a data object. When TERMINATED only the status `DF21` is served.",
        c_data: "None.",
        r_data: "The object (layouts in `registers.rs`, `audit.rs`, `signed.rs`, `credit.rs`; `DF24` is `81` device key, \
`82` postal key; `DF28` is the last indicium issued, whole, committed with its debit).",
        status_words: &[(Sw::OK, "object returned"), (Sw::NOT_FOUND, "unknown tag, or the object does not exist yet")],
    },
    CommandSpec {
        name: "GET DATA (audit records)",
        slug: "get-data-audit",
        cla: CLA_ISO,
        ins: ins::GET_DATA_ODD,
        p1p2: "`DF 25`",
        states: StateSet::of(&[P, O, L]),
        security: Security::None,
        charge: Charge::None,
        response: ResponseLength::Variable,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::GetAuditRecords::try_from(apdu).map(Command::GetAuditRecords),
        purpose: "Reads records of the hash-chained audit log by sequence number: one, or up to the whole ring in \
one exchange (an inspection reads the log this way, with an extended Le).",
        c_data: "First sequence number (4 bytes), optionally followed by a count (2 bytes, 1 to 64; default 1).",
        r_data: "The records, 69 bytes each (`audit.rs`), oldest first, stopping at the newest.",
        status_words: &[
            (Sw::OK, "records returned"),
            (Sw::NOT_FOUND, "first record not written yet, or no longer held"),
            (Sw::BAD_DATA, "count 0 or above 64"),
            (Sw::WRONG_P1P2, "P1-P2 other than DF25"),
        ],
    },
    CommandSpec {
        name: "STORE DATA",
        slug: "store-data",
        cla: CLA_PROPRIETARY,
        ins: ins::STORE_DATA,
        p1p2: "`00 00`",
        states: StateSet::of(&[P]),
        security: Security::IssuerSignature,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: true,
        secret_data: true,
        secret_response: false,
        parse: |apdu| command::StoreData::try_from(apdu).map(Command::StoreData),
        purpose: "Loads the signed personalization profile (`perso.rs`) in one transaction: identities, trust anchors, \
PIN and PUK, inspection period, indicium algorithm, first rate table and initial credit. The profile is bound to one \
card: it names the card serial from the FCI and a not-after time, checked against the card clock. The card then \
generates its device key (and postal key, ECDSA variant) on the card. Accepted once.",
        c_data: "Signed envelope (`signed.rs`) with domain \"PCMeter personalization v1\", chained if longer than one APDU.",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "personalized"),
            (
                Sw::CONDITIONS_NOT_SATISFIED,
                "already personalized, or the card clock is unavailable or behind its floor",
            ),
            (Sw::VERIFICATION_FAILED, "the profile or its rate table is not signed by the right key"),
            (Sw::PROFILE_FOR_ANOTHER_CARD, "the profile names another card serial; nothing was written"),
            (Sw::PROFILE_EXPIRED, "the profile's not-after time is past on the card clock; nothing was written"),
            (
                Sw::BAD_DATA,
                "malformed profile or rate table, a key that is not a P-256 point, or an initial credit beyond 40 bits",
            ),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "ACTIVATE",
        slug: "activate",
        cla: CLA_ISO,
        ins: ins::ACTIVATE,
        p1p2: "`00 00`",
        states: StateSet::of(&[P]),
        security: Security::Pin,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::Activate::try_from(apdu).map(Command::Activate),
        purpose: "Irreversibly moves a personalized meter from PERSONALIZATION to OPERATIONAL and starts the inspection period.",
        c_data: "None.",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "activated"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
            (
                Sw::CONDITIONS_NOT_SATISFIED,
                "not personalized yet, or the card clock is unavailable or behind its floor",
            ),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "PRINT INDICIUM",
        slug: "print-indicium",
        cla: CLA_PROPRIETARY,
        ins: ins::PRINT_INDICIUM,
        p1p2: "`00 00`",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Postage,
        response: ResponseLength::Indicium,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::PrintIndicium::try_from(apdu).map(Command::PrintIndicium),
        purpose: "Prices a mail piece from the rate table in force, debits DR and credits AR_p, increments the piece \
count and appends the audit record, commits all of it, and only then signs and returns the indicium (`indicium.rs`). \
With too little in DR nothing changes.",
        c_data: "Mail piece (19 bytes, `mailpiece.rs`): class, weight, date, origin and destination postcodes.",
        r_data: "Indicium: 124 bytes (ECDSA) or 76 bytes (HMAC). A non-zero Le shorter than that gets 6Cxx before anything is charged.",
        status_words: &[
            (Sw::OK, "indicium returned; registers updated"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the postage plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
            (
                Sw::BAD_DATA,
                "bad date, postcode, weight outside the class, or mailing date before today / more than 30 days ahead",
            ),
            (Sw::NOT_FOUND, "rate class not in the table"),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock behind its floor, or a register outgrew its indicium field"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "UPDATE RATES",
        slug: "update-rates",
        cla: CLA_PROPRIETARY,
        ins: ins::UPDATE_RATES,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::PinAndAuthoritySignature,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::UpdateRates::try_from(apdu).map(Command::UpdateRates),
        purpose: "Installs an authority-signed rate table. Its version must exceed every version the card has seen \
and its currency must match. A table whose effective date is in the future is held as pending and applies from that date.",
        c_data: "Signed envelope (`signed.rs`) with domain \"PCMeter rate table v1\" around the table body (`rates.rs`).",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "installed (active or pending)"),
            (Sw::VERIFICATION_FAILED, "not signed by the authority key"),
            (Sw::BAD_DATA, "malformed table, a missing fee, or another currency"),
            (Sw::CONDITIONS_NOT_SATISFIED, "version not above every version seen, or card clock behind its floor"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "GENERATE KEY PAIR",
        slug: "generate-key-pair",
        cla: CLA_ISO,
        ins: ins::GENERATE_KEY_PAIR,
        p1p2: "`00 nn`: generate in slot nn (0 to 7)",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::KeyGeneration),
        response: ResponseLength::Fixed(65),
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::GenerateKeyPair::try_from(apdu).map(Command::GenerateKeyPair),
        purpose: "Generates a P-256 key pair in an empty, uncertified or revoked slot and fixes its usage. \\
The private key never leaves the card. The fee, the count and the audit record commit with the key.",
        c_data: "Usage, 1 byte (`x509.rs`): 01 postmark, 02 signature, 03 encryption, 04 agent.",
        r_data: "The public key, uncompressed SEC1 (65 bytes).",
        status_words: &[
            (Sw::OK, "key generated"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::CONDITIONS_NOT_SATISFIED, "the slot holds a certified key (revoke it first)"),
            (Sw::BAD_DATA, "unknown usage"),
            (Sw::WRONG_P1P2, "P1 not 00 or slot number out of range"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "READ SLOT",
        slug: "read-slot",
        cla: CLA_PROPRIETARY,
        ins: ins::READ_SLOT,
        p1p2: "`00 nn`: slot nn",
        states: StateSet::of(&[O, L]),
        security: Security::None,
        charge: Charge::None,
        response: ResponseLength::Variable,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::ReadSlot::try_from(apdu).map(Command::ReadSlot),
        purpose: "Returns a slot's state, usage, public key and installed certificate.",
        c_data: "None.",
        r_data: "TLV (`certs.rs`): `80` slot, `81` state (00 empty, 01 key, 02 certified, 03 revoked), `82` usage, \\
`86` public key, `87` certificate.",
        status_words: &[(Sw::OK, "slot returned"), (Sw::WRONG_P1P2, "slot number out of range")],
    },
    CommandSpec {
        name: "CERTIFICATE REQUEST",
        slug: "certificate-request",
        cla: CLA_PROPRIETARY,
        ins: ins::CERTIFICATE_REQUEST,
        p1p2: "`00 nn`: slot nn",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::CertificateRequest),
        response: ResponseLength::Variable,
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::CertificateRequest::try_from(apdu).map(Command::CertificateRequest),
        purpose: "Builds a PKCS#10 request for the slot key with the meter's subject (`certs::meter_subject`: \\
meter ID, slot, usage; the CA sets the certificate's subject the same way) and the slot usage's profile as requested \\
extensions, signs it with the slot key (proof of possession), and wraps it with the CA's single-use challenge in an \\
envelope signed by the device key (Fig. 5, the certificate communication key). The CA consumes the challenge when it \\
issues, so a captured request cannot be replayed. Charged before the signed output is released.",
        c_data: "The CA's challenge, 16 bytes (any other length: 6700).",
        r_data: "Signed envelope, domain \"PCMeter certificate request v1\", around meter ID, slot, usage, card time, the challenge and the PKCS#10 request (`certs.rs`).",
        status_words: &[
            (Sw::OK, "request returned"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::NOT_FOUND, "the slot holds no key"),
            (Sw::KEY_REVOKED, "the slot is revoked"),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock behind its floor"),
            (Sw::WRONG_P1P2, "slot number out of range"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "INSTALL CERTIFICATE",
        slug: "install-certificate",
        cla: CLA_PROPRIETARY,
        ins: ins::INSTALL_CERTIFICATE,
        p1p2: "`00 nn`: slot nn",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::CertificateInstall),
        response: ResponseLength::None,
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::InstallCertificate::try_from(apdu).map(Command::InstallCertificate),
        purpose: "Installs an X.509 v3 certificate into a slot. The card checks, in order: the DER, the CA \\
signature against its anchor, the key against the slot's, the validity against the card clock, and the profile \\
against the slot usage. Each failed check has its own status word and changes nothing.",
        c_data: "Certificate, DER (chained or extended APDU).",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "installed"),
            (
                Sw::BAD_DATA,
                "truncated or malformed DER, not strict DER (keyUsage bits, GeneralizedTime before 2050), or not an ECDSA P-256 X.509 v3 certificate",
            ),
            (Sw::CERT_NOT_FROM_CA, "not signed by the CA anchor (a high-S signature never is)"),
            (Sw::CERT_KEY_MISMATCH, "the certificate is for another key"),
            (Sw::CERT_OUTSIDE_VALIDITY, "expired or not yet valid"),
            (
                Sw::USAGE_NOT_ALLOWED,
                "the certificate profile does not match the slot usage (an agent certificate needs pathLen 0)",
            ),
            (Sw::NOT_FOUND, "the slot holds no key"),
            (Sw::KEY_REVOKED, "the slot is revoked"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::NOT_ENOUGH_MEMORY, "the chain exceeds MAX_COMMAND_DATA"),
            (Sw::WRONG_P1P2, "slot number out of range"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "HASH",
        slug: "hash",
        cla: CLA_PROPRIETARY,
        ins: ins::HASH,
        p1p2: "`00 00` start; `01 00` absorb the data field",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::Hash::try_from(apdu).map(Command::Hash),
        purpose: "Streams a message of any length into a SHA-256 held in RAM, for POSTMARK and VALIDATE POSTMARK \\
with P1 = 01. Reset, power loss, deselection and the command that consumes the digest drop it.",
        c_data: "P1 00: none. P1 01: message bytes (up to MAX_COMMAND_DATA per command).",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "started or absorbed"),
            (Sw::CONDITIONS_NOT_SATISFIED, "absorb without a started hash"),
            (Sw::WRONG_P1P2, "P1-P2 other than those listed"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "POSTMARK",
        slug: "postmark",
        cla: CLA_PROPRIETARY,
        ins: ins::POSTMARK,
        p1p2: "`00 nn` digest in the data field; `01 nn` the digest of the HASH stream; nn = slot",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::Postmark),
        response: ResponseLength::Variable,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::Postmark::try_from(apdu).map(Command::Postmark),
        purpose: "Cryptographic postmark (Fig. 3): the card checks the slot certificate for use now (under the \\
current CA anchor, inside its validity, postmark profile), takes the digest, its own time, the next postmark \\
serial and the meter ID, debits the fee and commits, then builds the RFC 3161 TSTInfo and the signed attributes \\
(contentType, messageDigest, signingCertificateV2 with the slot certificate's SHA-256) and signs them with the slot \\
key. The host wraps the parts and the certificate into CMS SignedData (`postmark.rs`). An RFC 3161 nonce \
after the digest is copied into TSTInfo unchanged.",
        c_data: "P1 00: SHA-256 digest (32 bytes), then an optional nonce. P1 01: an optional nonce. The nonce is one \
DER INTEGER (`02 len content`, 1 to 32 content octets, minimal encoding) and nothing after it.",
        r_data: "TSTInfo ‖ signed attributes (SET) ‖ OCTET STRING raw r‖s, all DER.",
        status_words: &[
            (Sw::OK, "postmark returned; serial and registers updated"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::NOT_FOUND, "the slot holds no certified key"),
            (Sw::KEY_REVOKED, "the slot is revoked"),
            (Sw::CERT_NOT_FROM_CA, "the slot certificate is not signed by the current CA anchor; nothing changed"),
            (Sw::CERT_OUTSIDE_VALIDITY, "the slot certificate is expired or not yet valid; nothing changed"),
            (Sw::USAGE_NOT_ALLOWED, "the slot is not a postmark slot"),
            (Sw::CONDITIONS_NOT_SATISFIED, "no HASH stream (P1 01), or card clock behind its floor"),
            (Sw::WRONG_P1P2, "P1 other than 00/01 or slot out of range"),
            (Sw::WRONG_LENGTH, "P1 00 with fewer than 32 bytes, or a nonce TLV cut short or followed by more bytes"),
            (Sw::BAD_DATA, "the bytes after the digest are not an INTEGER of 1 to 32 octets in minimal encoding"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "VALIDATE POSTMARK",
        slug: "validate-postmark",
        cla: CLA_PROPRIETARY,
        ins: ins::VALIDATE_POSTMARK,
        p1p2: "`00 00` digest in the data field; `01 00` the digest of the HASH stream",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::PostmarkValidation),
        response: ResponseLength::Fixed(1),
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::ValidatePostmark::try_from(apdu).map(Command::ValidatePostmark),
        purpose: "Postmark validation (Fig. 4): checks the signer certificate against the CA anchor at the postmark \\
time and its postmark profile, then the signature (low-S only) and signed attributes, then the digest, and reports the first \\
check that fails. Charged whenever a verdict is given.",
        c_data: "P1 00: message digest (32 bytes) ‖ TimeStampToken. P1 01: TimeStampToken.",
        r_data: "Verdict, 1 byte: 00 valid, 01 certificate invalid, 02 signature invalid, 03 digest mismatch.",
        status_words: &[
            (Sw::OK, "verdict returned"),
            (
                Sw::BAD_DATA,
                "not a strict TimeStampToken: malformed, digest algorithms other than exactly SHA-256, a signer identifier that is not the certificate's, another policy, or a repeated signed attribute",
            ),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::CONDITIONS_NOT_SATISFIED, "no HASH stream (P1 01)"),
            (Sw::WRONG_P1P2, "P1-P2 other than those listed"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "VERIFY CERTIFICATE",
        slug: "verify-certificate",
        cla: CLA_PROPRIETARY,
        ins: ins::VERIFY_CERTIFICATE,
        p1p2: "`00 00`",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::CertificateVerification),
        response: ResponseLength::Fixed(1),
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::VerifyCertificate::try_from(apdu).map(Command::VerifyCertificate),
        purpose: "Verifies an X.509 certificate, or a path CA → agent → certificate, against the card's CA anchor \\
and the card clock (claims 13, 28): each certificate signed by the one above it and valid now; an issuer must be an \\
agent certificate (cA, pathLen 0, keyCertSign) within every path length constraint, and what an agent issued must \\
be a signature or encryption certificate (`path.rs`). Charged whenever a verdict is given.",
        c_data: "One to four DER certificates, concatenated, anchor side first; the last is the one verified.",
        r_data: "Verdict, 1 byte: 00 valid, 01 not signed by the CA anchor (or the certificate above), 02 outside its \\
validity period, 03 the path breaks the agent profile (issuer not an agent with pathLen 0, path too long, or a \\
timestamping/CA certificate below an agent).",
        status_words: &[
            (Sw::OK, "verdict returned"),
            (Sw::BAD_DATA, "truncated, malformed or not strict DER certificate, none, or more than four"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock behind its floor"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "UPDATE CA ANCHOR",
        slug: "update-ca-anchor",
        cla: CLA_PROPRIETARY,
        ins: ins::UPDATE_CA_ANCHOR,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::PinAndAuthoritySignature,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::UpdateCaAnchor::try_from(apdu).map(Command::UpdateCaAnchor),
        purpose: "Replaces the CA key the card trusts. Only an authority-signed order for this meter with a \\
version above the current anchor's is accepted.",
        c_data: "Signed envelope, domain \"PCMeter CA anchor v1\", around meter ID, version and CA key (`certs.rs`).",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "anchor replaced"),
            (Sw::VERIFICATION_FAILED, "not signed by the authority key"),
            (Sw::BAD_DATA, "malformed order, another meter, or an invalid key"),
            (Sw::CONDITIONS_NOT_SATISFIED, "version not above the current anchor's"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "AGENT ISSUE",
        slug: "agent-issue",
        cla: CLA_PROPRIETARY,
        ins: ins::AGENT_ISSUE,
        p1p2: "`00 nn`: agent slot nn",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::AgentIssuance),
        response: ResponseLength::Variable,
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::AgentIssue::try_from(apdu).map(Command::AgentIssue),
        purpose: "Agent issuance (Fig. 3A): with the agent certificate of slot nn, valid now under the current CA \\
anchor, the card generates the receiver's key pair, debits the fee and commits the agent serial, builds and signs an \\
X.509 signature or encryption certificate (never timestamping, agent or CA) valid from the card's time, and returns \\
it with the receiver's private key encrypted to the receiver's delivery key (ECIES, `certs.rs`). The receiver key is \\
not kept.",
        c_data: "TLV (`certs.rs`): `81` subject Name, `83` notAfter, `84` usage, `85` delivery key.",
        r_data: "Certificate (DER) ‖ OCTET STRING ECIES blob of the 32-byte private key; the AAD is the certificate's SHA-256.",
        status_words: &[
            (Sw::OK, "certificate and encrypted key returned"),
            (
                Sw::USAGE_NOT_ALLOWED,
                "the slot holds no agent certificate, or the usage asked for is not signature or encryption; nothing changed",
            ),
            (Sw::NOT_FOUND, "the slot holds no certified key"),
            (Sw::KEY_REVOKED, "the agent slot is revoked"),
            (Sw::CERT_NOT_FROM_CA, "the agent certificate is not signed by the current CA anchor; nothing changed"),
            (Sw::CERT_OUTSIDE_VALIDITY, "the agent certificate is expired or not yet valid; nothing changed"),
            (
                Sw::BAD_DATA,
                "malformed request, invalid delivery key, or a notAfter not after the card time or beyond the agent certificate's",
            ),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock behind its floor"),
            (Sw::WRONG_P1P2, "slot number out of range"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "SIGN DATA",
        slug: "sign-data",
        cla: CLA_PROPRIETARY,
        ins: ins::SIGN_DATA,
        p1p2: "`00 nn` data in the data field; `01 nn` a SHA-256 digest; nn = signature slot",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::SignData),
        response: ResponseLength::UpTo(72),
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::SignData::try_from(apdu).map(Command::SignData),
        purpose: "Signs data or a digest with a certified signature-slot key (integrity, authentication, \\
non-repudiation), once the slot certificate is checked for use now (current CA anchor, validity). Charged and \\
committed before the signature is released.",
        c_data: "P1 00: the data (up to MAX_COMMAND_DATA). P1 01: 32-byte digest.",
        r_data: "ECDSA-Sig-Value, DER (as `openssl dgst -verify` reads it).",
        status_words: &[
            (Sw::OK, "signature returned"),
            (Sw::NOT_FOUND, "the slot holds no certified key"),
            (Sw::KEY_REVOKED, "the slot is revoked"),
            (Sw::CERT_NOT_FROM_CA, "the slot certificate is not signed by the current CA anchor; nothing changed"),
            (Sw::CERT_OUTSIDE_VALIDITY, "the slot certificate is expired or not yet valid; nothing changed"),
            (Sw::USAGE_NOT_ALLOWED, "the slot is not a signature slot"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock behind its floor"),
            (Sw::WRONG_P1P2, "P1 other than 00/01 or slot out of range"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "DECRYPT",
        slug: "decrypt",
        cla: CLA_PROPRIETARY,
        ins: ins::DECRYPT,
        p1p2: "`00 nn`: encryption slot nn",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::Decrypt),
        response: ResponseLength::Variable,
        chaining: true,
        secret_data: false,
        secret_response: true,
        parse: |apdu| command::Decrypt::try_from(apdu).map(Command::Decrypt),
        purpose: "Decrypts an ECIES blob encrypted to an encryption-slot key (confidentiality). A blob that does \\
not authenticate is refused and not charged; otherwise the fee commits before the plaintext is released.",
        c_data: "ECIES blob (`certs.rs`), empty AAD.",
        r_data: "The plaintext.",
        status_words: &[
            (Sw::OK, "plaintext returned"),
            (Sw::BAD_DATA, "malformed blob, or it does not authenticate under the slot key"),
            (Sw::NOT_FOUND, "the slot holds no key"),
            (Sw::KEY_REVOKED, "the slot is revoked"),
            (Sw::USAGE_NOT_ALLOWED, "the slot is not an encryption slot"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock behind its floor"),
            (Sw::WRONG_P1P2, "slot number out of range"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "REVOKE",
        slug: "revoke",
        cla: CLA_PROPRIETARY,
        ins: ins::REVOKE,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::AuthoritySignature,
        charge: Charge::Fee(Service::Revocation),
        response: ResponseLength::Variable,
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::Revoke::try_from(apdu).map(Command::Revoke),
        purpose: "Carries out an authority-signed revocation order (Fig. 6) naming a slot and its key: the slot is \\
revoked whatever certificate it holds (or none); the key is destroyed and the slot marked revoked; the fee is debited \\
if DR covers it with any debt owed (\"paid\"), otherwise it is added to the debt (`DF20`), which the next value \\
service collects first, and the confirmation says \"payment due\". The \\
confirmation is signed by the device key after the commit.",
        c_data: "Signed envelope, domain \"PCMeter revocation order v1\", around meter ID, slot, reason, time and the slot's public key (`certs.rs`).",
        r_data: "Signed envelope, domain \"PCMeter revocation confirmation v1\" (`certs.rs`).",
        status_words: &[
            (Sw::OK, "revoked; confirmation returned"),
            (Sw::VERIFICATION_FAILED, "not signed by the authority key"),
            (Sw::BAD_DATA, "malformed order, another meter, or a slot number out of range"),
            (Sw::CERT_KEY_MISMATCH, "the slot holds another key than the order names"),
            (Sw::NOT_FOUND, "the slot is empty"),
            (Sw::KEY_REVOKED, "already revoked"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "REVOCATION REQUEST",
        slug: "revocation-request",
        cla: CLA_PROPRIETARY,
        ins: ins::REVOCATION_REQUEST,
        p1p2: "`00 nn`: slot nn",
        states: StateSet::of(&[O, L]),
        security: Security::Pin,
        charge: Charge::None,
        response: ResponseLength::Fixed(envelope_len(RevocationRequest::LEN) as u16),
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::RequestRevocation::try_from(apdu).map(Command::RequestRevocation),
        purpose: "The user's request to revoke the key of a slot (Fig. 6, 602), signed by the device key for the \
authority to check (604/606). Free and stateless: the fee is charged once, by REVOKE, when the authority's order \
is carried out.",
        c_data: "CRL reason code, 1 byte (RFC 5280 §5.3.1: 0 to 10, 7 excepted).",
        r_data: "Signed envelope, domain \"PCMeter revocation request v1\", around meter ID, slot, reason, card time \
and the slot's public key (`certs.rs`).",
        status_words: &[
            (Sw::OK, "request returned"),
            (Sw::NOT_FOUND, "the slot is empty"),
            (Sw::KEY_REVOKED, "the slot is already revoked"),
            (Sw::BAD_DATA, "a reason code RFC 5280 does not define"),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock unavailable or behind its floor"),
            (Sw::WRONG_P1P2, "P1 not 00 or slot number out of range"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "RECHARGE INIT",
        slug: "recharge-init",
        cla: CLA_PROPRIETARY,
        ins: ins::RECHARGE_INIT,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::Pin,
        charge: Charge::None,
        response: ResponseLength::Fixed(envelope_len(RechargeRequest::LEN) as u16),
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::RechargeInit::try_from(apdu).map(Command::RechargeInit),
        purpose: "Step 1 of the remote recharge (claims 15, 30): the card draws a fresh nonce and returns S1, the \
device-signed request for `amount` as recharge NT + 1 with its registers. The request lives in RAM only: a reset, \
power loss, deselection or a newer RECHARGE INIT voids it. Allowed while the inspection is overdue (a recharge ends \
it) and on a meter locked only for an overdue inspection; refused on a meter locked by the authority or by its \
register check.",
        c_data: "Amount, 8 bytes big-endian, non-zero.",
        r_data: "Signed envelope, domain \"PCMeter recharge request v1\", around S1 (`recharge.rs`).",
        status_words: &[
            (Sw::OK, "S1 returned; the request is pending"),
            (Sw::BAD_DATA, "amount 0"),
            (
                Sw::CONDITIONS_NOT_SATISFIED,
                "locked by the authority or the register check, NT exhausted, or card clock behind its floor",
            ),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "RECHARGE CREDIT",
        slug: "recharge-credit",
        cla: CLA_PROPRIETARY,
        ins: ins::RECHARGE_CREDIT,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::PinAndAuthoritySignature,
        charge: Charge::Credit,
        response: ResponseLength::Fixed(envelope_len(RechargeReceipt::LEN) as u16),
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::RechargeCredit::try_from(apdu).map(Command::RechargeCredit),
        purpose: "Step 3 of the remote recharge: checks S2 (authority signature, meter ID, sequence NT + 1, the \
pending nonce, the amount asked for, new CT = CT + amount, a deadline not in the past), then in one transaction \
credits DR and CT, increments NT, sets the next inspection deadline (a recharge counts as an inspection and ends an \
overdue one), appends the audit record and stores the device-signed receipt S3; only then answers S3. The pending \
request is consumed, so a replayed S2 is refused. The card keeps the receipts of its last 8 recharges for GET \
RECHARGE PROOF.",
        c_data: "Signed envelope, domain \"PCMeter recharge authorization v1\", around S2 (`recharge.rs`).",
        r_data: "Signed envelope, domain \"PCMeter recharge receipt v1\", around S3 (`recharge.rs`).",
        status_words: &[
            (Sw::OK, "credited; S3 returned"),
            (Sw::VERIFICATION_FAILED, "not signed by the authority key (an altered S2); the request stays pending"),
            (
                Sw::BAD_DATA,
                "malformed S2, another meter, sequence, nonce or amount of another request, a new CT other than \
CT + amount or beyond 40 bits, or a deadline in the past",
            ),
            (
                Sw::CONDITIONS_NOT_SATISFIED,
                "no pending request (never asked, already credited, or voided by a reset), locked by the authority or \
the register check, or card clock behind its floor",
            ),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "GET RECHARGE PROOF",
        slug: "get-recharge-proof",
        cla: CLA_PROPRIETARY,
        ins: ins::GET_RECHARGE_PROOF,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::None,
        charge: Charge::None,
        response: ResponseLength::Fixed(envelope_len(RechargeReceipt::LEN) as u16),
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::GetRechargeProof::try_from(apdu).map(Command::GetRechargeProof),
        purpose: "Returns the stored receipt S3 of recharge NT again, for a host whose RECHARGE CREDIT answer was \
lost. The card keeps the last 8 receipts.",
        c_data: "The recharge sequence NT, 4 bytes big-endian.",
        r_data: "Signed envelope, domain \"PCMeter recharge receipt v1\", around S3 (`recharge.rs`), as stored.",
        status_words: &[
            (Sw::OK, "receipt returned"),
            (Sw::NOT_FOUND, "no recharge with that NT, or its receipt is no longer held"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "INSPECTION REPORT",
        slug: "inspection-report",
        cla: CLA_PROPRIETARY,
        ins: ins::INSPECTION_REPORT,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::Pin,
        charge: Charge::None,
        response: ResponseLength::Fixed(envelope_len(InspectionReport::LEN) as u16),
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::SignInspectionReport::try_from(apdu).map(Command::SignInspectionReport),
        purpose: "Signs an inspection report with the device key: meter ID, a fresh nonce, card time, lifecycle, \
status flags, the deadline in force, all registers and counts, and the audit-log head. The card remembers the \
SHA-256 of the last report body in RAM (a reset forgets it): INSPECTION ACK must answer that report.",
        c_data: "None.",
        r_data: "Signed envelope, domain \"PCMeter inspection report v1\" (`inspection.rs`).",
        status_words: &[
            (Sw::OK, "report returned"),
            (Sw::CONDITIONS_NOT_SATISFIED, "card clock unavailable or behind its floor"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "INSPECTION ACK",
        slug: "inspection-ack",
        cla: CLA_PROPRIETARY,
        ins: ins::INSPECTION_ACK,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::AuthoritySignature,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::AcknowledgeInspection::try_from(apdu).map(Command::AcknowledgeInspection),
        purpose: "Applies the authority's acknowledgement of the last inspection report: sets the next inspection \
deadline, which ends an overdue inspection (a meter locked for one returns to OPERATIONAL unless another lock cause \
holds), and appends the audit record. The report is answered once.",
        c_data: "Signed envelope, domain \"PCMeter inspection acknowledgement v1\" (`inspection.rs`).",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "deadline set"),
            (Sw::VERIFICATION_FAILED, "not signed by the authority key"),
            (Sw::BAD_DATA, "malformed, another meter, another report than the last one, or a deadline in the past"),
            (
                Sw::CONDITIONS_NOT_SATISFIED,
                "no report signed since the last reset (or already answered), or card clock behind its floor",
            ),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "LOCK ORDER",
        slug: "lock-order",
        cla: CLA_PROPRIETARY,
        ins: ins::LOCK_ORDER,
        p1p2: "`00 00`",
        states: StateSet::of(&[O, L]),
        security: Security::AuthoritySignature,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::ApplyLockOrder::try_from(apdu).map(Command::ApplyLockOrder),
        purpose: "Applies an authority LOCK or UNLOCK order. Its sequence must exceed the last order applied (kept \
persistently). LOCK moves the meter to LOCKED with the authority-lock flag; UNLOCK clears the flag and returns the \
meter to OPERATIONAL when no other lock cause holds. Each order has its audit record.",
        c_data: "Signed envelope, domain \"PCMeter lock order v1\" (`inspection.rs`).",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "order applied"),
            (Sw::VERIFICATION_FAILED, "not signed by the authority key"),
            (Sw::BAD_DATA, "malformed order or another meter"),
            (Sw::CONDITIONS_NOT_SATISFIED, "sequence not above the last order applied, or card clock behind its floor"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
        ],
    },
    CommandSpec {
        name: "INSTALL CREDIT LINE",
        slug: "install-credit-line",
        cla: CLA_PROPRIETARY,
        ins: ins::INSTALL_CREDIT_LINE,
        p1p2: "`00 00`",
        states: StateSet::of(&[O]),
        security: Security::PinAndCreditIssuerSignature,
        charge: Charge::None,
        response: ResponseLength::None,
        chaining: true,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::InstallCreditLine::try_from(apdu).map(Command::InstallCreditLine),
        purpose: "Installs a line-of-credit certificate (Fig. 7A, 812): signed by the personalized credit-issuer key \
its issuer key ID names (SHA-256 of the key, first 8 bytes), for this meter, naming the device key as creditor, in \
the meter's currency, valid now, with a serial above every line installed before. The envelope, its SHA-256 and \
credit remaining = line are stored in one transaction. A new line replaces the old one: what was left of the old \
line is no longer spendable on the card (the issuer settles the old line by its payment serials).",
        c_data: "Signed envelope, domain \"PCMeter line of credit v1\" (`credit.rs`), chained if long.",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "installed"),
            (Sw::VERIFICATION_FAILED, "no personalized issuer key has that key ID, or its signature does not verify"),
            (Sw::BAD_DATA, "malformed line, another meter, or another currency or exponent"),
            (Sw::CERT_KEY_MISMATCH, "the creditor key is not the device key"),
            (Sw::CERT_OUTSIDE_VALIDITY, "the line is expired or not yet valid"),
            (
                Sw::CONDITIONS_NOT_SATISFIED,
                "serial not above the lines installed before, or card clock behind its floor",
            ),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
    CommandSpec {
        name: "PAY",
        slug: "pay",
        cla: CLA_PROPRIETARY,
        ins: ins::PAY,
        p1p2: "`00 00`",
        states: StateSet::of(&[O]),
        security: Security::Pin,
        charge: Charge::Fee(Service::PaymentCertificate),
        response: ResponseLength::UpTo(envelope_len(PaymentCertificate::MAX_LEN) as u16),
        chaining: false,
        secret_data: false,
        secret_response: false,
        parse: |apdu| command::Pay::try_from(apdu).map(Command::Pay),
        purpose: "Pays a merchant under the installed line of credit (Fig. 9): checks the credit remaining (904/906) \
and the line's validity, subtracts the amount (908), increments the payment serial, debits the payment-certificate \
fee from DR, appends the audit records and commits; only then signs the payment certificate (Fig. 7B, 910) with the \
device key. Credit is not money of the registers: AR, DR and CT move only by the fee.",
        c_data: "Payment request (`credit.rs`): amount 8, merchant, reference.",
        r_data: "Signed envelope, domain \"PCMeter payment certificate v1\", around the payment certificate \
(`credit.rs`) with the SHA-256 of the line-of-credit envelope.",
        status_words: &[
            (Sw::OK, "paid; certificate returned"),
            (Sw::INSUFFICIENT_CREDIT, "the amount exceeds the credit remaining; nothing changed"),
            (Sw::NOT_FOUND, "no line of credit installed"),
            (Sw::CERT_OUTSIDE_VALIDITY, "the line of credit is expired or not yet valid; nothing changed"),
            (Sw::BAD_DATA, "malformed request, amount 0 or no merchant"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the fee plus any revocation debt; nothing changed"),
            (Sw::INSPECTION_OVERDUE, OVERDUE),
            (Sw::CONDITIONS_NOT_SATISFIED, "payment serial exhausted, or card clock behind its floor"),
            (Sw::WRONG_P1P2, "P1-P2 other than 0000"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
        ],
    },
];

/// Result of looking a command up.
#[derive(Debug, Clone, Copy)]
pub enum Lookup {
    /// Known command.
    Found(&'static CommandSpec),
    /// The INS exists under another class.
    WrongClass,
    /// Unknown INS.
    UnknownIns,
}

/// Finds the command for a CLA (chaining bit ignored) and INS.
pub fn lookup(cla: u8, ins: u8) -> Lookup {
    let base = cla & !CLA_CHAIN;
    match COMMANDS.iter().find(|c| c.ins == ins) {
        Some(spec) if spec.cla == base => Lookup::Found(spec),
        Some(_) => Lookup::WrongClass,
        None => Lookup::UnknownIns,
    }
}

/// The spec of an INS, whatever the class.
pub fn by_ins(ins: u8) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.ins == ins)
}

/// True when `sw` is documented for the command (its own words or the generic ones).
pub fn documents(spec: &CommandSpec, sw: Sw) -> bool {
    let fam = sw.family();
    spec.status_words.iter().chain(GENERIC_STATUS_WORDS).any(|(s, _)| *s == fam)
}

fn states_text(states: StateSet) -> String {
    let names: Vec<&str> = Lifecycle::ALL.into_iter().filter(|s| states.contains(*s)).map(Lifecycle::name).collect();
    names.join(", ")
}

fn sw_text(sw: Sw) -> String {
    match sw.family().0 {
        0x63C0 => String::from("63Cx"),
        0x6100 => String::from("61xx"),
        0x6C00 => String::from("6Cxx"),
        _ => format!("{sw}"),
    }
}

fn response_text(spec: &CommandSpec) -> String {
    let length = spec.response.describe();
    match spec.response {
        ResponseLength::None => length,
        _ if !spec.is_value() => length,
        ResponseLength::Fixed(_) | ResponseLength::Indicium => {
            format!("{length}; a shorter Le (not 00) gets 6Cxx before anything is executed")
        }
        ResponseLength::UpTo(_) => {
            format!("{length}; a shorter Le (not 00) gets 6700 before anything is executed")
        }
        ResponseLength::Variable => format!("{length}; Le must be 00, any other gets 6700 before anything is executed"),
    }
}

/// Renders the reference page of one command.
pub fn render_page(spec: &CommandSpec) -> String {
    let mut s = String::new();
    s.push_str(&format!("# {}\n\n{}\n\n", spec.name, spec.purpose));
    s.push_str("| field | value |\n|---|---|\n");
    s.push_str(&format!("| CLA INS | `{:02X} {:02X}` |\n", spec.cla, spec.ins));
    s.push_str(&format!("| P1 P2 | {} |\n", spec.p1p2));
    s.push_str(&format!("| Lifecycle states | {} |\n", states_text(spec.states)));
    s.push_str(&format!("| Security condition | {} |\n", spec.security.describe()));
    s.push_str(&format!("| Charge | {} |\n", spec.charge.describe()));
    s.push_str(&format!("| Response length | {} |\n", response_text(spec)));
    s.push_str(&format!("| Chaining | {} |\n", if spec.chaining { "allowed (CLA | 10)" } else { "not allowed" }));
    s.push_str(&format!(
        "| In APDU traces | {} |\n\n",
        if spec.secret_data { "data redacted (secret)" } else { "shown" }
    ));
    s.push_str(&format!("## C-APDU data\n\n{}\n\n## R-APDU data\n\n{}\n\n", spec.c_data, spec.r_data));
    s.push_str("## Status words\n\n| SW | meaning |\n|---|---|\n");
    for (sw, meaning) in spec.status_words {
        s.push_str(&format!("| `{}` | {} |\n", sw_text(*sw), meaning));
    }
    s.push_str("\nAny command may also return the [generic status words](README.md#generic-status-words).\n");
    s
}

/// Renders the index page of the reference.
pub fn render_index() -> String {
    let mut s = String::from(
        "# PCMeter APDU reference\n\n\
This reference is generated from `apdu-specs/src/commands.rs`; `cargo test -p apdu-specs` fails when they disagree \
(`PCMETER_UPDATE_REFERENCE=1 cargo test -p apdu-specs` rewrites it).\n\n",
    );
    s.push_str(&format!(
        "AID: `{}`. Interindustry commands use CLA `00`, proprietary ones `80`; bit `10` marks a chained command.\n\n",
        hex::encode_upper(AID)
    ));
    s.push_str("| command | CLA INS | lifecycle | security | charge |\n|---|---|---|---|---|\n");
    for c in COMMANDS {
        s.push_str(&format!(
            "| [{}]({}.md) | `{:02X} {:02X}` | {} | {} | {} |\n",
            c.name,
            c.slug,
            c.cla,
            c.ins,
            states_text(c.states),
            c.security.describe(),
            c.charge.describe()
        ));
    }
    s.push_str("\n## Generic status words\n\n| SW | meaning |\n|---|---|\n");
    for (sw, meaning) in GENERIC_STATUS_WORDS {
        s.push_str(&format!("| `{}` | {} |\n", sw_text(*sw), meaning));
    }
    s.push_str(
        "\n## Proprietary status words\n\nISO/IEC 7816-4 leaves `9xxx` other than `9000` to the application. \
PCMeter uses:\n\n| SW | meaning |\n|---|---|\n",
    );
    for sw in PROPRIETARY_STATUS_WORDS {
        s.push_str(&format!("| `{}` | {} |\n", sw, sw.description()));
    }
    s
}
