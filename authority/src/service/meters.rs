//! The meter registry and provider accounts, and the device-signature check
//! every meter message goes through.

use super::error::ApiError;
use crate::store::{Row, StoreError, Tx, TxResult, Value};
use apdu_specs::signed::Signed;
use host_driver::signature::P256Verifier;

/// A registered meter as the authority records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterRecord {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Device key (uncompressed SEC1).
    pub device_key: [u8; 65],
    /// Provider account debited for its recharges.
    pub account_id: String,
    /// `active`, `locked` or `revoked`.
    pub lifecycle: String,
    /// Highest recharge sequence authorized.
    pub nt: u32,
    /// CT after the last authorized recharge; `None` until first known.
    pub control_total: Option<u64>,
    /// Inspection deadline.
    pub deadline: u64,
}

const COLUMNS: &str = "SELECT meter_id, device_key, account_id, lifecycle, nt, control_total, deadline FROM meters";

fn record(row: &Row) -> Result<MeterRecord, StoreError> {
    Ok(MeterRecord {
        meter_id: row.bytes(0)?.try_into().map_err(|_| StoreError::Corrupt("meter id"))?,
        device_key: row.bytes(1)?.try_into().map_err(|_| StoreError::Corrupt("device key"))?,
        account_id: row.text(2)?,
        lifecycle: row.text(3)?,
        nt: u32::try_from(row.int(4)?).map_err(|_| StoreError::Corrupt("nt"))?,
        control_total: row.opt_int(5)?.map(|v| v as u64),
        deadline: row.uint(6)?,
    })
}

/// The meter, if registered.
pub fn find(tx: &mut dyn Tx, meter_id: &[u8; 12]) -> Result<Option<MeterRecord>, StoreError> {
    tx.query_opt(&format!("{COLUMNS} WHERE meter_id = $1"), &[Value::from(&meter_id[..])])?
        .as_ref()
        .map(record)
        .transpose()
}

/// Every meter, by ID.
pub fn all(tx: &mut dyn Tx) -> Result<Vec<MeterRecord>, StoreError> {
    tx.query(&format!("{COLUMNS} ORDER BY meter_id"), &[])?.iter().map(record).collect()
}

/// Verifies a device-signed envelope whose body names `meter_id`: the meter
/// must be registered and the signature must verify with its device key.
pub fn verify_device(
    tx: &mut dyn Tx,
    meter_id: &[u8; 12],
    domain: &[u8],
    signed: &Signed<'_>,
) -> TxResult<MeterRecord, ApiError> {
    let Some(meter) = find(tx, meter_id)? else { return Ok(Err(ApiError::unknown_meter(meter_id))) };
    Ok(verify_with(&meter.device_key, domain, signed).map(|()| meter))
}

/// Verifies a device-signed envelope with a known device key (no store access).
pub fn verify_with(device_key: &[u8; 65], domain: &[u8], signed: &Signed<'_>) -> Result<(), ApiError> {
    let digest = P256Verifier.sha256(&Signed::signing_input(domain, signed.body));
    if device_signature_valid(device_key, &digest, &signed.signature) {
        Ok(())
    } else {
        Err(ApiError::bad_signature("device"))
    }
}

/// True when raw r‖s is a low-S P-256 signature of `digest` under the
/// uncompressed `key`, the rule the card and `host_driver`'s verifier apply.
/// Checked with aws-lc-rs: every S1, S3, inspection report, revocation
/// request and payment goes through here, and the pure-Rust verify was the
/// largest cost of a recharge on the service's threads (profiled with
/// `perf record -a` on `authority-load`).
fn device_signature_valid(key: &[u8; 65], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    use aws_lc_rs::digest::{Digest, SHA256};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    if key[0] != 0x04 || !apdu_specs::p256_signature::is_low_s(signature) {
        return false;
    }
    let Ok(digest) = Digest::import_less_safe(digest, &SHA256) else { return false };
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key).verify_digest(&digest, signature).is_ok()
}

/// Registers a meter with its device key, provider account and first
/// deadline. The same registration again changes nothing; another key is refused.
pub fn register(
    tx: &mut dyn Tx,
    meter_id: &[u8; 12],
    device_key: &[u8; 65],
    account_id: &str,
    control_total: Option<u64>,
    deadline: u64,
    now: u64,
) -> TxResult<(), ApiError> {
    if !P256Verifier.valid_public(device_key) {
        return Ok(Err(ApiError::invalid("bad_key", "the device key is not a P-256 point")));
    }
    if let Some(known) = find(tx, meter_id)? {
        if known.device_key != *device_key {
            return Ok(Err(ApiError::conflict("other_device_key", "the meter is registered with another key")));
        }
        return Ok(Ok(()));
    }
    tx.execute(
        "INSERT INTO accounts (account_id, balance, updated_at) VALUES ($1, 0, $2) ON CONFLICT (account_id) DO NOTHING",
        &[account_id.into(), Value::Int(now as i64)],
    )?;
    tx.execute(
        "INSERT INTO meters (meter_id, device_key, account_id, lifecycle, nt, control_total, deadline, registered_at)
         VALUES ($1, $2, $3, 'active', 0, $4, $5, $6)",
        &[
            Value::from(&meter_id[..]),
            Value::from(&device_key[..]),
            account_id.into(),
            control_total.map(|v| v as i64).into(),
            Value::Int(deadline as i64),
            Value::Int(now as i64),
        ],
    )?;
    Ok(Ok(()))
}

/// Credits a provider account (creating it); returns the new balance.
pub fn credit_account(tx: &mut dyn Tx, account_id: &str, amount: u64, now: u64) -> TxResult<u64, ApiError> {
    let amount = match super::error::amount(amount) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let balance = tx.query_opt("SELECT balance FROM accounts WHERE account_id = $1", &[account_id.into()])?;
    let balance = balance.map(|r| r.int(0)).transpose()?.unwrap_or(0);
    let Some(new) = balance.checked_add(amount) else {
        return Ok(Err(ApiError::invalid("amount_overflow", "the balance would overflow")));
    };
    tx.execute(
        "INSERT INTO accounts (account_id, balance, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE SET balance = $2, updated_at = $3",
        &[account_id.into(), Value::Int(new), Value::Int(now as i64)],
    )?;
    Ok(Ok(new as u64))
}

/// The balance of a provider account.
pub fn balance(tx: &mut dyn Tx, account_id: &str) -> Result<Option<u64>, StoreError> {
    tx.query_opt("SELECT balance FROM accounts WHERE account_id = $1", &[account_id.into()])?
        .map(|r| r.uint(0))
        .transpose()
}

/// Takes the next value of a named counter (from 1).
pub fn next_counter(tx: &mut dyn Tx, name: &str) -> Result<u64, StoreError> {
    let row = tx.query_one(
        "INSERT INTO counters (name, value) VALUES ($1, 1)
         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        &[name.into()],
    )?;
    row.uint(0)
}

/// Parses a hex meter ID.
pub fn parse_meter_id(text: &str) -> Result<[u8; 12], ApiError> {
    super::error::hex_field("meter_id", text)?.try_into().map_err(|_| ApiError::malformed("meter_id is not 12 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKeyPair;

    #[test]
    fn device_signatures_verify_as_the_card_verifies_them() {
        let device = SigningKeyPair::from_seed("device");
        let other = SigningKeyPair::from_seed("other");
        for n in 0u8..32 {
            let digest = P256Verifier.sha256(&[&[n]]);
            let signature = device.sign_digest(&digest);
            assert!(device_signature_valid(&device.public(), &digest, &signature));
            assert!(P256Verifier.verify_digest(&device.public(), &digest, &signature));
            // The high-S twin is valid ECDSA, and refused by both, as by the card.
            let twin = apdu_specs::p256_signature::twin(&signature);
            assert!(!device_signature_valid(&device.public(), &digest, &twin));
            assert!(!P256Verifier.verify_digest(&device.public(), &digest, &twin));
            assert!(!device_signature_valid(&other.public(), &digest, &signature));
            let mut flipped = digest;
            flipped[n as usize] ^= 1;
            assert!(!device_signature_valid(&device.public(), &flipped, &signature));
        }
        let mut compressed = device.public();
        compressed[0] = 0x02;
        let digest = P256Verifier.sha256(&[b"x"]);
        assert!(!device_signature_valid(&compressed, &digest, &device.sign_digest(&digest)));
    }
}
