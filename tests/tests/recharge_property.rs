//! The recharge property (issue 12 acceptance): across 1,000 recharges run
//! by the host flow against the authority service on loopback (SQLite in a
//! temporary directory), with random power cuts on the card side (the
//! journal store on the fault-injecting medium, cut inside the commit of
//! RECHARGE CREDIT or after it, the answer never seen) and random faults on
//! the wire (requests lost, answers dropped, requests replayed under the same
//! or another idempotency key, old S1s replayed), the authority's ledger and
//! the card's CT agree, and no recharge is credited twice or lost.
//!
//! `RECHARGE_PROPERTY_SEED` replays a run; the seed is printed on failure.

mod remote_common;

use apdu_specs::commands::{CLA_CHAIN, ins};
use authority::store::Location;
use card_core::Applet;
use card_core::platform::Platform;
use card_sim::journal::JournalStore;
use card_sim::journal::fault::{CrashMode, FaultMedium};
use card_sim::{Entropy, SimClock, SimPlatform};
use host_driver::authority::{
    AuthorityClient, ClientError, IdempotencyKey, InspectionResult, MeterState, PendingLockOrders, PublishedRateTable,
    ReceiptAccepted, RechargeAuthorization,
};
use host_driver::remote::{self, Authority, Retry};
use host_driver::{CardTransaction, Meter, Transport, TransportError};
use remote_common::{Scratch, Service, keys, options, pin};
use std::cell::RefCell;
use std::time::{Duration, Instant};

const RECHARGES: u32 = 1_000;
const NAME: &str = "card";

/// xorshift64*: a small deterministic generator, replayable from its seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

type Card = Applet<SimPlatform<JournalStore<FaultMedium>>>;

/// What the card side did.
#[derive(Debug, Default)]
struct CardFaults {
    cuts_in_commit: u32,
    answers_lost: u32,
}

/// A transport to a card on the fault-injecting medium that cuts its power
/// at random: inside the commit of RECHARGE CREDIT, or after any command
/// with the answer lost. After a cut the card is powered on again from what
/// the medium kept, and the host sees the card removed, then reset.
struct TearingCard {
    card: Option<Card>,
    clock: SimClock,
    rng: Rng,
    reset_pending: bool,
    faults: CardFaults,
    /// Power cuts happen only when set.
    tearing: bool,
}

fn power_on(medium: FaultMedium, clock: &SimClock, seed: u64) -> Card {
    let store = JournalStore::open(medium, NAME).expect("the journal reopens after a cut");
    Applet::power_on(SimPlatform::new(store, Entropy::seeded(seed), clock.clone())).expect("the card restarts")
}

impl TearingCard {
    fn new(keys: &pcmeter::simulated::AuthorityKeys, clock: SimClock, rng: Rng) -> Self {
        let store = JournalStore::open(FaultMedium::new(), NAME).unwrap();
        let platform = SimPlatform::new(store, Entropy::seeded(1), clock.clone());
        let serial = apdu_specs::perso::CardSerial(*b"PCMPROP1");
        let card = Applet::manufacture(platform, &keys.issuer.public(), serial).unwrap();
        Self { card: Some(card), clock, rng, reset_pending: false, faults: CardFaults::default(), tearing: false }
    }

    fn card(&mut self) -> Result<&mut Card, TransportError> {
        self.card.as_mut().ok_or(TransportError::CardAbsent)
    }

    /// Cuts the power (the medium applies the crash) and powers on again.
    fn power_cycle(&mut self) {
        if let Some(card) = self.card.take() {
            let mut medium = card.into_platform().into_store().into_medium();
            medium.reboot();
            let seed = self.rng.next();
            self.card = Some(power_on(medium, &self.clock, seed));
        }
        self.reset_pending = true;
    }

    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let last_block = capdu.first().is_some_and(|cla| cla & CLA_CHAIN == 0);
        let credit = last_block && capdu.get(1) == Some(&ins::RECHARGE_CREDIT);
        if self.tearing && credit && self.rng.chance(30) {
            let cut = self.rng.below(12) as usize;
            let mode = if self.rng.chance(50) { CrashMode::LoseUnsynced } else { CrashMode::KeepUnsynced };
            self.card()?.platform_mut().store().medium_mut().arm(cut, mode);
            let _unseen = self.card()?.process(capdu);
            self.faults.cuts_in_commit += 1;
            self.power_cycle();
            return Err(TransportError::CardRemoved);
        }
        let answer = self.card()?.process(capdu);
        if self.tearing && self.rng.chance(if credit { 15 } else { 2 }) {
            self.faults.answers_lost += 1;
            self.power_cycle();
            return Err(TransportError::CardRemoved);
        }
        Ok(answer)
    }
}

struct TearingTx<'a>(&'a mut TearingCard);

impl CardTransaction for TearingTx<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.0.transmit(capdu)
    }

    fn end_session(self) -> Result<(), TransportError> {
        self.0.card()?.reset();
        Ok(())
    }
}

impl Transport for TearingCard {
    type CardTransaction<'a> = TearingTx<'a>;

    fn begin(&mut self) -> Result<TearingTx<'_>, TransportError> {
        if self.reset_pending {
            return Err(TransportError::CardReset);
        }
        Ok(TearingTx(self))
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.card()?.reset();
        self.reset_pending = false;
        Ok(())
    }

    fn reader_name(&self) -> String {
        "tearing test card".into()
    }
}

/// What the wire did.
#[derive(Debug, Default)]
struct WireFaults {
    requests_lost: u32,
    answers_dropped: u32,
    replays_same_key: u32,
    replays_new_key: u32,
    old_s1_replays: u32,
    busy_refusals: u32,
}

/// The authority client behind a faulty wire.
struct FaultyWire {
    client: AuthorityClient,
    rng: RefCell<Rng>,
    faults: RefCell<WireFaults>,
    old_s1: RefCell<Vec<Vec<u8>>>,
}

fn lost(what: &str) -> ClientError {
    ClientError::Ambiguous { url: what.to_string(), message: "injected: connection lost".into() }
}

/// What the authority answers when its serializable retries ran out: 503, nothing written.
fn busy() -> ClientError {
    ClientError::Refused {
        status: 503,
        code: "storage".into(),
        message: "injected: the store failed; nothing was acknowledged, retry with the same key".into(),
    }
}

impl FaultyWire {
    /// A state-changing call through the faults: lost before the service,
    /// answer dropped after it, sent twice (same key, or another key), or
    /// refused 503 with nothing written.
    fn post<T>(
        &self,
        what: &str,
        key: &IdempotencyKey,
        call: impl Fn(&IdempotencyKey) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let roll = self.rng.borrow_mut().below(100);
        let mut faults = self.faults.borrow_mut();
        match roll {
            0..=9 => {
                faults.requests_lost += 1;
                Err(lost(what))
            }
            10..=19 => {
                faults.answers_dropped += 1;
                let _dropped = call(key);
                Err(lost(what))
            }
            20..=27 => {
                faults.replays_same_key += 1;
                let _first = call(key);
                call(key)
            }
            28..=32 => {
                faults.replays_new_key += 1;
                let first = call(key);
                let _duplicate = call(&IdempotencyKey::generate()?);
                first
            }
            33..=37 => {
                faults.busy_refusals += 1;
                Err(busy())
            }
            _ => call(key),
        }
    }

    fn get<T>(&self, what: &str, call: impl Fn() -> Result<T, ClientError>) -> Result<T, ClientError> {
        if self.rng.borrow_mut().chance(5) {
            self.faults.borrow_mut().requests_lost += 1;
            return Err(lost(what));
        }
        call()
    }
}

impl Authority for FaultyWire {
    fn meter_state(&self, meter_id: &[u8; 12]) -> Result<MeterState, ClientError> {
        self.get("meter state", || self.client.meter_state(meter_id))
    }

    fn recharge(&self, key: &IdempotencyKey, s1: &[u8]) -> Result<RechargeAuthorization, ClientError> {
        // Now and then someone on the wire replays an S1 of an earlier recharge:
        // the authority answers with what it stored (or refuses) and debits nothing.
        let old = {
            let old = self.old_s1.borrow();
            let mut rng = self.rng.borrow_mut();
            let pick = if rng.chance(10) { rng.below(old.len() as u64 + 1) as usize } else { usize::MAX };
            old.get(pick).cloned()
        };
        if let Some(old) = old {
            self.faults.borrow_mut().old_s1_replays += 1;
            let _ignored = self.client.recharge(&IdempotencyKey::generate()?, &old);
        }
        self.old_s1.borrow_mut().push(s1.to_vec());
        self.post("recharge", key, |k| self.client.recharge(k, s1))
    }

    fn receipt(&self, key: &IdempotencyKey, s3: &[u8]) -> Result<ReceiptAccepted, ClientError> {
        self.post("receipt", key, |k| self.client.receipt(k, s3))
    }

    fn inspect(&self, key: &IdempotencyKey, report: &[u8]) -> Result<InspectionResult, ClientError> {
        self.post("inspection", key, |k| self.client.inspect(k, report))
    }

    fn lock_orders(&self, meter_id: &[u8; 12], after: u32) -> Result<PendingLockOrders, ClientError> {
        self.get("lock orders", || self.client.lock_orders(meter_id, after))
    }

    fn latest_rates(&self) -> Result<PublishedRateTable, ClientError> {
        self.get("rates", || self.client.latest_rates())
    }
}

fn seed() -> u64 {
    match std::env::var("RECHARGE_PROPERTY_SEED") {
        Ok(s) => s.parse().expect("RECHARGE_PROPERTY_SEED is a u64"),
        Err(_) => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            (nanos as u64) | 1
        }
    }
}

#[test]
fn a_thousand_recharges_through_tears_and_a_faulty_wire_are_each_credited_and_settled_exactly_once() {
    let seed = seed();
    eprintln!("recharge property: RECHARGE_PROPERTY_SEED={seed}");
    let started = Instant::now();
    let scratch = Scratch::new("recharge-property");
    let keys = keys("property");
    let mut service =
        Service::start(Location::Sqlite(scratch.0.join("authority.sqlite")), &keys, &scratch.0.join("ca.sqlite"));
    let mut rng = Rng(seed);
    let opts = options("PCM-PROPERTY", 1_000, 90 * 86_400);
    let card = TearingCard::new(&keys, opts.clock.clone(), Rng(rng.next() | 1));
    let mut meter = Meter::new(card);
    // Personalized without faults: the tears start with the first recharge.
    pcmeter::simulated::bring_up(&mut meter, &keys, &opts).unwrap();
    meter.select().unwrap();
    let id = service.register(&mut meter);
    service.credit_account(u64::from(RECHARGES) * 1_000);
    meter.transport_mut().tearing = true;
    let wire = FaultyWire {
        client: service.client(),
        rng: RefCell::new(Rng(rng.next() | 1)),
        faults: RefCell::default(),
        old_s1: RefCell::default(),
    };
    let retry = Retry { attempts: 6, pause: Duration::ZERO };
    let pin = pin();
    let start = observe(&mut meter);
    let (mut expected_ct, mut requested, mut runs) = (start.control_total, 0u64, 0u32);

    for n in 0..RECHARGES {
        let amount = 1 + rng.below(999);
        // The user runs the recharge again until it completes (same amount):
        // a run that gave up never leaves money credited unaccounted.
        let done = loop {
            runs += 1;
            assert!(runs < RECHARGES * 3, "seed {seed}: too many failed runs");
            match remote::recharge(&mut meter, &pin, &wire, amount, &retry) {
                Ok(done) => break done,
                Err(e) => {
                    let regs = observe(&mut meter);
                    assert_eq!(
                        regs.control_total, expected_ct,
                        "seed {seed}, recharge {n}: a failed run credited ({e})"
                    );
                }
            }
        };
        expected_ct += amount;
        requested += amount;
        assert_eq!(done.registers.control_total, expected_ct, "seed {seed}, recharge {n}: credited once");
        assert!(done.registers.balanced(), "seed {seed}: registers balance");
        assert_eq!(done.amount, amount);
        assert_eq!(
            service.recorded_ct(&id),
            Some(expected_ct),
            "seed {seed}, recharge {n}: the authority's CT is the card's"
        );
    }
    // A last reconciliation delivers any receipt a run could not deliver.
    while remote::reconcile(&mut meter, &wire, &retry).is_err() {}
    let regs = observe(&mut meter);
    let (rows, settled, total) = service.ledger(&id);
    let faults = (&meter.transport_mut().faults, &wire.faults.borrow());
    eprintln!("seed {seed}: {RECHARGES} recharges in {runs} runs, {:?}; {faults:?}", started.elapsed());
    assert_eq!(regs.control_total, start.control_total + requested, "seed {seed}: nothing lost, nothing doubled");
    assert_eq!(regs.descending, start.descending + requested, "seed {seed}");
    assert_eq!(regs.recharge_seq, start.recharge_seq + RECHARGES, "seed {seed}: one NT per recharge");
    assert_eq!(
        (rows, settled, total),
        (u64::from(RECHARGES), u64::from(RECHARGES), requested),
        "seed {seed}: one ledger row per recharge, each settled, the amounts the card credited"
    );
    assert_eq!(service.balance(), u64::from(RECHARGES) * 1_000 - requested, "seed {seed}: debited once each");
    assert!(faults.0.cuts_in_commit > 0 && faults.0.answers_lost > 0, "seed {seed}: the card side was torn");
    let wire_faults = faults.1;
    assert!(
        wire_faults.answers_dropped > 0
            && wire_faults.replays_same_key > 0
            && wire_faults.old_s1_replays > 0
            && wire_faults.busy_refusals > 0,
        "seed {seed}: the wire dropped, replayed and was refused busy"
    );
}

/// The card's registers as the test sees them (no fault injected into its own reads).
fn observe(meter: &mut Meter<TearingCard>) -> apdu_specs::registers::Registers {
    let tearing = std::mem::replace(&mut meter.transport_mut().tearing, false);
    if meter.transport_mut().reset_pending {
        meter.recover().unwrap();
    }
    let regs = remote_common::read(meter, |tx| tx.registers());
    meter.transport_mut().tearing = tearing;
    regs
}
