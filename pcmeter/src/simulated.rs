//! A personalized, activated meter on a simulated card, with the authority
//! keys that made it. Used by `pcmeter demo`, the tests and the benchmarks.
//! A meter can also live in a state file (the durable journal store that
//! `pcmeter-card --state` serves): [`create_state_file`], [`open_state_file`].

use apdu_specs::FormatError;
use apdu_specs::perso::CardSerial;
use authority::keys::KeyError;
use authority::profile::{ProfileBuilder, sign_profile};
use authority::{MasterMacKey, SigningKeyPair, default_rate_table, sign_rate_table};
use card_sim::journal::JournalError;
use card_sim::{
    DirMedium, Engine, Entropy, InProcessTransport, JournalStore, SharedCard, SimCard, SimClock, SimError, SimPlatform,
    draw_serial,
};
use host_driver::transport::Transport;
use host_driver::{Meter, MeterError, Pin};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The authority side of a meter: issuer (personalization), authority
/// (rates, orders), CA and the MAC master key.
pub struct AuthorityKeys {
    /// Signs personalization profiles; installed in the card at manufacture.
    pub issuer: SigningKeyPair,
    /// Signs rate tables and later orders.
    pub authority: SigningKeyPair,
    /// Certificate authority key.
    pub ca: SigningKeyPair,
    /// Master key of the MAC indicium variant.
    pub mac_master: MasterMacKey,
}

impl AuthorityKeys {
    /// Fresh random keys.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self {
            issuer: SigningKeyPair::generate()?,
            authority: SigningKeyPair::generate()?,
            ca: SigningKeyPair::generate()?,
            mac_master: MasterMacKey::generate()?,
        })
    }

    /// Deterministic keys for fixtures (never for production).
    pub fn from_seed(label: &str) -> Self {
        let seed = SigningKeyPair::from_seed(&format!("{label}/mac")).secret_bytes();
        Self {
            issuer: SigningKeyPair::from_seed(&format!("{label}/issuer")),
            authority: SigningKeyPair::from_seed(&format!("{label}/authority")),
            ca: SigningKeyPair::from_seed(&format!("{label}/ca")),
            mac_master: MasterMacKey::from_bytes(*seed),
        }
    }
}

/// How to build the meter.
#[derive(Debug, Clone)]
pub struct Options {
    /// Profile fields (meter ID, PIN, credit, variant …).
    pub profile: ProfileBuilder,
    /// Card clock.
    pub clock: SimClock,
    /// Card randomness.
    pub entropy: Entropy,
    /// Serial [`blank`] manufactures the simulated card with (`None`: drawn
    /// from the OS). [`bring_up`] signs the profile for the serial the card
    /// reports, whatever made it.
    pub card_serial: Option<CardSerial>,
}

impl Options {
    /// A meter at `now` with `credit` minor units of test credit.
    pub fn at(now: u64, credit: u64) -> Self {
        Self {
            profile: ProfileBuilder {
                initial_credit: credit,
                issued_at: now.saturating_sub(3600),
                ..ProfileBuilder::default()
            },
            clock: SimClock::fixed(now),
            entropy: Entropy::Os,
            card_serial: None,
        }
    }
}

/// Why the fixture could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// Profile invalid.
    #[error("profile: {0}")]
    Profile(#[from] FormatError),
    /// Card failed.
    #[error("card: {0}")]
    Card(#[from] SimError),
    /// Meter call failed.
    #[error("meter: {0}")]
    Meter(#[from] MeterError),
    /// The state file could not be opened or created.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The state file's directory is unusable.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// `create_state_file` was given a file that already holds a card.
    #[error("{0}: a card state already exists there")]
    Exists(PathBuf),
    /// `open_state_file` was given a file that holds no card.
    #[error("{0}: no simulated meter there (make one with `pcmeter sim create`)")]
    Missing(PathBuf),
}

/// A meter and its handles.
pub struct SimulatedMeter {
    /// The typed API over the in-process transport.
    pub meter: Meter<InProcessTransport>,
    /// The shared card (power and reset controls).
    pub card: Arc<Mutex<SharedCard>>,
    /// The card clock.
    pub clock: SimClock,
    /// The PIN.
    pub pin: Pin,
    /// The PUK.
    pub puk: Pin,
    /// The signed personalization profile that was loaded.
    pub signed_profile: Vec<u8>,
}

/// Builds the signed profile for `opts`, bound to the card with `card_serial`.
pub fn signed_profile(keys: &AuthorityKeys, opts: &Options, card_serial: CardSerial) -> Result<Vec<u8>, FormatError> {
    let table = default_rate_table(1, opts.profile.issued_at);
    let signed_table = sign_rate_table(&keys.authority, &table);
    let profile = opts.profile.build(
        card_serial,
        &keys.authority,
        keys.ca.public(),
        Vec::new(),
        Some(&keys.mac_master),
        signed_table,
    )?;
    Ok(sign_profile(&keys.issuer, &profile))
}

/// A manufactured but not yet personalized card, selected.
pub fn blank(
    keys: &AuthorityKeys,
    opts: &Options,
) -> Result<(Meter<InProcessTransport>, Arc<Mutex<SharedCard>>), FixtureError> {
    let serial = match opts.card_serial {
        Some(serial) => serial,
        None => draw_serial(&mut Entropy::Os)?,
    };
    let card = SimCard::manufacture_in_memory(&keys.issuer.public(), serial, opts.entropy.clone(), opts.clock.clone())?;
    let shared = SharedCard::new(card);
    let meter = Meter::connect(InProcessTransport::new(Arc::clone(&shared)))?;
    Ok((meter, shared))
}

/// What bringing a meter up produced.
pub struct BroughtUp {
    /// The PIN.
    pub pin: Pin,
    /// The PUK.
    pub puk: Pin,
    /// The signed profile that was loaded.
    pub signed_profile: Vec<u8>,
}

/// Personalizes, verifies and activates a blank meter over any transport
/// with a profile signed for the serial its FCI reports, then selects it
/// again (the PIN is no longer verified).
pub fn bring_up<T: Transport>(
    meter: &mut Meter<T>,
    keys: &AuthorityKeys,
    opts: &Options,
) -> Result<BroughtUp, FixtureError> {
    let card_serial = meter.select()?.card_serial;
    let signed_profile = signed_profile(keys, opts, card_serial)?;
    let pin = Pin::new(&opts.profile.pin)?;
    let puk = Pin::new(&opts.profile.puk)?;
    {
        let mut s = meter.transaction()?;
        s.personalize(&signed_profile)?;
        s.verify_pin(&pin)?;
        s.activate()?;
    }
    meter.select()?;
    Ok(BroughtUp { pin, puk, signed_profile })
}

/// A personalized, activated meter in process (PIN not verified).
pub fn operational(keys: &AuthorityKeys, opts: &Options) -> Result<SimulatedMeter, FixtureError> {
    let (mut meter, card) = blank(keys, opts)?;
    let up = bring_up(&mut meter, keys, opts)?;
    Ok(SimulatedMeter {
        meter,
        card,
        clock: opts.clock.clone(),
        pin: up.pin,
        puk: up.puk,
        signed_profile: up.signed_profile,
    })
}

/// The durable store of a simulated meter kept in a state file.
pub type StateStore = JournalStore<DirMedium>;

/// The in-process transport to a meter kept in a state file.
pub type StateTransport = InProcessTransport<StateStore>;

/// Opens the journal store of `path` (the store holds `<path>.lock` while it lives).
fn open_store(path: &Path) -> Result<StateStore, FixtureError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| FixtureError::Io(path.to_path_buf(), std::io::ErrorKind::InvalidInput.into()))?;
    let medium = DirMedium::new(dir).map_err(|e| FixtureError::Io(dir.to_path_buf(), e))?;
    Ok(JournalStore::open(medium, name)?)
}

/// The card behind an in-process transport, selected (`transport_mut().card()` gives its controls).
fn connect(card: SimCard<StateStore>) -> Result<Meter<StateTransport>, FixtureError> {
    Ok(Meter::connect(InProcessTransport::new(SharedCard::new(card)))?)
}

/// Manufactures a card in the new state file `path`, then personalizes and
/// activates it as [`bring_up`] does (PIN not verified afterwards). The file
/// is the one `pcmeter-card --state` serves.
pub fn create_state_file(
    path: &Path,
    keys: &AuthorityKeys,
    opts: &Options,
) -> Result<(Meter<StateTransport>, BroughtUp), FixtureError> {
    create_state_file_on(path, keys, opts, None)
}

/// [`create_state_file`] on the crypto engine `engine` (`None`: the default engine).
pub fn create_state_file_on(
    path: &Path,
    keys: &AuthorityKeys,
    opts: &Options,
    engine: Option<Engine>,
) -> Result<(Meter<StateTransport>, BroughtUp), FixtureError> {
    let store = open_store(path)?;
    if !store.is_empty() {
        return Err(FixtureError::Exists(path.to_path_buf()));
    }
    let serial = match opts.card_serial {
        Some(serial) => serial,
        None => draw_serial(&mut Entropy::Os)?,
    };
    let platform = match engine {
        Some(engine) => SimPlatform::with_engine(engine, store, opts.entropy.clone(), opts.clock.clone()),
        None => SimPlatform::new(store, opts.entropy.clone(), opts.clock.clone()),
    };
    let mut meter = connect(SimCard::manufacture(platform, &keys.issuer.public(), serial)?)?;
    let up = bring_up(&mut meter, keys, opts)?;
    Ok((meter, up))
}

/// Opens the simulated meter kept in the state file `path`, powered on and selected.
pub fn open_state_file(path: &Path, clock: SimClock) -> Result<Meter<StateTransport>, FixtureError> {
    open_state_file_on(path, clock, None)
}

/// [`open_state_file`] on the crypto engine `engine` (`None`: the default engine).
pub fn open_state_file_on(
    path: &Path,
    clock: SimClock,
    engine: Option<Engine>,
) -> Result<Meter<StateTransport>, FixtureError> {
    if !path.is_file() {
        return Err(FixtureError::Missing(path.to_path_buf()));
    }
    let store = open_store(path)?;
    if store.is_empty() {
        return Err(FixtureError::Missing(path.to_path_buf()));
    }
    let platform = match engine {
        Some(engine) => SimPlatform::with_engine(engine, store, Entropy::Os, clock),
        None => SimPlatform::new(store, Entropy::Os, clock),
    };
    connect(SimCard::from_platform(platform)?)
}
