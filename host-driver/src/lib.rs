//! # PCMeter host driver
//!
//! The host side of the meter: byte transports with transactions, one APDU
//! channel layer (encoding, chaining, `61xx`, `6Cxx`), a typed [`Meter`] API
//! with typed errors that keep the status word, off-card verifiers and a
//! Data Matrix renderer. APDUs are traced with `tracing` on target
//! `pcmeter::apdu`; secret data (PINs, profiles, DECRYPT plaintext) is typed
//! secret and traced as its length only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod certificates;
pub mod channel;
pub mod demo;
pub mod error;
pub mod meter;
pub mod pin;
pub mod render;
pub mod secret;
pub mod simulated;
pub mod transport;
pub mod verify;

pub use error::{Ambiguity, CardStatus, MeterError, ProtocolError};
pub use meter::{Meter, PinStatus, PublicKeys, Transaction};
pub use pin::Pin;
pub use secret::{Payload, SecretBytes};
pub use transport::in_process::{InProcessTransport, SharedCard};
pub use transport::{Transaction as CardTransaction, Transport, TransportError};
