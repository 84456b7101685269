//! STORE DATA, ACTIVATE, PRINT INDICIUM and UPDATE RATES.

use super::{Apdu, CardCommand, DataSink, spec_of};
use crate::commands::{CommandSpec, ins};
use crate::mailpiece::{MAIL_PIECE_LEN, MailPiece};
use crate::sw::Sw;

/// STORE DATA: the signed personalization profile (PIN, PUK and MAC key: secret).
#[derive(Clone)]
pub struct StoreData<'a> {
    /// The signed profile.
    pub signed_profile: &'a [u8],
}

impl core::fmt::Debug for StoreData<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StoreData(<{} bytes redacted>)", self.signed_profile.len())
    }
}

impl<'a> TryFrom<&Apdu<'a>> for StoreData<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        Ok(Self { signed_profile: apdu.data })
    }
}

impl CardCommand for StoreData<'_> {
    const SPEC: &'static CommandSpec = spec_of(ins::STORE_DATA);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(self.signed_profile);
    }
}

/// ACTIVATE (irreversible).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activate;

impl TryFrom<&Apdu<'_>> for Activate {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        apdu.expect_len(0)?;
        Ok(Self)
    }
}

impl CardCommand for Activate {
    const SPEC: &'static CommandSpec = spec_of(ins::ACTIVATE);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }
}

/// PRINT INDICIUM for a mail piece: the card prices it from its rate table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintIndicium {
    /// The mail piece.
    pub piece: MailPiece,
}

impl TryFrom<&Apdu<'_>> for PrintIndicium {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        apdu.expect_len(MAIL_PIECE_LEN)?;
        MailPiece::parse(apdu.data).map(|piece| Self { piece }).map_err(|_| Sw::BAD_DATA)
    }
}

impl CardCommand for PrintIndicium {
    const SPEC: &'static CommandSpec = spec_of(ins::PRINT_INDICIUM);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(&self.piece.encode());
    }
}

/// UPDATE RATES with an authority-signed rate table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateRates<'a> {
    /// The signed table.
    pub signed_table: &'a [u8],
}

impl<'a> TryFrom<&Apdu<'a>> for UpdateRates<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        Ok(Self { signed_table: apdu.data })
    }
}

impl CardCommand for UpdateRates<'_> {
    const SPEC: &'static CommandSpec = spec_of(ins::UPDATE_RATES);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(self.signed_table);
    }
}
