//! `postmark FILE` (an RFC 3161 TimeStampResp in `FILE.tsr`, the message
//! hashed on the card and the postmark charged before it is signed) and
//! `verify-postmark FILE TOKEN` (off the card, against the CA certificate,
//! optionally a CRL).

use super::certs::{pick_slot, with_suffix};
use super::error::{CliError, CliResult};
use super::files;
use super::meter::{CliMeter, read_pin, with_pin};
use super::output::{Report, rfc3339};
use apdu_specs::postmark::{Token, Verdict};
use apdu_specs::x509::{Certificate, Usage};
use der::asn1::AnyRef;
use der::{Decode, Encode};
use host_driver::certificates::{CrlAt, PostmarkCheckError, verify_postmark};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// PKIStatusInfo (RFC 3161 §2.4.2) without statusString and failInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, der::Sequence)]
struct PkiStatusInfo {
    status: u8,
}

/// TimeStampResp (RFC 3161 §2.4.2): what `openssl ts -verify -in` reads.
#[derive(Debug, Clone, PartialEq, Eq, der::Sequence)]
struct TimeStampResp<'a> {
    status: PkiStatusInfo,
    time_stamp_token: Option<AnyRef<'a>>,
}

/// PKIStatus granted.
const GRANTED: u8 = 0;
/// PKIStatus grantedWithMods.
const GRANTED_WITH_MODS: u8 = 1;

/// A granted TimeStampResp carrying `token`.
fn granted_response(token: &[u8]) -> CliResult<Vec<u8>> {
    let token =
        AnyRef::from_der(token).map_err(|e| CliError::new(super::error::Exit::Failure, format!("token: {e}")))?;
    TimeStampResp { status: PkiStatusInfo { status: GRANTED }, time_stamp_token: Some(token) }
        .to_der()
        .map_err(|e| CliError::new(super::error::Exit::Failure, format!("TimeStampResp: {e}")))
}

/// The token in a `.tsr` file: a TimeStampResp granting one, or a bare TimeStampToken.
fn token_of(bytes: &[u8]) -> Result<Vec<u8>, String> {
    match TimeStampResp::from_der(bytes) {
        Ok(TimeStampResp { status: PkiStatusInfo { status }, time_stamp_token })
            if status == GRANTED || status == GRANTED_WITH_MODS =>
        {
            let token = time_stamp_token.ok_or("the response carries no token")?;
            token.to_der().map_err(|e| e.to_string())
        }
        Ok(r) => Err(format!("the response is a rejection (PKIStatus {})", r.status.status)),
        Err(_) => Ok(bytes.to_vec()),
    }
}

/// `postmark`.
pub fn postmark(meter: &mut CliMeter, file: &Path, slot: Option<u8>, out: Option<&Path>) -> CliResult<Report> {
    let message = files::read(file)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| with_suffix(file, ".tsr"));
    let pin = read_pin()?;
    let (slot, token) = with_pin(meter, &pin, |tx| {
        let slot = pick_slot(tx, slot, Usage::Postmark)?;
        Ok((slot, tx.postmark_message(slot, &message)?))
    })?;
    // Charged and signed: write the reply whatever else happens.
    files::write(&out, &granted_response(&token)?)?;
    let parsed = Token::parse(&token)?;
    let data = serde_json::json!({
        "file": file,
        "reply": out,
        "slot": slot,
        "serial": parsed.info.serial,
        "time": rfc3339(parsed.info.time),
        "sha256": hex::encode_upper(parsed.info.digest),
    });
    let text = format!(
        "postmark #{} of {} at {} -> {}\n",
        parsed.info.serial,
        file.display(),
        rfc3339(parsed.info.time),
        out.display()
    );
    Report::new(&data, text)
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "valid",
        Verdict::CertificateInvalid => "certificate-invalid",
        Verdict::SignatureInvalid => "signature-invalid",
        Verdict::DigestMismatch => "digest-mismatch",
        Verdict::Revoked => "revoked",
    }
}

/// `verify-postmark`: valid exits 0; any other verdict, or a token that does not parse, exits 7.
pub fn verify(file: &Path, reply: &Path, ca: &Path, crl: Option<&PathBuf>, now: u64) -> CliResult<Report> {
    let message = files::read(file)?;
    let ca_der = files::read_certificate(ca)?;
    let ca_key = Certificate::parse(&ca_der)?.public_key;
    let crl_der = crl.map(|p| files::read_object(p, "X509 CRL")).transpose()?;
    let bytes = files::read(reply)?;
    let token = token_of(&bytes).map_err(|e| CliError::invalid(format!("{}: {e}", reply.display())))?;
    let verdict = verify_postmark(&token, &message, &ca_key, crl_der.as_deref().map(|der| CrlAt { der, now }))
        .map_err(|e| match e {
            PostmarkCheckError::Malformed(e) => {
                CliError::invalid(format!("{}: NOT VALID: malformed postmark token: {e}", reply.display()))
            }
            PostmarkCheckError::Crl(e) => CliError::input(format!("CRL: {e}")),
        })?;
    let info = Token::parse(&token).map(|t| t.info).ok();
    let digest: [u8; 32] = Sha256::digest(&message).into();
    if verdict != Verdict::Valid {
        return Err(CliError::invalid(format!(
            "{}: NOT VALID for {}: {}",
            reply.display(),
            file.display(),
            verdict_name(verdict)
        )));
    }
    let data = serde_json::json!({
        "valid": true,
        "verdict": verdict_name(verdict),
        "file": file,
        "sha256": hex::encode_upper(digest),
        "serial": info.map(|i| i.serial),
        "time": info.map(|i| rfc3339(i.time)),
    });
    let text = format!(
        "valid postmark of {} (#{} at {})\n",
        file.display(),
        info.map(|i| i.serial).unwrap_or_default(),
        info.map(|i| rfc3339(i.time)).unwrap_or_default()
    );
    Report::new(&data, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_wraps_the_token_and_gives_it_back() {
        // Any DER SEQUENCE stands for the token here.
        let token = [0x30, 0x03, 0x02, 0x01, 0x05];
        let reply = granted_response(&token).unwrap();
        assert_eq!(reply, [0x30, 0x0A, 0x30, 0x03, 0x02, 0x01, 0x00, 0x30, 0x03, 0x02, 0x01, 0x05]);
        assert_eq!(token_of(&reply).unwrap(), token);
        assert_eq!(token_of(&token).unwrap(), token, "a bare token is taken as it is");
        let rejection = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
        assert!(token_of(&rejection).unwrap_err().contains("rejection"));
    }
}
