//! `pcmeter-card`: the simulated meter card as a daemon behind pcscd's vpcd
//! driver. The card state lives in one journal file (created on first start
//! from `--issuer-key` and `--serial` or a drawn serial; see
//! `card_sim::journal`); SIGINT or SIGTERM stops it
//! cleanly, and SIGKILL at any moment loses nothing that was acknowledged.

use apdu_specs::perso::CardSerial;
use card_sim::vpcd::{self, Control, EchoCard};
use card_sim::{DirMedium, Engine, Entropy, JournalStore, SimCard, SimClock, SimPlatform, draw_serial};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "pcmeter-card", version, about = "PCMeter simulated card for pcscd + vpcd")]
struct Args {
    /// Card state file (created on first start).
    #[arg(long, required_unless_present = "echo")]
    state: Option<PathBuf>,
    /// Issuer public key (65 bytes hex) to manufacture a new card with.
    #[arg(long)]
    issuer_key: Option<String>,
    /// Card serial (16 hex digits) to manufacture a new card with (drawn at
    /// random when absent); an existing card keeps the serial in its state
    /// file and refuses another.
    #[arg(long, value_parser = parse_serial)]
    serial: Option<CardSerial>,
    /// vpcd address.
    #[arg(long, default_value = vpcd::DEFAULT_ADDR)]
    vpcd: String,
    /// Crypto engine: `soft` (pure Rust) or `aws-lc` (when built with
    /// feature `aws-lc`). Default: the one `PCMETER_ENGINE` names, else soft.
    #[arg(long)]
    engine: Option<Engine>,
    /// Freeze the card clock at this Unix time (tests).
    #[arg(long)]
    fixed_time: Option<u64>,
    /// Serve an echo card (benchmark baseline) instead of the meter.
    #[arg(long)]
    echo: bool,
    /// Log filter.
    #[arg(long, default_value = "info")]
    log: String,
}

fn parse_serial(text: &str) -> Result<CardSerial, String> {
    CardSerial::from_hex(text).map_err(|e| format!("{e}: expected 16 hex digits"))
}

fn run(args: Args) -> Result<(), String> {
    let control = Control::default();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, control.stop_flag()).map_err(|e| format!("signal handler: {e}"))?;
    }
    if args.echo {
        tracing::info!(vpcd = %args.vpcd, "serving an echo card");
        return vpcd::serve(&mut EchoCard, &args.vpcd, &control).map_err(|e| e.to_string());
    }
    let engine = match args.engine {
        Some(engine) => engine,
        None => Engine::from_env().map_err(|e| format!("{}: {e}", Engine::ENV))?,
    };
    let path = args.state.ok_or("--state is required")?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name =
        path.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let medium = DirMedium::new(dir).map_err(|e| format!("{}: {e}", path.display()))?;
    let store = JournalStore::open(medium, name).map_err(|e| e.to_string())?;
    let clock = args.fixed_time.map_or(SimClock::System, SimClock::fixed);
    let fresh = store.is_empty();
    let platform = SimPlatform::with_engine(engine, store, Entropy::Os, clock);
    let mut card = if fresh {
        let hex_key = args.issuer_key.ok_or("new card: --issuer-key is required to manufacture it")?;
        let key: [u8; 65] = hex::decode(hex_key.trim())
            .map_err(|e| format!("--issuer-key: {e}"))?
            .try_into()
            .map_err(|_| "--issuer-key: expected 65 bytes")?;
        let serial = match args.serial {
            Some(serial) => serial,
            None => draw_serial(&mut Entropy::Os).map_err(|e| e.to_string())?,
        };
        tracing::info!(path = %path.display(), %serial, "manufacturing a new card");
        SimCard::manufacture(platform, &key, serial)
            .map_err(|e| format!("{}: cannot create the card: {e}", path.display()))?
    } else {
        SimCard::from_platform(platform).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let serial = card.applet().map(|a| a.card_serial()).ok_or("the card did not power on")?;
    if let Some(wanted) = args.serial.filter(|w| *w != serial) {
        return Err(format!("{}: the card has serial {serial}, not {wanted}", path.display()));
    }
    card.power_off();
    tracing::info!(vpcd = %args.vpcd, state = %path.display(), %serial, %engine, "serving the meter card");
    vpcd::serve(&mut card, &args.vpcd, &control).map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcmeter-card: {e}");
            ExitCode::FAILURE
        }
    }
}
