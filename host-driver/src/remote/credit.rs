//! The line of credit from the host (Figs. 7A, 7B, 8, 9): the credit
//! request postmarked on the card (802) goes to the issuer, whose decision
//! (804/806) brings a line-of-credit certificate (808) that the card
//! installs (812); PAY (902–910) makes a meter-signed payment certificate,
//! sent once; a merchant verifies it offline and settles it with the issuer,
//! which refuses a duplicate serial or a total beyond the line.

use super::call_idempotent;
use crate::authority::{AuthorityClient, ClientError, CreditRequest, Settlement};
use crate::error::MeterError;
use crate::meter::Transaction;
use crate::transport::Transport;
use crate::verify::{PaymentError, VerifiedPayment, verify_payment};
use apdu_specs::FormatError;
use apdu_specs::credit::{CreditLine, CreditStatus, PaymentCertificate, PaymentRequest};
use apdu_specs::signed::Signed;

/// What a credit request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditApplication {
    /// The holder named on the line (704).
    pub holder: String,
    /// The line asked for, minor units.
    pub amount: u64,
    /// The certified postmark slot that postmarks the request (802).
    pub postmark_slot: u8,
}

/// The request document the card postmarks (802): what is asked, by which meter.
pub fn request_document(meter_id: &[u8; 12], application: &CreditApplication) -> Vec<u8> {
    format!(
        "PCMeter credit request\nmeter: {}\nholder: {}\namount: {}\n",
        hex::encode_upper(meter_id),
        application.holder,
        application.amount
    )
    .into_bytes()
}

/// A line of credit installed on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledCredit {
    /// The credit request document that was postmarked.
    pub document: Vec<u8>,
    /// Its postmark (RFC 3161 token, DER).
    pub postmark: Vec<u8>,
    /// The issuer-signed line-of-credit certificate (808).
    pub envelope: Vec<u8>,
    /// What the line says (Fig. 7A).
    pub line: CreditLine,
    /// The card's credit status after the install (credit remaining = line, 812).
    pub status: CreditStatus,
}

/// A payment certificate the card issued (910).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The meter-signed certificate.
    pub envelope: Vec<u8>,
    /// What it says (Fig. 7B).
    pub certificate: PaymentCertificate,
}

/// Why a credit flow stopped.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// The card refused (insufficient credit is `CardStatus::InsufficientCredit`, 906), or could not be reached.
    #[error(transparent)]
    Meter(#[from] MeterError),
    /// The issuer refused the request as malformed or unauthentic, or did not answer.
    #[error(transparent)]
    Authority(#[from] ClientError),
    /// The issuer declined the credit (806).
    #[error("the credit issuer declined: {reason}")]
    Declined {
        /// The issuer's reason.
        reason: String,
    },
    /// The issuer's answer or the card's does not decode.
    #[error("malformed answer: {0}")]
    Format(String),
    /// PAY's outcome was unknown and the card's credit status shows the
    /// payment made: the certificate was lost (PAY is never re-sent).
    #[error(
        "payment {serial} was made (credit remaining {remaining}) but its certificate was lost; it was not sent again"
    )]
    CertificateLost {
        /// The payment serial the card used.
        serial: u32,
        /// Credit remaining after it.
        remaining: u64,
    },
    /// PAY's outcome was unknown and the card's credit status shows no
    /// payment: nothing was spent (pay again only if the user decides to).
    #[error("the payment was not made (the card's credit status is unchanged): {0}")]
    NotPaid(MeterError),
    /// The payment certificate does not verify against the line (the merchant's check).
    #[error(transparent)]
    Payment(#[from] PaymentError),
}

impl From<FormatError> for CreditError {
    fn from(e: FormatError) -> Self {
        Self::Format(e.to_string())
    }
}

/// Asks the issuer for a line of credit and installs it: POSTMARK of the
/// request document (802, charged), the request, the decision (804/806),
/// INSTALL CREDIT LINE (812). The PIN must be verified in `tx`.
pub fn request_credit<T: Transport>(
    tx: &mut Transaction<'_, T>,
    client: &AuthorityClient,
    meter_id: &[u8; 12],
    application: &CreditApplication,
) -> Result<InstalledCredit, CreditError> {
    let document = request_document(meter_id, application);
    let postmark = tx.postmark_message(application.postmark_slot, &document)?;
    let request = CreditRequest {
        meter_id: hex::encode(meter_id),
        holder: application.holder.clone(),
        amount: application.amount,
        postmark: hex::encode(&postmark),
        message: hex::encode(&document),
    };
    let decision = call_idempotent(|key| client.request_credit(key, &request))?;
    let line_hex = match (decision.granted, decision.credit_line) {
        (true, Some(line)) => line,
        (true, None) => return Err(CreditError::Format("a grant without a line of credit".into())),
        (false, _) => return Err(CreditError::Declined { reason: decision.reason.unwrap_or_default() }),
    };
    let envelope = hex::decode(line_hex).map_err(|e| CreditError::Format(format!("line of credit: {e}")))?;
    let line = CreditLine::parse(Signed::parse(&envelope)?.body)?;
    if line.meter_id != *meter_id {
        return Err(CreditError::Format("the line of credit names another meter".into()));
    }
    tx.install_credit_line(&envelope)?;
    let status = tx.credit_status()?;
    Ok(InstalledCredit { document, postmark, envelope, line, status })
}

/// PAY (902–910), sent once. After an ambiguous outcome the card's credit
/// status tells whether the payment was made ([`CreditError::CertificateLost`])
/// or not ([`CreditError::NotPaid`]). The PIN must be verified in `tx`.
pub fn pay<T: Transport>(tx: &mut Transaction<'_, T>, request: &PaymentRequest) -> Result<Payment, CreditError> {
    let before = tx.credit_status()?;
    let envelope = match tx.pay(request) {
        Ok(envelope) => envelope,
        Err(e @ MeterError::OutcomeUnknown { .. }) => {
            return Err(match tx.credit_status() {
                Ok(after) if after.payment_serial != before.payment_serial => {
                    CreditError::CertificateLost { serial: after.payment_serial, remaining: after.remaining }
                }
                Ok(_) => CreditError::NotPaid(e),
                Err(_) => e.into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let certificate = PaymentCertificate::parse(Signed::parse(&envelope)?.body)?;
    Ok(Payment { envelope, certificate })
}

/// The merchant's side: verifies the payment certificate offline against
/// the line and the issuer key, then settles it with the issuer, once.
pub fn settle(
    client: &AuthorityClient,
    issuer_key: &[u8; 65],
    payment: &[u8],
    line: &[u8],
) -> Result<(VerifiedPayment, Settlement), CreditError> {
    let verified = verify_payment(payment, line, issuer_key)?;
    let settlement = call_idempotent(|key| client.settle(key, line, payment))?;
    Ok((verified, settlement))
}
