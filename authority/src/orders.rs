//! Messages the authority (and the credit issuer) sign for a meter, each
//! under its own domain label: CA anchor updates, revocation orders (Fig. 6),
//! recharge authorizations (S2), inspection acknowledgements, lock orders
//! and lines of credit (Fig. 7A).

use crate::keys::SigningKeyPair;
use apdu_specs::certs::{AnchorUpdate, DOMAIN_CA_ANCHOR, DOMAIN_REVOCATION_ORDER, RevocationOrder};
use apdu_specs::credit::{CreditLine, DOMAIN_CREDIT_LINE};
use apdu_specs::inspection::{DOMAIN_INSPECTION_ACK, DOMAIN_LOCK_ORDER, InspectionAck, LockOrder};
use apdu_specs::recharge::{DOMAIN_RECHARGE_AUTHORIZATION, RechargeAuthorization};
use apdu_specs::signed;

/// `body` in a signed envelope, signed by `key` under `domain`.
fn sign(key: &SigningKeyPair, domain: &[u8], body: &[u8]) -> Vec<u8> {
    signed::encode(body, &key.sign_message(domain, body))
}

/// An authority-signed order replacing the meter's CA anchor.
pub fn anchor_update(authority: &SigningKeyPair, meter_id: &[u8; 12], version: u32, ca_key: &[u8; 65]) -> Vec<u8> {
    let body = AnchorUpdate { meter_id: *meter_id, version, ca_key: *ca_key }.encode();
    sign(authority, DOMAIN_CA_ANCHOR, &body)
}

/// An authority-signed order revoking the key `public_key` in `slot`, whatever certificate the slot holds.
pub fn revocation_order(
    authority: &SigningKeyPair,
    meter_id: &[u8; 12],
    slot: u8,
    public_key: &[u8; 65],
    reason: u8,
    time: u64,
) -> Vec<u8> {
    let body = RevocationOrder { meter_id: *meter_id, slot, reason, time, public_key: *public_key }.encode();
    sign(authority, DOMAIN_REVOCATION_ORDER, &body)
}

/// S2: the authority-signed recharge authorization.
pub fn recharge_authorization(authority: &SigningKeyPair, s2: &RechargeAuthorization) -> Vec<u8> {
    sign(authority, DOMAIN_RECHARGE_AUTHORIZATION, &s2.encode())
}

/// The authority-signed acknowledgement of an inspection report.
pub fn inspection_ack(authority: &SigningKeyPair, ack: &InspectionAck) -> Vec<u8> {
    sign(authority, DOMAIN_INSPECTION_ACK, &ack.encode())
}

/// An authority-signed LOCK or UNLOCK order.
pub fn lock_order(authority: &SigningKeyPair, order: &LockOrder) -> Vec<u8> {
    sign(authority, DOMAIN_LOCK_ORDER, &order.encode())
}

/// A line-of-credit certificate signed by a credit issuer's key (Fig. 7A, 808).
pub fn credit_line(issuer: &SigningKeyPair, line: &CreditLine) -> Vec<u8> {
    sign(issuer, DOMAIN_CREDIT_LINE, &line.encode())
}
