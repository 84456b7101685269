//! Data-object tags read with GET DATA (P1-P2 = tag).

/// Registers ([`crate::registers::Registers`]).
pub const REGISTERS: u16 = 0xDF20;
/// Status ([`crate::registers::Status`]); the only object readable when TERMINATED.
pub const STATUS: u16 = 0xDF21;
/// The rate table in force, as its signed envelope.
pub const RATE_TABLE: u16 = 0xDF22;
/// Audit-log head ([`crate::audit::Head`]).
pub const AUDIT_HEAD: u16 = 0xDF23;
/// Public keys: `81` device key, `82` postal key (ECDSA variant only), SEC1 uncompressed.
pub const PUBLIC_KEYS: u16 = 0xDF24;
/// One audit record, read with the odd GET DATA (`CB`) and the record number in the data field.
pub const AUDIT_RECORD: u16 = 0xDF25;
/// The last indicium the card issued, whole (signed part and authenticator),
/// stored in the same commit as its debit: a host that lost the answer
/// recovers the paid indicium from here (`6A88` before the first indicium).
pub const LAST_INDICIUM: u16 = 0xDF28;

/// The installed line of credit ([`crate::credit::CreditStatus`]).
pub const CREDIT_STATUS: u16 = 0xDF26;
/// The installed line of credit, as its signed envelope.
pub const CREDIT_LINE: u16 = 0xDF27;

/// Tag of the device public key inside [`PUBLIC_KEYS`].
pub const DEVICE_KEY: u16 = 0x81;
/// Tag of the postal public key inside [`PUBLIC_KEYS`].
pub const POSTAL_KEY: u16 = 0x82;
