//! Flows that drive a [`Meter`] and the authority together: remote recharge
//! ([`recharge()`]), inspection with the pending LOCK/UNLOCK orders
//! ([`inspect()`]), rate-table updates ([`update_rates()`]), revocation
//! (Fig. 6, [`revocation`]) and the line of credit with its payments and
//! settlement (Figs. 7–9, [`credit`]).
//!
//! Two rules hold in every flow. A value command (RECHARGE CREDIT) is sent to
//! the card once: after an ambiguous outcome the flow reads the registers
//! and the stored receipt to learn what happened. A state-changing request
//! to the authority is retried only with its first `Idempotency-Key`, so a
//! dropped answer is fetched again and never applied twice.

pub mod credit;
pub mod inspection;
pub mod rates;
pub mod recharge;
pub mod revocation;

pub use inspection::{AppliedOrder, Inspected, inspect};
pub use rates::{RatesUpdate, update_rates};
pub use recharge::{Recharged, recharge, reconcile};

use crate::authority::{
    AuthorityClient, ClientError, IdempotencyKey, InspectionResult, MeterState, PendingLockOrders, PublishedRateTable,
    ReceiptAccepted, RechargeAuthorization,
};
use crate::error::MeterError;
use crate::meter::{Meter, Transaction};
use crate::pin::Pin;
use crate::transport::Transport;
use std::time::Duration;

/// The authority as the flows use it: [`AuthorityClient`] over HTTP, or a
/// wrapper around it (tests inject dropped and replayed answers).
pub trait Authority {
    /// `GET /v1/meters/{id}`.
    fn meter_state(&self, meter_id: &[u8; 12]) -> Result<MeterState, ClientError>;
    /// `POST /v1/recharges`: S1 → S2.
    fn recharge(&self, key: &IdempotencyKey, s1: &[u8]) -> Result<RechargeAuthorization, ClientError>;
    /// `POST /v1/recharges/receipts`: S3 → settled.
    fn receipt(&self, key: &IdempotencyKey, s3: &[u8]) -> Result<ReceiptAccepted, ClientError>;
    /// `POST /v1/inspections`: report → acknowledgement.
    fn inspect(&self, key: &IdempotencyKey, report: &[u8]) -> Result<InspectionResult, ClientError>;
    /// `GET /v1/meters/{id}/lock-orders?after=N`.
    fn lock_orders(&self, meter_id: &[u8; 12], after: u32) -> Result<PendingLockOrders, ClientError>;
    /// `GET /v1/rate-tables/latest`.
    fn latest_rates(&self) -> Result<PublishedRateTable, ClientError>;
}

impl Authority for AuthorityClient {
    fn meter_state(&self, meter_id: &[u8; 12]) -> Result<MeterState, ClientError> {
        AuthorityClient::meter_state(self, meter_id)
    }
    fn recharge(&self, key: &IdempotencyKey, s1: &[u8]) -> Result<RechargeAuthorization, ClientError> {
        AuthorityClient::recharge(self, key, s1)
    }
    fn receipt(&self, key: &IdempotencyKey, s3: &[u8]) -> Result<ReceiptAccepted, ClientError> {
        AuthorityClient::receipt(self, key, s3)
    }
    fn inspect(&self, key: &IdempotencyKey, report: &[u8]) -> Result<InspectionResult, ClientError> {
        AuthorityClient::inspect(self, key, report)
    }
    fn lock_orders(&self, meter_id: &[u8; 12], after: u32) -> Result<PendingLockOrders, ClientError> {
        AuthorityClient::lock_orders(self, meter_id, after)
    }
    fn latest_rates(&self) -> Result<PublishedRateTable, ClientError> {
        AuthorityClient::latest_rates(self)
    }
}

/// How often an ambiguous step is tried again, and the pause between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Most tries of one step (at least 1).
    pub attempts: u32,
    /// Pause before each new try.
    pub pause: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self { attempts: 5, pause: Duration::from_millis(250) }
    }
}

impl Retry {
    fn wait(&self) {
        if !self.pause.is_zero() {
            std::thread::sleep(self.pause);
        }
    }
}

/// Why a flow stopped.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The card refused, or could not be reached.
    #[error(transparent)]
    Meter(#[from] MeterError),
    /// The authority refused, or did not answer after every retry.
    #[error(transparent)]
    Authority(#[from] ClientError),
    /// The authority's answer is not what the card needs.
    #[error("unusable answer from the authority: {0}")]
    BadAnswer(String),
    /// The card and the authority's records disagree in a way no retry mends.
    #[error("the card and the authority disagree: {0}")]
    Inconsistent(String),
    /// Every try of a step ended ambiguously; nothing is known to be lost
    /// (the next run reconciles).
    #[error("{step}: gave up after {attempts} ambiguous tries: {last}")]
    GaveUp {
        /// The step.
        step: &'static str,
        /// Tries made.
        attempts: u32,
        /// The last cause.
        last: String,
    },
}

/// True when a card-side failure leaves the outcome of what was sent unknown
/// (the card may or may not have executed it). A card refusal is definite.
pub(crate) fn ambiguous(e: &MeterError) -> bool {
    matches!(
        e,
        MeterError::OutcomeUnknown { .. }
            | MeterError::PinStateLost
            | MeterError::Transport(_)
            | MeterError::Protocol(_)
    )
}

/// Calls the authority until it answers, always under the same idempotency
/// key (for a `GET`, the key is unused).
pub(crate) fn call_authority<R>(
    step: &'static str,
    retry: &Retry,
    key: &IdempotencyKey,
    mut call: impl FnMut(&IdempotencyKey) -> Result<R, ClientError>,
) -> Result<R, RemoteError> {
    let attempts = retry.attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match call(key) {
            Ok(r) => return Ok(r),
            Err(e) if e.is_retriable() => {
                tracing::warn!(step, attempt, error = %e, "no usable answer from the authority: trying again with the same key");
                last = e.to_string();
                if attempt < attempts {
                    retry.wait();
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(RemoteError::GaveUp { step, attempts, last })
}

/// Runs a read-only card step, recovering the connection and trying again
/// after a reset or a lost answer (a read changes nothing on the card).
/// Every transaction of the flows starts with SELECT: an earlier session's
/// end reset the card.
pub(crate) fn read_card<T: Transport, R>(
    meter: &mut Meter<T>,
    retry: &Retry,
    step: &'static str,
    mut f: impl FnMut(&mut Transaction<'_, T>) -> Result<R, MeterError>,
) -> Result<R, RemoteError> {
    let attempts = retry.attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match meter.run(|tx| {
            tx.select()?;
            f(tx)
        }) {
            Ok(r) => return Ok(r),
            Err(e) if ambiguous(&e) => {
                tracing::warn!(step, attempt, error = %e, "card read failed: reconnecting");
                last = e.to_string();
                if attempt < attempts {
                    retry.wait();
                    if let Err(e) = meter.recover() {
                        tracing::debug!(error = %e, "reconnect failed");
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(RemoteError::GaveUp { step, attempts, last })
}

/// Runs `f` in one transaction with the PIN verified, then ends the host
/// session (the card is reset, so no later client inherits the PIN). `f`'s
/// result is kept even when ending the session fails.
pub(crate) fn in_session<T: Transport, R>(
    meter: &mut Meter<T>,
    pin: &Pin,
    f: impl FnOnce(&mut Transaction<'_, T>) -> R,
) -> Result<R, MeterError> {
    let mut tx = meter.transaction()?;
    tx.select()?;
    tx.verify_pin(pin)?;
    let result = f(&mut tx);
    if let Err(e) = tx.end_session() {
        tracing::debug!(error = %e, "ending the host session failed (the card lost it anyway)");
    }
    Ok(result)
}

/// The meter ID from the last SELECT (selecting again when none).
pub(crate) fn meter_id<T: Transport>(meter: &mut Meter<T>) -> Result<[u8; 12], RemoteError> {
    let fci = match meter.fci() {
        Some(fci) => fci.clone(),
        None => meter.select()?,
    };
    fci.meter_id.ok_or_else(|| RemoteError::Inconsistent("the card is not personalized (no meter ID)".into()))
}

/// Decodes a hex field of an authority answer.
pub(crate) fn unhex(field: &str, text: &str) -> Result<Vec<u8>, RemoteError> {
    hex::decode(text).map_err(|e| RemoteError::BadAnswer(format!("{field} is not hex: {e}")))
}

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
