//! The simulated card with its power and tamper controls.

use crate::platform::SimPlatform;
use crate::{Engine, Entropy, MemoryStore, SimClock};
use apdu_specs::perso::CardSerial;
use card_core::platform::{PublicKey, Store};
use card_core::soft_engine::EntropySource;
use card_core::{Applet, LoadError};

/// The answer-to-reset: T=1, historical bytes "PCMETER" + version.
pub const ATR: [u8; 13] = [0x3B, 0x88, 0x80, 0x01, 0x50, 0x43, 0x4D, 0x45, 0x54, 0x45, 0x52, 0x01, 0x00];

/// Why the simulated card could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The card is powered off.
    #[error("card is powered off")]
    PoweredOff,
    /// The card could not start from its store.
    #[error("card failed to power on: {0}")]
    Load(#[from] LoadError),
}

/// Draws a fresh card serial from `entropy`, for manufacture.
pub fn draw_serial(entropy: &mut Entropy) -> Result<CardSerial, SimError> {
    let mut serial = [0u8; CardSerial::LEN];
    if entropy.fill(&mut serial) { Ok(CardSerial(serial)) } else { Err(SimError::Load(LoadError::SerialUnavailable)) }
}

enum Power<S: Store> {
    On(Box<Applet<SimPlatform<S>>>),
    Off(SimPlatform<S>),
}

/// A card in a (simulated) reader.
pub struct SimCard<S: Store = MemoryStore> {
    power: Option<Power<S>>,
}

/// The ATR with its TCK (XOR of T0..last historical byte).
pub fn atr() -> Vec<u8> {
    let mut atr = ATR.to_vec();
    let tck = atr[1..atr.len() - 1].iter().fold(0u8, |a, b| a ^ b);
    if let Some(last) = atr.last_mut() {
        *last = tck;
    }
    atr
}

impl SimCard<MemoryStore> {
    /// A new card on a memory store, manufactured with `issuer_key` and `serial`.
    pub fn manufacture_in_memory(
        issuer_key: &PublicKey,
        serial: CardSerial,
        entropy: Entropy,
        clock: SimClock,
    ) -> Result<Self, SimError> {
        Self::manufacture(SimPlatform::new(MemoryStore::new(), entropy, clock), issuer_key, serial)
    }
}

impl<S: Store> SimCard<S> {
    /// Manufactures a card on `platform`'s (empty) store with `issuer_key`
    /// and `serial` (see [`draw_serial`]).
    pub fn manufacture(platform: SimPlatform<S>, issuer_key: &PublicKey, serial: CardSerial) -> Result<Self, SimError> {
        Ok(Self { power: Some(Power::On(Box::new(Applet::manufacture(platform, issuer_key, serial)?))) })
    }

    /// Wraps an applet that is already powered.
    pub fn from_applet(applet: Applet<SimPlatform<S>>) -> Self {
        Self { power: Some(Power::On(Box::new(applet))) }
    }

    /// Powers a card on from an existing store.
    pub fn from_platform(platform: SimPlatform<S>) -> Result<Self, SimError> {
        Ok(Self { power: Some(Power::On(Box::new(Applet::power_on(platform)?))) })
    }

    /// Sends one C-APDU.
    pub fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, SimError> {
        match &mut self.power {
            Some(Power::On(applet)) => Ok(applet.process(capdu)),
            _ => Err(SimError::PoweredOff),
        }
    }

    /// Cuts power: every volatile state is lost.
    pub fn power_off(&mut self) {
        self.power = match self.power.take() {
            Some(Power::On(applet)) => {
                let mut platform = applet.into_platform();
                platform.forget_volatile();
                Some(Power::Off(platform))
            }
            other => other,
        };
    }

    /// Restores power: the applet restarts from its store.
    pub fn power_on(&mut self) -> Result<(), SimError> {
        match self.power.take() {
            Some(Power::Off(platform)) => match Applet::power_on(platform) {
                Ok(applet) => {
                    self.power = Some(Power::On(Box::new(applet)));
                    Ok(())
                }
                Err(e) => Err(SimError::Load(e)),
            },
            other => {
                self.power = other;
                Ok(())
            }
        }
    }

    /// True when powered.
    pub fn is_powered(&self) -> bool {
        matches!(self.power, Some(Power::On(_)))
    }

    /// Warm reset: volatile state is cleared, persistent state kept.
    pub fn reset(&mut self) -> Result<(), SimError> {
        match &mut self.power {
            Some(Power::On(applet)) => {
                applet.reset();
                Ok(())
            }
            _ => Err(SimError::PoweredOff),
        }
    }

    /// Fires the tamper input.
    pub fn tamper(&mut self) -> Result<(), SimError> {
        match &mut self.power {
            Some(Power::On(applet)) => {
                applet.tamper().map_err(|e| SimError::Load(LoadError::Store(e)))?;
                applet.platform_mut().forget_volatile();
                tracing::warn!("tamper input fired: card terminated");
                Ok(())
            }
            _ => Err(SimError::PoweredOff),
        }
    }

    /// The applet, when powered (tests).
    pub fn applet(&self) -> Option<&Applet<SimPlatform<S>>> {
        match &self.power {
            Some(Power::On(a)) => Some(a),
            _ => None,
        }
    }

    /// The crypto engine the card runs.
    pub fn engine(&mut self) -> Option<Engine> {
        self.platform_mut().map(|p| p.engine())
    }

    /// The platform, whatever the power state.
    pub fn platform_mut(&mut self) -> Option<&mut SimPlatform<S>> {
        match &mut self.power {
            Some(Power::On(a)) => Some(a.platform_mut()),
            Some(Power::Off(p)) => Some(p),
            None => None,
        }
    }
}
