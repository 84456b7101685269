//! Meter selection (`--reader`, `--meter-id`, `--sim`, else the
//! configuration file) and the one transport type every command runs on,
//! plus the PIN: a no-echo prompt or `PCMETER_PIN`, never an argument.
//!
//! Every command runs its card work in [`Meter::with_session`]: one
//! transaction that ends with a logout and a card reset, so the next PC/SC
//! client starts unverified, on success and on error alike.

use super::error::{CliError, CliResult, Exit};
use crate::config::Config;
use card_sim::{Engine, EngineError, SimClock};
use host_driver::transport::pcsc::{PcscTransaction, PcscTransport, open_meter};
use host_driver::{CardTransaction, Meter, Pin, Transaction, Transport, TransportError};
use pcmeter::simulated::{StateTransport, open_state_file_on};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Environment variable holding the PIN for scripts.
pub const PIN_ENV: &str = "PCMETER_PIN";

/// Which meter a command talks to.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Selection {
    /// PC/SC reader holding the meter (see `pcmeter readers`).
    #[arg(long, global = true, conflicts_with_all = ["meter_id", "sim"])]
    pub reader: Option<String>,
    /// The meter with this ID, in whichever reader holds it.
    #[arg(long, global = true, conflicts_with = "sim")]
    pub meter_id: Option<String>,
    /// A simulated meter kept in this state file, run in this process (see `pcmeter sim create`).
    #[arg(long, global = true, value_name = "PATH")]
    pub sim: Option<PathBuf>,
    /// Crypto engine of a `--sim` meter (and of `sim create`): `soft` (pure
    /// Rust, the default) or `aws-lc` (pcmeter built with feature `aws-lc`).
    #[arg(long, global = true, value_name = "ENGINE", value_parser = parse_engine)]
    pub engine: Option<Engine>,
}

/// An engine name; one this build lacks is refused, never replaced by another.
fn parse_engine(name: &str) -> Result<Engine, String> {
    name.parse().map_err(|e| match e {
        EngineError::NotCompiled { name, feature } => format!(
            "crypto engine `{name}` is not compiled into this pcmeter: build it with `--features {feature}` \
             (cargo build -p pcmeter --features {feature})"
        ),
        other => other.to_string(),
    })
}

/// A selection resolved against the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A PC/SC reader by name, or the reader holding a meter ID, or the only meter present.
    Pcsc {
        /// Reader name.
        reader: Option<String>,
        /// Meter ID.
        meter_id: Option<String>,
    },
    /// A simulated meter's state file, and the crypto engine to run it on
    /// (`None`: the default engine).
    Sim(PathBuf, Option<Engine>),
}

impl Selection {
    /// Flags first, then the configuration file.
    pub fn resolve(&self, config: &Config) -> Target {
        match (&self.reader, &self.meter_id, &self.sim) {
            (_, _, Some(path)) => Target::Sim(path.clone(), self.engine),
            (None, None, None) => match (&config.reader, &config.meter_id, &config.sim) {
                (None, None, Some(path)) => Target::Sim(path.clone(), self.engine),
                (reader, meter_id, _) => Target::Pcsc { reader: reader.clone(), meter_id: meter_id.clone() },
            },
            (reader, meter_id, None) => Target::Pcsc { reader: reader.clone(), meter_id: meter_id.clone() },
        }
    }
}

/// A PC/SC reader or a simulated meter in process.
pub enum AnyTransport {
    /// A reader.
    Pcsc(PcscTransport),
    /// A simulated meter's state file.
    Sim(StateTransport),
}

/// A transaction on either transport.
pub enum AnyTransaction<'a> {
    /// A reader's.
    Pcsc(PcscTransaction<'a>),
    /// The simulated card's.
    Sim(<StateTransport as Transport>::CardTransaction<'a>),
}

impl Transport for AnyTransport {
    type CardTransaction<'a> = AnyTransaction<'a>;

    fn begin(&mut self) -> Result<AnyTransaction<'_>, TransportError> {
        Ok(match self {
            Self::Pcsc(t) => AnyTransaction::Pcsc(t.begin()?),
            Self::Sim(t) => AnyTransaction::Sim(t.begin()?),
        })
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        match self {
            Self::Pcsc(t) => t.reconnect(),
            Self::Sim(t) => t.reconnect(),
        }
    }

    fn reader_name(&self) -> String {
        match self {
            Self::Pcsc(t) => t.reader_name(),
            Self::Sim(t) => t.reader_name(),
        }
    }
}

impl CardTransaction for AnyTransaction<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self {
            Self::Pcsc(t) => t.transmit(capdu),
            Self::Sim(t) => t.transmit(capdu),
        }
    }

    fn end_session(self) -> Result<(), TransportError> {
        match self {
            Self::Pcsc(t) => t.end_session(),
            Self::Sim(t) => t.end_session(),
        }
    }
}

/// The meter a command runs on.
pub type CliMeter = Meter<AnyTransport>;

/// Opens the selected meter and selects its application.
pub fn open(target: &Target) -> CliResult<CliMeter> {
    let transport = match target {
        Target::Pcsc { reader: Some(reader), .. } => AnyTransport::Pcsc(PcscTransport::connect(reader, false)?),
        Target::Pcsc { reader: None, meter_id } => {
            // Find the reader (SELECT in each), then connect to it as the named reader would be.
            let mut found = open_meter(None, meter_id.as_deref())?;
            let reader = found.transport_mut().reader();
            drop(found);
            AnyTransport::Pcsc(PcscTransport::connect(&reader, false)?)
        }
        Target::Sim(path, engine) => {
            let mut sim = open_state_file_on(path, SimClock::System, *engine)
                .map_err(|e| CliError::new(Exit::Meter, format!("simulated meter: {e}")))?;
            let card = sim.transport_mut().card();
            drop(sim);
            AnyTransport::Sim(StateTransport::new(card))
        }
    };
    Ok(Meter::connect(transport)?)
}

/// The PIN from `PCMETER_PIN`, else from a no-echo prompt on the terminal.
pub fn read_pin() -> CliResult<Pin> {
    let digits = match std::env::var(PIN_ENV) {
        Ok(p) => Zeroizing::new(p),
        Err(_) => Zeroizing::new(
            rpassword::prompt_password("PIN: ")
                .map_err(|e| CliError::input(format!("reading the PIN from the terminal ({e}); or set {PIN_ENV}")))?,
        ),
    };
    Pin::new(digits.trim()).map_err(|_| CliError::input("the PIN must be 4 to 12 digits"))
}

/// Runs `f` in one transaction after verifying the PIN; the session ends
/// (logout, reset) before the transaction does, whatever `f` returns.
pub fn with_pin<R>(
    meter: &mut CliMeter,
    pin: &Pin,
    f: impl FnOnce(&mut Transaction<'_, AnyTransport>) -> Result<R, host_driver::MeterError>,
) -> CliResult<R> {
    Ok(meter.with_session(|tx| {
        tx.verify_pin(pin)?;
        f(tx)
    })?)
}

/// Runs `f` in one transaction that ends the session (no PIN).
pub fn session<R>(
    meter: &mut CliMeter,
    f: impl FnOnce(&mut Transaction<'_, AnyTransport>) -> Result<R, host_driver::MeterError>,
) -> CliResult<R> {
    Ok(meter.with_session(f)?)
}
