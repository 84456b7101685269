//! Revocation through the authority (Fig. 6) and the line of credit
//! (Figs. 7–9): `revoke --slot` / `--pending` / `--order`, `credit request`,
//! `credit status`, `pay`, `verify-payment` (offline) and `settle` (the
//! merchant's side). The card work runs in one PIN session through
//! host-driver's `remote` flows; value commands are sent once.

use super::error::{CliError, CliResult, Exit};
use super::files;
use super::meter::{CliMeter, read_pin, session, with_pin};
use super::output::{Report, rfc3339};
use super::remote::AuthorityArg;
use super::sim::parse_amount;
use crate::config::Config;
use apdu_specs::credit::{CreditLine, MAX_NAME_LEN, MAX_REFERENCE_LEN, PaymentCertificate, PaymentRequest};
use host_driver::authority::ClientError;
use host_driver::remote::credit::{self, CreditApplication, CreditError};
use host_driver::remote::revocation::{self, Revocation, RevocationError};
use host_driver::verify::verify_payment;
use pcmeter::demo::money;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `revoke` arguments: through the authority (`--slot`), the authority's open orders (`--pending`), or an order file (`--order`).
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The slot whose key is revoked: the card signs a request, the authority answers with its order.
    #[arg(long, conflicts_with_all = ["order", "pending"], required_unless_present_any = ["order", "pending"])]
    pub slot: Option<u8>,
    /// CRL reason code (RFC 5280; 1 = key compromise, 4 = superseded).
    #[arg(long, default_value_t = 1, requires = "slot")]
    pub reason: u8,
    /// Carry out the authority's open orders for this meter (forced revocations).
    #[arg(long, conflicts_with = "order")]
    pub pending: bool,
    /// An authority-signed order file, applied without contacting the authority.
    #[arg(long)]
    pub order: Option<PathBuf>,
    /// Where to write the card's signed confirmation (with --pending: a directory).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub authority: AuthorityArg,
}

/// `credit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CreditCommand {
    /// Ask the credit issuer for a line of credit (the request is postmarked on the card, charged) and install it.
    Request {
        /// Holder name on the line.
        #[arg(long)]
        holder: String,
        /// The line asked for, in currency units ("500" or "12.50").
        #[arg(long)]
        amount: String,
        /// The postmark slot (default: the first certified postmark slot).
        #[arg(long)]
        slot: Option<u8>,
        /// Where to write the signed line of credit (merchants need it to verify payments).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        authority: AuthorityArg,
    },
    /// The installed line of credit: credit remaining, validity, last payment serial.
    Status {
        /// Also write the signed line of credit here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `pay` arguments.
#[derive(Debug, clap::Args)]
pub struct PayArgs {
    /// The merchant paid.
    #[arg(long)]
    pub merchant: String,
    /// Amount in currency units ("12.50").
    #[arg(long)]
    pub amount: String,
    /// The merchant's order or invoice reference.
    #[arg(long)]
    pub reference: String,
    /// Where to write the payment certificate.
    #[arg(long)]
    pub out: PathBuf,
}

/// `verify-payment` and `settle` arguments.
#[derive(Debug, clap::Args)]
pub struct PaymentArgs {
    /// The payment certificate.
    pub payment: PathBuf,
    /// The signed line of credit it was made under.
    pub line: PathBuf,
    /// The credit issuer's public key (PEM).
    #[arg(long, value_name = "PEM")]
    pub issuer_key: PathBuf,
}

fn client_error(e: ClientError) -> CliError {
    let exit = match e {
        ClientError::Refused { .. } => Exit::Refused,
        ClientError::Ambiguous { .. } => Exit::OutcomeUnknown,
        ClientError::Malformed(_) | ClientError::Randomness => Exit::Failure,
    };
    CliError::new(exit, e.to_string())
}

fn revocation_error(e: RevocationError) -> CliError {
    match e {
        RevocationError::Meter(e) => e.into(),
        RevocationError::Authority(e) => client_error(e),
        e @ RevocationError::ConfirmationLost { .. } => CliError::new(Exit::OutcomeUnknown, e.to_string()),
        e @ (RevocationError::Order(_) | RevocationError::Format(_)) => CliError::new(Exit::Failure, e.to_string()),
    }
}

fn credit_error(e: CreditError) -> CliError {
    match e {
        CreditError::Meter(e) => e.into(),
        CreditError::Authority(e) => client_error(e),
        e @ CreditError::Declined { .. } => CliError::new(Exit::Refused, e.to_string()),
        e @ CreditError::CertificateLost { .. } => CliError::new(Exit::OutcomeUnknown, e.to_string()),
        e @ CreditError::NotPaid(_) => CliError::new(Exit::Meter, e.to_string()),
        CreditError::Payment(e) => CliError::invalid(format!("payment certificate NOT VALID: {e}")),
        e @ CreditError::Format(_) => CliError::new(Exit::Failure, e.to_string()),
    }
}

/// `revoke`.
pub fn revoke(meter: &mut CliMeter, args: &RevokeArgs, config: &Config) -> CliResult<Report> {
    if let Some(order) = &args.order {
        return super::certs::revoke(meter, order, &args.out);
    }
    let client = args.authority.client(config)?;
    let pin = read_pin()?;
    if args.pending {
        let meter_id = meter.fci().and_then(|f| f.meter_id).ok_or_else(|| CliError::new(Exit::Meter, "no meter ID"))?;
        let done = with_pin(meter, &pin, |tx| Ok(revocation::apply_pending(tx, &client, &meter_id)))?
            .map_err(revocation_error)?;
        std::fs::create_dir_all(&args.out).map_err(|e| CliError::io(&args.out, e))?;
        let mut revoked = Vec::new();
        let mut text = String::new();
        for r in &done {
            let out = args.out.join(format!("slot{}.confirmation", r.confirmed.slot));
            files::write(&out, &r.confirmation)?;
            let _ = writeln!(text, "{}", revocation_line(r, &out));
            revoked.push(revocation_json(r, &out));
        }
        if done.is_empty() {
            text.push_str("no open revocation orders for this meter\n");
        }
        return Report::new(&serde_json::json!({ "revoked": revoked }), text);
    }
    let slot = args.slot.ok_or_else(|| CliError::input("give --slot, --pending or --order"))?;
    let done = with_pin(meter, &pin, |tx| Ok(revocation::revoke(tx, &client, slot, args.reason)))?
        .map_err(revocation_error)?;
    files::write(&args.out, &done.confirmation)?;
    Report::new(&revocation_json(&done, &args.out), format!("{}\n", revocation_line(&done, &args.out)))
}

fn revocation_json(r: &Revocation, out: &Path) -> serde_json::Value {
    serde_json::json!({
        "slot": r.confirmed.slot,
        "time": rfc3339(r.confirmed.time),
        "fee": r.confirmed.fee,
        "paid": r.confirmed.paid,
        "confirmation": out,
        "reason": r.ordered.reason,
        "recorded_at": rfc3339(r.recorded_at),
        "authority_record": r.recorded.payment,
    })
}

fn revocation_line(r: &Revocation, out: &Path) -> String {
    let state = if r.confirmed.paid { "paid" } else { "payment due" };
    format!(
        "slot {} revoked (reason {}), fee {} {state}; recorded by the authority at {}; confirmation -> {}",
        r.confirmed.slot,
        r.ordered.reason,
        r.confirmed.fee,
        rfc3339(r.recorded_at),
        out.display()
    )
}

fn checked_text(name: &str, text: &str, max: usize) -> CliResult<()> {
    if text.is_empty() || text.len() > max {
        return Err(CliError::input(format!("--{name}: 1 to {max} bytes")));
    }
    Ok(())
}

fn line_json(line: &CreditLine, out: &Path) -> serde_json::Value {
    serde_json::json!({
        "line": out,
        "serial": line.serial,
        "holder": line.holder,
        "amount": line.line,
        "currency": String::from_utf8_lossy(&line.currency),
        "exponent": line.exponent,
        "not_before": rfc3339(line.not_before),
        "not_after": rfc3339(line.not_after),
    })
}

/// `credit request` / `credit status`.
pub fn credit(meter: &mut CliMeter, command: &CreditCommand, config: &Config) -> CliResult<Report> {
    match command {
        CreditCommand::Request { holder, amount, slot, out, authority } => {
            checked_text("holder", holder, MAX_NAME_LEN)?;
            let client = authority.client(config)?;
            let meter_id =
                meter.fci().and_then(|f| f.meter_id).ok_or_else(|| CliError::new(Exit::Meter, "no meter ID"))?;
            let pin = read_pin()?;
            let installed = with_pin(meter, &pin, |tx| {
                let exponent = tx.rate_table()?.table.exponent;
                let slot = super::certs::pick_slot(tx, *slot, apdu_specs::x509::Usage::Postmark)?;
                Ok(parse_amount(amount, exponent).map(|amount| {
                    let application = CreditApplication { holder: holder.clone(), amount, postmark_slot: slot };
                    credit::request_credit(tx, &client, &meter_id, &application)
                }))
            })??
            .map_err(credit_error)?;
            files::write(out, &installed.envelope)?;
            let line = &installed.line;
            let mut data = line_json(line, out);
            data["remaining"] = installed.status.remaining.into();
            let text = format!(
                "line of credit {} for {}: {} until {}, installed (remaining {}) -> {}\n",
                line.serial,
                line.holder,
                money(line.line, &line.currency, line.exponent),
                rfc3339(line.not_after),
                money(installed.status.remaining, &line.currency, line.exponent),
                out.display()
            );
            Report::new(&data, text)
        }
        CreditCommand::Status { out } => {
            let (status, envelope) = session(meter, |tx| Ok((tx.credit_status()?, tx.credit_line()?)))?;
            let line = CreditLine::parse(apdu_specs::signed::Signed::parse(&envelope)?.body)?;
            if let Some(out) = out {
                files::write(out, &envelope)?;
            }
            let data = serde_json::json!({
                "serial": status.line_serial,
                "holder": line.holder,
                "amount": status.line,
                "remaining": status.remaining,
                "currency": String::from_utf8_lossy(&line.currency),
                "exponent": line.exponent,
                "not_before": rfc3339(status.not_before),
                "not_after": rfc3339(status.not_after),
                "payment_serial": status.payment_serial,
            });
            let text = format!(
                "line of credit {} ({}): remaining {} of {}, valid {} to {}, last payment serial {}\n",
                status.line_serial,
                line.holder,
                money(status.remaining, &line.currency, line.exponent),
                money(status.line, &line.currency, line.exponent),
                rfc3339(status.not_before),
                rfc3339(status.not_after),
                status.payment_serial
            );
            Report::new(&data, text)
        }
    }
}

fn payment_json(p: &PaymentCertificate) -> serde_json::Value {
    serde_json::json!({
        "serial": p.serial,
        "meter_id": String::from_utf8_lossy(&p.meter_id),
        "holder": p.holder,
        "amount": p.amount,
        "remaining": p.credit_remaining,
        "currency": String::from_utf8_lossy(&p.currency),
        "exponent": p.exponent,
        "time": rfc3339(p.time),
        "merchant": p.merchant,
        "reference": p.reference,
    })
}

/// `pay`: PAY under the installed line (sent once); writes the payment certificate.
pub fn pay(meter: &mut CliMeter, args: &PayArgs) -> CliResult<Report> {
    checked_text("merchant", &args.merchant, MAX_NAME_LEN)?;
    checked_text("reference", &args.reference, MAX_REFERENCE_LEN)?;
    let pin = read_pin()?;
    let payment = with_pin(meter, &pin, |tx| {
        let exponent = tx.rate_table()?.table.exponent;
        Ok(parse_amount(&args.amount, exponent).map(|amount| {
            let request = PaymentRequest { amount, merchant: args.merchant.clone(), reference: args.reference.clone() };
            credit::pay(tx, &request)
        }))
    })??
    .map_err(credit_error)?;
    // Spent and signed: write the certificate whatever else happens.
    files::write(&args.out, &payment.envelope)?;
    let p = &payment.certificate;
    let mut data = payment_json(p);
    data["certificate"] = serde_json::json!(args.out);
    let text = format!(
        "payment {} of {} to {} ({}), credit remaining {} -> {}\n",
        p.serial,
        money(p.amount, &p.currency, p.exponent),
        p.merchant,
        p.reference,
        money(p.credit_remaining, &p.currency, p.exponent),
        args.out.display()
    );
    Report::new(&data, text)
}

/// `verify-payment`: the merchant's offline check.
pub fn verify(args: &PaymentArgs) -> CliResult<Report> {
    let payment = files::read(&args.payment)?;
    let line = files::read(&args.line)?;
    let issuer = files::read_public_key(&args.issuer_key)?;
    let verified = verify_payment(&payment, &line, &issuer)
        .map_err(|e| CliError::invalid(format!("payment certificate NOT VALID: {e}")))?;
    let p = &verified.certificate;
    let mut data = payment_json(p);
    data["valid"] = true.into();
    data["line_serial"] = verified.line.serial.into();
    let text = format!(
        "valid payment certificate {} of {} to {} ({}) under line {} of {}\n",
        p.serial,
        money(p.amount, &p.currency, p.exponent),
        p.merchant,
        p.reference,
        verified.line.serial,
        p.holder
    );
    Report::new(&data, text)
}

/// `settle`: the merchant verifies offline, then settles with the issuer (once per serial).
pub fn settle(args: &PaymentArgs, authority: &AuthorityArg, config: &Config) -> CliResult<Report> {
    let payment = files::read(&args.payment)?;
    let line = files::read(&args.line)?;
    let issuer = files::read_public_key(&args.issuer_key)?;
    let client = authority.client(config)?;
    let (verified, settled) = credit::settle(&client, &issuer, &payment, &line).map_err(credit_error)?;
    let p = &verified.certificate;
    let data = serde_json::json!({
        "serial": settled.serial,
        "amount": settled.amount,
        "settled_total": settled.settled_total,
        "line_serial": verified.line.serial,
    });
    let text = format!(
        "payment {} settled: {}; settled on line {} so far: {}\n",
        settled.serial,
        money(settled.amount, &p.currency, p.exponent),
        verified.line.serial,
        money(settled.settled_total, &p.currency, p.exponent)
    );
    Report::new(&data, text)
}
