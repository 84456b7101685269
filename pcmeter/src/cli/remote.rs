//! `recharge`, `inspect` and `rates update`: the flows of
//! `host_driver::remote` between the selected meter and the authority
//! (`--authority URL`, else `authority_url` from the configuration file).

use super::error::{CliError, CliResult, Exit};
use super::meter::{CliMeter, read_pin, session};
use super::output::{Report, rfc3339};
use crate::config::Config;
use host_driver::authority::{AuthorityClient, ClientError};
use host_driver::remote::{self, RemoteError, Retry};
use pcmeter::demo::money;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// How long one call to the authority may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `--authority URL`, shared by the commands that talk to the authority.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthorityArg {
    /// Base URL of the authority (default: `authority_url` in the configuration file).
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,
    /// CA certificate (PEM) to trust for an https:// authority (default: `authority_ca` in the configuration file).
    #[arg(long, value_name = "PEM")]
    pub authority_ca: Option<std::path::PathBuf>,
}

impl AuthorityArg {
    /// The client for the flag's URL, else the configured one.
    pub fn client(&self, config: &Config) -> CliResult<AuthorityClient> {
        let url = self.authority.as_deref().or(config.authority_url.as_deref()).ok_or_else(|| {
            CliError::input("no authority: give --authority URL or set authority_url in the configuration file")
        })?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CliError::input(format!("authority URL {url:?}: expected http:// or https://")));
        }
        match self.authority_ca.as_ref().or(config.authority_ca.as_ref()) {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
                AuthorityClient::with_ca_pem(url, CALL_TIMEOUT, &pem)
                    .map_err(|e| CliError::input(format!("{}: {e}", path.display())))
            }
            None => Ok(AuthorityClient::new(url, CALL_TIMEOUT)),
        }
    }
}

impl From<RemoteError> for CliError {
    fn from(e: RemoteError) -> Self {
        let exit = match &e {
            RemoteError::Meter(_) => Exit::Failure,
            RemoteError::Authority(ClientError::Refused { .. }) => Exit::Refused,
            RemoteError::Authority(ClientError::Ambiguous { .. }) | RemoteError::GaveUp { .. } => Exit::OutcomeUnknown,
            RemoteError::Authority(_) | RemoteError::BadAnswer(_) | RemoteError::Inconsistent(_) => Exit::Failure,
        };
        match e {
            RemoteError::Meter(m) => CliError::from(m),
            other => CliError::new(exit, other.to_string()),
        }
    }
}

#[derive(Serialize)]
struct Recharged {
    meter_id: String,
    sequence: u32,
    amount: u64,
    currency: String,
    exponent: u8,
    descending: u64,
    control_total: u64,
    settled: bool,
    delivered_earlier: Vec<u32>,
    restarts: u32,
}

/// `recharge AMOUNT`: RECHARGE INIT → authority → RECHARGE CREDIT → receipt.
pub fn recharge(meter: &mut CliMeter, config: &Config, amount: &str, authority: &AuthorityArg) -> CliResult<Report> {
    let client = authority.client(config)?;
    let status = session(meter, |tx| tx.status())?;
    let minor = super::sim::parse_amount(amount, status.exponent)?;
    if minor == 0 {
        return Err(CliError::input("the recharge amount must be above 0"));
    }
    let pin = read_pin()?;
    let done = remote::recharge(meter, &pin, &client, minor, &Retry::default())?;
    let currency = String::from_utf8_lossy(&status.currency).into_owned();
    let m = |v: u64| money(v, &status.currency, status.exponent);
    let mut text = String::new();
    for s in &done.delivered_earlier {
        let _ = writeln!(text, "delivered the receipt of recharge {s} (an earlier run had not)");
    }
    let _ = writeln!(text, "recharged {} (recharge {})", m(done.amount), done.sequence);
    let _ = writeln!(text, "funds     {}", m(done.registers.descending));
    let _ = writeln!(
        text,
        "receipt   {}",
        if done.settled { "settled" } else { "not delivered yet: the next recharge delivers it" }
    );
    let data = Recharged {
        meter_id: meter_id_text(meter),
        sequence: done.sequence,
        amount: done.amount,
        currency,
        exponent: status.exponent,
        descending: done.registers.descending,
        control_total: done.registers.control_total,
        settled: done.settled,
        delivered_earlier: done.delivered_earlier,
        restarts: done.restarts,
    };
    Report::new(&data, text)
}

#[derive(Serialize)]
struct Order {
    sequence: u32,
    action: String,
}

#[derive(Serialize)]
struct Inspected {
    meter_id: String,
    acknowledged: bool,
    next_deadline: Option<String>,
    discrepancies: Vec<String>,
    orders: Vec<Order>,
    lifecycle: &'static str,
    inspection_deadline: String,
}

/// `inspect`: INSPECTION REPORT → authority → INSPECTION ACK, then pending LOCK/UNLOCK orders.
pub fn inspect(meter: &mut CliMeter, config: &Config, authority: &AuthorityArg) -> CliResult<Report> {
    let client = authority.client(config)?;
    let pin = read_pin()?;
    let done = remote::inspect(meter, &pin, &client, &Retry::default())?;
    let mut text = String::new();
    match done.next_deadline {
        Some(d) => {
            let _ = writeln!(text, "inspection acknowledged; next deadline {}", rfc3339(d));
        }
        None => {
            let _ = writeln!(text, "inspection NOT acknowledged: the authority found discrepancies");
            for d in &done.discrepancies {
                let _ = writeln!(text, "  - {d}");
            }
        }
    }
    for o in &done.orders {
        let _ = writeln!(text, "applied {} order {}", o.action, o.sequence);
    }
    let _ = writeln!(text, "lifecycle {}", done.status.lifecycle.name());
    let data = Inspected {
        meter_id: meter_id_text(meter),
        acknowledged: done.next_deadline.is_some(),
        next_deadline: done.next_deadline.map(rfc3339),
        discrepancies: done.discrepancies,
        orders: done.orders.into_iter().map(|o| Order { sequence: o.sequence, action: o.action }).collect(),
        lifecycle: done.status.lifecycle.name(),
        inspection_deadline: rfc3339(done.status.inspection_deadline),
    };
    Report::new(&data, text)
}

#[derive(Serialize)]
struct RatesUpdated {
    card_version: u32,
    published_version: u32,
    effective_from: String,
    installed: bool,
}

/// `rates update`: installs the authority's latest table when newer than the card's.
pub fn update_rates(meter: &mut CliMeter, config: &Config, authority: &AuthorityArg) -> CliResult<Report> {
    let client = authority.client(config)?;
    let pin = read_pin()?;
    let done = remote::update_rates(meter, &pin, &client, &Retry::default())?;
    let text = if done.installed {
        format!(
            "installed rate table {} (was {}), effective {}\n",
            done.published_version,
            done.card_version,
            rfc3339(done.effective_from)
        )
    } else {
        format!("rate table {} is current (authority's latest: {})\n", done.card_version, done.published_version)
    };
    let data = RatesUpdated {
        card_version: done.card_version,
        published_version: done.published_version,
        effective_from: rfc3339(done.effective_from),
        installed: done.installed,
    };
    Report::new(&data, text)
}

fn meter_id_text(meter: &CliMeter) -> String {
    meter
        .fci()
        .and_then(|f| f.meter_id)
        .map(|id| String::from_utf8_lossy(&id).trim_end().to_string())
        .unwrap_or_default()
}
