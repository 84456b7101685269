//! The card's time source: the OS clock, or a shared settable clock for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A clock handle. Clones of a fixed clock share the same time.
#[derive(Debug, Clone)]
pub enum SimClock {
    /// The operating system's clock.
    System,
    /// A clock that only moves when told to.
    Fixed(Arc<AtomicU64>),
}

impl SimClock {
    /// A fixed clock at `unix` seconds.
    pub fn fixed(unix: u64) -> Self {
        Self::Fixed(Arc::new(AtomicU64::new(unix)))
    }

    /// Current time, Unix seconds.
    pub fn now(&self) -> Option<u64> {
        match self {
            Self::System => SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs()),
            Self::Fixed(t) => Some(t.load(Ordering::SeqCst)),
        }
    }

    /// Sets a fixed clock (no effect on the system clock).
    pub fn set(&self, unix: u64) {
        if let Self::Fixed(t) = self {
            t.store(unix, Ordering::SeqCst);
        }
    }

    /// Moves a fixed clock forward.
    pub fn advance(&self, secs: u64) {
        if let Self::Fixed(t) = self {
            t.fetch_add(secs, Ordering::SeqCst);
        }
    }
}
