//! Revocation (Fig. 6) from the host: the card signs the user's request
//! (602), the authority checks it (604/606), records it (622) and answers
//! with its signed order (608); the card checks the order (610–614),
//! destroys the key, charges the fee or records it as owed, and signs the
//! confirmation, "paid" or "payment due" (616–624), which goes back to the
//! authority. A forced revocation has no request: the host fetches the
//! authority's unconfirmed orders for the meter and carries them out.

use super::call_idempotent;
use crate::authority::{AuthorityClient, ClientError, RevocationConfirmed, RevocationOrderIssued};
use crate::error::MeterError;
use crate::meter::Transaction;
use crate::transport::Transport;
use apdu_specs::FormatError;
use apdu_specs::certs::{RevocationConfirmation, RevocationOrder, RevocationRequest, SlotState};
use apdu_specs::signed::Signed;

/// A revocation carried out on the card and recorded by the authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The authority's signed order (608).
    pub order: Vec<u8>,
    /// What the order says.
    pub ordered: RevocationOrder,
    /// When the authority recorded the revocation (622), Unix seconds.
    pub recorded_at: u64,
    /// The card's device-signed confirmation (616–624).
    pub confirmation: Vec<u8>,
    /// What the confirmation says: the slot, the fee and whether it was paid.
    pub confirmed: RevocationConfirmation,
    /// The authority's record of the confirmation (`paid` or `payment_due`).
    pub recorded: RevocationConfirmed,
}

/// Why a revocation flow stopped.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// The card refused, or could not be reached.
    #[error(transparent)]
    Meter(#[from] MeterError),
    /// The authority refused (a bad request signature is 604/606), or did not answer.
    #[error(transparent)]
    Authority(#[from] ClientError),
    /// The authority's order does not decode, or orders another meter, slot or key than requested.
    #[error("the authority's order is unusable: {0}")]
    Order(String),
    /// The card's answer does not decode.
    #[error("malformed card answer: {0}")]
    Format(#[from] FormatError),
    /// REVOKE's outcome was unknown and the slot now reads revoked: the key
    /// is destroyed, but the signed confirmation was lost (it was not re-sent).
    #[error("slot {slot}: the key is revoked but the card's confirmation was lost; the authority keeps the order open")]
    ConfirmationLost {
        /// The slot.
        slot: u8,
    },
}

fn order_of(issued: &RevocationOrderIssued) -> Result<(Vec<u8>, RevocationOrder), RevocationError> {
    let envelope = hex::decode(&issued.order).map_err(|e| RevocationError::Order(format!("not hex: {e}")))?;
    let order = Signed::parse(&envelope)
        .and_then(|s| RevocationOrder::parse(s.body))
        .map_err(|e| RevocationError::Order(e.to_string()))?;
    Ok((envelope, order))
}

/// The user's revocation of `slot` with a CRL `reason` (RFC 5280 §5.3.1),
/// from request to recorded confirmation. The PIN must be verified in `tx`.
pub fn revoke<T: Transport>(
    tx: &mut Transaction<'_, T>,
    client: &AuthorityClient,
    slot: u8,
    reason: u8,
) -> Result<Revocation, RevocationError> {
    let request = tx.revocation_request(slot, reason)?;
    let asked = RevocationRequest::parse(Signed::parse(&request)?.body)?;
    let issued = call_idempotent(|key| client.revoke(key, &request))?;
    let (envelope, order) = order_of(&issued)?;
    if (order.meter_id, order.slot, order.public_key) != (asked.meter_id, asked.slot, asked.public_key) {
        return Err(RevocationError::Order("it names another meter, slot or key than the request".into()));
    }
    apply(tx, client, envelope, order, issued.recorded_at)
}

/// Carries out the authority's unconfirmed orders for `meter_id` (forced
/// revocations, or a request whose order never reached the card). An order
/// for a key the card already destroyed is skipped (its confirmation was
/// lost; the order stays open at the authority). The PIN must be verified in `tx`.
pub fn apply_pending<T: Transport>(
    tx: &mut Transaction<'_, T>,
    client: &AuthorityClient,
    meter_id: &[u8; 12],
) -> Result<Vec<Revocation>, RevocationError> {
    let pending: crate::authority::PendingRevocationOrders =
        client.get(&format!("/v1/meters/{}/revocation-orders", hex::encode(meter_id)))?;
    let mut done = Vec::new();
    for issued in &pending.orders {
        let (envelope, order) = order_of(issued)?;
        if order.meter_id != *meter_id {
            return Err(RevocationError::Order("it names another meter".into()));
        }
        let slot = tx.read_slot(order.slot)?;
        if slot.state == SlotState::Revoked || slot.public_key != Some(order.public_key) {
            tracing::warn!(slot = order.slot, "an open revocation order names a key the slot no longer holds; skipped");
            continue;
        }
        done.push(apply(tx, client, envelope, order, issued.recorded_at)?);
    }
    Ok(done)
}

/// REVOKE (sent once) and the confirmation to the authority.
fn apply<T: Transport>(
    tx: &mut Transaction<'_, T>,
    client: &AuthorityClient,
    envelope: Vec<u8>,
    ordered: RevocationOrder,
    recorded_at: u64,
) -> Result<Revocation, RevocationError> {
    let confirmation = match tx.revoke(&envelope) {
        Ok(c) => c,
        Err(e @ MeterError::OutcomeUnknown { .. }) => {
            return Err(match tx.read_slot(ordered.slot) {
                Ok(info) if info.state == SlotState::Revoked => {
                    RevocationError::ConfirmationLost { slot: ordered.slot }
                }
                _ => e.into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let confirmed = RevocationConfirmation::parse(Signed::parse(&confirmation)?.body)?;
    let recorded = call_idempotent(|key| client.confirm_revocation(key, &confirmation))?;
    tracing::info!(slot = confirmed.slot, fee = confirmed.fee, paid = confirmed.paid, "slot key revoked and confirmed");
    Ok(Revocation { order: envelope, ordered, recorded_at, confirmation, confirmed, recorded })
}
