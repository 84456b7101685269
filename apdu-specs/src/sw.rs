//! Status words (SW1-SW2) the meter returns, with their meaning.
//!
//! Interindustry values follow ISO/IEC 7816-4; `9401` is PCMeter's own
//! "insufficient funds" word (ISO leaves `9xxx` other than `9000` to the
//! application).

use core::fmt;

/// A status word.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sw(pub u16);

impl Sw {
    /// Normal processing.
    pub const OK: Sw = Sw(0x9000);
    /// Signature or MAC over authority data did not verify (ISO "verification failed").
    pub const VERIFICATION_FAILED: Sw = Sw(0x6300);
    /// Memory failure: the persistent store could not commit; nothing changed.
    pub const MEMORY_FAILURE: Sw = Sw(0x6581);
    /// Wrong length (Lc, or the data field length for this command).
    pub const WRONG_LENGTH: Sw = Sw(0x6700);
    /// Logical channels other than 0 are not supported.
    pub const LOGICAL_CHANNEL_NOT_SUPPORTED: Sw = Sw(0x6881);
    /// Secure messaging is not supported.
    pub const SECURE_MESSAGING_NOT_SUPPORTED: Sw = Sw(0x6882);
    /// A command chain is in progress and this was not its continuation.
    pub const LAST_COMMAND_OF_CHAIN_EXPECTED: Sw = Sw(0x6883);
    /// This command may not be chained.
    pub const CHAINING_NOT_SUPPORTED: Sw = Sw(0x6884);
    /// Security status not satisfied: the PIN has not been verified.
    pub const SECURITY_STATUS_NOT_SATISFIED: Sw = Sw(0x6982);
    /// The PIN (or PUK) is blocked.
    pub const PIN_BLOCKED: Sw = Sw(0x6983);
    /// Conditions of use not satisfied (lifecycle state, not selected, stale data, clock).
    pub const CONDITIONS_NOT_SATISFIED: Sw = Sw(0x6985);
    /// Incorrect data in the command data field.
    pub const BAD_DATA: Sw = Sw(0x6A80);
    /// Application (AID) not found.
    pub const FILE_NOT_FOUND: Sw = Sw(0x6A82);
    /// Not enough memory (command chain or store capacity exceeded).
    pub const NOT_ENOUGH_MEMORY: Sw = Sw(0x6A84);
    /// Incorrect P1-P2.
    pub const WRONG_P1P2: Sw = Sw(0x6A86);
    /// Referenced data (tag, record, rate class) not found.
    pub const NOT_FOUND: Sw = Sw(0x6A88);
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: Sw = Sw(0x6D00);
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: Sw = Sw(0x6E00);
    /// Internal error without precise diagnosis (crypto engine failure).
    pub const INTERNAL_ERROR: Sw = Sw(0x6F00);
    /// Insufficient funds in the descending register; nothing was changed.
    pub const INSUFFICIENT_FUNDS: Sw = Sw(0x9401);
    /// The certificate is not signed by the card's CA anchor (unknown CA, or altered).
    pub const CERT_NOT_FROM_CA: Sw = Sw(0x9402);
    /// The certificate is for another key than the slot's.
    pub const CERT_KEY_MISMATCH: Sw = Sw(0x9403);
    /// The certificate is expired or not yet valid at the card time.
    pub const CERT_OUTSIDE_VALIDITY: Sw = Sw(0x9404);
    /// The slot's key is revoked.
    pub const KEY_REVOKED: Sw = Sw(0x9405);
    /// The certificate or slot does not allow this use (wrong profile, no agent certificate).
    pub const USAGE_NOT_ALLOWED: Sw = Sw(0x9406);
    /// The personalization profile names another card's serial; nothing was changed.
    pub const PROFILE_FOR_ANOTHER_CARD: Sw = Sw(0x9407);
    /// The personalization profile's not-after time is past at the card time; nothing was changed.
    pub const PROFILE_EXPIRED: Sw = Sw(0x9408);
    /// The inspection deadline is past: value services are refused until an
    /// acknowledged inspection or a recharge moves it; nothing was changed.
    pub const INSPECTION_OVERDUE: Sw = Sw(0x9409);
    /// The payment exceeds the credit remaining on the line of credit (906); nothing was changed.
    pub const INSUFFICIENT_CREDIT: Sw = Sw(0x940A);

    /// `61xx`: `remaining` bytes are waiting for GET RESPONSE (`6100` for 256 or more).
    pub fn more_available(remaining: usize) -> Sw {
        Sw(0x6100 | low_byte(remaining))
    }

    /// `6Cxx`: wrong Le, `available` bytes are available (`6C00` for 256).
    pub fn wrong_le(available: usize) -> Sw {
        Sw(0x6C00 | low_byte(available))
    }

    /// `63Cx`: wrong PIN, `tries` left (capped at 15).
    pub fn wrong_pin(tries: u8) -> Sw {
        Sw(0x63C0 | u16::from(tries.min(15)))
    }

    /// SW1.
    pub fn sw1(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// SW2.
    pub fn sw2(self) -> u8 {
        self.0.to_be_bytes()[1]
    }

    /// The two bytes as sent on the wire.
    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// Reads the status word from the last two bytes of an R-APDU.
    pub fn from_response(rapdu: &[u8]) -> Option<Sw> {
        match rapdu {
            [.., a, b] => Some(Sw(u16::from_be_bytes([*a, *b]))),
            _ => None,
        }
    }

    /// True for `9000`.
    pub fn is_ok(self) -> bool {
        self == Sw::OK
    }

    /// The tries left when this is a `63Cx` word.
    pub fn tries_left(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then_some(self.sw2() & 0x0F)
    }

    /// The word family used to document variable words (`61xx`, `6Cxx`, `63Cx`).
    pub fn family(self) -> Sw {
        match self.0 & 0xFF00 {
            0x6100 | 0x6C00 => Sw(self.0 & 0xFF00),
            _ if self.tries_left().is_some() => Sw(0x63C0),
            _ => self,
        }
    }

    /// Human-readable meaning.
    pub fn description(self) -> &'static str {
        match self.family().0 {
            0x9000 => "success",
            0x6100 => "more data available: send GET RESPONSE",
            0x6C00 => "wrong Le: SW2 gives the exact length available",
            0x63C0 => "wrong PIN: SW2 low nibble gives the tries left",
            0x6300 => "verification of an authority signature failed",
            0x6581 => "memory failure: nothing was committed",
            0x6700 => "wrong length",
            0x6881 => "logical channel not supported",
            0x6882 => "secure messaging not supported",
            0x6883 => "last command of the chain expected",
            0x6884 => "command chaining not supported for this command",
            0x6982 => "security status not satisfied: verify the PIN",
            0x6983 => "PIN blocked",
            0x6985 => "conditions of use not satisfied",
            0x6A80 => "incorrect data",
            0x6A82 => "application not found",
            0x6A84 => "not enough memory",
            0x6A86 => "incorrect P1-P2",
            0x6A88 => "referenced data not found",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x9401 => "insufficient funds",
            0x9402 => "certificate not signed by the CA anchor",
            0x9403 => "certificate is for another key",
            0x9404 => "certificate expired or not yet valid",
            0x9405 => "key revoked",
            0x9406 => "use not allowed by the slot or its certificate",
            0x9407 => "personalization profile bound to another card",
            0x9408 => "personalization profile expired",
            0x9409 => "inspection overdue",
            0x940A => "insufficient credit",
            0x6F00 => "internal error",
            _ => "unknown status",
        }
    }
}

fn low_byte(n: usize) -> u16 {
    if n >= 256 { 0 } else { (n & 0xFF) as u16 }
}

impl fmt::Debug for Sw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sw({:04X})", self.0)
    }
}

/// A raw status word (SW1-SW2 as read off a response) equals its typed one,
/// so a check reads `assert_eq!(sw, Sw::INSUFFICIENT_FUNDS)` whatever the
/// caller holds.
impl PartialEq<Sw> for u16 {
    fn eq(&self, other: &Sw) -> bool {
        *self == other.0
    }
}

impl PartialEq<u16> for Sw {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for Sw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl From<iso7816::Status> for Sw {
    fn from(s: iso7816::Status) -> Self {
        Sw(s.to_u16())
    }
}

impl From<Sw> for iso7816::Status {
    fn from(s: Sw) -> Self {
        iso7816::Status::from_u16(s.0)
    }
}
