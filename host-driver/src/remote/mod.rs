//! Flows that drive the card and the authority together, each command sent
//! to the card once: revocation (Fig. 6) and the line of credit with its
//! payments and settlement (Figs. 7–9).
//!
//! State-changing calls to the authority carry one idempotency key per
//! step; an unanswered call is repeated under the same key only (the
//! service answers a replay with the response it stored, and applies
//! nothing twice). A card command that spends value or destroys a key is
//! never re-sent: after an ambiguous outcome the flow reads the card back.

pub mod credit;
pub mod revocation;

use crate::authority::{ClientError, IdempotencyKey};

/// How many times a state-changing authority call is made under one key.
pub const AUTHORITY_ATTEMPTS: usize = 3;

/// Calls `f` with a fresh idempotency key, and again with the same key
/// while the outcome is unknown ([`ClientError::Ambiguous`]), at most
/// [`AUTHORITY_ATTEMPTS`] times. A refusal or an answer ends it.
pub fn call_idempotent<T>(mut f: impl FnMut(&IdempotencyKey) -> Result<T, ClientError>) -> Result<T, ClientError> {
    let key = IdempotencyKey::generate()?;
    let mut attempt = 1;
    loop {
        match f(&key) {
            Err(ClientError::Ambiguous { url, message }) if attempt < AUTHORITY_ATTEMPTS => {
                tracing::warn!(%url, %message, attempt, "no answer from the authority; asking again under the same key");
                attempt += 1;
            }
            other => return other,
        }
    }
}
