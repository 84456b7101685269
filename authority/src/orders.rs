//! Orders the authority signs for a meter: CA anchor updates and revocation
//! orders (Fig. 6), each under its own domain label.

use crate::keys::SigningKeyPair;
use apdu_specs::certs::{AnchorUpdate, DOMAIN_CA_ANCHOR, DOMAIN_REVOCATION_ORDER, RevocationOrder};
use apdu_specs::signed;

/// An authority-signed order replacing the meter's CA anchor.
pub fn anchor_update(authority: &SigningKeyPair, meter_id: &[u8; 12], version: u32, ca_key: &[u8; 65]) -> Vec<u8> {
    let body = AnchorUpdate { meter_id: *meter_id, version, ca_key: *ca_key }.encode();
    signed::encode(&body, &authority.sign_message(DOMAIN_CA_ANCHOR, &body))
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
    signed::encode(&body, &authority.sign_message(DOMAIN_REVOCATION_ORDER, &body))
}
