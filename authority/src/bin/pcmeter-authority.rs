//! `pcmeter-authority`: the remote facility as one service binary.
//!
//! `serve` runs the HTTP API; the other subcommands are the operator's, run
//! directly on the database (`init`, `register`, `credit`, `publish-rates`,
//! `revoke`, `crl`, `settle`, `report`). Exit codes: 0 success, 1 refused or
//! failed (the reason on stderr), 2 usage.

use authority::rates::RateTableSpec;
use authority::service::config::Config;
use authority::service::error::{ApiError, hex_field};
use authority::service::http::{App, serve as serve_api};
use authority::service::pool::StorePool;
use authority::service::{Authority, clock, credit, meters, rates, recharge, revocation};
use authority::store::{AnyBackend, Backend, Tx, TxResult, transact};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "pcmeter-authority", about = "PCMeter authority service and operator commands")]
struct Cli {
    /// Configuration file (TOML); PCMETER_AUTHORITY_* variables override it.
    #[arg(long, short, default_value = "authority.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the keys and the database.
    Init,
    /// Serve the HTTP API.
    Serve,
    /// Register a meter with its device key and provider account (flags, or `--file`).
    Register {
        /// A registration file (JSON: meter_id, device_key, account_id, control_total),
        /// as `pcmeter sim create` writes it; the same body as `POST /v1/admin/meters`.
        #[arg(long, conflicts_with_all = ["meter_id", "device_key", "account", "control_total"])]
        file: Option<PathBuf>,
        /// Meter ID, hex.
        #[arg(long, required_unless_present = "file")]
        meter_id: Option<String>,
        /// Device public key, hex.
        #[arg(long, required_unless_present = "file")]
        device_key: Option<String>,
        /// Provider account.
        #[arg(long, required_unless_present = "file")]
        account: Option<String>,
        /// The card's CT at registration.
        #[arg(long)]
        control_total: Option<u64>,
    },
    /// Credit a provider account.
    Credit {
        /// Account.
        #[arg(long)]
        account: String,
        /// Amount, minor units.
        #[arg(long)]
        amount: u64,
    },
    /// Sign and publish a rate table (JSON `RateTableSpec`).
    PublishRates {
        /// The table.
        #[arg(long)]
        file: PathBuf,
    },
    /// Forced revocation of a slot key.
    Revoke {
        /// Meter ID, hex.
        #[arg(long)]
        meter_id: String,
        /// Slot.
        #[arg(long)]
        slot: u8,
        /// The slot's public key, hex.
        #[arg(long)]
        public_key: String,
        /// CRL reason code.
        #[arg(long, default_value_t = 0)]
        reason: u8,
    },
    /// Write the current CRL (DER).
    Crl {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Settle a payment certificate with its line (both hex).
    Settle {
        /// The signed line of credit, hex.
        #[arg(long)]
        credit_line: String,
        /// The payment certificate, hex.
        #[arg(long)]
        payment: String,
    },
    /// Print accounts, meters and ledger totals as JSON.
    Report,
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("pcmeter-authority: {message}");
    std::process::exit(1)
}

fn run_op<T: serde::Serialize>(backend: &mut AnyBackend, op: impl FnMut(&mut dyn Tx) -> TxResult<T, ApiError>) {
    match transact(backend, op) {
        Ok(Ok(v)) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Ok(Err(e)) => fail(e),
        Err(e) => fail(e),
    }
}

fn report(tx: &mut dyn Tx) -> TxResult<serde_json::Value, ApiError> {
    let mut out = Vec::new();
    for m in meters::all(tx)? {
        let (count, settled, total) = recharge::ledger_totals(tx, &m.meter_id)?;
        out.push(serde_json::json!({
            "meter_id": hex::encode(m.meter_id), "account_id": m.account_id, "lifecycle": m.lifecycle,
            "nt": m.nt, "control_total": m.control_total, "deadline": m.deadline,
            "recharges": count, "settled": settled, "recharged_total": total,
            "balance": meters::balance(tx, &m.account_id)?,
        }));
    }
    Ok(Ok(serde_json::json!({ "meters": out })))
}

fn serve(config: &Config, authority: Authority) {
    let tls = config.check_listen().unwrap_or_else(|e| fail(e));
    // Storage threads connect before the runtime exists: no driver ever runs inside it.
    let pool = StorePool::start(&config.location(), config.threads()).unwrap_or_else(|e| fail(e));
    let token = config.admin_token.as_deref();
    if token.is_none() {
        tracing::warn!("no admin token configured: admin endpoints refuse every request");
    }
    let app = Arc::new(App::new(pool, Arc::new(authority), token));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| fail(e));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap_or_else(|e| fail(e));
        let addr = listener.local_addr().unwrap_or_else(|e| fail(e));
        println!("listening on {}://{addr}", if tls.is_some() { "https" } else { "http" });
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let shutdown = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no SIGTERM handler; stopping on SIGINT only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("stopping: in-flight requests finish, new connections are refused");
        };
        if let Err(e) = serve_api(listener, app, tls, shutdown).await {
            fail(e);
        }
    });
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config::load(&cli.config).unwrap_or_else(|e| fail(e));
    let now = clock::unix_now();
    if let Command::Init = cli.command {
        config.init_keys(now).unwrap_or_else(|e| fail(e));
        let authority = config.authority().unwrap_or_else(|e| fail(e));
        let pem = authority.with_ca(|ca| ca.certificate_pem());
        let pem_path = config.key_dir.join("ca.pem");
        std::fs::write(&pem_path, pem).unwrap_or_else(|e| fail(e));
        AnyBackend::open(&config.location()).unwrap_or_else(|e| fail(e));
        println!("initialized: keys in {}, CA certificate {}", config.key_dir.display(), pem_path.display());
        return;
    }
    let authority = config.authority().unwrap_or_else(|e| fail(e));
    if let Command::Serve = cli.command {
        return serve(&config, authority);
    }
    let mut backend = AnyBackend::open(&config.location()).unwrap_or_else(|e| fail(e));
    tracing::debug!(engine = backend.engine(), "operator command");
    match cli.command {
        Command::Init | Command::Serve => {}
        Command::Register { file, meter_id, device_key, account, control_total } => {
            let request: authority::service::http::RegisterMeter = match file {
                Some(file) => {
                    let text =
                        std::fs::read_to_string(&file).unwrap_or_else(|e| fail(format!("{}: {e}", file.display())));
                    serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("{}: {e}", file.display())))
                }
                None => authority::service::http::RegisterMeter {
                    meter_id: meter_id.unwrap_or_default(),
                    device_key: device_key.unwrap_or_default(),
                    account_id: account.unwrap_or_default(),
                    control_total,
                },
            };
            run_op(&mut backend, |tx| authority::service::http::register(tx, &authority, &request, now));
        }
        Command::Credit { account, amount } => {
            run_op(&mut backend, |tx| meters::credit_account(tx, &account, amount, now));
        }
        Command::PublishRates { file } => {
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| fail(format!("{}: {e}", file.display())));
            let spec: RateTableSpec = serde_json::from_str(&text).unwrap_or_else(|e| fail(e));
            run_op(&mut backend, |tx| rates::publish(tx, &authority, &spec, now));
        }
        Command::Revoke { meter_id, slot, public_key, reason } => {
            let meter_id = meters::parse_meter_id(&meter_id).unwrap_or_else(|e| fail(e));
            let public_key: [u8; 65] = hex_field("public_key", &public_key)
                .ok()
                .and_then(|k| k.try_into().ok())
                .unwrap_or_else(|| fail("public key is not 65 bytes of hex"));
            let target = revocation::Target { meter_id, slot, public_key, reason };
            run_op(&mut backend, |tx| revocation::revoke(tx, &authority, target, None, now));
            authority.regenerate_crl(now).unwrap_or_else(|e| fail(e));
        }
        Command::Crl { out } => {
            let crl = authority.regenerate_crl(now).unwrap_or_else(|e| fail(e));
            std::fs::write(&out, crl).unwrap_or_else(|e| fail(e));
        }
        Command::Settle { credit_line, payment } => {
            let line = hex_field("credit_line", &credit_line).unwrap_or_else(|e| fail(e));
            let payment = hex_field("payment", &payment).unwrap_or_else(|e| fail(e));
            run_op(&mut backend, |tx| credit::settle(tx, &authority, &line, &payment, now));
        }
        Command::Report => run_op(&mut backend, report),
    }
}
