//! VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER.

use super::{Apdu, CardCommand, DataSink, spec_of};
use crate::commands::{CommandSpec, ins, reference};
use crate::pin::{PIN_BLOCK_LEN, PinBlock};
use crate::sw::Sw;

/// Which reference data a PIN command addresses (P2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// `81`: the user PIN.
    Pin,
    /// `82`: the unblocking key.
    Puk,
}

impl Reference {
    /// The P2 byte.
    pub fn p2(self) -> u8 {
        match self {
            Self::Pin => reference::PIN,
            Self::Puk => reference::PUK,
        }
    }
}

/// What VERIFY is asked to do (it may carry a PIN block: no `PartialEq`).
#[derive(Debug, Clone)]
pub enum VerifyOp {
    /// `00 81` with a PIN block: compare it.
    Check(PinBlock),
    /// `00 81` with no data: report the verification status.
    Status,
    /// `FF 81` with no data: drop the verification status.
    Logout,
}

/// VERIFY.
#[derive(Debug, Clone)]
pub struct Verify(pub VerifyOp);

fn block(bytes: &[u8]) -> Result<PinBlock, Sw> {
    PinBlock::parse(bytes).map_err(|_| Sw::BAD_DATA)
}

/// Two PIN blocks filling exactly the data field.
fn two_blocks(apdu: &Apdu<'_>) -> Result<(PinBlock, PinBlock), Sw> {
    apdu.expect_len(2 * PIN_BLOCK_LEN)?;
    let (a, b) = apdu.data.split_at_checked(PIN_BLOCK_LEN).ok_or(Sw::WRONG_LENGTH)?;
    Ok((block(a)?, block(b)?))
}

impl TryFrom<&Apdu<'_>> for Verify {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        let op = match (apdu.p1, apdu.p2, apdu.data.len()) {
            (0x00, reference::PIN, PIN_BLOCK_LEN) => VerifyOp::Check(block(apdu.data)?),
            (0x00, reference::PIN, 0) => VerifyOp::Status,
            (0xFF, reference::PIN, 0) => VerifyOp::Logout,
            (0x00 | 0xFF, reference::PIN, _) => return Err(Sw::WRONG_LENGTH),
            _ => return Err(Sw::WRONG_P1P2),
        };
        Ok(Self(op))
    }
}

impl CardCommand for Verify {
    const SPEC: &'static CommandSpec = spec_of(ins::VERIFY);

    fn p1p2(&self) -> [u8; 2] {
        match self.0 {
            VerifyOp::Check(_) | VerifyOp::Status => [0x00, reference::PIN],
            VerifyOp::Logout => [0xFF, reference::PIN],
        }
    }

    fn write_data(&self, out: &mut impl DataSink) {
        if let VerifyOp::Check(pin) = &self.0 {
            out.put(pin.as_bytes());
        }
    }
}

/// CHANGE REFERENCE DATA: the current value, then the new one.
#[derive(Debug, Clone)]
pub struct ChangeReferenceData {
    /// PIN or PUK.
    pub reference: Reference,
    /// Current value.
    pub old: PinBlock,
    /// New value.
    pub new: PinBlock,
}

impl TryFrom<&Apdu<'_>> for ChangeReferenceData {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        let reference = match apdu.p1p2() {
            0x0081 => Reference::Pin,
            0x0082 => Reference::Puk,
            _ => return Err(Sw::WRONG_P1P2),
        };
        let (old, new) = two_blocks(apdu)?;
        Ok(Self { reference, old, new })
    }
}

impl CardCommand for ChangeReferenceData {
    const SPEC: &'static CommandSpec = spec_of(ins::CHANGE_REFERENCE_DATA);

    fn p1p2(&self) -> [u8; 2] {
        [0x00, self.reference.p2()]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(self.old.as_bytes());
        out.put(self.new.as_bytes());
    }
}

/// RESET RETRY COUNTER with the PUK: `00 81` with a new PIN, `01 81` without.
#[derive(Debug, Clone)]
pub struct ResetRetryCounter {
    /// The PUK.
    pub puk: PinBlock,
    /// The new PIN, if any (otherwise the PIN is kept and unblocked).
    pub new_pin: Option<PinBlock>,
}

impl TryFrom<&Apdu<'_>> for ResetRetryCounter {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        match apdu.p1p2() {
            0x0081 => {
                let (puk, pin) = two_blocks(apdu)?;
                Ok(Self { puk, new_pin: Some(pin) })
            }
            0x0181 => {
                apdu.expect_len(PIN_BLOCK_LEN)?;
                Ok(Self { puk: block(apdu.data)?, new_pin: None })
            }
            _ => Err(Sw::WRONG_P1P2),
        }
    }
}

impl CardCommand for ResetRetryCounter {
    const SPEC: &'static CommandSpec = spec_of(ins::RESET_RETRY_COUNTER);

    fn p1p2(&self) -> [u8; 2] {
        [if self.new_pin.is_some() { 0x00 } else { 0x01 }, reference::PIN]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(self.puk.as_bytes());
        if let Some(pin) = &self.new_pin {
            out.put(pin.as_bytes());
        }
    }
}
