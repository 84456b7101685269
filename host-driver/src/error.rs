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

/// Errors of the typed meter API.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    /// Wrong PIN (or PUK).
    #[error("wrong PIN: {tries_left} tries left (SW {sw})")]
    WrongPin {
        /// Tries left.
        tries_left: u8,
        /// Raw status word.
        sw: Sw,
    },
    /// PIN (or PUK) blocked.
    #[error("PIN blocked (SW {sw})")]
    PinBlocked {
        /// Raw status word.
        sw: Sw,
    },
    /// The command needs the PIN verified first.
    #[error("PIN verification required (SW {sw})")]
    PinRequired {
        /// Raw status word.
        sw: Sw,
    },
    /// Not enough funds; nothing was charged.
    #[error("insufficient funds: nothing was charged (SW {sw})")]
    InsufficientFunds {
        /// Raw status word.
        sw: Sw,
    },
    /// An authority signature did not verify on the card.
    #[error("the card rejected the signature (SW {sw})")]
    SignatureRejected {
        /// Raw status word.
        sw: Sw,
    },
    /// Wrong lifecycle state, not selected, stale data or clock.
    #[error("conditions of use not satisfied (SW {sw})")]
    ConditionsNotSatisfied {
        /// Raw status word.
        sw: Sw,
    },
    /// The card rejected the data.
    #[error("the card rejected the data (SW {sw})")]
    BadData {
        /// Raw status word.
        sw: Sw,
    },
    /// Referenced data not found.
    #[error("not found on the card (SW {sw})")]
    NotFound {
        /// Raw status word.
        sw: Sw,
    },
    /// The card store failed; nothing was committed.
    #[error("card memory failure: nothing was committed (SW {sw})")]
    MemoryFailure {
        /// Raw status word.
        sw: Sw,
    },
    /// The certificate is not signed by the card's CA anchor; nothing changed.
    #[error("the certificate is not signed by the card's CA anchor: nothing changed (SW {sw})")]
    CertificateNotFromCa {
        /// Raw status word.
        sw: Sw,
    },
    /// The certificate is for another key than the slot's; nothing changed.
    #[error("the certificate is for another key than the slot's: nothing changed (SW {sw})")]
    CertificateKeyMismatch {
        /// Raw status word.
        sw: Sw,
    },
    /// The certificate is expired or not yet valid; nothing changed.
    #[error("the certificate is expired or not yet valid: nothing changed (SW {sw})")]
    CertificateOutsideValidity {
        /// Raw status word.
        sw: Sw,
    },
    /// The slot key is revoked; nothing changed.
    #[error("the slot key is revoked: nothing changed (SW {sw})")]
    KeyRevoked {
        /// Raw status word.
        sw: Sw,
    },
    /// The slot or its certificate does not allow this use; nothing changed.
    #[error("the slot or its certificate does not allow this use: nothing changed (SW {sw})")]
    UsageNotAllowed {
        /// Raw status word.
        sw: Sw,
    },
    /// The command data exceeds what the card accepts; nothing changed.
    #[error("the command data exceeds what the card accepts: nothing changed (SW {sw})")]
    NotEnoughMemory {
        /// Raw status word.
        sw: Sw,
    },
    /// Any other status word.
    #[error("card answered {sw}: {}", sw.description())]
    Card {
        /// Raw status word.
        sw: Sw,
    },
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
    /// of the response is returned (use `Session::call_secret`).
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
        if let Some(tries_left) = sw.tries_left() {
            return Self::WrongPin { tries_left, sw };
        }
        match sw {
            Sw::PIN_BLOCKED => Self::PinBlocked { sw },
            Sw::SECURITY_STATUS_NOT_SATISFIED => Self::PinRequired { sw },
            Sw::INSUFFICIENT_FUNDS => Self::InsufficientFunds { sw },
            Sw::VERIFICATION_FAILED => Self::SignatureRejected { sw },
            Sw::CONDITIONS_NOT_SATISFIED => Self::ConditionsNotSatisfied { sw },
            Sw::BAD_DATA => Self::BadData { sw },
            Sw::NOT_FOUND => Self::NotFound { sw },
            Sw::MEMORY_FAILURE => Self::MemoryFailure { sw },
            Sw::CERT_NOT_FROM_CA => Self::CertificateNotFromCa { sw },
            Sw::CERT_KEY_MISMATCH => Self::CertificateKeyMismatch { sw },
            Sw::CERT_OUTSIDE_VALIDITY => Self::CertificateOutsideValidity { sw },
            Sw::KEY_REVOKED => Self::KeyRevoked { sw },
            Sw::USAGE_NOT_ALLOWED => Self::UsageNotAllowed { sw },
            Sw::NOT_ENOUGH_MEMORY => Self::NotEnoughMemory { sw },
            _ => Self::Card { sw },
        }
    }

    /// The raw status word, when the card answered.
    pub fn sw(&self) -> Option<Sw> {
        match self {
            Self::WrongPin { sw, .. }
            | Self::PinBlocked { sw }
            | Self::PinRequired { sw }
            | Self::InsufficientFunds { sw }
            | Self::SignatureRejected { sw }
            | Self::ConditionsNotSatisfied { sw }
            | Self::BadData { sw }
            | Self::NotFound { sw }
            | Self::MemoryFailure { sw }
            | Self::CertificateNotFromCa { sw }
            | Self::CertificateKeyMismatch { sw }
            | Self::CertificateOutsideValidity { sw }
            | Self::KeyRevoked { sw }
            | Self::UsageNotAllowed { sw }
            | Self::NotEnoughMemory { sw }
            | Self::Card { sw } => Some(*sw),
            _ => None,
        }
    }
}
