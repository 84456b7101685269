//! # PCMeter card core
//!
//! The meter applet as a pure ISO/IEC 7816-4 APDU state machine. It owns the
//! money registers, keys, PIN, rate table and audit log, and reaches its
//! device only through the [`Platform`] trait (crypto engine, clock,
//! transactional store), so the same code could run on a secure element.
//!
//! Rules enforced here:
//! - AR_p + AR_c + DR == CT after every command; a failed check at power-on locks the meter.
//! - Debit, counters and the audit record commit together before any signed output leaves.
//! - Each APDU is one transaction; the store's `commit` is all-or-nothing.
//! - PIN retry counters are decremented and committed before a constant-time comparison.
//! - Reset, power-off and deselect clear all volatile security state.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Reachable code never panics: no unwrap, expect, panic or unchecked indexing.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

extern crate alloc;

mod applet;
pub mod ecies;
mod handlers;
pub mod iso;
pub mod platform;
#[cfg(feature = "soft-engine")]
pub mod soft_engine;
pub mod state;

pub use applet::{Applet, LoadError};
pub use platform::{
    CryptoEngine, CryptoError, EngineCheck, Platform, PublicKey, RecordId, SecretKey, Store, StoreError, WriteSet,
};
