//! The commands of the authority protocols: RECHARGE INIT, RECHARGE CREDIT,
//! GET RECHARGE PROOF (claims 15, 30), INSPECTION REPORT, INSPECTION ACK and
//! LOCK ORDER (DESIGN §5).

use super::slots::plain_command;
use super::{Apdu, CardCommand, DataSink, spec_of};
use crate::commands::{CommandSpec, ins};
use crate::sw::Sw;

/// RECHARGE INIT: asks the card for a device-signed recharge request (S1) for `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RechargeInit {
    /// Amount asked for, minor units (non-zero).
    pub amount: u64,
}

impl TryFrom<&Apdu<'_>> for RechargeInit {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        let bytes: [u8; 8] = apdu.data.try_into().map_err(|_| Sw::WRONG_LENGTH)?;
        match u64::from_be_bytes(bytes) {
            0 => Err(Sw::BAD_DATA),
            amount => Ok(Self { amount }),
        }
    }
}

impl CardCommand for RechargeInit {
    const SPEC: &'static CommandSpec = spec_of(ins::RECHARGE_INIT);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(&self.amount.to_be_bytes());
    }
}

/// RECHARGE CREDIT with the authority-signed authorization (S2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RechargeCredit<'a> {
    /// The signed S2 envelope.
    pub authorization: &'a [u8],
}

plain_command!(RechargeCredit, ins::RECHARGE_CREDIT, authorization);

/// GET RECHARGE PROOF: the stored receipt (S3) of recharge number `sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetRechargeProof {
    /// The recharge sequence NT the receipt is for.
    pub sequence: u32,
}

impl TryFrom<&Apdu<'_>> for GetRechargeProof {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        let bytes: [u8; 4] = apdu.data.try_into().map_err(|_| Sw::WRONG_LENGTH)?;
        Ok(Self { sequence: u32::from_be_bytes(bytes) })
    }
}

impl CardCommand for GetRechargeProof {
    const SPEC: &'static CommandSpec = spec_of(ins::GET_RECHARGE_PROOF);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(&self.sequence.to_be_bytes());
    }
}

/// INSPECTION REPORT: asks the card for a device-signed inspection report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInspectionReport;

impl TryFrom<&Apdu<'_>> for SignInspectionReport {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        apdu.expect_p1p2(0)?;
        apdu.expect_len(0)?;
        Ok(Self)
    }
}

impl CardCommand for SignInspectionReport {
    const SPEC: &'static CommandSpec = spec_of(ins::INSPECTION_REPORT);

    fn p1p2(&self) -> [u8; 2] {
        [0, 0]
    }
}

/// INSPECTION ACK with the authority-signed acknowledgement of the last report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcknowledgeInspection<'a> {
    /// The signed acknowledgement envelope.
    pub ack: &'a [u8],
}

plain_command!(AcknowledgeInspection, ins::INSPECTION_ACK, ack);

/// LOCK ORDER with an authority-signed LOCK or UNLOCK order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyLockOrder<'a> {
    /// The signed order envelope.
    pub order: &'a [u8],
}

plain_command!(ApplyLockOrder, ins::LOCK_ORDER, order);
