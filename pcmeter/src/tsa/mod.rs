//! The meter as an RFC 3161 timestamp authority (DESIGN §9): every token is
//! a postmark charged on the card.
//!
//! - [`request`]: the TimeStampReq, parsed strictly (SHA-256, the meter's
//!   policy, no extensions, nonce up to 32 octets);
//! - [`stamp`]: one postmark in its own host session (PIN, POSTMARK with the
//!   nonce, logout and reset), wrapped with the certificate if `certReq`;
//! - [`reply`]: the TimeStampResp, granted or a `PKIStatusInfo` rejection;
//! - [`queue`]: the card as one serial resource behind a bounded queue;
//! - [`server`]: the HTTP endpoint (axum), its limits and status codes;
//! - [`sim`]: a simulated meter with a certified postmark slot.

pub mod queue;
pub mod reply;
pub mod request;
pub mod server;
pub mod sim;
pub mod stamp;

pub use queue::{MeterQueue, QueueError};
pub use reply::{Failure, Refusal};
pub use request::Query;
pub use server::{Limits, QUERY_TYPE, REPLY_TYPE, ServeError, TsaServer};
pub use stamp::{Stamper, find_postmark_slot};
