//! # PCMeter host driver
//!
//! The host side of the meter: byte transports with transactions, one APDU
//! channel layer (encoding, chaining, `61xx`, `6Cxx`), a typed [`Meter`] API
//! with typed errors that keep the status word, and off-card verifiers. APDUs
//! are traced with `tracing` on target `pcmeter::apdu`; secret data (PINs,
//! profiles, DECRYPT plaintext) is typed secret and traced as its length
//! only. It links no simulator, applet or database: the in-process transport
//! to a simulated card is `card_sim::in_process`, the CLI is crate `pcmeter`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authority;
pub mod certificates;
pub mod channel;
pub mod ecies;
pub mod error;
pub mod meter;
pub mod pin;
pub mod remote;
pub mod secret;
pub mod signature;
pub mod transport;
pub mod verify;

pub use error::{Ambiguity, CardStatus, MeterError, ProtocolError};
pub use meter::{Meter, PinStatus, PublicKeys, Transaction};
pub use pin::Pin;
pub use secret::{Payload, SecretBytes};
pub use transport::{CardTransaction, Transport, TransportError};
