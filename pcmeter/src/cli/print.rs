//! `print`, `batch`, `verify`, `verify-indicium` and `render`: thin calls
//! into the label renderers ([`pcmeter::label`]), bulk mailing
//! ([`pcmeter::batch`]), the label scanner ([`pcmeter::scan`]) and the
//! indicium verifier. Indicia are checked against trust material the user
//! supplies (postal public key or MAC key), never against a key read from
//! the same card.

use super::error::{CliError, CliResult, Exit};
use super::files;
use super::meter::{CliMeter, read_pin, with_pin};
use super::output::Report;
use crate::config::LabelFormat;
use apdu_specs::date::yyyymmdd_from_unix;
use apdu_specs::mailpiece::{MailPiece, postcode};
use pcmeter::batch::{self, BatchOptions};
use pcmeter::label::sheet::Sheet;
use pcmeter::label::{self, Imprint};
use pcmeter::render;
use pcmeter::scan::{self, TrustedKey};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Trust material for indicia, obtained from the postal authority: never a
/// key read from the meter that made the indicium.
#[derive(Debug, clap::Args)]
pub struct Trust {
    /// Postal public key (65 bytes, hex) for ECDSA indicia.
    #[arg(long, conflicts_with_all = ["postal_key_file", "postal_cert", "mac_key", "mac_key_file"])]
    postal_key: Option<String>,
    /// File holding the postal public key (PEM, as `sim create` writes it, or hex).
    #[arg(long, conflicts_with_all = ["postal_cert", "mac_key", "mac_key_file"])]
    postal_key_file: Option<PathBuf>,
    /// The postal certificate (PEM or DER, `postal-cert.pem` from `sim
    /// create`): it must chain to --ca and be valid now; its key checks the
    /// indicia and its subject names the meter they must come from.
    #[arg(long, value_name = "FILE.pem", conflicts_with_all = ["mac_key", "mac_key_file"])]
    postal_cert: Option<PathBuf>,
    /// The CA certificate the postal certificate must chain to (default with
    /// --sim: `ca.pem` beside the state file).
    #[arg(long, value_name = "FILE.pem", requires = "postal_cert")]
    ca: Option<PathBuf>,
    /// Meter MAC key (32 bytes, hex) for HMAC indicia; --mac-key-file keeps it off the command line.
    #[arg(long, conflicts_with = "mac_key_file")]
    mac_key: Option<String>,
    /// File holding the meter MAC key (hex) for HMAC indicia.
    #[arg(long)]
    mac_key_file: Option<PathBuf>,
}

/// A postal key taken from a certificate that chains to the CA.
struct Certified {
    key: [u8; 65],
    /// The meter ID the certificate's subject names (its serialNumber, hex).
    meter_id: String,
}

/// Reads the postal certificate `cert`, checks it against the CA certificate
/// `ca` at `now` (signature, validity, a signature-key profile), and returns
/// its key and meter. A certificate that does not chain is exit 7.
fn certified_postal_key(cert: &Path, ca: &Path, now: u64) -> CliResult<Certified> {
    use apdu_specs::x509::Certificate;
    let ca_der = files::read_certificate(ca)?;
    let der = files::read_certificate(cert)?;
    let ca_key = Certificate::parse(&ca_der)?.public_key;
    host_driver::certificates::verify_certificate_path(&[&der], &ca_key, now).map_err(|e| {
        CliError::invalid(format!(
            "NOT VALID: the postal certificate {} does not chain to {} now: {e}",
            cert.display(),
            ca.display()
        ))
    })?;
    let parsed = Certificate::parse(&der)?;
    if !apdu_specs::x509::Usage::Signature.allowed_by(&parsed.extensions) {
        return Err(CliError::invalid(format!("NOT VALID: {} is not a signature certificate", cert.display())));
    }
    let meter_id = apdu_specs::certs::subject_meter_id(&parsed.subject).ok_or_else(|| {
        CliError::invalid(format!("NOT VALID: {} does not name a meter in its subject", cert.display()))
    })?;
    let meter_id = String::from_utf8_lossy(&meter_id).trim_end_matches([' ', '\0']).to_owned();
    Ok(Certified { key: parsed.public_key, meter_id })
}

impl Trust {
    /// The key given, if any; from a postal certificate, also the meter it names.
    fn key_and_meter(&self, default_ca: Option<&Path>) -> CliResult<Option<(TrustedKey, Option<String>)>> {
        let Some(cert) = &self.postal_cert else { return Ok(self.key()?.map(|k| (k, None))) };
        let ca = self
            .ca
            .as_deref()
            .or(default_ca)
            .ok_or_else(|| CliError::input("--postal-cert needs the CA certificate: give --ca"))?;
        let now = card_sim::SimClock::System.now().unwrap_or(0);
        let certified = certified_postal_key(cert, ca, now)?;
        Ok(Some((TrustedKey::Postal(certified.key), Some(certified.meter_id))))
    }

    /// The key given, if any.
    fn key(&self) -> CliResult<Option<TrustedKey>> {
        if self.postal_cert.is_some() {
            return Ok(self.key_and_meter(None)?.map(|(k, _)| k));
        }
        let read = |path: &Path| std::fs::read_to_string(path).map(Zeroizing::new).map_err(|e| CliError::io(path, e));
        Ok(match (&self.postal_key, &self.postal_key_file, &self.mac_key, &self.mac_key_file) {
            (Some(text), ..) => Some(TrustedKey::postal_from_text(text).map_err(CliError::input)?),
            (_, Some(path), ..) => Some(TrustedKey::Postal(files::read_public_key(path)?)),
            (_, _, Some(text), _) => Some(TrustedKey::mac_from_hex(text).map_err(CliError::input)?),
            (_, _, _, Some(path)) => Some(TrustedKey::mac_from_hex(&read(path)?).map_err(CliError::input)?),
            _ => None,
        })
    }
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
    /// Label output: .png, .svg or .pdf (the imprint: Data Matrix beside the
    /// postage, date, origin, meter ID and piece count). Without an
    /// extension, --format or else the configured `label_format` (else PNG)
    /// decides, and its extension is added.
    #[arg(long)]
    out: PathBuf,
    /// Label format, overriding the configuration's `label_format`; it must
    /// agree with --out's extension when that has one.
    #[arg(long, value_enum)]
    format: Option<LabelFormat>,
    #[command(flatten)]
    trust: Trust,
}

fn label_format(f: LabelFormat) -> label::Format {
    match f {
        LabelFormat::Png => label::Format::Png,
        LabelFormat::Svg => label::Format::Svg,
        LabelFormat::Pdf => label::Format::Pdf,
    }
}

/// The file and format of a label: `--format` first, then `--out`'s
/// extension, then the configured `label_format`, then PNG. A path without
/// an extension gets the format's.
pub fn label_target(
    out: &Path,
    flag: Option<LabelFormat>,
    configured: Option<LabelFormat>,
) -> CliResult<(PathBuf, label::Format)> {
    let named = label::Format::from_path(out);
    let has_extension = out.extension().is_some();
    let format = match (flag.map(label_format), named) {
        (Some(f), Some(n)) if f != n => {
            return Err(CliError::input(format!(
                "--format {} but --out {} names another format",
                f.extension(),
                out.display()
            )));
        }
        (Some(f), _) => f,
        (None, Some(n)) => n,
        (None, None) if has_extension => {
            return Err(CliError::input(format!(
                "{}: the label is written as .png, .svg or .pdf (or give --format)",
                out.display()
            )));
        }
        (None, None) => configured.map_or(label::Format::Png, label_format),
    };
    let path = if has_extension { out.to_path_buf() } else { out.with_extension(format.extension()) };
    Ok((path, format))
}

/// Writes the label of `imprint` to `out` in `format`.
fn write_label(out: &Path, format: label::Format, imprint: &Imprint) -> CliResult<()> {
    let data = match format {
        label::Format::Png => label::raster::label_png(imprint),
        label::Format::Svg => label::svg::label_svg(imprint).map(String::into_bytes),
        label::Format::Pdf => label::pdf::label_pdf(imprint),
    }
    .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    files::write(out, &data)
}

/// `print`: VERIFY, PRINT and the session end in one transaction. The
/// label's format is settled before anything is charged.
pub fn print(meter: &mut CliMeter, a: &PrintArgs, configured: Option<LabelFormat>) -> CliResult<Report> {
    let (out, format) = label_target(&a.out, a.format, configured)?;
    let piece = MailPiece {
        rate_class: a.class,
        weight_grams: a.weight,
        date: a.date.unwrap_or_else(|| yyyymmdd_from_unix(card_sim::SimClock::System.now().unwrap_or(0))),
        origin: postcode(&a.from).ok_or_else(|| CliError::input("--from: up to 5 letters or digits"))?,
        destination: postcode(&a.to).ok_or_else(|| CliError::input("--to: up to 5 letters or digits"))?,
    };
    let trusted = a.trust.key()?;
    let pin = read_pin()?;
    let (status, ind) = with_pin(meter, &pin, |tx| {
        let status = tx.status()?;
        Ok((status, tx.print_indicium(&piece)?))
    })?;
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
    let imprint = Imprint::new(&ind, status.currency, status.exponent).map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("{e}; it was charged: keep its bytes for the postal authority: {}", hex::encode_upper(&ind)),
        )
    })?;
    write_label(&out, format, &imprint)?;
    eprintln!("wrote {}", out.display());
    let data = serde_json::json!({ "indicium": hex::encode_upper(&ind), "out": out, "verified": verified });
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

/// Arguments of `batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// The mailing list (CSV: class,weight,origin,destination,date).
    mailing: PathBuf,
    /// The PDF of label sheets (its journal is written beside it).
    #[arg(long)]
    out: PathBuf,
    /// Label sheet: a4 (2 x 7) or letter (3 x 10).
    #[arg(long, default_value = "a4")]
    sheet: Sheet,
}

/// `batch`: every row of the CSV franked onto label sheets, resumable, never
/// charging a row twice (the journal beside the output binds rows to pieces).
pub fn batch(meter: &mut CliMeter, a: &BatchArgs) -> CliResult<Report> {
    let csv = std::fs::read_to_string(&a.mailing).map_err(|e| CliError::io(&a.mailing, e))?;
    let pin = read_pin()?;
    let opts = BatchOptions { out: a.out.clone(), sheet: a.sheet };
    let summary = batch::run(meter, &pin, &csv, &opts, batch::progress::for_stderr().as_mut())
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    eprintln!("wrote {} (journal {})", a.out.display(), batch::journal::path_for(&a.out).display());
    let data = serde_json::json!({
        "out": a.out,
        "journal": batch::journal::path_for(&a.out),
        "pieces": summary.pieces,
        "printed_now": summary.printed_now,
        "pages": summary.pages,
        "total_postage": summary.total_postage,
        "funds_left": summary.funds_left,
        "currency": String::from_utf8_lossy(&summary.currency),
        "exponent": summary.exponent,
        "recovered": summary.recovered,
        "not_printed": summary.not_printed,
        "stopped": summary.stopped,
    });
    let report = Report::new(&data, summary.text())?;
    // A batch stopped by insufficient funds printed what it could: its
    // report says which rows are left, and the exit status says it stopped.
    Ok(if summary.stopped.is_some() { report.with_exit(Exit::Funds) } else { report })
}

/// `verify-indicium`: every Data Matrix in a label image (PNG), a PDF or
/// hex, decoded and verified offline; with the global `--meter-id`, each
/// must come from that meter.
///
/// With `--postal-cert`, the certificate must chain to the CA and its key
/// checks the indicia, which must come from the meter its subject names.
pub fn verify_indicium(
    input: &str,
    trust: &Trust,
    meter_id: Option<&str>,
    default_ca: Option<&Path>,
) -> CliResult<Report> {
    let (key, certified) = trust.key_and_meter(default_ca)?.ok_or_else(|| {
        CliError::input("give --postal-cert, --postal-key, --postal-key-file, --mac-key or --mac-key-file")
    })?;
    let meter_id = match (meter_id, certified.as_deref()) {
        (Some(given), Some(cert)) if given.trim() != cert => {
            return Err(CliError::input(format!("--meter-id {given} but the postal certificate is meter {cert}'s")));
        }
        (given, cert) => cert.or(given),
    };
    let symbols = scan::Input::detect(input)?.symbols()?;
    let bodies = scan::verify_all(&symbols, &key, meter_id)?;
    let mut text = String::new();
    let mut pieces = Vec::new();
    for b in &bodies {
        let meter = String::from_utf8_lossy(&b.device_id).trim_end().to_owned();
        text.push_str(&format!(
            "valid indicium: meter {meter} piece {} postage {} date {} class {}\n",
            b.piece_count, b.postage, b.date, b.rate_class
        ));
        pieces.push(serde_json::json!({
            "meter_id": meter, "piece_count": b.piece_count, "postage": b.postage, "date": b.date, "rate_class": b.rate_class,
        }));
    }
    Report::new(&serde_json::json!({ "valid": true, "indicia": pieces }), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(
        out: &str,
        flag: Option<LabelFormat>,
        configured: Option<LabelFormat>,
    ) -> Result<(String, label::Format), u8> {
        label_target(Path::new(out), flag, configured)
            .map(|(p, f)| (p.display().to_string(), f))
            .map_err(|e| e.exit as u8)
    }

    #[test]
    fn the_format_flag_then_the_extension_then_the_configuration_pick_the_label_format() {
        use LabelFormat::*;
        use label::Format as F;
        // No extension, no flag: the configuration, else PNG; the extension is added.
        assert_eq!(target("label", None, Some(Svg)), Ok(("label.svg".into(), F::Svg)));
        assert_eq!(target("label", None, Some(Pdf)), Ok(("label.pdf".into(), F::Pdf)));
        assert_eq!(target("label", None, None), Ok(("label.png".into(), F::Png)));
        // The flag overrides the configuration.
        assert_eq!(target("label", Some(Pdf), Some(Svg)), Ok(("label.pdf".into(), F::Pdf)));
        // An extension overrides the configuration, and must agree with the flag.
        assert_eq!(target("a/b.PNG", None, Some(Svg)), Ok(("a/b.PNG".into(), F::Png)));
        assert_eq!(target("b.svg", Some(Svg), Some(Pdf)), Ok(("b.svg".into(), F::Svg)));
        assert_eq!(target("b.svg", Some(Pdf), None), Err(Exit::Input as u8));
        // An unknown extension needs the flag, which then names the format.
        assert_eq!(target("b.txt", None, Some(Svg)), Err(Exit::Input as u8));
        assert_eq!(target("b.dat", Some(Pdf), None), Ok(("b.dat".into(), F::Pdf)));
    }
}
