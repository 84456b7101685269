//! `pcmeter`: the PCMeter command-line tool (commands in [`cli`], the
//! per-user configuration in [`config`]; docs/cli.md).
//!
//! Session end: every command runs its card work in one PC/SC transaction
//! that ends with a logout and a card reset, and every connection resets
//! the card when it is dropped, on every return path, errors and panics
//! included. On SIGINT or SIGTERM the process exits at once (128 + signal):
//! pcscd then resets the card if the process held the transaction (the only
//! time the card is verified for it), as it does on SIGKILL.

mod cli;
mod config;

use clap::Parser;
use cli::Cli;
use config::Config;
use std::process::ExitCode;

/// SIGINT and SIGTERM end the process at once, with the conventional
/// status. A verified PIN exists only inside a command's transaction, and
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
    let result = Config::load().and_then(|(config, _)| cli::run(&cli, &config));
    match result {
        Ok(report) => {
            report.print(cli.json);
            report.exit.map_or(ExitCode::SUCCESS, |e| ExitCode::from(e as u8))
        }
        Err(e) => {
            if cli.json {
                println!("{}", e.json());
            }
            eprintln!("pcmeter: {e}");
            ExitCode::from(e.exit as u8)
        }
    }
}
