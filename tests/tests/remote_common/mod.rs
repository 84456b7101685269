//! Shared by the end-to-end recharge tests and the recharge property: the
//! authority service on loopback over a real database, its operator's
//! actions straight on the store, and meters that trust it.
#![allow(dead_code)]

use apdu_specs::mailpiece::MailPiece;
use apdu_specs::rates::RateTable;
use apdu_specs::service::Service as CardService;
use authority::rates::RateTableSpec;
use authority::service::http::{App, LoopbackServer, RegisterMeter};
use authority::service::pool::StorePool;
use authority::service::{Authority, Policy, clock, locks, meters, rates, recharge};
use authority::store::{AnyBackend, Location, Tx, TxResult, transact};
use authority::{CertDb, CertificateAuthority, SigningKeyPair};
use card_sim::SimClock;
use host_driver::authority::AuthorityClient;
use host_driver::{Meter, MeterError, Pin, Transaction, Transport};
use pcmeter::simulated::{AuthorityKeys, Options};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The provider account the test meters are registered with.
pub const ACCOUNT: &str = "mailroom";

/// A fresh directory under the system temp dir, removed by the caller's [`Scratch`].
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pcmeter-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The service keys and the keys a meter that trusts it is made with.
pub fn keys(label: &str) -> AuthorityKeys {
    AuthorityKeys::from_seed(&format!("e2e-recharge/{label}"))
}

/// The authority service on loopback, over `location`.
pub struct Service {
    pub app: Arc<App>,
    pub server: LoopbackServer,
    pub location: Location,
    backend: AnyBackend,
}

impl Service {
    pub fn start(location: Location, keys: &AuthorityKeys, ca_db: &std::path::Path) -> Self {
        let ca = CertificateAuthority::new(
            keys.ca.clone(),
            "E2E CA",
            clock::unix_now() - 86_400,
            CertDb::open(ca_db).unwrap(),
        )
        .unwrap();
        let authority = Authority::new(keys.authority.clone(), keys.issuer.clone(), ca, Policy::default()).unwrap();
        let pool = StorePool::start(&location, 2).unwrap();
        let app = Arc::new(App::new(pool, Arc::new(authority), Some("e2e-admin")));
        let server = LoopbackServer::start(Arc::clone(&app)).unwrap();
        let backend = AnyBackend::open(&location).unwrap();
        Self { app, server, location, backend }
    }

    pub fn client(&self) -> AuthorityClient {
        AuthorityClient::new(&self.server.url(), Duration::from_secs(30))
    }

    /// Runs an operator action in one store transaction; panics on refusal.
    pub fn operate<T>(
        &mut self,
        op: impl FnMut(&mut dyn Tx, &Authority, u64) -> TxResult<T, authority::service::error::ApiError>,
    ) -> T {
        let authority = Arc::clone(&self.app.authority);
        let mut op = op;
        let now = clock::unix_now();
        transact(&mut self.backend, |tx| op(tx, &authority, now)).unwrap().unwrap()
    }

    pub fn register<T: Transport>(&mut self, meter: &mut Meter<T>) -> [u8; 12] {
        let id = meter.fci().and_then(|f| f.meter_id).unwrap();
        let keys = read(meter, |tx| tx.public_keys());
        let ct = read(meter, |tx| tx.registers()).control_total;
        let request = RegisterMeter {
            meter_id: hex::encode(id),
            device_key: hex::encode(keys.device),
            account_id: ACCOUNT.into(),
            control_total: Some(ct),
        };
        self.operate(|tx, a, now| authority::service::http::register(tx, a, &request, now));
        id
    }

    pub fn credit_account(&mut self, amount: u64) -> u64 {
        self.operate(|tx, _, now| meters::credit_account(tx, ACCOUNT, amount, now))
    }

    pub fn balance(&mut self) -> u64 {
        self.operate(|tx, _, _| Ok(Ok(meters::balance(tx, ACCOUNT)?.unwrap_or(0))))
    }

    /// `(recharges recorded, settled, total amount)` of a meter.
    pub fn ledger(&mut self, id: &[u8; 12]) -> (u64, u64, u64) {
        self.operate(|tx, _, _| Ok(Ok(recharge::ledger_totals(tx, id)?)))
    }

    /// The CT the authority recorded for a meter.
    pub fn recorded_ct(&mut self, id: &[u8; 12]) -> Option<u64> {
        self.operate(|tx, _, _| Ok(Ok(meters::find(tx, id)?.and_then(|m| m.control_total))))
    }

    pub fn order(&mut self, id: &[u8; 12], action: &str) -> u32 {
        let action = locks::parse_action(action).unwrap();
        self.operate(|tx, a, now| locks::create(tx, a, id, action, 0, now)).sequence
    }

    pub fn publish(&mut self, table: &RateTable) -> u32 {
        let spec = spec_of(table);
        self.operate(|tx, a, now| rates::publish(tx, a, &spec, now)).version
    }
}

/// The operator's JSON form of a table.
pub fn spec_of(table: &RateTable) -> RateTableSpec {
    RateTableSpec {
        version: table.version,
        effective_from: table.effective_from,
        currency: String::from_utf8_lossy(&table.currency).into_owned(),
        exponent: table.exponent,
        classes: table
            .classes
            .iter()
            .map(|c| (c.id, c.breaks.iter().map(|b| (b.max_grams, b.price)).collect()))
            .collect(),
        fees: CardService::ALL
            .into_iter()
            .filter(|s| table.fees[s.index()] != 0)
            .map(|s| (s.name().to_string(), table.fees[s.index()]))
            .collect(),
    }
}

/// Options of a meter trusting `keys`, its clock at the real time (the
/// authority's), its first inspection due after `inspection_period` seconds.
pub fn options(id: &str, credit: u64, inspection_period: u32) -> Options {
    let now = clock::unix_now();
    let mut opts = Options::at(now, credit);
    opts.profile.meter_id = id.to_string();
    opts.profile.inspection_period = inspection_period;
    opts
}

pub fn pin() -> Pin {
    Pin::new("123456").unwrap()
}

/// Runs `f` with the PIN verified, then ends the host session.
pub fn with_pin<T: Transport, R>(
    meter: &mut Meter<T>,
    f: impl FnOnce(&mut Transaction<'_, T>) -> Result<R, MeterError>,
) -> Result<R, MeterError> {
    let pin = pin();
    meter.with_session(|tx| {
        tx.select()?;
        tx.verify_pin(&pin)?;
        f(tx)
    })
}

/// Runs `f` in one transaction after SELECT (an earlier session's end reset the card).
pub fn read<T: Transport, R>(
    meter: &mut Meter<T>,
    f: impl FnOnce(&mut Transaction<'_, T>) -> Result<R, MeterError>,
) -> R {
    meter
        .run(|tx| {
            tx.select()?;
            f(tx)
        })
        .unwrap()
}

/// A class-1 letter of `grams` dated by the card clock.
pub fn letter(clock: &SimClock, grams: u32) -> MailPiece {
    MailPiece { date: apdu_specs::date::yyyymmdd_from_unix(clock.now().unwrap()), ..testkit::piece(1, grams) }
}

/// Keys made from a seed (the service and the meters that trust it).
pub fn signing(label: &str) -> SigningKeyPair {
    SigningKeyPair::from_seed(label)
}
