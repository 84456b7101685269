//! The authority's HTTP API as the host sees it: the request and response
//! types (shared with the service, which serves exactly these) and a typed
//! blocking client.
//!
//! Binary messages (signed envelopes, DER) travel as lowercase hex strings.
//! Every state-changing request carries an `Idempotency-Key`; the client
//! never re-sends a value request under a new key by itself.

pub mod client;
pub mod types;

pub use client::{AuthorityClient, ClientError, IdempotencyKey, TrustError};
pub use types::*;
