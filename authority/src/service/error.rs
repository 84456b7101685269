//! Refusals with an HTTP status and a machine-readable code.

use crate::store::StoreError;
use host_driver::authority::{ErrorBody, ErrorDetail};

/// A refused or failed request. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable code.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
}

impl ApiError {
    /// A refusal.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// 400: the request does not parse.
    pub fn malformed(what: impl std::fmt::Display) -> Self {
        Self::new(400, "malformed", format!("malformed request: {what}"))
    }

    /// 403: a signature does not verify.
    pub fn bad_signature(whose: &str) -> Self {
        Self::new(403, "bad_signature", format!("the {whose} signature does not verify"))
    }

    /// 404: the meter is not registered.
    pub fn unknown_meter(meter_id: &[u8; 12]) -> Self {
        Self::new(404, "unknown_meter", format!("meter {} is not registered", hex::encode(meter_id)))
    }

    /// 409: the request conflicts with the records.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    /// 422: a value is out of range.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message.clone() } }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self::new(503, "storage", "the store failed; nothing was acknowledged, retry with the same key")
    }
}

/// Parses a hex field.
pub fn hex_field(name: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(text).map_err(|_| ApiError::malformed(format!("{name} is not hex")))
}

/// A money amount as stored (BIGINT): zero and values above `i64::MAX` are refused.
pub fn amount(value: u64) -> Result<i64, ApiError> {
    if value == 0 {
        return Err(ApiError::invalid("zero_amount", "the amount is zero"));
    }
    i64::try_from(value).map_err(|_| ApiError::invalid("amount_overflow", "the amount exceeds the ledger's range"))
}
