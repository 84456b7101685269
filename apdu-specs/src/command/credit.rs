//! The line-of-credit commands (Figs. 7A, 7B, 8, 9): INSTALL CREDIT LINE and PAY.

use super::slots::plain_command;
use super::{Apdu, CardCommand, DataSink, spec_of};
use crate::commands::{CommandSpec, ins};
use crate::credit::PaymentRequest;
use crate::sw::Sw;

/// INSTALL CREDIT LINE with a credit-issuer-signed line of credit (Fig. 7A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallCreditLine<'a> {
    /// The signed line-of-credit envelope.
    pub line: &'a [u8],
}

plain_command!(InstallCreditLine, ins::INSTALL_CREDIT_LINE, line);

/// PAY a merchant under the installed line of credit (902).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pay {
    /// What to pay, to whom, for what.
    pub request: PaymentRequest,
}

impl TryFrom<&Apdu<'_>> for Pay {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        Ok(Self { request: PaymentRequest::parse(apdu.data).map_err(|_| Sw::BAD_DATA)? })
    }
}

impl CardCommand for Pay {
    const SPEC: &'static CommandSpec = spec_of(ins::PAY);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(&self.request.encode());
    }
}
