//! A transport to a simulated card in the same process (the traits of crate
//! `card-transport`). Transactions hold the card's mutex, so concurrent users
//! never interleave inside one.

use crate::{MemoryStore, SimCard, SimError};
use card_core::platform::Store;
use card_transport::{CardTransaction, Transport, TransportError};
use std::sync::{Arc, Mutex, MutexGuard};

/// A simulated card shared between transports, with a reset generation so
/// that other connections notice a reset, as PC/SC reports `RESET_CARD`.
pub struct SharedCard<S: Store = MemoryStore> {
    card: SimCard<S>,
    generation: u64,
}

impl<S: Store> SharedCard<S> {
    /// Wraps a card.
    pub fn new(card: SimCard<S>) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self { card, generation: 0 }))
    }

    /// The card.
    pub fn card(&mut self) -> &mut SimCard<S> {
        &mut self.card
    }

    /// Warm reset seen by every connection.
    pub fn reset(&mut self) -> Result<(), SimError> {
        self.generation += 1;
        self.card.reset()
    }

    /// Power off (card removed).
    pub fn power_off(&mut self) {
        self.generation += 1;
        self.card.power_off();
    }

    /// Power on (card inserted).
    pub fn power_on(&mut self) -> Result<(), SimError> {
        self.generation += 1;
        self.card.power_on()
    }
}

/// The in-process transport.
pub struct InProcessTransport<S: Store = MemoryStore> {
    card: Arc<Mutex<SharedCard<S>>>,
    seen: u64,
}

impl<S: Store> InProcessTransport<S> {
    /// Connects to a shared card.
    pub fn new(card: Arc<Mutex<SharedCard<S>>>) -> Self {
        let seen = card.lock().map(|c| c.generation).unwrap_or(0);
        Self { card, seen }
    }

    /// The shared card handle.
    pub fn card(&self) -> Arc<Mutex<SharedCard<S>>> {
        Arc::clone(&self.card)
    }
}

/// A transaction holding the card lock.
pub struct InProcessTransaction<'a, S: Store> {
    guard: MutexGuard<'a, SharedCard<S>>,
    seen: &'a mut u64,
}

impl<S: Store> Transport for InProcessTransport<S> {
    type CardTransaction<'a>
        = InProcessTransaction<'a, S>
    where
        Self: 'a;

    fn begin(&mut self) -> Result<Self::CardTransaction<'_>, TransportError> {
        let guard = self.card.lock().map_err(|_| TransportError::Other("card mutex poisoned".into()))?;
        if guard.generation != self.seen {
            return Err(if guard.card.is_powered() { TransportError::CardReset } else { TransportError::CardRemoved });
        }
        if !guard.card.is_powered() {
            return Err(TransportError::CardAbsent);
        }
        Ok(InProcessTransaction { guard, seen: &mut self.seen })
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        let mut guard = self.card.lock().map_err(|_| TransportError::Other("card mutex poisoned".into()))?;
        if !guard.card.is_powered() {
            return Err(TransportError::CardAbsent);
        }
        // A reconnect with SCARD_RESET_CARD semantics: the card is reset.
        guard.card.reset().map_err(|_| TransportError::CardAbsent)?;
        self.seen = guard.generation;
        Ok(())
    }

    fn reader_name(&self) -> String {
        String::from("In-process simulated card")
    }
}

impl<S: Store> CardTransaction for InProcessTransaction<'_, S> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.guard.card.transmit(capdu).map_err(|e| match e {
            SimError::PoweredOff => TransportError::CardRemoved,
            SimError::Load(err) => TransportError::Other(err.to_string()),
        })
    }

    /// Resets the shared card (other connections see the reset); this
    /// connection stays usable without a reconnect.
    fn end_session(mut self) -> Result<(), TransportError> {
        self.guard.reset().map_err(|_| TransportError::CardRemoved)?;
        *self.seen = self.guard.generation;
        Ok(())
    }
}
