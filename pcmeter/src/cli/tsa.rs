//! `pcmeter tsa`: the meter as an RFC 3161 timestamp authority over HTTP
//! (`pcmeter::tsa`). Loopback only unless `--allow-remote`: whoever reaches
//! the server spends the meter's funds.

use super::error::{CliError, CliResult, Exit};
use super::meter::{self, Target};
use super::output::Report;
use std::io::Write as _;
use std::net::SocketAddr;

/// `tsa` arguments.
#[derive(Debug, clap::Args)]
pub struct TsaArgs {
    /// Address to listen on (loopback unless --allow-remote).
    #[arg(long, default_value = "127.0.0.1:3161")]
    pub listen: SocketAddr,
    /// Listen on a non-loopback address: whoever reaches it spends the meter's funds.
    #[arg(long)]
    pub allow_remote: bool,
    /// Postmark slot (default: the first slot holding a postmark certificate).
    #[arg(long)]
    pub slot: Option<u8>,
}

/// Binds, prints the address, then serves until the process is stopped.
pub fn serve(target: &Target, args: &TsaArgs) -> CliResult<Report> {
    use pcmeter::tsa::{Limits, Stamper, TsaServer, find_postmark_slot};
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(CliError::input(format!(
            "refusing to listen on {}: not a loopback address (pass --allow-remote to serve other hosts)",
            args.listen
        )));
    }
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| CliError::new(Exit::Failure, format!("{}: {e}", args.listen)))?;
    let pin = meter::read_pin()?;
    let mut m = meter::open(target)?;
    let slot = match args.slot {
        Some(n) => n,
        None => find_postmark_slot(&mut m)?
            .ok_or_else(|| CliError::input("no slot holds a postmark certificate (give --slot)"))?,
    };
    let server = TsaServer::start(listener, m, Stamper::new(pin, slot), Limits::default())
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    println!("timestamp authority on http://{}/", server.local_addr());
    std::io::stdout().flush().map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    server.wait().map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    Report::new(&serde_json::json!({ "stopped": true }), String::from("timestamp authority stopped\n"))
}
