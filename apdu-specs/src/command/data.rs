//! GET RESPONSE, GET DATA by tag, and GET DATA of audit records.

use super::{Apdu, CardCommand, DataSink, SHORT_NE, spec_of};
use crate::audit::{AUDIT_CAPACITY, RECORD_LEN};
use crate::commands::{CommandSpec, ins};
use crate::lifecycle::{Lifecycle, StateSet};
use crate::sw::Sw;
use crate::tags;

/// GET RESPONSE: the next `ne` bytes of a response announced by `61xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetResponse {
    /// Bytes wanted (256 for a short Le `00`).
    pub ne: usize,
}

impl TryFrom<&Apdu<'_>> for GetResponse {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        apdu.expect_len(0)?;
        Ok(Self { ne: apdu.ne })
    }
}

impl CardCommand for GetResponse {
    const SPEC: &'static CommandSpec = spec_of(ins::GET_RESPONSE);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }

    fn expected(&self) -> usize {
        self.ne
    }
}

/// GET DATA of one data object (P1-P2 = its tag, [`crate::tags`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetData {
    /// The tag.
    pub tag: u16,
}

impl TryFrom<&Apdu<'_>> for GetData {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_len(0)?;
        Ok(Self { tag: apdu.p1p2() })
    }
}

impl CardCommand for GetData {
    const SPEC: &'static CommandSpec = spec_of(ins::GET_DATA);

    fn p1p2(&self) -> [u8; 2] {
        self.tag.to_be_bytes()
    }

    /// The status object is readable in every state; every other object
    /// is refused once the card is TERMINATED.
    fn states(&self) -> StateSet {
        if self.tag == tags::STATUS { Self::SPEC.states } else { Self::SPEC.states.without(Lifecycle::Terminated) }
    }
}

/// GET DATA (odd INS) of consecutive audit records: the first sequence
/// number, and optionally how many (1 to [`AUDIT_CAPACITY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetAuditRecords {
    /// First sequence number.
    pub first: u32,
    /// How many; `None` is the 4-byte form, which asks for one.
    pub count: Option<u16>,
}

impl GetAuditRecords {
    /// How many records are asked for.
    pub fn count(&self) -> u16 {
        self.count.unwrap_or(1)
    }
}

impl TryFrom<&Apdu<'_>> for GetAuditRecords {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(tags::AUDIT_RECORD)?;
        let request = match apdu.data {
            [a, b, c, d] => Self { first: u32::from_be_bytes([*a, *b, *c, *d]), count: None },
            [a, b, c, d, e, f] => {
                Self { first: u32::from_be_bytes([*a, *b, *c, *d]), count: Some(u16::from_be_bytes([*e, *f])) }
            }
            _ => return Err(Sw::WRONG_LENGTH),
        };
        let count = request.count();
        if count == 0 || u32::from(count) > AUDIT_CAPACITY {
            return Err(Sw::BAD_DATA);
        }
        Ok(request)
    }
}

impl CardCommand for GetAuditRecords {
    const SPEC: &'static CommandSpec = spec_of(ins::GET_DATA_ODD);

    fn p1p2(&self) -> [u8; 2] {
        tags::AUDIT_RECORD.to_be_bytes()
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(&self.first.to_be_bytes());
        if let Some(count) = self.count {
            out.put(&count.to_be_bytes());
        }
    }

    /// One record in the short form; exactly the records asked for otherwise.
    fn expected(&self) -> usize {
        match self.count {
            None => SHORT_NE,
            Some(n) => (usize::from(n) * RECORD_LEN).max(1),
        }
    }
}
