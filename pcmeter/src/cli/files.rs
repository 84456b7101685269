//! Reading and writing the files commands take and make: DER or PEM
//! objects, public keys as PEM SubjectPublicKeyInfo.

use super::error::{CliError, CliResult};
use std::path::Path;

/// Reads a whole file.
pub fn read(path: &Path) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError::io(path, e))
}

/// Writes a whole file.
pub fn write(path: &Path, bytes: &[u8]) -> CliResult<()> {
    std::fs::write(path, bytes).map_err(|e| CliError::io(path, e))
}

/// Writes `der` as PEM with `label`.
pub fn write_pem(path: &Path, label: &str, der: &[u8]) -> CliResult<()> {
    write(path, authority::ca::pem(label, der).as_bytes())
}

/// The DER inside `bytes`: the first PEM block labelled `label` when the file is PEM, else the bytes themselves.
pub fn der_or_pem(path: &Path, bytes: Vec<u8>, label: &str) -> CliResult<Vec<u8>> {
    if !bytes.starts_with(b"-----BEGIN ") {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| CliError::input(format!("{}: not PEM text", path.display())))?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| CliError::input(format!("{}: no PEM block labelled {label}", path.display())))?;
    let stop = text[start..]
        .find(&end)
        .map(|i| start + i + end.len())
        .ok_or_else(|| CliError::input(format!("{}: unterminated PEM block", path.display())))?;
    let (found, der) = der::pem::decode_vec(&text.as_bytes()[start..stop])
        .map_err(|e| CliError::input(format!("{}: malformed PEM: {e}", path.display())))?;
    if found != label {
        return Err(CliError::input(format!("{}: expected {label}, found {found}", path.display())));
    }
    Ok(der)
}

/// Reads a DER or PEM object labelled `label`.
pub fn read_object(path: &Path, label: &str) -> CliResult<Vec<u8>> {
    der_or_pem(path, read(path)?, label)
}

/// Writes a P-256 public key as a PEM SubjectPublicKeyInfo (`openssl pkey -pubin` reads it).
pub fn write_public_key(path: &Path, point: &[u8; 65]) -> CliResult<()> {
    write_pem(path, "PUBLIC KEY", &apdu_specs::x509::spki(point)?)
}

/// Reads a P-256 public key: a PEM or DER SubjectPublicKeyInfo, or 65 bytes of hex.
pub fn read_public_key(path: &Path) -> CliResult<[u8; 65]> {
    let bytes = read(path)?;
    let bad = || CliError::input(format!("{}: not a P-256 public key", path.display()));
    if let Ok(text) = std::str::from_utf8(&bytes)
        && let Ok(raw) = hex::decode(text.trim())
    {
        return raw.try_into().map_err(|_| bad());
    }
    let der = der_or_pem(path, bytes, "PUBLIC KEY")?;
    // The key is the last 65 bytes of the SPKI; re-encoding it must give the file back.
    let point: [u8; 65] = der.get(der.len().saturating_sub(65)..).and_then(|p| p.try_into().ok()).ok_or_else(bad)?;
    if apdu_specs::x509::spki(&point).ok().as_deref() != Some(der.as_slice()) {
        return Err(bad());
    }
    Ok(point)
}

/// Reads a certificate (PEM or DER) and returns its DER.
pub fn read_certificate(path: &Path) -> CliResult<Vec<u8>> {
    let der = read_object(path, "CERTIFICATE")?;
    apdu_specs::x509::Certificate::parse(&der)
        .map_err(|e| CliError::input(format!("{}: not a valid certificate: {e}", path.display())))?;
    Ok(der)
}
