//! # PCMeter wire specification
//!
//! The single source of truth for the APDU interface between the meter card
//! (`card-core`) and the host (`host-driver`): class and instruction bytes,
//! the typed command set that the card parses and the host encodes
//! ([`command`]), the command table with lifecycle, security, charge and
//! each command's parser, status words,
//! data-object tags, and the byte layouts of every message. The Markdown
//! reference in `docs/commands/` is rendered from [`commands`] and checked
//! by the tests; the transcript vectors in `vectors/` are replayed by both
//! card and host tests.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Reachable code never panics: no unwrap, expect, panic or unchecked indexing.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

extern crate alloc;

pub mod asn1;
pub mod audit;
pub mod capdu;
pub mod certs;
pub mod codec;
pub mod command;
pub mod commands;
pub mod credit;
pub mod crl;
pub mod csr;
pub mod date;
pub mod fci;
pub mod indicium;
pub mod inspection;
pub mod lifecycle;
pub mod mailpiece;
pub mod oid;
pub mod p256_signature;
pub mod path;
pub mod perso;
pub mod pin;
pub mod postmark;
pub mod rates;
pub mod recharge;
pub mod registers;
pub mod service;
pub mod signed;
pub mod sw;
pub mod tags;
pub mod tlv;
pub mod vectors;
pub mod x509;

pub use codec::FormatError;
pub use command::{CardCommand, Command};
pub use commands::{AID, COMMANDS, CommandSpec};
pub use lifecycle::Lifecycle;
pub use service::Service;
pub use sw::Sw;
/// RustCrypto `der`, `x509-cert` and `const-oid`, which PCMeter's PKI formats are built on.
pub use {const_oid, der, x509_cert};
