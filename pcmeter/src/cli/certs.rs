//! Certificate services: `keys generate`, `cert request`, `cert install`,
//! `agent issue`, `sign`, `decrypt`, `revoke`. Each needs the PIN and runs
//! in one session that ends with a logout and a card reset.

use super::error::{CliError, CliResult};
use super::files;
use super::meter::{AnyTransport, CliMeter, read_pin, with_pin};
use super::output::{Report, rfc3339};
use super::status::read_slots;
use apdu_specs::certs::{AgentRequest, CHALLENGE_LEN, CertificateRequest, RevocationConfirmation, SlotState};
use apdu_specs::signed::Signed;
use apdu_specs::x509::{Certificate, Usage};
use apdu_specs::{FormatError, oid, x509};
use host_driver::{MeterError, Transaction};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Key usages on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageArg {
    /// RFC 3161 postmarks.
    Postmark,
    /// Signatures.
    Signature,
    /// Decryption.
    Encryption,
    /// Issuing certificates as an agent.
    Agent,
}

impl From<UsageArg> for Usage {
    fn from(u: UsageArg) -> Self {
        match u {
            UsageArg::Postmark => Usage::Postmark,
            UsageArg::Signature => Usage::Signature,
            UsageArg::Encryption => Usage::Encryption,
            UsageArg::Agent => Usage::Agent,
        }
    }
}

/// The slot to use: `explicit`, else the first certified slot for `usage`.
pub fn pick_slot(tx: &mut Transaction<'_, AnyTransport>, explicit: Option<u8>, usage: Usage) -> Result<u8, MeterError> {
    if let Some(slot) = explicit {
        return Ok(slot);
    }
    read_slots(tx)?
        .into_iter()
        .find(|s| s.state == SlotState::Certified && s.usage == Some(usage))
        .map(|s| s.slot)
        .ok_or(MeterError::Format(FormatError::Missing("a certified slot for this use (give --slot)")))
}

/// `keys generate`.
pub fn generate(meter: &mut CliMeter, slot: u8, usage: UsageArg) -> CliResult<Report> {
    let pin = read_pin()?;
    let usage = Usage::from(usage);
    let key = with_pin(meter, &pin, |tx| tx.generate_key_pair(slot, usage))?;
    let data = serde_json::json!({ "slot": slot, "usage": usage.name(), "public_key": hex::encode_upper(key) });
    Report::new(&data, format!("slot {slot}: new {} key {}\n", usage.name(), hex::encode_upper(key)))
}

/// `cert request`: the PKCS#10 (PEM) and, for the CA, the device-signed envelope around it.
pub fn request(
    meter: &mut CliMeter,
    slot: u8,
    challenge: &str,
    out: &Path,
    envelope_out: Option<&Path>,
) -> CliResult<Report> {
    let challenge: [u8; CHALLENGE_LEN] = hex::decode(challenge.trim())
        .ok()
        .and_then(|c| c.try_into().ok())
        .ok_or_else(|| CliError::input(format!("--challenge: expected {CHALLENGE_LEN} bytes of hex from the CA")))?;
    let pin = read_pin()?;
    let envelope = with_pin(meter, &pin, |tx| tx.certificate_request(slot, &challenge))?;
    let signed = Signed::parse(&envelope)?;
    let body = CertificateRequest::parse(signed.body)?;
    files::write_pem(out, "CERTIFICATE REQUEST", body.csr)?;
    let envelope_file = envelope_out.map(Path::to_path_buf).unwrap_or_else(|| with_suffix(out, ".envelope"));
    files::write(&envelope_file, &envelope)?;
    let data = serde_json::json!({
        "slot": slot,
        "usage": body.usage.name(),
        "csr": out,
        "envelope": envelope_file,
    });
    let text = format!(
        "slot {slot}: {} certificate request -> {} (PKCS#10), {} (for the CA)\n",
        body.usage.name(),
        out.display(),
        envelope_file.display()
    );
    Report::new(&data, text)
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// `cert install`.
pub fn install(meter: &mut CliMeter, slot: u8, certificate: &Path) -> CliResult<Report> {
    let der = files::read_certificate(certificate)?;
    let cert = Certificate::parse(&der)?;
    let pin = read_pin()?;
    with_pin(meter, &pin, |tx| tx.install_certificate(slot, &der))?;
    let data = serde_json::json!({
        "slot": slot,
        "serial": hex::encode_upper(&cert.serial),
        "not_after": rfc3339(cert.not_after),
    });
    Report::new(&data, format!("slot {slot}: installed certificate {}\n", hex::encode_upper(&cert.serial)))
}

/// Arguments of `agent issue`.
#[derive(Debug, clap::Args)]
pub struct AgentIssueArgs {
    /// The agent slot (default: the first certified agent slot).
    #[arg(long)]
    pub slot: Option<u8>,
    /// The receiver's common name.
    #[arg(long)]
    pub subject: String,
    /// The receiver's key usage (signature or encryption).
    #[arg(long, value_enum)]
    pub usage: UsageArg,
    /// Days the certificate is valid from the card's time.
    #[arg(long, default_value_t = 365)]
    pub days: u64,
    /// The receiver's delivery public key (PEM, DER or hex): the private key is encrypted to it.
    #[arg(long)]
    pub delivery_key: PathBuf,
    /// Where to write the receiver's certificate (PEM).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the receiver's encrypted private key (ECIES blob).
    #[arg(long)]
    pub key_out: PathBuf,
}

/// `agent issue`.
pub fn agent_issue(meter: &mut CliMeter, a: &AgentIssueArgs) -> CliResult<Report> {
    let delivery_key = files::read_public_key(&a.delivery_key)?;
    let subject = x509::name(&[(oid::COMMON_NAME, a.subject.as_str())])?;
    let pin = read_pin()?;
    let issued = with_pin(meter, &pin, |tx| {
        let slot = pick_slot(tx, a.slot, Usage::Agent)?;
        let not_after = tx.status()?.time.saturating_add(a.days.saturating_mul(86_400));
        let request = AgentRequest { subject: &subject, not_after, usage: a.usage.into(), delivery_key };
        tx.agent_issue(slot, &request)
    })?;
    files::write_pem(&a.out, "CERTIFICATE", &issued.certificate)?;
    files::write(&a.key_out, &issued.encrypted_key)?;
    let cert = Certificate::parse(&issued.certificate)?;
    let data = serde_json::json!({
        "certificate": a.out,
        "encrypted_key": a.key_out,
        "serial": hex::encode_upper(&cert.serial),
        "not_after": rfc3339(cert.not_after),
    });
    Report::new(&data, format!("issued {} -> {}, key -> {}\n", a.subject, a.out.display(), a.key_out.display()))
}

/// `sign`: SIGN DATA over the SHA-256 of a file; the signature is a DER ECDSA-Sig-Value
/// (`openssl dgst -sha256 -verify` checks it with the slot certificate's key).
pub fn sign(meter: &mut CliMeter, file: &Path, slot: Option<u8>, out: &Path) -> CliResult<Report> {
    let digest: [u8; 32] = Sha256::digest(files::read(file)?).into();
    let pin = read_pin()?;
    let (slot, signature) = with_pin(meter, &pin, |tx| {
        let slot = pick_slot(tx, slot, Usage::Signature)?;
        Ok((slot, tx.sign_digest(slot, &digest)?))
    })?;
    files::write(out, &signature)?;
    let data = serde_json::json!({
        "slot": slot,
        "sha256": hex::encode_upper(digest),
        "signature": out,
    });
    Report::new(&data, format!("signed {} with slot {slot} -> {}\n", file.display(), out.display()))
}

/// `decrypt`: the plaintext goes to a file readable by its owner only, never to the terminal or a trace.
pub fn decrypt(meter: &mut CliMeter, file: &Path, slot: Option<u8>, out: &Path) -> CliResult<Report> {
    let blob = files::read(file)?;
    let pin = read_pin()?;
    let (slot, plaintext) = with_pin(meter, &pin, |tx| {
        let slot = pick_slot(tx, slot, Usage::Encryption)?;
        Ok((slot, tx.decrypt(slot, &blob)?))
    })?;
    write_private(out, plaintext.expose())?;
    let data = serde_json::json!({ "slot": slot, "plaintext": out, "length": plaintext.expose().len() });
    Report::new(&data, format!("decrypted with slot {slot} -> {}\n", out.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> CliResult<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CliError::io(path, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| CliError::io(path, e))
}

/// `revoke`: sends an authority revocation order; writes the card's signed confirmation.
pub fn revoke(meter: &mut CliMeter, order: &Path, out: &Path) -> CliResult<Report> {
    let order = files::read(order)?;
    Signed::parse(&order).map_err(|e| CliError::input(format!("revocation order: {e}")))?;
    let pin = read_pin()?;
    let confirmation = with_pin(meter, &pin, |tx| tx.revoke(&order))?;
    files::write(out, &confirmation)?;
    let body = RevocationConfirmation::parse(Signed::parse(&confirmation)?.body)?;
    let data = serde_json::json!({
        "slot": body.slot,
        "time": rfc3339(body.time),
        "fee": body.fee,
        "paid": body.paid,
        "confirmation": out,
    });
    let state = if body.paid { "paid" } else { "payment due" };
    Report::new(
        &data,
        format!("slot {} revoked, fee {} {state}; confirmation -> {}\n", body.slot, body.fee, out.display()),
    )
}
