//! The `pcmeter` command line: the clap definition and the dispatch to one
//! module per command family. Every command takes the meter selection
//! (`--reader`, `--meter-id`, `--sim`) and `--json`; docs/cli.md lists the
//! commands, the exit codes and the JSON schemas (docs/schemas/).

pub mod certs;
pub mod credit;
pub mod error;
pub mod files;
pub mod meter;
pub mod output;
pub mod postmark;
pub mod print;
pub mod remote;
pub mod sim;
pub mod status;
pub mod tsa;

use crate::config::Config;
use clap::{Parser, Subcommand};
use error::{CliError, CliResult};
use meter::Selection;
use output::Report;
use std::path::PathBuf;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "pcmeter",
    version,
    about = "PCMeter: a postage and certificate meter on a smart card",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 bad input, 4 no meter, 5 card refused, \
                  6 insufficient funds, 7 not valid, 8 outcome unknown (see docs/cli.md).\n\
                  PIN: $PCMETER_PIN, else a no-echo prompt. Config: $PCMETER_CONFIG, else \
                  ~/.config/pcmeter/config.toml."
)]
pub struct Cli {
    /// Log filter for the library and the APDU trace (e.g. `pcmeter::apdu=debug`).
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,
    /// Print one JSON document (schema in docs/schemas/) instead of text; errors too.
    #[arg(long, global = true)]
    pub json: bool,
    /// Which meter.
    #[command(flatten)]
    pub selection: Selection,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Personalize a fresh simulated meter, print three imprints (PNG, SVG, PDF) and show the registers.
    Demo {
        /// Where to write the imprint labels (PNG, SVG, and an A4 sheet PDF).
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        /// Use the HMAC (secret-key) indicium variant.
        #[arg(long)]
        hmac: bool,
    },
    /// Simulated test meters and their local test authority.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// List PC/SC readers and the meters in them.
    Readers,
    /// Registers, lifecycle, inspection deadline, slots and certificates, rate-table version.
    Status,
    /// Read the audit log and verify its hash chain.
    #[command(alias = "audit")]
    AuditLog,
    /// The rate table.
    #[command(subcommand)]
    Rates(RatesCommand),
    /// Postmark a file: an RFC 3161 TimeStampResp in FILE.tsr (charged).
    Postmark {
        /// The file to postmark (hashed on the card).
        file: PathBuf,
        /// The postmark slot (default: the first certified postmark slot).
        #[arg(long)]
        slot: Option<u8>,
        /// Where to write the reply (default: FILE.tsr).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a postmark off the card against the CA certificate.
    VerifyPostmark {
        /// The file that was postmarked.
        file: PathBuf,
        /// The reply (.tsr) or bare token.
        token: PathBuf,
        /// The CA certificate (default: ca.pem beside the --sim state file).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// A CRL from the CA (PEM or DER); it must be current.
        #[arg(long)]
        crl: Option<PathBuf>,
    },
    /// List the key slots, or generate a key.
    Keys {
        /// Generate a key instead of listing.
        #[command(subcommand)]
        action: Option<KeysCommand>,
    },
    /// Certificate requests and installation.
    #[command(subcommand)]
    Cert(CertCommand),
    /// The meter as a certificate agent.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Sign a file's SHA-256 with a signature slot (DER ECDSA signature, charged).
    Sign {
        /// The file to sign.
        file: PathBuf,
        /// The signature slot (default: the first certified signature slot).
        #[arg(long)]
        slot: Option<u8>,
        /// Where to write the signature.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decrypt an ECIES message with an encryption slot (charged).
    Decrypt {
        /// The encrypted message.
        file: PathBuf,
        /// The encryption slot (default: the first certified encryption slot).
        #[arg(long)]
        slot: Option<u8>,
        /// Where to write the plaintext (created, mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke a slot's key (Fig. 6; charged, or owed): through the authority
    /// (--slot), the authority's open orders (--pending), or an order file (--order).
    Revoke(credit::RevokeArgs),
    /// The line of credit (Figs. 7A, 8): request one from the issuer, or show the installed one.
    #[command(subcommand)]
    Credit(credit::CreditCommand),
    /// Pay a merchant under the line of credit: a meter-signed payment certificate (Figs. 7B, 9; charged).
    Pay(credit::PayArgs),
    /// Verify a payment certificate offline against its line of credit and the issuer's key.
    VerifyPayment(credit::PaymentArgs),
    /// The merchant's side: verify a payment certificate, then settle it with the issuer (once per serial).
    Settle {
        #[command(flatten)]
        payment: credit::PaymentArgs,
        #[command(flatten)]
        authority: remote::AuthorityArg,
    },
    /// Print an indicium (charged); with a postal or MAC key, check it before writing the label.
    Print(print::PrintArgs),
    /// Bulk mailing: frank every row of a CSV onto label sheets (PDF);
    /// resumable, never charges a row twice.
    Batch(print::BatchArgs),
    /// Verify the indicia in a label image (PNG), a PDF or hex, offline; the
    /// global --meter-id names the meter they must come from (exit codes 20-23).
    VerifyIndicium {
        /// PNG image, PDF file, or indicium hex.
        input: String,
        #[command(flatten)]
        trust: print::Trust,
    },
    /// Verify an indicium offline against a key you trust.
    Verify {
        /// Indicium bytes, hex.
        #[arg(long)]
        indicium: String,
        #[command(flatten)]
        trust: print::Trust,
    },
    /// Serve RFC 3161 timestamps over HTTP (POST application/timestamp-query),
    /// each a postmark charged on the card.
    Tsa(tsa::TsaArgs),
    /// Recharge the meter from its provider account at the authority (AMOUNT in currency units, "50" or "12.34").
    Recharge {
        /// Amount in currency units.
        amount: String,
        #[command(flatten)]
        authority: remote::AuthorityArg,
    },
    /// Send an inspection report, install the acknowledgement, apply pending LOCK/UNLOCK orders.
    Inspect {
        #[command(flatten)]
        authority: remote::AuthorityArg,
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

/// `rates` subcommands.
#[derive(Debug, Subcommand)]
pub enum RatesCommand {
    /// The rate table in force: classes, weight breaks, service fees.
    Show,
    /// Install the authority's latest signed rate table when newer than the card's.
    Update {
        #[command(flatten)]
        authority: remote::AuthorityArg,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a key pair in a slot (charged; replaces nothing: the slot must be empty).
    Generate {
        /// The slot (0 to 7).
        #[arg(long)]
        slot: u8,
        /// What the key is for (fixed for its life).
        #[arg(long, value_enum)]
        usage: certs::UsageArg,
    },
}

/// `cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Write a PKCS#10 request for a slot key, and the device-signed envelope the CA needs (charged).
    Request {
        /// The slot.
        #[arg(long)]
        slot: u8,
        /// The CA's single-use challenge, hex (`pcmeter sim challenge` for the test CA).
        #[arg(long)]
        challenge: String,
        /// Where to write the PKCS#10 request (PEM).
        #[arg(long)]
        out: PathBuf,
        /// Where to write the envelope (default: OUT.envelope).
        #[arg(long)]
        envelope: Option<PathBuf>,
    },
    /// Install a CA certificate (PEM or DER) in its slot (charged).
    Install {
        /// The slot.
        #[arg(long)]
        slot: u8,
        /// The certificate.
        certificate: PathBuf,
    },
}

/// `agent` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Issue a certificate and key for a receiver with the agent slot (charged).
    Issue(certs::AgentIssueArgs),
}

/// Runs the command line; the report is printed by the caller.
pub fn run(cli: &Cli, config: &Config) -> CliResult<Report> {
    let target = cli.selection.resolve(config);
    if cli.selection.engine.is_some()
        && !matches!(target, meter::Target::Sim(..))
        && !matches!(cli.command, Command::Sim(sim::SimCommand::Create { .. }))
    {
        return Err(CliError::input(
            "--engine chooses the crypto engine of a simulated meter (--sim PATH, sim create); \
             a meter in a reader has its own",
        ));
    }
    let open = || meter::open(&target);
    match &cli.command {
        Command::Demo { out, hmac } => {
            let report =
                pcmeter::demo::run(out, *hmac).map_err(|e| CliError::new(error::Exit::Failure, e.to_string()))?;
            let pieces: Vec<serde_json::Value> = report
                .printed
                .iter()
                .map(|p| serde_json::json!({ "indicium": hex::encode_upper(&p.bytes), "png": p.png, "svg": p.svg }))
                .collect();
            Report::new(&serde_json::json!({ "printed": pieces, "pdf": report.pdf }), report.text)
        }
        Command::Sim(command) => sim::run(command, &cli.selection),
        Command::Readers => status::readers(),
        Command::Status => status::status(&mut open()?),
        Command::AuditLog => status::audit_log(&mut open()?),
        Command::Rates(RatesCommand::Show) => status::rates_show(&mut open()?),
        Command::Postmark { file, slot, out } => postmark::postmark(&mut open()?, file, *slot, out.as_deref()),
        Command::VerifyPostmark { file, token, ca, crl } => {
            let ca = match (ca, &target) {
                (Some(ca), _) => ca.clone(),
                (None, meter::Target::Sim(state, _)) => state.with_file_name("ca.pem"),
                (None, _) => return Err(CliError::input("give the CA certificate with --ca")),
            };
            let now = card_sim::SimClock::System.now().unwrap_or(0);
            postmark::verify(file, token, &ca, crl.as_ref(), now)
        }
        Command::Keys { action: None } => status::keys(&mut open()?),
        Command::Keys { action: Some(KeysCommand::Generate { slot, usage }) } => {
            certs::generate(&mut open()?, *slot, *usage)
        }
        Command::Cert(CertCommand::Request { slot, challenge, out, envelope }) => {
            certs::request(&mut open()?, *slot, challenge, out, envelope.as_deref())
        }
        Command::Cert(CertCommand::Install { slot, certificate }) => certs::install(&mut open()?, *slot, certificate),
        Command::Agent(AgentCommand::Issue(args)) => certs::agent_issue(&mut open()?, args),
        Command::Sign { file, slot, out } => certs::sign(&mut open()?, file, *slot, out),
        Command::Decrypt { file, slot, out } => certs::decrypt(&mut open()?, file, *slot, out),
        Command::Revoke(args) => credit::revoke(&mut open()?, args, config),
        Command::Credit(command) => credit::credit(&mut open()?, command, config),
        Command::Pay(args) => credit::pay(&mut open()?, args),
        Command::VerifyPayment(args) => credit::verify(args),
        Command::Settle { payment, authority } => credit::settle(payment, authority, config),
        Command::Print(args) => print::print(&mut open()?, args, config.label_format),
        Command::Batch(args) => print::batch(&mut open()?, args),
        Command::VerifyIndicium { input, trust } => {
            let default_ca = match &target {
                meter::Target::Sim(state, _) => Some(state.with_file_name("ca.pem")),
                meter::Target::Pcsc { .. } => None,
            };
            print::verify_indicium(input, trust, cli.selection.meter_id.as_deref(), default_ca.as_deref())
        }
        Command::Verify { indicium, trust } => print::verify(indicium, trust),
        Command::Render { indicium, out } => print::render(indicium, out),
        Command::Tsa(args) => tsa::serve(&target, args),
        Command::Recharge { amount, authority } => remote::recharge(&mut open()?, config, amount, authority),
        Command::Inspect { authority } => remote::inspect(&mut open()?, config, authority),
        Command::Rates(RatesCommand::Update { authority }) => remote::update_rates(&mut open()?, config, authority),
    }
}
