//! The simulator's `Platform`: a crypto engine chosen at start, a store and a clock.

use crate::clock::SimClock;
use crate::engine::{Engine, SimCrypto};
use crate::entropy::Entropy;
use crate::memory_store::MemoryStore;
use card_core::platform::{Platform, Store};

/// A simulated device.
#[derive(Debug)]
pub struct SimPlatform<S: Store = MemoryStore> {
    engine: SimCrypto,
    store: S,
    clock: SimClock,
}

impl<S: Store> SimPlatform<S> {
    /// A device with `store`, `entropy` and `clock` on the default engine:
    /// the soft engine, or with feature `env-engine` (tests) the one
    /// [`Engine::from_env`] names.
    ///
    /// # Panics
    /// With feature `env-engine` only, when `PCMETER_ENGINE` names an engine
    /// that is unknown or not compiled in: a test suite must not fall back
    /// to another engine silently.
    pub fn new(store: S, entropy: Entropy, clock: SimClock) -> Self {
        Self::with_engine(default_engine(), store, entropy, clock)
    }

    /// A device running `engine`.
    pub fn with_engine(engine: Engine, store: S, entropy: Entropy, clock: SimClock) -> Self {
        Self { engine: engine.instantiate(entropy), store, clock }
    }

    /// The crypto engine the device runs.
    pub fn engine(&self) -> Engine {
        self.engine.kind()
    }

    /// Power loss or tamper: the engine drops every key it keeps prepared.
    pub(crate) fn forget_volatile(&mut self) {
        self.engine.forget_keys();
    }

    /// The clock handle.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Gives the store back (power-off in tests).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The store (read-only).
    pub fn store_ref(&self) -> &S {
        &self.store
    }
}

#[cfg(not(feature = "env-engine"))]
fn default_engine() -> Engine {
    Engine::default()
}

#[cfg(feature = "env-engine")]
fn default_engine() -> Engine {
    match Engine::from_env() {
        Ok(engine) => engine,
        Err(e) => panic!("{}: {e}", Engine::ENV),
    }
}

impl<S: Store> Platform for SimPlatform<S> {
    type Crypto = SimCrypto;
    type Store = S;

    fn crypto(&mut self) -> &mut Self::Crypto {
        &mut self.engine
    }

    fn store(&mut self) -> &mut S {
        &mut self.store
    }

    fn now(&self) -> Option<u64> {
        self.clock.now()
    }
}
