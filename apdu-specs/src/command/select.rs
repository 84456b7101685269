//! SELECT by AID.

use super::{Apdu, CardCommand, DataSink, spec_of};
use crate::commands::{AID, CommandSpec, ins};
use crate::sw::Sw;

/// What SELECT returns (P1-P2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectResponse {
    /// `04 00`: the FCI.
    Fci,
    /// `04 0C`: no response data.
    Nothing,
}

/// SELECT by AID (5 to 16 bytes; a right-truncated AID matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Select<'a> {
    /// The AID asked for.
    pub aid: &'a [u8],
    /// What to return.
    pub response: SelectResponse,
}

impl Select<'static> {
    /// SELECT of the meter, returning its FCI.
    pub const METER: Self = Self { aid: &AID, response: SelectResponse::Fci };
}

impl<'a> TryFrom<&Apdu<'a>> for Select<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        let response = match apdu.p1p2() {
            0x0400 => SelectResponse::Fci,
            0x040C => SelectResponse::Nothing,
            _ => return Err(Sw::WRONG_P1P2),
        };
        if !(5..=16).contains(&apdu.data.len()) {
            return Err(Sw::WRONG_LENGTH);
        }
        Ok(Self { aid: apdu.data, response })
    }
}

impl CardCommand for Select<'_> {
    const SPEC: &'static CommandSpec = spec_of(ins::SELECT);

    fn p1p2(&self) -> [u8; 2] {
        match self.response {
            SelectResponse::Fci => [0x04, 0x00],
            SelectResponse::Nothing => [0x04, 0x0C],
        }
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(self.aid);
    }
}
