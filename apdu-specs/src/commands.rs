//! The command table: every command's coding, lifecycle states, security
//! condition, charge and status words. The card's dispatcher checks the
//! lifecycle and security columns before any handler runs, the host uses the
//! `secret_data` column to redact traces, and the Markdown reference in
//! `docs/commands/` is rendered from this table (a test fails when they differ).

use crate::lifecycle::{Lifecycle, StateSet};
use crate::service::Service;
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
    /// The current reference data (old PIN or PUK) in the data field.
    ReferenceData,
}

impl Security {
    /// Text for the reference.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pin => "PIN verified in this session",
            Self::IssuerSignature => "data signed by the issuer key installed at manufacture",
            Self::PinAndAuthoritySignature => "PIN verified, and data signed by the authority key",
            Self::ReferenceData => "current PIN or PUK carried in the data field",
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
    /// May be sent as a command chain (CLA bit `10`).
    pub chaining: bool,
    /// The data field holds secrets (PIN, PUK, keys): traces show only its length.
    pub secret_data: bool,
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

/// Status words any command may return, documented once.
pub const GENERIC_STATUS_WORDS: &[(Sw, &str)] = &[
    (Sw(0x6100), "61xx: response continues, fetch with GET RESPONSE (6100 = 256 or more bytes left)"),
    (Sw(0x6C00), "6Cxx: Le was wrong, resend with Le = xx; nothing was executed"),
    (Sw::WRONG_LENGTH, "malformed length fields, or a data field of the wrong length"),
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
        chaining: false,
        secret_data: false,
        purpose: "Selects the meter by AID (a right-truncated AID of at least 5 bytes matches). \
Selecting clears the volatile security state (PIN verification, open chain, pending response). \
Selecting any other AID deselects the meter and also clears it.",
        c_data: "AID, 5 to 16 bytes.",
        r_data: "FCI template `6F` (see `fci.rs`): AID, applet version, meter ID once personalized, \
lifecycle byte, largest command data and largest response.",
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
        chaining: false,
        secret_data: false,
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
        chaining: false,
        secret_data: true,
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
        chaining: false,
        secret_data: true,
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
        chaining: false,
        secret_data: true,
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
        p1p2: "tag: `DF20` registers, `DF21` status, `DF22` rate table, `DF23` audit head, `DF24` public keys",
        states: StateSet::ALL,
        security: Security::None,
        charge: Charge::None,
        chaining: false,
        secret_data: false,
        purpose: "Reads a data object. When TERMINATED only the status `DF21` is served.",
        c_data: "None.",
        r_data: "The object (layouts in `registers.rs`, `audit.rs`, `signed.rs`; `DF24` is `81` device key, `82` postal key).",
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
        chaining: false,
        secret_data: false,
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
        chaining: true,
        secret_data: true,
        purpose: "Loads the signed personalization profile (`perso.rs`) in one transaction: identities, trust anchors, \
PIN and PUK, inspection period, indicium algorithm, first rate table and initial credit. The card then generates its \
device key (and postal key, ECDSA variant) on the card. Accepted once.",
        c_data: "Signed envelope (`signed.rs`) with domain \"PCMeter personalization v1\", chained if longer than one APDU.",
        r_data: "None.",
        status_words: &[
            (Sw::OK, "personalized"),
            (Sw::CONDITIONS_NOT_SATISFIED, "already personalized"),
            (Sw::VERIFICATION_FAILED, "the profile or its rate table is not signed by the right key"),
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
        chaining: false,
        secret_data: false,
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
        chaining: false,
        secret_data: false,
        purpose: "Prices a mail piece from the rate table in force, debits DR and credits AR_p, increments the piece \
count and appends the audit record, commits all of it, and only then signs and returns the indicium (`indicium.rs`). \
With too little in DR nothing changes.",
        c_data: "Mail piece (19 bytes, `mailpiece.rs`): class, weight, date, origin and destination postcodes.",
        r_data: "Indicium: 124 bytes (ECDSA) or 76 bytes (HMAC). A non-zero Le shorter than that gets 6Cxx before anything is charged.",
        status_words: &[
            (Sw::OK, "indicium returned; registers updated"),
            (Sw::INSUFFICIENT_FUNDS, "DR is below the postage; nothing changed"),
            (Sw::SECURITY_STATUS_NOT_SATISFIED, "PIN not verified"),
            (
                Sw::BAD_DATA,
                "bad date, postcode, weight outside the class, or mailing date before today / more than 30 days ahead",
            ),
            (Sw::NOT_FOUND, "rate class not in the table"),
            (
                Sw::CONDITIONS_NOT_SATISFIED,
                "inspection overdue (the meter locks itself), card clock behind its floor, or a register outgrew its indicium field",
            ),
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
        chaining: true,
        secret_data: false,
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
    s.push_str(&format!(
        "\n`{}` is PCMeter's proprietary **insufficient funds** word: DR is below the charge and nothing was changed.\n",
        Sw::INSUFFICIENT_FUNDS
    ));
    s
}
