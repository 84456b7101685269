//! Inspection (DESIGN §5): a device-signed report checked against the
//! records. A clean report gets a signed acknowledgement with the next
//! deadline (now + the policy's period); a report with discrepancies is
//! recorded with them and gets no acknowledgement (the operator may lock the
//! meter). The same report twice returns the same answer.
//!
//! Discrepancies: registers that do not balance; the tamper flag; a
//! terminated meter; a recharge sequence NT ahead of what the authority
//! authorized, or behind it by more than the one recharge that may still be
//! uncredited; a CT that differs from the recorded CT at the same NT.

use super::Authority;
use super::error::ApiError;
use super::meters;
use crate::orders;
use crate::store::{Tx, TxResult, Value};
use apdu_specs::inspection::{DOMAIN_INSPECTION_REPORT, InspectionAck, InspectionReport};
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::registers::flags;
use apdu_specs::signed::Signed;
use host_driver::authority as api;
use host_driver::signature::P256Verifier;

fn discrepancies(report: &InspectionReport, meter: &meters::MeterRecord) -> Vec<String> {
    let mut found = Vec::new();
    let r = &report.registers;
    if !r.balanced() {
        found.push("registers do not balance (AR_p + AR_c + DR != CT)".to_string());
    }
    if report.flags & flags::TAMPERED != 0 {
        found.push("tamper flag set".to_string());
    }
    if report.lifecycle == Lifecycle::Terminated {
        found.push("meter terminated".to_string());
    }
    if r.recharge_seq > meter.nt {
        found.push(format!("card NT {} is ahead of the {} recharges authorized", r.recharge_seq, meter.nt));
    } else if r.recharge_seq.saturating_add(1) < meter.nt {
        found.push(format!("card NT {} is behind the {} recharges authorized", r.recharge_seq, meter.nt));
    } else if r.recharge_seq == meter.nt
        && let Some(ct) = meter.control_total
        && ct != r.control_total
    {
        found.push(format!("card CT {} differs from the recorded {ct}", r.control_total));
    }
    found
}

/// Report → acknowledgement (or discrepancies).
pub fn inspect(
    tx: &mut dyn Tx,
    authority: &Authority,
    envelope: &[u8],
    now: u64,
) -> TxResult<api::InspectionResult, ApiError> {
    let parsed = Signed::parse(envelope).and_then(|s| InspectionReport::parse(s.body).map(|r| (s, r)));
    let (signed, report) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(ApiError::malformed(format!("inspection report: {e}")))),
    };
    let meter = match meters::verify_device(tx, &report.meter_id, DOMAIN_INSPECTION_REPORT, &signed)? {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let digest = P256Verifier.sha256(&[signed.body]);
    let id = Value::from(&report.meter_id[..]);
    if let Some(row) = tx.query_opt(
        "SELECT discrepancies, ack, next_deadline FROM inspections WHERE meter_id = $1 AND report_digest = $2",
        &[id.clone(), Value::from(&digest[..])],
    )? {
        let found: Vec<String> = row.text(0)?.lines().map(str::to_string).collect();
        return Ok(Ok(api::InspectionResult {
            ack: row.opt_bytes(1)?.map(hex::encode),
            next_deadline: row.opt_int(2)?.map(|v| v as u64),
            discrepancies: found,
        }));
    }
    let found = discrepancies(&report, &meter);
    let (ack, next_deadline) = if found.is_empty() {
        let next_deadline = now.saturating_add(authority.policy.inspection_period);
        let ack = InspectionAck { meter_id: report.meter_id, report_digest: digest, next_deadline, time: now };
        (Some(orders::inspection_ack(&authority.key, &ack)), Some(next_deadline))
    } else {
        tracing::warn!(meter = %hex::encode(report.meter_id), ?found, "inspection discrepancies");
        (None, None)
    };
    tx.execute(
        "INSERT INTO inspections (meter_id, report_digest, report, discrepancies, ack, next_deadline, inspected_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            id.clone(),
            Value::from(&digest[..]),
            envelope.into(),
            found.join("\n").into(),
            ack.clone().into(),
            next_deadline.map(|v| v as i64).into(),
            Value::Int(now as i64),
        ],
    )?;
    match next_deadline {
        Some(deadline) => tx.execute(
            "UPDATE meters SET deadline = $2, registers = $3, last_seen = $4,
                    control_total = COALESCE(control_total, $5) WHERE meter_id = $1",
            &[
                id,
                Value::Int(deadline as i64),
                Value::from(report.registers.encode()),
                Value::Int(now as i64),
                Value::Int(report.registers.control_total as i64),
            ],
        )?,
        None => tx.execute("UPDATE meters SET last_seen = $2 WHERE meter_id = $1", &[id, Value::Int(now as i64)])?,
    };
    Ok(Ok(api::InspectionResult { ack: ack.map(hex::encode), next_deadline, discrepancies: found }))
}
