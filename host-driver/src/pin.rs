//! PINs on the host: validated digits kept only as their ISO 9564 format-2
//! block, wiped on drop, never printed.

use apdu_specs::FormatError;
use apdu_specs::pin::PinBlock;

/// A PIN or PUK as entered by the user.
#[derive(Clone)]
pub struct Pin(PinBlock);

impl Pin {
    /// Validates 4–12 decimal digits.
    pub fn new(digits: &str) -> Result<Self, FormatError> {
        PinBlock::from_digits(digits).map(Self)
    }

    /// The block sent to the card.
    pub fn block(&self) -> &PinBlock {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}
