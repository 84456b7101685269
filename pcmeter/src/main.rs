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
use host_driver::verify::{IndiciumKey, VerifyError, verify_audit_chain, verify_indicium};
use host_driver::{Meter, Pin, Transport};
use pcmeter::demo::money;
use pcmeter::render;
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
    /// Print an indicium (PIN from $PCMETER_PIN or one line of standard input);
    /// with a postal or MAC key, check it before writing the label.
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
        /// Data Matrix output (.png or .svg).
        #[arg(long)]
        out: PathBuf,
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
    /// Serve RFC 3161 timestamps over HTTP (POST application/timestamp-query),
    /// each a postmark charged on the card; PIN from $PCMETER_PIN or one line
    /// of standard input.
    Tsa {
        /// Address to listen on (loopback unless --allow-remote).
        #[arg(long, default_value = "127.0.0.1:3161")]
        listen: std::net::SocketAddr,
        /// Listen on a non-loopback address: whoever reaches it spends the meter's funds.
        #[arg(long)]
        allow_remote: bool,
        /// Postmark slot (default: the first slot holding a postmark certificate).
        #[arg(long)]
        slot: Option<u8>,
        /// Serve a fresh simulated meter in process instead of a reader; its
        /// CA and signer certificates are written to DIR/ca.pem and DIR/tsa.pem.
        #[arg(long, value_name = "DIR")]
        demo_sim: Option<PathBuf>,
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
    /// Postal public key (65 bytes, hex) for ECDSA indicia.
    #[arg(long, conflicts_with_all = ["postal_key_file", "mac_key", "mac_key_file"])]
    postal_key: Option<String>,
    /// File holding the postal public key (hex).
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
    fn key(&self) -> Result<Option<TrustedKey>, String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map(Zeroizing::new).map_err(|e| format!("{}: {e}", path.display()))
        };
        Ok(match (&self.postal_key, &self.postal_key_file, &self.mac_key, &self.mac_key_file) {
            (Some(text), ..) => Some(TrustedKey::Ecdsa(decode_hex(text, "postal key")?)),
            (_, Some(path), ..) => Some(TrustedKey::Ecdsa(decode_hex(&read(path)?, "postal key")?)),
            (_, _, Some(text), _) => Some(TrustedKey::Mac(Zeroizing::new(decode_hex(text, "MAC key")?))),
            (_, _, _, Some(path)) => Some(TrustedKey::Mac(Zeroizing::new(decode_hex(&read(path)?, "MAC key")?))),
            _ => None,
        })
    }
}

impl TrustedKey {
    fn verify(&self, indicium: &[u8]) -> Result<apdu_specs::indicium::IndiciumBody, VerifyError> {
        match self {
            Self::Ecdsa(k) => verify_indicium(indicium, IndiciumKey::Ecdsa(k)),
            Self::Mac(k) => verify_indicium(indicium, IndiciumKey::Mac(k)),
        }
    }
}

fn decode_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let v = Zeroizing::new(hex::decode(text.trim()).map_err(|e| format!("{what}: {e}"))?);
    v.as_slice().try_into().map_err(|_| format!("{what}: expected {N} bytes"))
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

fn run(cli: Cli) -> Result<(), String> {
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
            let pin = read_pin()?;
            let mut m = meter(&cli)?;
            // VERIFY, PRINT and the session end in one transaction: no other client sees the PIN verified.
            let ind = m
                .with_session(|s| {
                    s.verify_pin(&pin)?;
                    s.print_indicium(&piece)
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
            write_symbol(out, &ind)?;
            println!("{}", hex::encode_upper(&ind));
            eprintln!("wrote {}", out.display());
        }
        Cmd::Verify { indicium, trust } => {
            let bytes = hex::decode(indicium.trim()).map_err(|e| format!("indicium: {e}"))?;
            let key = trust.key()?.ok_or("give --postal-key, --postal-key-file, --mac-key or --mac-key-file")?;
            let body = key.verify(&bytes).map_err(|e| format!("NOT VALID: {e}"))?;
            println!("valid indicium: {body:#?}");
        }
        Cmd::Tsa { listen, allow_remote, slot, demo_sim } => {
            serve_tsa(&cli, *listen, *allow_remote, *slot, demo_sim.as_deref())?
        }
        Cmd::Render { indicium, out } => {
            let bytes = hex::decode(indicium.trim()).map_err(|e| format!("indicium: {e}"))?;
            write_symbol(out, &bytes)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// `pcmeter tsa`: binds (loopback unless allowed), then serves until stopped.
fn serve_tsa(
    cli: &Cli,
    listen: std::net::SocketAddr,
    allow_remote: bool,
    slot: Option<u8>,
    demo_sim: Option<&Path>,
) -> Result<(), String> {
    use pcmeter::tsa::{Stamper, find_postmark_slot, sim};
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "refusing to listen on {listen}: not a loopback address (pass --allow-remote to serve other hosts)"
        ));
    }
    let listener = std::net::TcpListener::bind(listen).map_err(|e| format!("{listen}: {e}"))?;
    match demo_sim {
        Some(dir) => {
            let keys = pcmeter::simulated::AuthorityKeys::generate().map_err(|e| e.to_string())?;
            let up = sim::certified_sim_meter(&keys, 1_000_000).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (name, pem) in
                [("ca.pem", up.ca.certificate_pem()), ("tsa.pem", authority::ca::pem("CERTIFICATE", &up.certificate))]
            {
                let path = dir.join(name);
                std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            let stamper = Stamper::new(up.meter.pin.clone(), sim::POSTMARK_SLOT);
            run_tsa(listener, up.meter.meter, stamper)
        }
        None => {
            let pin = read_pin()?;
            let mut m = meter(cli)?;
            let slot = match slot {
                Some(n) => n,
                None => find_postmark_slot(&mut m)
                    .map_err(|e| e.to_string())?
                    .ok_or("no slot holds a postmark certificate (give --slot)")?,
            };
            run_tsa(listener, m, Stamper::new(pin, slot))
        }
    }
}

/// Serves until the process is stopped; the address goes to standard output first.
fn run_tsa<T: Transport + Send + 'static>(
    listener: std::net::TcpListener,
    meter: Meter<T>,
    stamper: pcmeter::tsa::Stamper,
) -> Result<(), String> {
    use std::io::Write;
    let server = pcmeter::tsa::TsaServer::start(listener, meter, stamper, pcmeter::tsa::Limits::default())
        .map_err(|e| e.to_string())?;
    println!("timestamp authority on http://{}/", server.local_addr());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    server.wait().map_err(|e| e.to_string())
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
        Err(e) => {
            eprintln!("pcmeter: {e}");
            ExitCode::FAILURE
        }
    }
}
