//! Typed commands: P1, P2 and the data field of a de-chained request are
//! checked here, once, before any handler runs. Lifecycle and security are
//! checked even earlier, by the dispatcher, from the `apdu-specs` table.

use crate::iso::Request;
use alloc::vec::Vec;
use apdu_specs::certs::{CHALLENGE_LEN, SLOT_COUNT};
use apdu_specs::commands::{ins, reference};
use apdu_specs::mailpiece::{MAIL_PIECE_LEN, MailPiece};
use apdu_specs::pin::{PIN_BLOCK_LEN, PinBlock};
use apdu_specs::sw::Sw;
use apdu_specs::tags;
use apdu_specs::x509::Usage;
use zeroize::Zeroizing;

/// Which reference data a PIN command addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The user PIN.
    Pin,
    /// The unblocking key.
    Puk,
}

/// What VERIFY was asked to do (it may carry a PIN block: no `PartialEq`).
#[derive(Debug, Clone)]
pub enum VerifyOp {
    /// Compare a PIN.
    Check(PinBlock),
    /// Report the verification status.
    Status,
    /// Drop the verification status.
    Logout,
}

/// A parsed command (it may carry PIN blocks: no `PartialEq`).
#[derive(Debug, Clone)]
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
    /// STORE DATA (signed personalization profile: PIN, PUK and MAC key, wiped on drop).
    StoreData(Zeroizing<Vec<u8>>),
    /// ACTIVATE.
    Activate,
    /// PRINT INDICIUM.
    PrintIndicium(MailPiece),
    /// UPDATE RATES (signed table).
    UpdateRates(Vec<u8>),
    /// GENERATE KEY PAIR in a slot for a usage.
    GenerateKeyPair {
        /// Slot.
        slot: u8,
        /// Usage.
        usage: Usage,
    },
    /// READ SLOT.
    ReadSlot(u8),
    /// CERTIFICATE REQUEST for a slot, answering a CA challenge.
    CertificateRequest {
        /// Slot.
        slot: u8,
        /// The CA's single-use challenge.
        challenge: [u8; CHALLENGE_LEN],
    },
    /// INSTALL CERTIFICATE.
    InstallCertificate {
        /// Slot.
        slot: u8,
        /// Certificate DER (parsed by the handler).
        der: Vec<u8>,
    },
    /// HASH start.
    HashStart,
    /// HASH absorb.
    HashUpdate(Vec<u8>),
    /// POSTMARK.
    Postmark {
        /// Slot.
        slot: u8,
        /// Digest from the host, or `None` for the HASH stream.
        digest: Option<[u8; 32]>,
    },
    /// VALIDATE POSTMARK.
    ValidatePostmark {
        /// Message digest, or `None` for the HASH stream.
        digest: Option<[u8; 32]>,
        /// TimeStampToken DER.
        token: Vec<u8>,
    },
    /// VERIFY CERTIFICATE.
    VerifyCertificate(Vec<u8>),
    /// UPDATE CA ANCHOR (signed order).
    UpdateCaAnchor(Vec<u8>),
    /// AGENT ISSUE.
    AgentIssue {
        /// Agent slot.
        slot: u8,
        /// Request TLV.
        request: Vec<u8>,
    },
    /// SIGN DATA.
    SignData {
        /// Slot.
        slot: u8,
        /// What to sign.
        input: SignInput,
    },
    /// DECRYPT.
    Decrypt {
        /// Slot.
        slot: u8,
        /// ECIES blob.
        blob: Vec<u8>,
    },
    /// REVOKE (signed order).
    Revoke(Vec<u8>),
}

/// What SIGN DATA signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInput {
    /// Data the card hashes.
    Data(Vec<u8>),
    /// A SHA-256 digest.
    Digest([u8; 32]),
}

fn slot_in_p2(req: &Request, p1: u8) -> Result<u8, Sw> {
    if req.p1 == p1 && req.p2 < SLOT_COUNT { Ok(req.p2) } else { Err(Sw::WRONG_P1P2) }
}

fn digest(data: &[u8]) -> Result<[u8; 32], Sw> {
    data.try_into().map_err(|_| Sw::WRONG_LENGTH)
}

/// P1 00 with a digest in front of the rest, or P1 01 for the HASH stream.
fn digest_or_stream(req: &Request) -> Result<(Option<[u8; 32]>, Vec<u8>), Sw> {
    match req.p1 {
        0x00 => {
            let (d, rest) = req.data.split_at_checked(32).ok_or(Sw::WRONG_LENGTH)?;
            Ok((Some(digest(d)?), rest.to_vec()))
        }
        0x01 => Ok((None, req.data.to_vec())),
        _ => Err(Sw::WRONG_P1P2),
    }
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
                Ok(Self::Select { aid: req.data.to_vec(), fci })
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
                Ok(Self::UpdateRates(req.data.to_vec()))
            }
            ins::GENERATE_KEY_PAIR => {
                let slot = slot_in_p2(req, 0)?;
                expect_len(req, 1)?;
                let usage = req.data.first().map(|b| Usage::from_byte(*b)).ok_or(Sw::WRONG_LENGTH)?;
                Ok(Self::GenerateKeyPair { slot, usage: usage.map_err(|_| Sw::BAD_DATA)? })
            }
            ins::READ_SLOT => {
                let slot = slot_in_p2(req, 0)?;
                expect_len(req, 0)?;
                Ok(Self::ReadSlot(slot))
            }
            ins::CERTIFICATE_REQUEST => {
                let slot = slot_in_p2(req, 0)?;
                let challenge = req.data.as_slice().try_into().map_err(|_| Sw::WRONG_LENGTH)?;
                Ok(Self::CertificateRequest { slot, challenge })
            }
            ins::INSTALL_CERTIFICATE => {
                Ok(Self::InstallCertificate { slot: slot_in_p2(req, 0)?, der: req.data.to_vec() })
            }
            ins::HASH => match req.p1p2() {
                0x0000 => {
                    expect_len(req, 0)?;
                    Ok(Self::HashStart)
                }
                0x0100 => Ok(Self::HashUpdate(req.data.to_vec())),
                _ => Err(Sw::WRONG_P1P2),
            },
            ins::POSTMARK => {
                if req.p2 >= SLOT_COUNT {
                    return Err(Sw::WRONG_P1P2);
                }
                let (digest, rest) = digest_or_stream(req)?;
                if !rest.is_empty() {
                    return Err(Sw::WRONG_LENGTH);
                }
                Ok(Self::Postmark { slot: req.p2, digest })
            }
            ins::VALIDATE_POSTMARK => {
                if req.p2 != 0 {
                    return Err(Sw::WRONG_P1P2);
                }
                let (digest, token) = digest_or_stream(req)?;
                Ok(Self::ValidatePostmark { digest, token })
            }
            ins::VERIFY_CERTIFICATE => {
                expect_p1p2(req, 0)?;
                Ok(Self::VerifyCertificate(req.data.to_vec()))
            }
            ins::UPDATE_CA_ANCHOR => {
                expect_p1p2(req, 0)?;
                Ok(Self::UpdateCaAnchor(req.data.to_vec()))
            }
            ins::AGENT_ISSUE => Ok(Self::AgentIssue { slot: slot_in_p2(req, 0)?, request: req.data.to_vec() }),
            ins::SIGN_DATA => {
                if req.p2 >= SLOT_COUNT {
                    return Err(Sw::WRONG_P1P2);
                }
                let input = match req.p1 {
                    0x00 => SignInput::Data(req.data.to_vec()),
                    0x01 => SignInput::Digest(digest(&req.data)?),
                    _ => return Err(Sw::WRONG_P1P2),
                };
                Ok(Self::SignData { slot: req.p2, input })
            }
            ins::DECRYPT => Ok(Self::Decrypt { slot: slot_in_p2(req, 0)?, blob: req.data.to_vec() }),
            ins::REVOKE => {
                expect_p1p2(req, 0)?;
                Ok(Self::Revoke(req.data.to_vec()))
            }
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }
}
