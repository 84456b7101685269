//! Typed commands: P1, P2 and the data field of a de-chained request are
//! checked here, once, before any handler runs. Lifecycle and security are
//! checked even earlier, by the dispatcher, from the `apdu-specs` table.

use crate::iso::Request;
use alloc::vec::Vec;
use apdu_specs::commands::{ins, reference};
use apdu_specs::mailpiece::{MAIL_PIECE_LEN, MailPiece};
use apdu_specs::pin::{PIN_BLOCK_LEN, PinBlock};
use apdu_specs::sw::Sw;
use apdu_specs::tags;

/// Which reference data a PIN command addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The user PIN.
    Pin,
    /// The unblocking key.
    Puk,
}

/// What VERIFY was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOp {
    /// Compare a PIN.
    Check(PinBlock),
    /// Report the verification status.
    Status,
    /// Drop the verification status.
    Logout,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// SELECT by AID.
    Select {
        /// AID bytes.
        aid: Vec<u8>,
        /// Return the FCI.
        fci: bool,
    },
    /// VERIFY.
    Verify(VerifyOp),
    /// CHANGE REFERENCE DATA.
    ChangeReference {
        /// PIN or PUK.
        which: Reference,
        /// Current value.
        old: PinBlock,
        /// New value.
        new: PinBlock,
    },
    /// RESET RETRY COUNTER.
    ResetRetryCounter {
        /// The PUK.
        puk: PinBlock,
        /// New PIN, if any.
        new_pin: Option<PinBlock>,
    },
    /// GET DATA by tag.
    GetData(u16),
    /// GET DATA of consecutive audit records.
    GetAuditRecords {
        /// First sequence number.
        first: u32,
        /// How many (1 to the ring size).
        count: u16,
    },
    /// STORE DATA (signed personalization profile).
    StoreData(Vec<u8>),
    /// ACTIVATE.
    Activate,
    /// PRINT INDICIUM.
    PrintIndicium(MailPiece),
    /// UPDATE RATES (signed table).
    UpdateRates(Vec<u8>),
}

fn block(bytes: &[u8]) -> Result<PinBlock, Sw> {
    PinBlock::parse(bytes).map_err(|_| Sw::BAD_DATA)
}

fn expect_p1p2(req: &Request, want: u16) -> Result<(), Sw> {
    if req.p1p2() == want { Ok(()) } else { Err(Sw::WRONG_P1P2) }
}

fn expect_len(req: &Request, len: usize) -> Result<(), Sw> {
    if req.data.len() == len { Ok(()) } else { Err(Sw::WRONG_LENGTH) }
}

fn split_blocks(data: &[u8]) -> Result<(PinBlock, PinBlock), Sw> {
    let (a, b) = data.split_at_checked(PIN_BLOCK_LEN).ok_or(Sw::WRONG_LENGTH)?;
    Ok((block(a)?, block(b)?))
}

impl Command {
    /// Parses a request whose INS is known.
    pub fn parse(req: &Request) -> Result<Self, Sw> {
        match req.ins {
            ins::SELECT => {
                let fci = match req.p1p2() {
                    0x0400 => true,
                    0x040C => false,
                    _ => return Err(Sw::WRONG_P1P2),
                };
                if !(5..=16).contains(&req.data.len()) {
                    return Err(Sw::WRONG_LENGTH);
                }
                Ok(Self::Select { aid: req.data.clone(), fci })
            }
            ins::VERIFY => {
                let op = match (req.p1, req.p2, req.data.len()) {
                    (0x00, reference::PIN, PIN_BLOCK_LEN) => VerifyOp::Check(block(&req.data)?),
                    (0x00, reference::PIN, 0) => VerifyOp::Status,
                    (0xFF, reference::PIN, 0) => VerifyOp::Logout,
                    (0x00 | 0xFF, reference::PIN, _) => return Err(Sw::WRONG_LENGTH),
                    _ => return Err(Sw::WRONG_P1P2),
                };
                Ok(Self::Verify(op))
            }
            ins::CHANGE_REFERENCE_DATA => {
                let which = match req.p1p2() {
                    0x0081 => Reference::Pin,
                    0x0082 => Reference::Puk,
                    _ => return Err(Sw::WRONG_P1P2),
                };
                expect_len(req, 2 * PIN_BLOCK_LEN)?;
                let (old, new) = split_blocks(&req.data)?;
                Ok(Self::ChangeReference { which, old, new })
            }
            ins::RESET_RETRY_COUNTER => match req.p1p2() {
                0x0081 => {
                    expect_len(req, 2 * PIN_BLOCK_LEN)?;
                    let (puk, pin) = split_blocks(&req.data)?;
                    Ok(Self::ResetRetryCounter { puk, new_pin: Some(pin) })
                }
                0x0181 => {
                    expect_len(req, PIN_BLOCK_LEN)?;
                    Ok(Self::ResetRetryCounter { puk: block(&req.data)?, new_pin: None })
                }
                _ => Err(Sw::WRONG_P1P2),
            },
            ins::GET_DATA => {
                expect_len(req, 0)?;
                Ok(Self::GetData(req.p1p2()))
            }
            ins::GET_DATA_ODD => {
                expect_p1p2(req, tags::AUDIT_RECORD)?;
                let (first, count) = match req.data.as_slice() {
                    [a, b, c, d] => (u32::from_be_bytes([*a, *b, *c, *d]), 1),
                    [a, b, c, d, e, f] => (u32::from_be_bytes([*a, *b, *c, *d]), u16::from_be_bytes([*e, *f])),
                    _ => return Err(Sw::WRONG_LENGTH),
                };
                if count == 0 || u32::from(count) > crate::state::AUDIT_CAPACITY {
                    return Err(Sw::BAD_DATA);
                }
                Ok(Self::GetAuditRecords { first, count })
            }
            ins::STORE_DATA => {
                expect_p1p2(req, 0)?;
                Ok(Self::StoreData(req.data.clone()))
            }
            ins::ACTIVATE => {
                expect_p1p2(req, 0)?;
                expect_len(req, 0)?;
                Ok(Self::Activate)
            }
            ins::PRINT_INDICIUM => {
                expect_p1p2(req, 0)?;
                expect_len(req, MAIL_PIECE_LEN)?;
                MailPiece::parse(&req.data).map(Self::PrintIndicium).map_err(|_| Sw::BAD_DATA)
            }
            ins::UPDATE_RATES => {
                expect_p1p2(req, 0)?;
                Ok(Self::UpdateRates(req.data.clone()))
            }
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }
}
