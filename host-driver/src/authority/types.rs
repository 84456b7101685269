//! Request and response bodies of the authority API (`/v1`).

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The machine-readable error body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code (`bad_signature`, `unknown_meter`, ...).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Storage engine (`sqlite`, `postgresql`).
    pub storage: String,
}

/// `POST /v1/recharges`: S1, the device-signed recharge request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RechargeRequest {
    /// S1 envelope, hex.
    pub s1: String,
}

/// S2 and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RechargeAuthorization {
    /// S2 envelope, hex: the card's RECHARGE CREDIT input.
    pub s2: String,
    /// Recharge sequence (the card's NT after the credit).
    pub sequence: u32,
    /// Amount authorized, minor units.
    pub amount: u64,
    /// CT after the credit.
    pub new_control_total: u64,
    /// The next inspection deadline (Unix seconds).
    pub next_deadline: u64,
}

/// `POST /v1/recharges/receipts`: S3, the card's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// S3 envelope, hex.
    pub s3: String,
}

/// A settled recharge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReceiptAccepted {
    /// Meter ID, hex.
    pub meter_id: String,
    /// Recharge sequence.
    pub sequence: u32,
    /// `settled`.
    pub state: String,
}

/// `GET /v1/meters/{meter_id}`: what the authority records about a meter,
/// for a host to reconcile its card with (receipts never delivered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MeterState {
    /// Meter ID, hex.
    pub meter_id: String,
    /// `active`, `locked` or `revoked`.
    pub lifecycle: String,
    /// Highest recharge sequence authorized (an S2 was signed for it).
    pub authorized_sequence: u32,
    /// Highest recharge sequence settled (its receipt S3 came back); 0 when none.
    pub settled_sequence: u32,
    /// Sequences authorized whose receipt never came back, oldest first.
    pub unsettled_sequences: Vec<u32>,
    /// CT after the last authorized recharge, when known.
    pub control_total: Option<u64>,
    /// The inspection deadline the authority last set (Unix seconds).
    pub deadline: u64,
    /// Highest LOCK/UNLOCK order sequence issued; 0 when none.
    pub last_lock_order: u32,
}

/// `POST /v1/inspections`: the device-signed inspection report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InspectionRequest {
    /// Report envelope, hex.
    pub report: String,
}

/// The authority's answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InspectionResult {
    /// The signed acknowledgement (hex), absent when discrepancies were found.
    pub ack: Option<String>,
    /// The next deadline the acknowledgement sets.
    pub next_deadline: Option<u64>,
    /// Discrepancies between the report and the authority's records (empty when clean).
    pub discrepancies: Vec<String>,
}

/// One signed LOCK or UNLOCK order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LockOrderIssued {
    /// Order sequence (per meter).
    pub sequence: u32,
    /// `lock` or `unlock`.
    pub action: String,
    /// Order envelope, hex.
    pub order: String,
}

/// `GET /v1/meters/{meter_id}/lock-orders?after=N`: the orders the meter has not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PendingLockOrders {
    /// Orders with a sequence above `after`, oldest first.
    pub orders: Vec<LockOrderIssued>,
}

/// `GET /v1/rate-tables/latest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PublishedRateTable {
    /// Table version.
    pub version: u32,
    /// Effective from (Unix seconds).
    pub effective_from: u64,
    /// The signed table (UPDATE RATES input), hex.
    pub envelope: String,
}

/// `POST /v1/revocations`: the card's device-signed revocation request (602).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    /// Request envelope, hex.
    pub request: String,
}

/// The signed revocation order (608).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RevocationOrderIssued {
    /// Order envelope, hex.
    pub order: String,
    /// When the authority recorded the revocation (622), Unix seconds.
    pub recorded_at: u64,
    /// CRL reason code.
    pub reason: u8,
}

/// `GET /v1/meters/{meter_id}/revocation-orders`: the orders the authority
/// issued for the meter (forced revocations included) and has no confirmation of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PendingRevocationOrders {
    /// Unconfirmed orders, oldest first.
    pub orders: Vec<RevocationOrderIssued>,
}

/// `POST /v1/revocations/confirmations`: the card's signed confirmation (616–624).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevocationConfirmationRequest {
    /// Confirmation envelope, hex.
    pub confirmation: String,
}

/// The recorded confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RevocationConfirmed {
    /// `paid` or `payment_due`.
    pub payment: String,
    /// The revocation fee.
    pub fee: u32,
}

/// `POST /v1/credit-lines`: a credit request (802).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreditRequest {
    /// Meter ID, hex.
    pub meter_id: String,
    /// Holder name for the line (704).
    pub holder: String,
    /// The line asked for, minor units.
    pub amount: u64,
    /// A meter postmark token (RFC 3161, DER hex) over `message`.
    pub postmark: String,
    /// The postmarked message, hex (the request text the holder signed).
    pub message: String,
}

/// The issuer's decision (804/806) and, when granted, the line (808).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreditDecision {
    /// True when granted.
    pub granted: bool,
    /// The line granted (minor units), 0 when refused.
    pub line: u64,
    /// Why it was refused, when refused.
    pub reason: Option<String>,
    /// The signed line-of-credit certificate (INSTALL CREDIT LINE input), hex.
    pub credit_line: Option<String>,
}

/// `POST /v1/settlements`: a payment certificate with its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    /// The signed line of credit, hex.
    pub credit_line: String,
    /// The meter-signed payment certificate, hex.
    pub payment: String,
}

/// A settled payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Settlement {
    /// Payment serial.
    pub serial: u32,
    /// Amount settled.
    pub amount: u64,
    /// Total settled on the line so far, this payment included.
    pub settled_total: u64,
}
