//! The audit ring: which records the card still holds. Records are appended
//! by [`crate::applet::StateChange::audit`] and chained at commit.

use crate::applet::Core;
use crate::platform::Platform;
use crate::state::AUDIT_CAPACITY;

impl<P: Platform> Core<P> {
    /// Oldest audit record still held.
    pub(crate) fn audit_oldest(&self) -> u32 {
        self.state.counters.audit_records.saturating_sub(AUDIT_CAPACITY)
    }
}
