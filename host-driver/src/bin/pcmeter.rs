//! `pcmeter`: the PCMeter command-line tool.

use clap::{Parser, Subcommand};
use host_driver::render;
use host_driver::verify::{IndiciumKey, verify_indicium};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "pcmeter", version, about = "PCMeter: a postage and certificate meter on a smart card")]
struct Cli {
    /// Log level for the APDU trace and the library (e.g. `pcmeter::apdu=debug`).
    #[arg(long, global = true, default_value = "warn")]
    log: String,
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
    /// Verify an indicium offline.
    Verify {
        /// Indicium bytes, hex.
        #[arg(long)]
        indicium: String,
        /// Postal public key (65 bytes, hex) for ECDSA indicia.
        #[arg(long, conflicts_with = "mac_key")]
        postal_key: Option<String>,
        /// Diversified meter MAC key (32 bytes, hex) for HMAC indicia.
        #[arg(long)]
        mac_key: Option<String>,
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

fn decode_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let v = hex::decode(text.trim()).map_err(|e| format!("{what}: {e}"))?;
    v.try_into().map_err(|_| format!("{what}: expected {N} bytes"))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Cmd::Demo { out, hmac } => {
            let report = host_driver::demo::run(&out, hmac).map_err(|e| e.to_string())?;
            print!("{}", report.text);
            Ok(())
        }
        Cmd::Verify { indicium, postal_key, mac_key } => {
            let bytes = hex::decode(indicium.trim()).map_err(|e| format!("indicium: {e}"))?;
            let body = match (postal_key, mac_key) {
                (Some(k), None) => verify_indicium(&bytes, IndiciumKey::Ecdsa(&decode_hex::<65>(&k, "postal key")?)),
                (None, Some(k)) => verify_indicium(&bytes, IndiciumKey::Mac(&decode_hex::<32>(&k, "MAC key")?)),
                _ => return Err(String::from("give --postal-key or --mac-key")),
            }
            .map_err(|e| format!("NOT VALID: {e}"))?;
            println!("valid indicium: {body:#?}");
            Ok(())
        }
        Cmd::Render { indicium, out } => {
            let bytes = hex::decode(indicium.trim()).map_err(|e| format!("indicium: {e}"))?;
            let data = if out.extension().is_some_and(|e| e == "svg") {
                render::svg(&bytes, 6).map_err(|e| e.to_string())?.into_bytes()
            } else {
                render::png(&bytes, 6).map_err(|e| e.to_string())?
            };
            std::fs::write(&out, data).map_err(|e| format!("{}: {e}", out.display()))?;
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcmeter: {e}");
            ExitCode::FAILURE
        }
    }
}
