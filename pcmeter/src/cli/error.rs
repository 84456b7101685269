//! The CLI's error: a message for people, a documented exit code for
//! scripts, and the card's status word when the card refused.

use host_driver::{CardStatus, MeterError};
use serde::Serialize;
use std::path::Path;

/// The documented exit codes (docs/cli.md). Usage errors exit with 2 (clap);
/// a signal exits with 128 + its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// Anything not listed below.
    Failure = 1,
    /// A file or argument given is unreadable or malformed; nothing reached the card.
    Input = 3,
    /// No reader, no meter, the meter busy, or the state file unusable.
    Meter = 4,
    /// The card refused the command; nothing was charged.
    Refused = 5,
    /// Insufficient funds (SW 9401); nothing was charged.
    Funds = 6,
    /// A verification failed: a token, indicium, signature or certificate is not valid.
    Invalid = 7,
    /// A value command's outcome is unknown; it was not re-sent: read the registers.
    OutcomeUnknown = 8,
    /// `verify-indicium`: the image, PDF or hex cannot be read.
    Unreadable = 20,
    /// `verify-indicium`: no Data Matrix found in the input.
    NoSymbol = 21,
    /// `verify-indicium`: the label verifies but comes from another meter than `--meter-id`.
    OtherMeter = 22,
    /// `verify-indicium`: the indicium is tampered or is no indicium.
    Tampered = 23,
}

/// A failed command.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// Exit code.
    pub exit: Exit,
    /// What went wrong, with its context.
    pub message: String,
    /// The card's status word, when it refused.
    pub status_word: Option<u16>,
}

impl CliError {
    /// An error of kind `exit`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self { exit, message: message.into(), status_word: None }
    }

    /// Bad input: a malformed file or argument.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Exit::Input, message)
    }

    /// An unreadable or unwritable file.
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        Self::input(format!("{}: {e}", path.display()))
    }

    /// A failed verification.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Exit::Invalid, message)
    }

    /// The JSON form printed on standard output under `--json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "exit_code": self.exit as i32,
                "kind": self.exit,
                "message": self.message,
                "status_word": self.status_word.map(|sw| format!("{sw:04X}")),
            }
        })
    }
}

impl From<pcmeter::scan::ScanFailure> for CliError {
    fn from(e: pcmeter::scan::ScanFailure) -> Self {
        use pcmeter::scan::ScanFailure;
        let exit = match &e {
            ScanFailure::Unreadable(..) => Exit::Unreadable,
            ScanFailure::NoSymbol(_) => Exit::NoSymbol,
            ScanFailure::OtherMeter { .. } => Exit::OtherMeter,
            ScanFailure::Tampered { .. } => Exit::Tampered,
            ScanFailure::Tool(..) => Exit::Failure,
        };
        Self::new(exit, e.to_string())
    }
}

impl From<MeterError> for CliError {
    fn from(e: MeterError) -> Self {
        let exit = match &e {
            MeterError::Card(CardStatus::InsufficientFunds) => Exit::Funds,
            MeterError::Card(_) => Exit::Refused,
            MeterError::OutcomeUnknown { .. } => Exit::OutcomeUnknown,
            MeterError::Transport(_) | MeterError::PinStateLost => Exit::Meter,
            MeterError::Protocol(_) | MeterError::Format(_) | MeterError::SecretResponse => Exit::Failure,
        };
        Self { exit, message: e.to_string(), status_word: e.sw().map(|sw| sw.0) }
    }
}

impl From<host_driver::TransportError> for CliError {
    fn from(e: host_driver::TransportError) -> Self {
        MeterError::from(e).into()
    }
}

impl From<apdu_specs::FormatError> for CliError {
    fn from(e: apdu_specs::FormatError) -> Self {
        Self::input(e.to_string())
    }
}

/// The result of a command.
pub type CliResult<T> = Result<T, CliError>;
