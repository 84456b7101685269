//! Line of credit and settlement (Figs. 7A, 7B, 8, 9), the issuer's half.
//!
//! Decision rule (804/806): a credit request is granted when the meter is
//! registered and active, its postmark token verifies off-card against the CA
//! and the current CRL ("valid") and was made by a certificate the CA issued
//! to that meter, and the amount asked for is non-zero and at most the
//! policy's `max_credit_line`. Otherwise it is refused with the reason, and
//! nothing is recorded. A grant is a line-of-credit certificate (808) signed
//! by the issuer key, valid from now for the policy's `credit_validity`.
//!
//! The line is in the currency and exponent of the meters' rate table.
//!
//! Settlement: the merchant's offline checks first (host-driver's
//! `verify_payment` under the issuer key: both signatures, the line digest,
//! meter, currency, validity, amount within the line), then the line must be
//! one this issuer recorded. Each (meter, serial) settles
//! once; a duplicate serial, or a total beyond the line, is a double spend.

use super::Authority;
use super::error::{ApiError, amount};
use super::meters;
use crate::orders;
use crate::store::{StoreError, Tx, TxResult, Value};
use apdu_specs::credit::{CreditLine, text_fits};
use apdu_specs::postmark::Verdict;
use apdu_specs::rates::RateTable;
use apdu_specs::signed::Signed;
use apdu_specs::x509::Certificate;
use host_driver::authority as api;
use host_driver::certificates::{CrlAt, verify_postmark};
use host_driver::signature::P256Verifier;
use host_driver::verify::{PaymentError, verify_payment};

fn refused(reason: String) -> api::CreditDecision {
    api::CreditDecision { granted: false, line: 0, reason: Some(reason), credit_line: None }
}

/// The issuer's decision on a credit request.
pub fn decide(
    tx: &mut dyn Tx,
    authority: &Authority,
    request: &api::CreditRequest,
    token: &[u8],
    message: &[u8],
    now: u64,
) -> TxResult<api::CreditDecision, ApiError> {
    let meter_id = match meters::parse_meter_id(&request.meter_id) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let line = match amount(request.amount) {
        Ok(v) => v as u64,
        Err(e) => return Ok(Err(e)),
    };
    if !text_fits(&request.holder, apdu_specs::credit::MAX_NAME_LEN) || request.holder.is_empty() {
        return Ok(Err(ApiError::invalid("bad_holder", "the holder name is empty or too long")));
    }
    let Some(meter) = meters::find(tx, &meter_id)? else { return Ok(Err(ApiError::unknown_meter(&meter_id))) };
    if meter.lifecycle != "active" {
        return Ok(Ok(refused(format!("the meter is {}", meter.lifecycle))));
    }
    let crl = authority.crl();
    let ca_key = authority.with_ca(|ca| ca.public_key());
    let verdict = match verify_postmark(token, message, &ca_key, Some(CrlAt { der: &crl, now })) {
        Ok(v) => v,
        Err(e) => return Ok(Err(ApiError::malformed(format!("postmark: {e}")))),
    };
    if verdict != Verdict::Valid {
        return Ok(Err(ApiError::new(403, "bad_postmark", format!("the postmark does not verify: {verdict:?}"))));
    }
    let signer = apdu_specs::postmark::Token::parse(token)
        .ok()
        .and_then(|t| Certificate::parse(&t.certificate).ok().map(|c| c.serial.to_vec()));
    let issued_to_meter = match signer {
        Some(serial) => match authority.with_ca(|ca| ca.db().certificate(&serial)) {
            Ok(record) => record.is_some_and(|r| r.meter_id == meter_id),
            Err(_) => return Ok(Err(ApiError::new(503, "storage", "the certificate database failed"))),
        },
        None => false,
    };
    if !issued_to_meter {
        return Ok(Err(ApiError::new(403, "bad_postmark", "the postmark was not made by this meter")));
    }
    if line > authority.policy.max_credit_line {
        return Ok(Ok(refused(format!("the line asked for exceeds the maximum {}", authority.policy.max_credit_line))));
    }
    let Some((currency, exponent)) = meter_currency(tx)? else {
        return Ok(Err(ApiError::conflict(
            "no_rate_table",
            "no rate table was published: a line of credit is in the currency of the meters' rate table",
        )));
    };
    let serial = meters::next_counter(tx, "credit line serial")?;
    let credit_line = CreditLine {
        serial,
        holder: request.holder.clone(),
        meter_id,
        creditor_key: meter.device_key,
        issuer_key_id: authority.issuer_key_id(),
        currency,
        exponent,
        line,
        not_before: now,
        not_after: now.saturating_add(authority.policy.credit_validity),
        authorized_use: "postage and certificate services".to_string(),
    };
    let envelope = orders::credit_line(&authority.issuer, &credit_line);
    let digest = P256Verifier.sha256(&[&envelope]);
    tx.execute(
        "INSERT INTO credit_lines (serial, meter_id, line, digest, envelope, issued_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            Value::Int(serial as i64),
            Value::from(&meter_id[..]),
            Value::Int(line as i64),
            Value::from(&digest[..]),
            Value::from(envelope.clone()),
            Value::Int(now as i64),
        ],
    )?;
    Ok(Ok(api::CreditDecision { granted: true, line, reason: None, credit_line: Some(hex::encode(envelope)) }))
}

/// The currency and exponent of the meters: those of the newest published
/// rate table (the table every meter of this authority runs; the card
/// refuses a line in another currency). `None` before any table is published.
fn meter_currency(tx: &mut dyn Tx) -> Result<Option<([u8; 3], u8)>, StoreError> {
    let Some(row) = tx.query_opt("SELECT envelope FROM rate_tables ORDER BY version DESC LIMIT 1", &[])? else {
        return Ok(None);
    };
    let envelope = row.bytes(0)?;
    let table = Signed::parse(&envelope)
        .and_then(|s| RateTable::parse_body(s.body))
        .map_err(|_| StoreError::Corrupt("published rate table"))?;
    Ok(Some((table.currency, table.exponent)))
}

/// Settles one payment certificate: the merchant's offline checks
/// ([`verify_payment`] under this issuer's key), then the issuer's record
/// of the line, then each (meter, serial) once and the total within the line.
pub fn settle(
    tx: &mut dyn Tx,
    authority: &Authority,
    line_envelope: &[u8],
    payment: &[u8],
    now: u64,
) -> TxResult<api::Settlement, ApiError> {
    let verified = match verify_payment(payment, line_envelope, &authority.issuer.public()) {
        Ok(v) => v,
        Err(e) => return Ok(Err(payment_refusal(e))),
    };
    let (line, pay) = (verified.line, verified.certificate);
    let digest = P256Verifier.sha256(&[line_envelope]);
    let pay_amount = match amount(pay.amount) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let Some(row) = tx.query_opt(
        "SELECT line FROM credit_lines WHERE serial = $1 AND digest = $2",
        &[Value::Int(line.serial as i64), Value::from(&digest[..])],
    )?
    else {
        return Ok(Err(ApiError::new(404, "unknown_credit_line", "this issuer has no record of the line")));
    };
    let granted = row.uint(0)?;
    let id = Value::from(&pay.meter_id[..]);
    if let Some(existing) = tx.query_opt(
        "SELECT certificate FROM settled_payments WHERE meter_id = $1 AND serial = $2",
        &[id.clone(), Value::Int(pay.serial.into())],
    )? {
        let same = existing.bytes(0)? == payment;
        return Ok(Err(ApiError::conflict(
            "double_spend",
            if same {
                "this payment serial was already settled"
            } else {
                "another payment was settled under this serial"
            },
        )));
    }
    let settled = tx
        .query_one(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM settled_payments WHERE line_serial = $1",
            &[Value::Int(line.serial as i64)],
        )?
        .uint(0)?;
    let Some(total) = settled.checked_add(pay.amount).filter(|t| *t <= granted) else {
        return Ok(Err(ApiError::conflict("double_spend", "the payments settled would exceed the line of credit")));
    };
    tx.execute(
        "INSERT INTO settled_payments (meter_id, serial, line_serial, amount, merchant, certificate, settled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            id,
            Value::Int(pay.serial.into()),
            Value::Int(line.serial as i64),
            pay_amount.into(),
            pay.merchant.as_str().into(),
            payment.into(),
            Value::Int(now as i64),
        ],
    )?;
    Ok(Ok(api::Settlement { serial: pay.serial, amount: pay.amount, settled_total: total }))
}

/// The API refusal for a payment certificate [`verify_payment`] refused.
fn payment_refusal(e: PaymentError) -> ApiError {
    match e {
        PaymentError::Format(e) => ApiError::malformed(format!("payment or credit line: {e}")),
        PaymentError::WrongIssuer | PaymentError::LineSignature(_) => ApiError::bad_signature("credit issuer"),
        PaymentError::CertificateSignature(_) => ApiError::bad_signature("meter"),
        PaymentError::LineDigestMismatch | PaymentError::MeterMismatch | PaymentError::CurrencyMismatch => {
            ApiError::conflict("line_mismatch", "the payment was not made under this line of credit")
        }
        PaymentError::BeyondLine { .. } => {
            ApiError::conflict("double_spend", "the payment certificate claims more than the line of credit")
        }
        PaymentError::OutsideValidity { .. } => {
            ApiError::invalid("outside_validity", "the payment was made outside the line's validity")
        }
    }
}
