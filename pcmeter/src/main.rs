//! `pcmeter`: the PCMeter command-line tool.
//!
//! Session end: `print` verifies the PIN, prints and ends the host session
//! (logout, then a card reset) inside one PC/SC transaction, and every
//! connection resets the card when it is dropped, on every return path,
//! errors and panics included. On SIGINT or SIGTERM the process exits at
//! once: pcscd then resets the card if the process held the transaction
//! (the only time the card is verified for it), as it does on SIGKILL.
//!
//! Indicia are checked against trust material the user supplies (postal
//! public key or MAC key), never against a key read from the same card.

use apdu_specs::date::yyyymmdd_from_unix;
use apdu_specs::mailpiece::{MailPiece, postcode};
use clap::{Parser, Subcommand};
use host_driver::transport::pcsc::{open_meter, survey};
use host_driver::verify::verify_audit_chain;
use host_driver::{Meter, Pin, Transport};
use pcmeter::batch::{self, BatchOptions};
use pcmeter::demo::money;
use pcmeter::label::sheet::Sheet;
use pcmeter::label::{self, Imprint};
use pcmeter::render;
use pcmeter::scan::{self, TrustedKey};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "pcmeter", version, about = "PCMeter: a postage and certificate meter on a smart card")]
struct Cli {
    /// Log filter for the library and the APDU trace (e.g. `pcmeter::apdu=debug`).
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    /// PC/SC reader to use (see `pcmeter readers`).
    #[arg(long, global = true)]
    reader: Option<String>,
    /// Use the reader holding the meter with this ID.
    #[arg(long, global = true)]
    meter_id: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Personalize a fresh simulated meter, print three indicia and show the registers.
    Demo {
        /// Where to write the indicium images.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        /// Use the HMAC (secret-key) indicium variant.
        #[arg(long)]
        hmac: bool,
    },
    /// List PC/SC readers and the meters in them.
    Readers,
    /// Show the meter's status.
    Status,
    /// Show the money registers.
    Registers,
    /// Read and verify the audit log.
    Audit,
    /// Print one mail piece's imprint (PIN from $PCMETER_PIN or one line of
    /// standard input); with a postal or MAC key, check it before writing the label.
    Print {
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
        /// Label output: .png, .svg or .pdf.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        trust: Trust,
    },
    /// Bulk mailing: frank every row of a CSV (class,weight,origin,destination,date)
    /// onto label sheets; resumable (journal beside the output), never charges a row twice.
    Batch {
        /// The mailing list (CSV).
        mailing: PathBuf,
        /// The PDF of label sheets.
        #[arg(long)]
        out: PathBuf,
        /// Label sheet: a4 (2 x 7) or letter (3 x 10).
        #[arg(long, default_value = "a4")]
        sheet: Sheet,
    },
    /// Verify the indicia in a label image (PNG), a PDF or hex, offline.
    /// The global --meter-id names the meter the labels must come from.
    /// Exit codes: 0 valid, 20 unreadable input, 21 no Data Matrix found,
    /// 22 label from another meter, 23 tampered or not an indicium.
    VerifyIndicium {
        /// PNG image, PDF file, or indicium hex.
        input: String,
        #[command(flatten)]
        trust: Trust,
    },
    /// Verify an indicium offline against a key you trust.
    Verify {
        /// Indicium bytes, hex.
        #[arg(long)]
        indicium: String,
        #[command(flatten)]
        trust: Trust,
    },
    /// Render indicium bytes as a Data Matrix (PNG or SVG by extension).
    Render {
        /// Indicium bytes, hex.
        #[arg(long)]
        indicium: String,
        /// Output file (.png or .svg).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Trust material for indicia, obtained from the postal authority: never a
/// key read from the meter that made the indicium.
#[derive(clap::Args)]
struct Trust {
    /// Postal public key (65 bytes hex, or PEM in --postal-key-file) for ECDSA indicia.
    #[arg(long, conflicts_with_all = ["postal_key_file", "mac_key", "mac_key_file"])]
    postal_key: Option<String>,
    /// File holding the postal public key (PEM or hex).
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
    fn key(&self) -> Result<Option<TrustedKey>, String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map(Zeroizing::new).map_err(|e| format!("{}: {e}", path.display()))
        };
        Ok(match (&self.postal_key, &self.postal_key_file, &self.mac_key, &self.mac_key_file) {
            (Some(text), ..) => Some(TrustedKey::postal_from_text(text)?),
            (_, Some(path), ..) => Some(TrustedKey::postal_from_text(&read(path)?)?),
            (_, _, Some(text), _) => Some(TrustedKey::mac_from_hex(text)?),
            (_, _, _, Some(path)) => Some(TrustedKey::mac_from_hex(&read(path)?)?),
            _ => None,
        })
    }
}

/// Writes the label of `imprint` in the format `out`'s extension names.
fn write_label(out: &Path, imprint: &Imprint) -> Result<(), String> {
    let data = match label::Format::from_path(out) {
        Some(label::Format::Png) => label::raster::label_png(imprint),
        Some(label::Format::Svg) => label::svg::label_svg(imprint).map(String::into_bytes),
        Some(label::Format::Pdf) => label::pdf::label_pdf(imprint),
        None => return Err(format!("{}: the label is written as .png, .svg or .pdf", out.display())),
    }
    .map_err(|e| e.to_string())?;
    std::fs::write(out, data).map_err(|e| format!("{}: {e}", out.display()))
}

/// A failure and the process exit code it ends with (1 unless a command documents another).
struct Failure {
    code: u8,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self { code: 1, message }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self { code: 1, message: message.into() }
    }
}

impl From<scan::ScanFailure> for Failure {
    fn from(e: scan::ScanFailure) -> Self {
        Self { code: e.exit_code(), message: e.to_string() }
    }
}

fn write_symbol(out: &PathBuf, bytes: &[u8]) -> Result<(), String> {
    let data = if out.extension().is_some_and(|e| e == "svg") {
        render::svg(bytes, 6).map_err(|e| e.to_string())?.into_bytes()
    } else {
        render::png(bytes, 6).map_err(|e| e.to_string())?
    };
    std::fs::write(out, data).map_err(|e| format!("{}: {e}", out.display()))
}

fn read_pin() -> Result<Pin, String> {
    let digits = match std::env::var("PCMETER_PIN") {
        Ok(p) => zeroize::Zeroizing::new(p),
        Err(_) => {
            eprint!("PIN: ");
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the PIN: {e}"))?;
            zeroize::Zeroizing::new(line.trim().to_owned())
        }
    };
    Pin::new(&digits).map_err(|_| String::from("the PIN must be 4 to 12 digits"))
}

fn meter(cli: &Cli) -> Result<Meter<host_driver::transport::pcsc::PcscTransport>, String> {
    open_meter(cli.reader.as_deref(), cli.meter_id.as_deref()).map_err(|e| e.to_string())
}

fn show_status<T: Transport>(m: &mut Meter<T>) -> Result<(), String> {
    let s = m.run(|tx| tx.status()).map_err(|e| e.to_string())?;
    let id = m.fci().and_then(|f| f.meter_id).map(|i| String::from_utf8_lossy(&i).into_owned()).unwrap_or_default();
    println!("meter            {id}");
    println!("reader           {}", m.transport_mut().reader_name());
    println!("lifecycle        {}", s.lifecycle.name());
    println!("PIN tries left   {} (PUK {})", s.pin_tries, s.puk_tries);
    println!("rate table       v{} ({})", s.rate_table_version, String::from_utf8_lossy(&s.currency));
    println!("card time        {} (YYYYMMDD {})", s.time, yyyymmdd_from_unix(s.time));
    println!("next inspection  {} (YYYYMMDD {})", s.inspection_deadline, yyyymmdd_from_unix(s.inspection_deadline));
    println!("audit records    {}", s.audit_records);
    println!("flags            {:#04x}", s.flags);
    Ok(())
}

fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Cmd::Demo { out, hmac } => {
            let report = pcmeter::demo::run(out, *hmac).map_err(|e| e.to_string())?;
            print!("{}", report.text);
        }
        Cmd::Readers => {
            let all = survey().map_err(|e| e.to_string())?;
            if all.is_empty() {
                println!("no readers");
            }
            for r in all {
                match (&r.meter, &r.error) {
                    (Some(f), _) => println!(
                        "{}: meter {} ({})",
                        r.reader,
                        f.meter_id
                            .map(|i| String::from_utf8_lossy(&i).into_owned())
                            .unwrap_or_else(|| "not personalized".into()),
                        f.lifecycle.name()
                    ),
                    (None, Some(e)) => println!("{}: {e}", r.reader),
                    (None, None) => println!("{}: no meter", r.reader),
                }
            }
        }
        Cmd::Status => show_status(&mut meter(&cli)?)?,
        Cmd::Registers => {
            let mut m = meter(&cli)?;
            let s = m.run(|tx| tx.status()).map_err(|e| e.to_string())?;
            let r = m.run(|tx| tx.registers()).map_err(|e| e.to_string())?;
            let f = |v| money(v, &s.currency, s.exponent);
            println!(
                "AR_p  {}\nAR_c  {}\nDR    {}\nCT    {}\ndebt  {}",
                f(r.ar_postage),
                f(r.ar_certificates),
                f(r.descending),
                f(r.control_total),
                f(r.debt)
            );
            println!("NT    {}\npieces {:?}", r.recharge_seq, r.counts);
            println!("AR_p + AR_c + DR == CT: {}", if r.balanced() { "holds" } else { "VIOLATED" });
        }
        Cmd::Audit => {
            let mut m = meter(&cli)?;
            let (head, records) = m.run(|tx| tx.audit_log()).map_err(|e| e.to_string())?;
            for r in &records {
                println!(
                    "#{:<5} t={} {:?} amount={} detail={}",
                    r.seq,
                    r.time,
                    r.event,
                    r.amount,
                    hex::encode(r.detail)
                );
            }
            verify_audit_chain(&head, &records).map_err(|e| e.to_string())?;
            println!("{} records, chain verified, head {}", head.records, hex::encode(head.hash));
        }
        Cmd::Print { class, weight, from, to, date, out, trust } => {
            let piece = MailPiece {
                rate_class: *class,
                weight_grams: *weight,
                date: date.unwrap_or_else(|| yyyymmdd_from_unix(card_sim::SimClock::System.now().unwrap_or(0))),
                origin: postcode(from).ok_or("--from: up to 5 letters or digits")?,
                destination: postcode(to).ok_or("--to: up to 5 letters or digits")?,
            };
            let trusted = trust.key()?;
            if label::Format::from_path(out).is_none() {
                return Err(format!("{}: the label is written as .png, .svg or .pdf", out.display()).into());
            }
            let pin = read_pin()?;
            let mut m = meter(&cli)?;
            // VERIFY, PRINT and the session end in one transaction: no other client sees the PIN verified.
            let (status, ind) = m
                .with_session(|s| {
                    let status = s.status()?;
                    s.verify_pin(&pin)?;
                    Ok((status, s.print_indicium(&piece)?))
                })
                .map_err(|e| e.to_string())?;
            match &trusted {
                Some(key) => {
                    key.verify(&ind).map_err(|e| {
                        format!(
                            "the indicium does not verify against the key you gave ({e}); it was charged: \
                             keep its bytes for the postal authority: {}",
                            hex::encode_upper(&ind)
                        )
                    })?;
                    eprintln!("verified against the key you gave");
                }
                None => eprintln!("not verified: give --postal-key(-file) or --mac-key-file to check the indicium"),
            }
            let imprint = Imprint::new(&ind, status.currency, status.exponent).map_err(|e| {
                format!("{e}; it was charged: keep its bytes for the postal authority: {}", hex::encode_upper(&ind))
            })?;
            write_label(out, &imprint)?;
            println!("{}", hex::encode_upper(&ind));
            eprintln!("wrote {}", out.display());
        }
        Cmd::Batch { mailing, out, sheet } => {
            let csv = std::fs::read_to_string(mailing).map_err(|e| format!("{}: {e}", mailing.display()))?;
            let pin = read_pin()?;
            let mut m = meter(&cli)?;
            let opts = BatchOptions { out: out.clone(), sheet: *sheet };
            let summary = batch::run(&mut m, &pin, &csv, &opts, batch::progress::for_stderr().as_mut())
                .map_err(|e| e.to_string())?;
            print!("{}", summary.text());
            eprintln!("wrote {} (journal {})", out.display(), batch::journal::path_for(out).display());
        }
        Cmd::VerifyIndicium { input, trust } => {
            let key = trust.key()?.ok_or("give --postal-key, --postal-key-file, --mac-key or --mac-key-file")?;
            let symbols = scan::Input::detect(input)?.symbols()?;
            let bodies = scan::verify_all(&symbols, &key, cli.meter_id.as_deref())?;
            for b in &bodies {
                println!(
                    "valid indicium: meter {} piece {} postage {} date {} class {}",
                    String::from_utf8_lossy(&b.device_id).trim_end(),
                    b.piece_count,
                    b.postage,
                    b.date,
                    b.rate_class
                );
            }
        }
        Cmd::Verify { indicium, trust } => {
            let bytes = hex::decode(indicium.trim()).map_err(|e| format!("indicium: {e}"))?;
            let key = trust.key()?.ok_or("give --postal-key, --postal-key-file, --mac-key or --mac-key-file")?;
            let body = key.verify(&bytes).map_err(|e| format!("NOT VALID: {e}"))?;
            println!("valid indicium: {body:#?}");
        }
        Cmd::Render { indicium, out } => {
            let bytes = hex::decode(indicium.trim()).map_err(|e| format!("indicium: {e}"))?;
            write_symbol(out, &bytes)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// SIGINT and SIGTERM end the process at once, with the conventional
/// status. A verified PIN exists only inside the transaction of `print`, and
/// pcscd resets the card when a process dies holding a transaction.
fn exit_on_signals() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signal handler: {e}"))?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            eprintln!("pcmeter: interrupted (signal {signal}): the card session ends with this process");
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    if let Err(e) = exit_on_signals() {
        eprintln!("pcmeter: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, message }) => {
            eprintln!("pcmeter: {message}");
            ExitCode::from(code)
        }
    }
}
