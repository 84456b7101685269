//! Typed errors of the host API. Every card refusal keeps its raw status word.

use crate::transport::TransportError;
use apdu_specs::FormatError;
use apdu_specs::sw::Sw;

/// A violation of the APDU protocol by the card or the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Fewer than two bytes came back.
    #[error("response shorter than a status word ({0} bytes)")]
    ShortResponse(usize),
    /// More data came back than Le allowed.
    #[error("response of {got} bytes exceeds Le {asked}")]
    TooLong {
        /// Bytes received.
        got: usize,
        /// Ne asked for.
        asked: usize,
    },
    /// A `61xx`/`6Cxx` loop did not converge.
    #[error("response chaining did not terminate")]
    Runaway,
    /// An intermediate chained block was refused.
    #[error("chained block refused with {0}")]
    ChainRefused(Sw),
    /// The command cannot be encoded.
    #[error("command cannot be encoded: {0}")]
    Encode(#[from] apdu_specs::capdu::EncodeError),
}

/// Why the host cannot know whether a command that spends value was
/// executed (and charged) on the card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ambiguity {
    /// The card answered `6Cxx` (wrong Le): a card that checks Le only after
    /// its commit may have charged already.
    #[error("the card answered {0} (wrong Le)")]
    WrongLe(Sw),
    /// The transport failed once the command had been handed to it.
    #[error(transparent)]
    Transport(TransportError),
    /// The card's answer broke the APDU protocol.
    #[error(transparent)]
    Protocol(ProtocolError),
}

/// A card refusal, typed by its status word. The mapping is lossless:
/// [`CardStatus::sw`] gives back the raw status word the card answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardStatus {
    /// Wrong PIN (or PUK), `63Cx`.
    WrongPin {
        /// Tries left.
        tries_left: u8,
    },
    /// PIN (or PUK) blocked.
    PinBlocked,
    /// The command needs the PIN verified first.
    PinRequired,
    /// Not enough funds; nothing was charged.
    InsufficientFunds,
    /// An authority signature did not verify on the card.
    SignatureRejected,
    /// Wrong lifecycle state, not selected, stale data or clock.
    ConditionsNotSatisfied,
    /// The card rejected the data.
    BadData,
    /// Referenced data not found.
    NotFound,
    /// The card store failed; nothing was committed.
    MemoryFailure,
    /// The certificate is not signed by the card's CA anchor; nothing changed.
    CertificateNotFromCa,
    /// The certificate is for another key than the slot's; nothing changed.
    CertificateKeyMismatch,
    /// The certificate is expired or not yet valid; nothing changed.
    CertificateOutsideValidity,
    /// The slot key is revoked; nothing changed.
    KeyRevoked,
    /// The slot or its certificate does not allow this use; nothing changed.
    UsageNotAllowed,
    /// The command data exceeds what the card accepts; nothing changed.
    NotEnoughMemory,
    /// The inspection deadline is past: value services are refused until an
    /// inspection acknowledgement or a recharge; nothing changed.
    InspectionOverdue,
    /// The payment exceeds the credit remaining on the line of credit; nothing changed.
    InsufficientCredit,
    /// Any other status word.
    Other(Sw),
}

/// The typed statuses with their status words (`WrongPin` and `Other` aside).
const NAMED: [(CardStatus, Sw); 16] = [
    (CardStatus::PinBlocked, Sw::PIN_BLOCKED),
    (CardStatus::PinRequired, Sw::SECURITY_STATUS_NOT_SATISFIED),
    (CardStatus::InsufficientFunds, Sw::INSUFFICIENT_FUNDS),
    (CardStatus::SignatureRejected, Sw::VERIFICATION_FAILED),
    (CardStatus::ConditionsNotSatisfied, Sw::CONDITIONS_NOT_SATISFIED),
    (CardStatus::BadData, Sw::BAD_DATA),
    (CardStatus::NotFound, Sw::NOT_FOUND),
    (CardStatus::MemoryFailure, Sw::MEMORY_FAILURE),
    (CardStatus::CertificateNotFromCa, Sw::CERT_NOT_FROM_CA),
    (CardStatus::CertificateKeyMismatch, Sw::CERT_KEY_MISMATCH),
    (CardStatus::CertificateOutsideValidity, Sw::CERT_OUTSIDE_VALIDITY),
    (CardStatus::KeyRevoked, Sw::KEY_REVOKED),
    (CardStatus::UsageNotAllowed, Sw::USAGE_NOT_ALLOWED),
    (CardStatus::NotEnoughMemory, Sw::NOT_ENOUGH_MEMORY),
    (CardStatus::InspectionOverdue, Sw::INSPECTION_OVERDUE),
    (CardStatus::InsufficientCredit, Sw::INSUFFICIENT_CREDIT),
];

impl From<Sw> for CardStatus {
    fn from(sw: Sw) -> Self {
        if let Some(tries_left) = sw.tries_left() {
            return Self::WrongPin { tries_left };
        }
        NAMED.iter().find(|(_, named)| *named == sw).map_or(Self::Other(sw), |(status, _)| *status)
    }
}

impl CardStatus {
    /// The raw status word.
    pub fn sw(self) -> Sw {
        match self {
            Self::WrongPin { tries_left } => Sw::wrong_pin(tries_left),
            Self::Other(sw) => sw,
            named => NAMED.iter().find(|(status, _)| *status == named).map_or(Sw::OK, |(_, sw)| *sw),
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Self::WrongPin { .. } => "wrong PIN",
            Self::PinBlocked => "PIN blocked",
            Self::PinRequired => "PIN verification required",
            Self::InsufficientFunds => "insufficient funds: nothing was charged",
            Self::SignatureRejected => "the card rejected the signature",
            Self::ConditionsNotSatisfied => "conditions of use not satisfied",
            Self::BadData => "the card rejected the data",
            Self::NotFound => "not found on the card",
            Self::MemoryFailure => "card memory failure: nothing was committed",
            Self::CertificateNotFromCa => "the certificate is not signed by the card's CA anchor: nothing changed",
            Self::CertificateKeyMismatch => "the certificate is for another key than the slot's: nothing changed",
            Self::CertificateOutsideValidity => "the certificate is expired or not yet valid: nothing changed",
            Self::KeyRevoked => "the slot key is revoked: nothing changed",
            Self::UsageNotAllowed => "the slot or its certificate does not allow this use: nothing changed",
            Self::NotEnoughMemory => "the command data exceeds what the card accepts: nothing changed",
            Self::InspectionOverdue => {
                "inspection overdue: value services wait for an inspection or a recharge; nothing changed"
            }
            Self::InsufficientCredit => "the payment exceeds the credit remaining: nothing changed",
            Self::Other(_) => "card answered",
        }
    }
}

impl std::fmt::Display for CardStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sw = self.sw();
        match self {
            Self::WrongPin { tries_left } => write!(f, "{}: {tries_left} tries left (SW {sw})", self.meaning()),
            Self::Other(_) => write!(f, "{} {sw}: {}", self.meaning(), sw.description()),
            _ => write!(f, "{} (SW {sw})", self.meaning()),
        }
    }
}

/// Errors of the typed meter API.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    /// The card refused the command.
    #[error("{0}")]
    Card(CardStatus),
    /// The card was reset or re-inserted; the connection was re-established
    /// but the PIN must be given again. Nothing was retried.
    #[error("the card was reset: PIN verification was lost, verify again")]
    PinStateLost,
    /// A command that spends value may or may not have been executed and
    /// charged. It was not sent again: read the registers and the audit log
    /// (or the receipt) to learn what happened before trying again.
    #[error(
        "{command}: outcome unknown ({cause}); it was not sent again: read the registers and the audit log before retrying"
    )]
    OutcomeUnknown {
        /// The command, as named in the command table.
        command: &'static str,
        /// Why the outcome is unknown.
        #[source]
        cause: Ambiguity,
    },
    /// A command with a secret response went through a public call; nothing
    /// of the response is returned (use `Transaction::call_secret`).
    #[error("the response is secret: use call_secret")]
    SecretResponse,
    /// Transport failure.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Protocol violation.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A response did not decode.
    #[error("malformed response: {0}")]
    Format(#[from] FormatError),
}

impl MeterError {
    /// Maps a refusal to its typed error.
    pub fn from_sw(sw: Sw) -> Self {
        Self::Card(CardStatus::from(sw))
    }

    /// The raw status word, when the card answered.
    pub fn sw(&self) -> Option<Sw> {
        match self {
            Self::Card(status) => Some(status.sw()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_keeps_its_raw_status_word() {
        for raw in 0..=u16::MAX {
            let sw = Sw(raw);
            assert_eq!(CardStatus::from(sw).sw(), sw, "{sw}");
        }
        assert_eq!(CardStatus::from(Sw::INSUFFICIENT_FUNDS), CardStatus::InsufficientFunds);
        assert_eq!(CardStatus::from(Sw(0x63C2)), CardStatus::WrongPin { tries_left: 2 });
        assert_eq!(CardStatus::from(Sw::FILE_NOT_FOUND), CardStatus::Other(Sw::FILE_NOT_FOUND));
        assert_eq!(CardStatus::from(Sw::INSPECTION_OVERDUE), CardStatus::InspectionOverdue);
        assert_eq!(CardStatus::from(Sw::INSUFFICIENT_CREDIT), CardStatus::InsufficientCredit);
    }

    #[test]
    fn messages_name_the_status_word() {
        assert_eq!(
            MeterError::from_sw(Sw::INSUFFICIENT_FUNDS).to_string(),
            "insufficient funds: nothing was charged (SW 9401)"
        );
        assert_eq!(MeterError::from_sw(Sw(0x63C1)).to_string(), "wrong PIN: 1 tries left (SW 63C1)");
        assert!(MeterError::from_sw(Sw::FILE_NOT_FOUND).to_string().starts_with("card answered 6A82: "));
    }
}
