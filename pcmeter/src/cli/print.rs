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

impl Trust {
    /// The key given, if any.
    fn key(&self) -> CliResult<Option<TrustedKey>> {
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
    /// postage, date, origin, meter ID and piece count).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    trust: Trust,
}

/// Writes the label of `imprint` in the format `out`'s extension names.
fn write_label(out: &Path, imprint: &Imprint) -> CliResult<()> {
    let format = label::Format::from_path(out)
        .ok_or_else(|| CliError::input(format!("{}: the label is written as .png, .svg or .pdf", out.display())))?;
    let data = match format {
        label::Format::Png => label::raster::label_png(imprint),
        label::Format::Svg => label::svg::label_svg(imprint).map(String::into_bytes),
        label::Format::Pdf => label::pdf::label_pdf(imprint),
    }
    .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    files::write(out, &data)
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
    if label::Format::from_path(&a.out).is_none() {
        return Err(CliError::input(format!("{}: the label is written as .png, .svg or .pdf", a.out.display())));
    }
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
    write_label(&a.out, &imprint)?;
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
    let data = serde_json::json!({ "out": a.out, "summary": summary.text() });
    Report::new(&data, summary.text())
}

/// `verify-indicium`: every Data Matrix in a label image (PNG), a PDF or
/// hex, decoded and verified offline; with the global `--meter-id`, each
/// must come from that meter.
pub fn verify_indicium(input: &str, trust: &Trust, meter_id: Option<&str>) -> CliResult<Report> {
    let key = trust
        .key()?
        .ok_or_else(|| CliError::input("give --postal-key, --postal-key-file, --mac-key or --mac-key-file"))?;
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
