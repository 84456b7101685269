//! Off-card verifiers: indicia, the audit chain, device-signed envelopes
//! (recharge requests and receipts, inspection reports, revocation requests)
//! and payment certificates under a line of credit (merchants, offline).

use crate::signature::P256Verifier;
use apdu_specs::FormatError;
use apdu_specs::audit::{GENESIS, Head, Record};
use apdu_specs::credit::{CreditLine, DOMAIN_CREDIT_LINE, DOMAIN_PAYMENT_CERTIFICATE, PaymentCertificate};
use apdu_specs::indicium::{Indicium, IndiciumAlgorithm, IndiciumBody};
use apdu_specs::signed::Signed;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why an indicium or log does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes do not decode.
    #[error("malformed: {0}")]
    Format(#[from] FormatError),
    /// The key given does not suit the indicium's algorithm.
    #[error("the indicium uses {0:?}, but another kind of key was given")]
    WrongKeyType(IndiciumAlgorithm),
    /// The public key is not a P-256 point.
    #[error("invalid public key")]
    BadKey,
    /// Signature or MAC does not match (a high-S signature never does).
    #[error("authenticator does not verify")]
    BadAuthenticator,
    /// The audit chain is broken at this record.
    #[error("audit chain broken at record {0}")]
    ChainBroken(u32),
}

/// The key that checks an indicium.
#[derive(Clone, Copy)]
pub enum IndiciumKey<'a> {
    /// The meter's postal public key (SEC1 uncompressed).
    Ecdsa(&'a [u8; 65]),
    /// The meter's diversified MAC key (from the authority's master key).
    Mac(&'a [u8; 32]),
}

/// Verifies an indicium and returns its fields.
pub fn verify_indicium(bytes: &[u8], key: IndiciumKey<'_>) -> Result<IndiciumBody, VerifyError> {
    let ind = Indicium::parse(bytes)?;
    match (ind.body.algorithm, key) {
        (IndiciumAlgorithm::EcdsaP256, IndiciumKey::Ecdsa(public)) => {
            // The card's own verify path: the same ECDSA and the same low-S rule.
            if !P256Verifier.valid_public(public) {
                return Err(VerifyError::BadKey);
            }
            let signature: &[u8; 64] = ind.authenticator.try_into().map_err(|_| VerifyError::BadAuthenticator)?;
            if !P256Verifier.verify_digest(public, &Sha256::digest(ind.signed).into(), signature) {
                return Err(VerifyError::BadAuthenticator);
            }
        }
        (IndiciumAlgorithm::HmacSha256, IndiciumKey::Mac(k)) => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(k).map_err(|_| VerifyError::BadKey)?;
            mac.update(ind.signed);
            let full = mac.finalize().into_bytes();
            let expected = full.get(..16).ok_or(VerifyError::BadAuthenticator)?;
            if !bool::from(expected.ct_eq(ind.authenticator)) {
                return Err(VerifyError::BadAuthenticator);
            }
        }
        (alg, _) => return Err(VerifyError::WrongKeyType(alg)),
    }
    Ok(ind.body)
}

/// Hash of an audit record.
pub fn record_hash(r: &Record) -> [u8; 32] {
    Sha256::digest(r.encode()).into()
}

/// Checks that `records` (consecutive, oldest first) chain to `head`. When
/// the first record is record 0 its predecessor must be the genesis hash.
pub fn verify_audit_chain(head: &Head, records: &[Record]) -> Result<(), VerifyError> {
    let mut prev: Option<[u8; 32]> = None;
    for r in records {
        if r.seq == 0 && r.prev_hash != GENESIS {
            return Err(VerifyError::ChainBroken(0));
        }
        if let Some(p) = prev
            && p != r.prev_hash
        {
            return Err(VerifyError::ChainBroken(r.seq));
        }
        prev = Some(record_hash(r));
    }
    let last_ok = match (records.last(), prev) {
        (Some(last), Some(h)) => last.seq.wrapping_add(1) == head.records && h == head.hash,
        _ => head.records == 0 || head.oldest == head.records,
    };
    if last_ok { Ok(()) } else { Err(VerifyError::ChainBroken(head.records)) }
}

/// Verifies a signed envelope (`signed.rs`) under `domain` with `key` (for
/// the card's messages, its device key) and returns the body.
pub fn verify_device_signed<'a>(envelope: &'a [u8], domain: &[u8], key: &[u8; 65]) -> Result<&'a [u8], VerifyError> {
    let signed = Signed::parse(envelope)?;
    if !P256Verifier.valid_public(key) {
        return Err(VerifyError::BadKey);
    }
    let digest = P256Verifier.sha256(&Signed::signing_input(domain, signed.body));
    if P256Verifier.verify_digest(key, &digest, &signed.signature) {
        Ok(signed.body)
    } else {
        Err(VerifyError::BadAuthenticator)
    }
}

/// Why a payment certificate is refused by [`verify_payment`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The certificate or the line does not decode.
    #[error("malformed: {0}")]
    Format(#[from] FormatError),
    /// The issuer key given is not the one the line names (by key ID).
    #[error("the line of credit names another issuer key")]
    WrongIssuer,
    /// The line of credit is not signed by the issuer key.
    #[error("the line of credit does not verify under the issuer key: {0}")]
    LineSignature(VerifyError),
    /// The payment certificate is not signed by the line's creditor key (the meter).
    #[error("the payment certificate does not verify under the line's creditor key: {0}")]
    CertificateSignature(VerifyError),
    /// The certificate was issued under another line of credit.
    #[error("the payment certificate names another line of credit")]
    LineDigestMismatch,
    /// The certificate names another meter than the line.
    #[error("the payment certificate names another meter than the line")]
    MeterMismatch,
    /// The certificate is in another currency than the line.
    #[error("the payment certificate is in another currency than the line")]
    CurrencyMismatch,
    /// Amount plus credit remaining exceed the line.
    #[error("amount {amount} with credit remaining {remaining} exceeds the line of {line}")]
    BeyondLine {
        /// Amount of the payment.
        amount: u64,
        /// Credit remaining the certificate states.
        remaining: u64,
        /// The line.
        line: u64,
    },
    /// The payment was made outside the line's validity.
    #[error("the payment at {time} is outside the line's validity {not_before}..={not_after}")]
    OutsideValidity {
        /// Card time of the payment.
        time: u64,
        /// Validity start.
        not_before: u64,
        /// Validity end.
        not_after: u64,
    },
}

/// A payment certificate that verified, with the line of credit it was issued under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPayment {
    /// The payment certificate (Fig. 7B).
    pub certificate: PaymentCertificate,
    /// The line of credit (Fig. 7A).
    pub line: CreditLine,
}

/// A merchant's offline check of a payment certificate (Fig. 7B) against the
/// line of credit it was issued under (Fig. 7A) and the credit issuer's key:
/// the issuer's signature on the line, the meter's signature by the line's
/// creditor key, the line digest, meter, currency, validity, and amount +
/// credit remaining within the line. The issuer still settles each serial once.
pub fn verify_payment(
    certificate_envelope: &[u8],
    credit_line_envelope: &[u8],
    issuer_key: &[u8; 65],
) -> Result<VerifiedPayment, PaymentError> {
    let line_body = Signed::parse(credit_line_envelope)?.body;
    let line = CreditLine::parse(line_body)?;
    let issuer_id = P256Verifier.sha256(&[issuer_key]);
    if issuer_id.get(..8) != Some(&line.issuer_key_id[..]) {
        return Err(PaymentError::WrongIssuer);
    }
    verify_device_signed(credit_line_envelope, DOMAIN_CREDIT_LINE, issuer_key).map_err(PaymentError::LineSignature)?;
    let body = verify_device_signed(certificate_envelope, DOMAIN_PAYMENT_CERTIFICATE, &line.creditor_key)
        .map_err(PaymentError::CertificateSignature)?;
    let certificate = PaymentCertificate::parse(body)?;
    if certificate.credit_line_digest != <[u8; 32]>::from(Sha256::digest(credit_line_envelope)) {
        return Err(PaymentError::LineDigestMismatch);
    }
    if certificate.meter_id != line.meter_id {
        return Err(PaymentError::MeterMismatch);
    }
    if certificate.currency != line.currency || certificate.exponent != line.exponent {
        return Err(PaymentError::CurrencyMismatch);
    }
    if certificate.amount.checked_add(certificate.credit_remaining).is_none_or(|total| total > line.line) {
        return Err(PaymentError::BeyondLine {
            amount: certificate.amount,
            remaining: certificate.credit_remaining,
            line: line.line,
        });
    }
    if certificate.time < line.not_before || certificate.time > line.not_after {
        return Err(PaymentError::OutsideValidity {
            time: certificate.time,
            not_before: line.not_before,
            not_after: line.not_after,
        });
    }
    Ok(VerifiedPayment { certificate, line })
}
