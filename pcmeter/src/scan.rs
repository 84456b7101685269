//! Reading indicia back from what people receive: a label image (PNG), a
//! PDF page, or hex; and verifying them offline.
//!
//! The Data Matrix is decoded by an independent decoder, `dmtxread`
//! (libdmtx, Debian package `dmtx-utils`); PDF pages are first rendered with
//! `pdftoppm -png -r 300` (`poppler-utils`). Verification is
//! [`host_driver::verify::verify_indicium`] against the postal public key
//! (PEM `SubjectPublicKeyInfo` or 65 bytes hex) or the meter's MAC key.
//!
//! `pcmeter verify-indicium` exit codes (also [`ScanFailure::exit_code`]):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every indicium found verifies (and is from `--meter-id` when given) |
//! | 20 | the input cannot be read (not a PNG or PDF, damaged, bad hex) |
//! | 21 | no Data Matrix found in the image or PDF |
//! | 22 | a valid indicium, but from another meter than `--meter-id` |
//! | 23 | tampered or not an indicium: the signature or MAC does not verify |

use apdu_specs::indicium::IndiciumBody;
use base64ct::Encoding;
use host_driver::verify::{IndiciumKey, VerifyError, verify_indicium};
use std::path::{Path, PathBuf};
use std::process::Command;
use zeroize::Zeroizing;

/// Why indicia could not be read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ScanFailure {
    /// The input cannot be read.
    #[error("unreadable input {0}: {1}")]
    Unreadable(String, String),
    /// No Data Matrix in the image.
    #[error("no Data Matrix found in {0}")]
    NoSymbol(String),
    /// A decoder tool is missing or failed.
    #[error("{0}: {1}")]
    Tool(&'static str, String),
    /// The indicium verifies but names another meter.
    #[error("label from another meter: indicium of meter {found:?} (piece {piece}), expected {expected:?}")]
    OtherMeter {
        /// Meter ID in the indicium.
        found: String,
        /// Meter ID expected.
        expected: String,
        /// Its piece count.
        piece: u32,
    },
    /// The authenticator does not verify, or the bytes are no indicium.
    #[error("tampered or invalid indicium (symbol {index}): {cause}")]
    Tampered {
        /// Which decoded symbol (0-based).
        index: usize,
        /// What failed.
        cause: VerifyError,
    },
}

impl ScanFailure {
    /// The documented exit code of `pcmeter verify-indicium` (see the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unreadable(..) => 20,
            Self::NoSymbol(_) => 21,
            Self::OtherMeter { .. } => 22,
            Self::Tampered { .. } => 23,
            Self::Tool(..) => 1,
        }
    }
}

/// What the input names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A PNG image file.
    Png(PathBuf),
    /// A PDF file (every page is scanned).
    Pdf(PathBuf),
    /// Indicium bytes given as hex.
    Hex(Vec<u8>),
}

impl Input {
    /// A file by its first bytes (PNG or PDF), or else the text as hex.
    pub fn detect(arg: &str) -> Result<Self, ScanFailure> {
        let path = Path::new(arg);
        if path.exists() {
            let bytes = std::fs::read(path).map_err(|e| ScanFailure::Unreadable(arg.into(), e.to_string()))?;
            return if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                Ok(Self::Png(path.into()))
            } else if bytes.starts_with(b"%PDF-") {
                Ok(Self::Pdf(path.into()))
            } else {
                Err(ScanFailure::Unreadable(arg.into(), "neither a PNG image nor a PDF".into()))
            };
        }
        hex::decode(arg.trim())
            .map(Self::Hex)
            .map_err(|e| ScanFailure::Unreadable(arg.into(), format!("no such file, and not hex either ({e})")))
    }

    /// The indicia (raw symbol contents) the input holds.
    pub fn symbols(&self) -> Result<Vec<Vec<u8>>, ScanFailure> {
        match self {
            Self::Hex(bytes) => Ok(vec![bytes.clone()]),
            Self::Png(path) => decode_png(path, DEFAULT_LIMIT),
            Self::Pdf(path) => decode_pdf(path, 300),
        }
    }
}

/// Splits `dmtxread -n` output (each symbol followed by a newline) into
/// symbols; an indicium's length comes from its algorithm byte, so binary
/// newlines inside it are no separators.
pub fn split_symbols(output: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = output;
    while !rest.is_empty() {
        let known = match rest {
            [1, alg, ..] => apdu_specs::indicium::IndiciumAlgorithm::from_byte(*alg).ok().map(|a| a.indicium_len()),
            _ => None,
        };
        let len = match known {
            Some(n) if rest.get(n) == Some(&b'\n') => n,
            _ => rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len()),
        };
        let (symbol, tail) = rest.split_at(len);
        out.push(symbol.to_vec());
        rest = tail.get(1..).unwrap_or(&[]);
    }
    out
}

/// How long `dmtxread` searches an image. It finds symbols quickly but an
/// exhaustive search for more can take minutes on a 300 dpi page, so it
/// stops after the expected count, or after a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Stop after this many symbols.
    Count(usize),
    /// Stop after this many milliseconds.
    Millis(u32),
}

/// Search time per image when the number of symbols is unknown.
pub const DEFAULT_LIMIT: Limit = Limit::Millis(8_000);

/// Decodes the Data Matrix symbols in a PNG with `dmtxread`.
pub fn decode_png(path: &Path, limit: Limit) -> Result<Vec<Vec<u8>>, ScanFailure> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| ScanFailure::Unreadable(shown.clone(), e.to_string()))?;
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .map_err(|e| ScanFailure::Unreadable(shown.clone(), e.to_string()))?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    reader.next_frame(&mut buf).map_err(|e| ScanFailure::Unreadable(shown.clone(), e.to_string()))?;
    let limit = match limit {
        Limit::Count(n) => ["-N".to_owned(), n.to_string()],
        Limit::Millis(ms) => ["-m".to_owned(), ms.to_string()],
    };
    let out = Command::new("dmtxread")
        .arg("-n")
        .args(limit)
        .arg(path)
        .output()
        .map_err(|e| ScanFailure::Tool("dmtxread (install dmtx-utils)", e.to_string()))?;
    let symbols = split_symbols(&out.stdout);
    if symbols.is_empty() {
        return Err(ScanFailure::NoSymbol(shown));
    }
    tracing::debug!(path = %shown, count = symbols.len(), "decoded Data Matrix symbols");
    Ok(symbols)
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pcmeter-scan-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Renders every page of a PDF at `dpi` with `pdftoppm` and decodes each
/// (page `i`, from 0, with `limit(i)`). Returns the symbols page by page.
pub fn decode_pdf_pages(
    path: &Path,
    dpi: u32,
    limit: impl Fn(usize) -> Limit,
) -> Result<Vec<Vec<Vec<u8>>>, ScanFailure> {
    let shown = path.display().to_string();
    let scratch = Scratch::new().map_err(|e| ScanFailure::Tool("scratch directory", e.to_string()))?;
    let out = Command::new("pdftoppm")
        .args(["-png", "-r", &dpi.to_string()])
        .arg(path)
        .arg(scratch.0.join("page"))
        .output()
        .map_err(|e| ScanFailure::Tool("pdftoppm (install poppler-utils)", e.to_string()))?;
    if !out.status.success() {
        return Err(ScanFailure::Unreadable(shown, String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&scratch.0)
        .map_err(|e| ScanFailure::Tool("scratch directory", e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    // pdftoppm pads page numbers to the same width, so names sort in page order.
    pages.sort();
    if pages.is_empty() {
        return Err(ScanFailure::NoSymbol(shown));
    }
    pages
        .iter()
        .enumerate()
        .map(|(i, page)| match decode_png(page, limit(i)) {
            Err(ScanFailure::NoSymbol(_)) => Ok(Vec::new()),
            other => other,
        })
        .collect()
}

/// The symbols of page `page` (from 1) of a PDF rendered at `dpi`.
pub fn decode_pdf_page(path: &Path, dpi: u32, page: usize, limit: Limit) -> Result<Vec<Vec<u8>>, ScanFailure> {
    let shown = path.display().to_string();
    let scratch = Scratch::new().map_err(|e| ScanFailure::Tool("scratch directory", e.to_string()))?;
    let png = scratch.0.join("page");
    let out = Command::new("pdftoppm")
        .args(["-png", "-singlefile", "-r", &dpi.to_string(), "-f", &page.to_string(), "-l", &page.to_string()])
        .arg(path)
        .arg(&png)
        .output()
        .map_err(|e| ScanFailure::Tool("pdftoppm (install poppler-utils)", e.to_string()))?;
    if !out.status.success() {
        return Err(ScanFailure::Unreadable(shown, String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    decode_png(&png.with_extension("png"), limit)
}

/// Every symbol of every page of a PDF.
pub fn decode_pdf(path: &Path, dpi: u32) -> Result<Vec<Vec<u8>>, ScanFailure> {
    let all: Vec<Vec<u8>> = decode_pdf_pages(path, dpi, |_| DEFAULT_LIMIT)?.into_iter().flatten().collect();
    if all.is_empty() {
        return Err(ScanFailure::NoSymbol(path.display().to_string()));
    }
    Ok(all)
}

/// A key that checks indicia, from the postal authority (never read from the meter).
pub enum TrustedKey {
    /// Postal public key, SEC1 uncompressed.
    Postal([u8; 65]),
    /// Diversified meter MAC key.
    Mac(Zeroizing<[u8; 32]>),
}

/// DER prefix of a P-256 `SubjectPublicKeyInfo` up to the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl TrustedKey {
    /// A postal key from PEM (`-----BEGIN PUBLIC KEY-----`, P-256) or hex.
    pub fn postal_from_text(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.starts_with("-----BEGIN PUBLIC KEY-----") {
            let body: String = text.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
            let der = base64ct::Base64::decode_vec(&body).map_err(|e| format!("postal key PEM: {e}"))?;
            der.strip_prefix(&P256_SPKI_PREFIX[..]).ok_or("postal key PEM: not a P-256 SubjectPublicKeyInfo")?.to_vec()
        } else {
            hex::decode(text).map_err(|e| format!("postal key hex: {e}"))?
        };
        Ok(Self::Postal(bytes.try_into().map_err(|_| "postal key: expected a 65-byte point")?))
    }

    /// A MAC key from hex.
    pub fn mac_from_hex(text: &str) -> Result<Self, String> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|e| format!("MAC key hex: {e}"))?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| "MAC key: expected 32 bytes")?;
        Ok(Self::Mac(Zeroizing::new(key)))
    }

    /// Verifies one indicium.
    pub fn verify(&self, indicium: &[u8]) -> Result<IndiciumBody, VerifyError> {
        match self {
            Self::Postal(k) => verify_indicium(indicium, IndiciumKey::Ecdsa(k)),
            Self::Mac(k) => verify_indicium(indicium, IndiciumKey::Mac(k)),
        }
    }
}

/// Verifies every symbol; with `meter_id`, each must also come from that
/// meter. An indicium that names another meter than `meter_id` is reported
/// as from another meter even when the key does not verify it (the key of
/// one meter's postal certificate never verifies another meter's indicia).
pub fn verify_all(
    symbols: &[Vec<u8>],
    key: &TrustedKey,
    meter_id: Option<&str>,
) -> Result<Vec<IndiciumBody>, ScanFailure> {
    let meter_of = |id: &[u8; 12]| String::from_utf8_lossy(id).trim_end_matches([' ', '\0']).to_owned();
    let mut bodies = Vec::with_capacity(symbols.len());
    for (index, symbol) in symbols.iter().enumerate() {
        let body = key.verify(symbol).map_err(|cause| {
            let claimed = apdu_specs::indicium::Indicium::parse(symbol).map(|i| i.body);
            match (claimed, meter_id) {
                (Ok(b), Some(expected)) if meter_of(&b.device_id) != expected.trim() => ScanFailure::OtherMeter {
                    found: meter_of(&b.device_id),
                    expected: expected.into(),
                    piece: b.piece_count,
                },
                _ => ScanFailure::Tampered { index, cause },
            }
        })?;
        let found = meter_of(&body.device_id);
        if let Some(expected) = meter_id.filter(|m| m.trim() != found) {
            return Err(ScanFailure::OtherMeter { found, expected: expected.into(), piece: body.piece_count });
        }
        bodies.push(body);
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_split_on_indicium_lengths_not_on_binary_newlines() {
        let mut a = vec![1u8, 1];
        a.resize(124, b'\n');
        let mut b = vec![1u8, 2];
        b.resize(76, 7);
        let mut out = a.clone();
        out.push(b'\n');
        out.extend_from_slice(&b);
        out.push(b'\n');
        out.extend_from_slice(b"hello\n");
        assert_eq!(split_symbols(&out), vec![a, b, b"hello".to_vec()]);
        assert!(split_symbols(b"").is_empty());
    }

    #[test]
    fn a_pem_postal_key_and_its_hex_are_the_same_key() {
        let point: Vec<u8> = std::iter::once(4).chain(1..=64).collect();
        let der: Vec<u8> = P256_SPKI_PREFIX.iter().copied().chain(point.iter().copied()).collect();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64ct::Base64::encode_string(&der)
        );
        let (TrustedKey::Postal(a), TrustedKey::Postal(b)) =
            (TrustedKey::postal_from_text(&pem).unwrap(), TrustedKey::postal_from_text(&hex::encode(&point)).unwrap())
        else {
            panic!("postal keys expected");
        };
        assert_eq!(a, b);
        assert_eq!(a.to_vec(), point);
        assert!(TrustedKey::postal_from_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
    }
}
