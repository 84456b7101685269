//! Card lifecycle states, coded as ISO/IEC 7816-4 life cycle status bytes.

use crate::codec::FormatError;

/// The meter's lifecycle: PERSONALIZATION → OPERATIONAL ⇄ LOCKED → TERMINATED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Lifecycle {
    /// Initialisation: personalization data may be loaded (LCS `03`).
    Personalization = 0x03,
    /// Operational, activated (LCS `05`).
    Operational = 0x05,
    /// Operational, deactivated: value services refused (LCS `04`).
    Locked = 0x04,
    /// Terminated: secrets zeroized, only status is answered (LCS `0C`).
    Terminated = 0x0C,
}

impl Lifecycle {
    /// All states, in lifecycle order.
    pub const ALL: [Lifecycle; 4] =
        [Lifecycle::Personalization, Lifecycle::Operational, Lifecycle::Locked, Lifecycle::Terminated];

    /// The LCS byte.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// Decodes an LCS byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        match b {
            0x03 => Ok(Self::Personalization),
            0x05 => Ok(Self::Operational),
            0x04 => Ok(Self::Locked),
            0x0C => Ok(Self::Terminated),
            _ => Err(FormatError::Invalid("lifecycle")),
        }
    }

    /// Upper-case name used in the reference.
    pub fn name(self) -> &'static str {
        match self {
            Self::Personalization => "PERSONALIZATION",
            Self::Operational => "OPERATIONAL",
            Self::Locked => "LOCKED",
            Self::Terminated => "TERMINATED",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Personalization => 1,
            Self::Operational => 2,
            Self::Locked => 4,
            Self::Terminated => 8,
        }
    }
}

/// A set of lifecycle states in which a command may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSet(u8);

impl StateSet {
    /// No state.
    pub const NONE: StateSet = StateSet(0);
    /// Every state.
    pub const ALL: StateSet = StateSet(0x0F);

    /// The set of the given states.
    // `i < states.len()` guards the index; `get` is not usable in a const fn loop here.
    #[allow(clippy::indexing_slicing)]
    pub const fn of(states: &[Lifecycle]) -> StateSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < states.len() {
            bits |= match states[i] {
                Lifecycle::Personalization => 1,
                Lifecycle::Operational => 2,
                Lifecycle::Locked => 4,
                Lifecycle::Terminated => 8,
            };
            i += 1;
        }
        StateSet(bits)
    }

    /// True when `state` is in the set.
    pub fn contains(self, state: Lifecycle) -> bool {
        self.0 & state.bit() != 0
    }

    /// The set without `state`.
    pub fn without(self, state: Lifecycle) -> StateSet {
        StateSet(self.0 & !state.bit())
    }
}
