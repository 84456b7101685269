//! `print`, `verify` and `render`: thin calls into the indicium verifier
//! and the Data Matrix renderer. Indicia are checked against trust
//! material the user supplies (postal public key or MAC key), never
//! against a key read from the same card.

use super::error::{CliError, CliResult, Exit};
use super::files;
use super::meter::{CliMeter, read_pin, with_pin};
use super::output::Report;
use apdu_specs::date::yyyymmdd_from_unix;
use apdu_specs::indicium::IndiciumBody;
use apdu_specs::mailpiece::{MailPiece, postcode};
use host_driver::verify::{IndiciumKey, VerifyError, verify_indicium};
use pcmeter::render;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Trust material for indicia, obtained from the postal authority: never a
/// key read from the meter that made the indicium.
#[derive(Debug, clap::Args)]
pub struct Trust {
    /// Postal public key (65 bytes, hex) for ECDSA indicia.
    #[arg(long, conflicts_with_all = ["postal_key_file", "mac_key", "mac_key_file"])]
    postal_key: Option<String>,
    /// File holding the postal public key (PEM, as `sim create` writes it, or hex).
    #[arg(long, conflicts_with_all = ["mac_key", "mac_key_file"])]
    postal_key_file: Option<PathBuf>,
    /// Meter MAC key (32 bytes, hex) for HMAC indicia; --mac-key-file keeps it off the command line.
    #[arg(long, conflicts_with = "mac_key_file")]
    mac_key: Option<String>,
    /// File holding the meter MAC key (hex) for HMAC indicia.
    #[arg(long)]
    mac_key_file: Option<PathBuf>,
}

/// A key the user trusts.
enum TrustedKey {
    Ecdsa([u8; 65]),
    Mac(Zeroizing<[u8; 32]>),
}

impl Trust {
    /// The key given, if any.
    fn key(&self) -> CliResult<Option<TrustedKey>> {
        let read = |path: &Path| std::fs::read_to_string(path).map(Zeroizing::new).map_err(|e| CliError::io(path, e));
        Ok(match (&self.postal_key, &self.postal_key_file, &self.mac_key, &self.mac_key_file) {
            (Some(text), ..) => Some(TrustedKey::Ecdsa(decode_hex(text, "postal key")?)),
            (_, Some(path), ..) => Some(TrustedKey::Ecdsa(files::read_public_key(path)?)),
            (_, _, Some(text), _) => Some(TrustedKey::Mac(Zeroizing::new(decode_hex(text, "MAC key")?))),
            (_, _, _, Some(path)) => Some(TrustedKey::Mac(Zeroizing::new(decode_hex(&read(path)?, "MAC key")?))),
            _ => None,
        })
    }
}

impl TrustedKey {
    fn verify(&self, indicium: &[u8]) -> Result<IndiciumBody, VerifyError> {
        match self {
            Self::Ecdsa(k) => verify_indicium(indicium, IndiciumKey::Ecdsa(k)),
            Self::Mac(k) => verify_indicium(indicium, IndiciumKey::Mac(k)),
        }
    }
}

fn decode_hex<const N: usize>(text: &str, what: &str) -> CliResult<[u8; N]> {
    let v = Zeroizing::new(hex::decode(text.trim()).map_err(|e| CliError::input(format!("{what}: {e}")))?);
    v.as_slice().try_into().map_err(|_| CliError::input(format!("{what}: expected {N} bytes")))
}

fn write_symbol(out: &Path, bytes: &[u8]) -> CliResult<()> {
    let render_err = |e: render::RenderError| CliError::new(Exit::Failure, e.to_string());
    let data = if out.extension().is_some_and(|e| e == "svg") {
        render::svg(bytes, 6).map_err(render_err)?.into_bytes()
    } else {
        render::png(bytes, 6).map_err(render_err)?
    };
    files::write(out, &data)
}

/// Arguments of `print`.
#[derive(Debug, clap::Args)]
pub struct PrintArgs {
    /// Rate class.
    #[arg(long)]
    class: u8,
    /// Weight in grams.
    #[arg(long)]
    weight: u32,
    /// Origin postcode.
    #[arg(long)]
    from: String,
    /// Destination postcode.
    #[arg(long)]
    to: String,
    /// Mailing date YYYYMMDD (default: today, UTC).
    #[arg(long)]
    date: Option<u32>,
    /// Data Matrix output (.png or .svg).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    trust: Trust,
}

/// `print`: VERIFY, PRINT and the session end in one transaction.
pub fn print(meter: &mut CliMeter, a: &PrintArgs) -> CliResult<Report> {
    let piece = MailPiece {
        rate_class: a.class,
        weight_grams: a.weight,
        date: a.date.unwrap_or_else(|| yyyymmdd_from_unix(card_sim::SimClock::System.now().unwrap_or(0))),
        origin: postcode(&a.from).ok_or_else(|| CliError::input("--from: up to 5 letters or digits"))?,
        destination: postcode(&a.to).ok_or_else(|| CliError::input("--to: up to 5 letters or digits"))?,
    };
    let trusted = a.trust.key()?;
    let pin = read_pin()?;
    let ind = with_pin(meter, &pin, |tx| tx.print_indicium(&piece))?;
    let verified = match &trusted {
        Some(key) => {
            key.verify(&ind).map_err(|e| {
                CliError::invalid(format!(
                    "the indicium does not verify against the key you gave ({e}); it was charged: \
                     keep its bytes for the postal authority: {}",
                    hex::encode_upper(&ind)
                ))
            })?;
            eprintln!("verified against the key you gave");
            true
        }
        None => {
            eprintln!("not verified: give --postal-key(-file) or --mac-key-file to check the indicium");
            false
        }
    };
    write_symbol(&a.out, &ind)?;
    eprintln!("wrote {}", a.out.display());
    let data = serde_json::json!({ "indicium": hex::encode_upper(&ind), "out": a.out, "verified": verified });
    Report::new(&data, format!("{}\n", hex::encode_upper(&ind)))
}

/// `verify`: an indicium checked offline against a key you trust.
pub fn verify(indicium: &str, trust: &Trust) -> CliResult<Report> {
    let bytes = hex::decode(indicium.trim()).map_err(|e| CliError::input(format!("indicium: {e}")))?;
    let key = trust
        .key()?
        .ok_or_else(|| CliError::input("give --postal-key, --postal-key-file, --mac-key or --mac-key-file"))?;
    let body = key.verify(&bytes).map_err(|e| CliError::invalid(format!("NOT VALID: {e}")))?;
    let data = serde_json::json!({
        "valid": true,
        "postage": body.postage,
        "piece_count": body.piece_count,
        "date": body.date,
    });
    Report::new(&data, format!("valid indicium: {body:#?}\n"))
}

/// `render`: indicium bytes as a Data Matrix.
pub fn render(indicium: &str, out: &Path) -> CliResult<Report> {
    let bytes = hex::decode(indicium.trim()).map_err(|e| CliError::input(format!("indicium: {e}")))?;
    write_symbol(out, &bytes)?;
    Report::new(&serde_json::json!({ "out": out }), format!("wrote {}\n", out.display()))
}
