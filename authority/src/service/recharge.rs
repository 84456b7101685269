//! Remote recharge (claims 15, 30; DESIGN §5), the authority's half:
//! S1 → S2 (debit the provider account once per (meter, sequence)), S3 → settled.
//!
//! Rules, in order: the envelope parses; the meter is registered and its
//! device signature verifies; the amount is non-zero and in range; the
//! registers balance ([`prepare`], outside the transaction, which also signs
//! the S2 a new recharge gets). Then, in one transaction ([`authorize_prepared`]):
//! - a recharge already recorded under (meter, sequence) with the same nonce
//!   returns its stored S2 (a replay; no second debit);
//! - the same sequence with a new nonce while still `authorized` (S2 never
//!   credited by the card) re-signs S2 for the new nonce, same amount, no
//!   second debit; once `settled`, a new nonce is a replay and refused;
//! - a new sequence must be the recorded NT + 1 and the card's CT must equal
//!   the CT the authority recorded (the registers agree with the records);
//!   the provider account must cover the amount; the account is debited, the
//!   ledger row written and the meter's NT, CT and deadline advanced.

use super::Authority;
use super::error::{ApiError, amount};
use super::meters::{self, MeterRecord};
use crate::orders;
use crate::store::{StoreError, Tx, TxResult, Value};
use apdu_specs::recharge::{
    DOMAIN_RECHARGE_RECEIPT, DOMAIN_RECHARGE_REQUEST, RechargeAuthorization, RechargeReceipt, RechargeRequest,
};
use apdu_specs::signed::Signed;
use host_driver::authority as api;

fn refuse<T>(e: ApiError) -> TxResult<T, ApiError> {
    Ok(Err(e))
}

fn answer(a: &RechargeAuthorization, s2: &[u8]) -> api::RechargeAuthorization {
    api::RechargeAuthorization {
        s2: hex::encode(s2),
        sequence: a.sequence,
        amount: a.amount,
        new_control_total: a.new_control_total,
        next_deadline: a.next_deadline,
    }
}

/// S1 checked and S2 signed outside any transaction: the device signature
/// verified against the registered key, the amount and registers checked,
/// and the S2 a new recharge under this S1 would get, signed at `now`. The
/// transaction ([`authorize_prepared`]) then only reads and writes rows, so
/// neither signature operation runs inside the database's write critical
/// section (SQLite has one writer).
#[derive(Debug, Clone)]
pub struct Prepared {
    s1: Vec<u8>,
    request: RechargeRequest,
    device_key: [u8; 65],
    debit: i64,
    fresh: RechargeAuthorization,
    fresh_s2: Vec<u8>,
    now: u64,
}

impl Prepared {
    /// The meter the S1 names.
    pub fn meter_id(&self) -> &[u8; 12] {
        &self.request.meter_id
    }

    /// The time S2 was signed with (the transaction uses the same).
    pub fn now(&self) -> u64 {
        self.now
    }
}

/// Parses S1 and names its meter, so the caller can look up the device key.
pub fn s1_meter(s1: &[u8]) -> Result<[u8; 12], ApiError> {
    Signed::parse(s1)
        .and_then(|s| RechargeRequest::parse(s.body))
        .map(|r| r.meter_id)
        .map_err(|e| ApiError::malformed(format!("S1: {e}")))
}

/// Checks S1 against `device_key` (the meter's registered key) and signs the
/// S2 of a new recharge; no store access.
pub fn prepare(authority: &Authority, s1: &[u8], device_key: &[u8; 65], now: u64) -> Result<Prepared, ApiError> {
    let (signed, request) = Signed::parse(s1)
        .and_then(|s| RechargeRequest::parse(s.body).map(|r| (s, r)))
        .map_err(|e| ApiError::malformed(format!("S1: {e}")))?;
    meters::verify_with(device_key, DOMAIN_RECHARGE_REQUEST, &signed)?;
    let debit = amount(request.amount)?;
    if !request.registers.balanced() {
        return Err(ApiError::invalid("unbalanced_registers", "AR_p + AR_c + DR != CT in S1"));
    }
    let Some(new_ct) = request.registers.control_total.checked_add(request.amount).filter(|v| *v <= i64::MAX as u64)
    else {
        return Err(ApiError::invalid("amount_overflow", "CT would overflow"));
    };
    let fresh = RechargeAuthorization {
        meter_id: request.meter_id,
        sequence: request.sequence,
        nonce: request.nonce,
        amount: request.amount,
        new_control_total: new_ct,
        next_deadline: now.saturating_add(authority.policy.inspection_period),
        time: now,
    };
    let fresh_s2 = orders::recharge_authorization(&authority.key, &fresh);
    Ok(Prepared { s1: s1.to_vec(), request, device_key: *device_key, debit, fresh, fresh_s2, now })
}

/// S1 → S2 in one transaction: [`prepare`] with the registered key, then
/// [`authorize_prepared`]. The HTTP service prepares outside the transaction.
pub fn authorize(
    tx: &mut dyn Tx,
    authority: &Authority,
    s1: &[u8],
    now: u64,
) -> TxResult<api::RechargeAuthorization, ApiError> {
    let meter_id = match s1_meter(s1) {
        Ok(id) => id,
        Err(e) => return refuse(e),
    };
    let Some(meter) = meters::find(tx, &meter_id)? else { return refuse(ApiError::unknown_meter(&meter_id)) };
    match prepare(authority, s1, &meter.device_key, now) {
        Ok(prepared) => authorize_prepared(tx, authority, &prepared),
        Err(e) => refuse(e),
    }
}

/// The transaction half of S1 → S2 (see the module docs for the rules).
pub fn authorize_prepared(
    tx: &mut dyn Tx,
    authority: &Authority,
    prepared: &Prepared,
) -> TxResult<api::RechargeAuthorization, ApiError> {
    let (request, s1, now) = (&prepared.request, &prepared.s1[..], prepared.now);
    let Some(meter) = meters::find(tx, &request.meter_id)? else {
        return refuse(ApiError::unknown_meter(&request.meter_id));
    };
    if meter.device_key != prepared.device_key {
        // Registration never replaces a key; a record that differs from the
        // key S1 was checked with is refused rather than trusted.
        return refuse(ApiError::bad_signature("device"));
    }
    if meter.lifecycle != "active" {
        return refuse(ApiError::conflict("meter_not_active", format!("the meter is {}", meter.lifecycle)));
    }
    let new_ct = prepared.fresh.new_control_total;
    let id = Value::from(&request.meter_id[..]);
    let seq = i64::from(request.sequence);
    // The meter's NT is the highest sequence authorized (it moves with each
    // ledger insert), so only a sequence at or below it can have a row: the
    // usual next recharge skips the lookup.
    let next = meter.nt.wrapping_add(1);
    let existing = if request.sequence == next {
        None
    } else {
        tx.query_opt(
            "SELECT nonce, amount, new_control_total, s1, s2, state FROM recharges WHERE meter_id = $1 AND sequence = $2",
            &[id.clone(), seq.into()],
        )?
    };
    if let Some(row) = existing {
        let (nonce, stored_amount, stored_ct, stored_s1, stored_s2, state) =
            (row.bytes(0)?, row.uint(1)?, row.uint(2)?, row.bytes(3)?, row.bytes(4)?, row.text(5)?);
        let stored = parse_s2(&stored_s2)?;
        if stored_s1 == s1 || (nonce == request.nonce && stored_amount == request.amount && stored_ct == new_ct) {
            return Ok(Ok(answer(&stored, &stored_s2)));
        }
        if state != "authorized" {
            return refuse(ApiError::conflict("replay", "this recharge sequence was already credited and settled"));
        }
        if stored_amount != request.amount || stored_ct != new_ct {
            return refuse(ApiError::conflict(
                "sequence_taken",
                "this recharge sequence was authorized for another amount or control total",
            ));
        }
        // Rare (the card restarted a recharge whose S2 it never credited):
        // re-signed here, keeping the stored deadline.
        let renewed = RechargeAuthorization { nonce: request.nonce, time: now, ..stored };
        let s2 = orders::recharge_authorization(&authority.key, &renewed);
        tx.execute(
            "UPDATE recharges SET nonce = $3, s1 = $4, s2 = $5 WHERE meter_id = $1 AND sequence = $2",
            &[id, seq.into(), Value::from(&request.nonce[..]), s1.into(), Value::from(s2.clone())],
        )?;
        tracing::info!(meter = %hex::encode(request.meter_id), sequence = request.sequence, "S2 re-signed for a new nonce");
        return Ok(Ok(answer(&renewed, &s2)));
    }
    if request.sequence != next {
        return refuse(ApiError::conflict(
            "sequence_mismatch",
            format!("S1 takes sequence {}, the records expect {next}", request.sequence),
        ));
    }
    if let Some(ct) = meter.control_total
        && ct != request.registers.control_total
    {
        return refuse(ApiError::conflict(
            "registers_mismatch",
            format!("the card's CT {} differs from the recorded {ct}", request.registers.control_total),
        ));
    }
    let debited = tx.execute(
        "UPDATE accounts SET balance = balance - $2, updated_at = $3 WHERE account_id = $1 AND balance >= $2",
        &[meter.account_id.as_str().into(), prepared.debit.into(), Value::Int(now as i64)],
    )?;
    if debited != 1 {
        return refuse(ApiError::new(402, "insufficient_funds", "the provider account does not cover the amount"));
    }
    let (authorization, s2) = (&prepared.fresh, &prepared.fresh_s2);
    tx.execute(
        "INSERT INTO recharges (meter_id, sequence, nonce, amount, new_control_total, s1, s2, state, authorized_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'authorized', $8)",
        &[
            id.clone(),
            seq.into(),
            Value::from(&request.nonce[..]),
            prepared.debit.into(),
            Value::Int(new_ct as i64),
            s1.into(),
            Value::from(s2.clone()),
            Value::Int(now as i64),
        ],
    )?;
    tx.execute(
        "UPDATE meters SET nt = $2, control_total = $3, deadline = $4, last_seen = $5 WHERE meter_id = $1",
        &[
            id,
            seq.into(),
            Value::Int(new_ct as i64),
            Value::Int(authorization.next_deadline as i64),
            Value::Int(now as i64),
        ],
    )?;
    tracing::info!(meter = %hex::encode(request.meter_id), sequence = request.sequence, amount = request.amount, "recharge authorized");
    Ok(Ok(answer(authorization, s2)))
}

fn parse_s2(s2: &[u8]) -> Result<RechargeAuthorization, StoreError> {
    Signed::parse(s2).and_then(|s| RechargeAuthorization::parse(s.body)).map_err(|_| StoreError::Corrupt("stored S2"))
}

/// S3 → settled.
pub fn settle(tx: &mut dyn Tx, s3: &[u8], now: u64) -> TxResult<api::ReceiptAccepted, ApiError> {
    let parsed = Signed::parse(s3).and_then(|s| RechargeReceipt::parse(s.body).map(|r| (s, r)));
    let (signed, receipt) = match parsed {
        Ok(v) => v,
        Err(e) => return refuse(ApiError::malformed(format!("S3: {e}"))),
    };
    let _meter: MeterRecord = match meters::verify_device(tx, &receipt.meter_id, DOMAIN_RECHARGE_RECEIPT, &signed)? {
        Ok(m) => m,
        Err(e) => return refuse(e),
    };
    let id = Value::from(&receipt.meter_id[..]);
    let seq = i64::from(receipt.sequence);
    let Some(row) = tx.query_opt(
        "SELECT amount, new_control_total, state, s3 FROM recharges WHERE meter_id = $1 AND sequence = $2",
        &[id.clone(), seq.into()],
    )?
    else {
        return refuse(ApiError::new(404, "unknown_recharge", "no recharge was authorized under this sequence"));
    };
    let (stored_amount, stored_ct, state, stored_s3) = (row.uint(0)?, row.uint(1)?, row.text(2)?, row.opt_bytes(3)?);
    if stored_amount != receipt.amount || stored_ct != receipt.registers.control_total || !receipt.registers.balanced()
    {
        return refuse(ApiError::conflict("receipt_mismatch", "S3 does not match the authorized recharge"));
    }
    let accepted = api::ReceiptAccepted {
        meter_id: hex::encode(receipt.meter_id),
        sequence: receipt.sequence,
        state: "settled".into(),
    };
    if state == "settled" {
        return if stored_s3.as_deref() == Some(s3) {
            Ok(Ok(accepted))
        } else {
            refuse(ApiError::conflict("replay", "another receipt settled this recharge"))
        };
    }
    tx.execute(
        "UPDATE recharges SET state = 'settled', s3 = $3, settled_at = $4 WHERE meter_id = $1 AND sequence = $2",
        &[id, seq.into(), s3.into(), Value::Int(now as i64)],
    )?;
    Ok(Ok(accepted))
}

/// Ledger totals of one meter: `(authorized count, settled count, total amount)`.
pub fn ledger_totals(tx: &mut dyn Tx, meter_id: &[u8; 12]) -> Result<(u64, u64, u64), StoreError> {
    let row = tx.query_one(
        "SELECT CAST(COUNT(*) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN state = 'settled' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(amount), 0) AS BIGINT)
         FROM recharges WHERE meter_id = $1",
        &[Value::from(&meter_id[..])],
    )?;
    Ok((row.uint(0)?, row.uint(1)?, row.uint(2)?))
}

/// What the authority records about one meter, for its host to reconcile
/// with the card (`GET /v1/meters/{id}`).
pub fn meter_state(tx: &mut dyn Tx, meter: &MeterRecord) -> Result<api::MeterState, StoreError> {
    let id = Value::from(&meter.meter_id[..]);
    let rows = tx.query(
        "SELECT sequence, state FROM recharges WHERE meter_id = $1 ORDER BY sequence",
        std::slice::from_ref(&id),
    )?;
    let (mut settled_sequence, mut unsettled_sequences) = (0u32, Vec::new());
    for row in &rows {
        let sequence = u32::try_from(row.int(0)?).map_err(|_| StoreError::Corrupt("recharge sequence"))?;
        if row.text(1)? == "settled" {
            settled_sequence = settled_sequence.max(sequence);
        } else {
            unsettled_sequences.push(sequence);
        }
    }
    let last =
        tx.query_one("SELECT CAST(COALESCE(MAX(sequence), 0) AS BIGINT) FROM lock_orders WHERE meter_id = $1", &[id])?;
    Ok(api::MeterState {
        meter_id: hex::encode(meter.meter_id),
        lifecycle: meter.lifecycle.clone(),
        authorized_sequence: meter.nt,
        settled_sequence,
        unsettled_sequences,
        control_total: meter.control_total,
        deadline: meter.deadline,
        last_lock_order: u32::try_from(last.int(0)?).map_err(|_| StoreError::Corrupt("order sequence"))?,
    })
}
