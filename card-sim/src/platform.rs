//! The simulator's `Platform`: soft crypto engine, a store and a clock.

use crate::clock::SimClock;
use crate::entropy::Entropy;
use crate::memory_store::MemoryStore;
use card_core::platform::{Platform, Store};
use card_core::soft_engine::SoftEngine;

/// A simulated device.
#[derive(Debug)]
pub struct SimPlatform<S: Store = MemoryStore> {
    engine: SoftEngine<Entropy>,
    store: S,
    clock: SimClock,
}

impl<S: Store> SimPlatform<S> {
    /// A device with `store`, `entropy` and `clock`.
    pub fn new(store: S, entropy: Entropy, clock: SimClock) -> Self {
        Self { engine: SoftEngine::new(entropy), store, clock }
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

impl<S: Store> Platform for SimPlatform<S> {
    type Crypto = SoftEngine<Entropy>;
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
