//! The key-slot and certificate commands: GENERATE KEY PAIR, READ SLOT,
//! CERTIFICATE REQUEST, INSTALL CERTIFICATE, VERIFY CERTIFICATE, UPDATE CA
//! ANCHOR, AGENT ISSUE, SIGN DATA, DECRYPT and REVOKE.

use super::{Apdu, CardCommand, DataSink, KeySlot, spec_of};
use crate::certs::CHALLENGE_LEN;
use crate::commands::{CommandSpec, ins};
use crate::sw::Sw;
use crate::x509::Usage;

/// Implements [`CardCommand`] for a command whose P1-P2 is `00 nn` (slot
/// nn) and whose data field is `field`.
macro_rules! slot_command {
    ($ty:ty, $ins:expr, $field:ident) => {
        impl CardCommand for $ty {
            const SPEC: &'static CommandSpec = spec_of($ins);

            fn p1p2(&self) -> [u8; 2] {
                [0x00, self.slot.number()]
            }

            fn write_data(&self, out: &mut impl DataSink) {
                out.put(&self.$field[..]);
            }
        }
    };
}

/// Implements [`CardCommand`] for a command whose P1-P2 is `00 00` and
/// whose data field is the borrowed `field`.
macro_rules! plain_command {
    ($ty:ident, $ins:expr, $field:ident) => {
        impl<'a> TryFrom<&Apdu<'a>> for $ty<'a> {
            type Error = Sw;

            fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
                apdu.expect_p1p2(0)?;
                Ok(Self { $field: apdu.data })
            }
        }

        impl CardCommand for $ty<'_> {
            const SPEC: &'static CommandSpec = spec_of($ins);

            fn p1p2(&self) -> [u8; 2] {
                [0, 0]
            }

            fn write_data(&self, out: &mut impl DataSink) {
                out.put(self.$field);
            }
        }
    };
}
pub(crate) use plain_command;

/// GENERATE KEY PAIR in a slot for a usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateKeyPair {
    /// The slot.
    pub slot: KeySlot,
    /// What the key is for.
    pub usage: Usage,
}

impl GenerateKeyPair {
    fn usage_byte(&self) -> [u8; 1] {
        [self.usage as u8]
    }
}

impl TryFrom<&Apdu<'_>> for GenerateKeyPair {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        let slot = apdu.slot_in_p2(0)?;
        apdu.expect_len(1)?;
        let usage = apdu.data.first().map(|b| Usage::from_byte(*b)).ok_or(Sw::WRONG_LENGTH)?;
        Ok(Self { slot, usage: usage.map_err(|_| Sw::BAD_DATA)? })
    }
}

impl CardCommand for GenerateKeyPair {
    const SPEC: &'static CommandSpec = spec_of(ins::GENERATE_KEY_PAIR);

    fn p1p2(&self) -> [u8; 2] {
        [0x00, self.slot.number()]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(&self.usage_byte());
    }
}

/// READ SLOT: state, usage, public key and certificate of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSlot {
    /// The slot.
    pub slot: KeySlot,
}

impl TryFrom<&Apdu<'_>> for ReadSlot {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        let slot = apdu.slot_in_p2(0)?;
        apdu.expect_len(0)?;
        Ok(Self { slot })
    }
}

impl CardCommand for ReadSlot {
    const SPEC: &'static CommandSpec = spec_of(ins::READ_SLOT);

    fn p1p2(&self) -> [u8; 2] {
        [0x00, self.slot.number()]
    }
}

/// CERTIFICATE REQUEST for a slot, answering the CA's single-use challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateRequest {
    /// The slot.
    pub slot: KeySlot,
    /// The CA's challenge.
    pub challenge: [u8; CHALLENGE_LEN],
}

impl TryFrom<&Apdu<'_>> for CertificateRequest {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        let slot = apdu.slot_in_p2(0)?;
        let challenge = apdu.data.try_into().map_err(|_| Sw::WRONG_LENGTH)?;
        Ok(Self { slot, challenge })
    }
}

slot_command!(CertificateRequest, ins::CERTIFICATE_REQUEST, challenge);

/// INSTALL CERTIFICATE into a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallCertificate<'a> {
    /// The slot.
    pub slot: KeySlot,
    /// The certificate (DER), parsed by the card.
    pub der: &'a [u8],
}

impl<'a> TryFrom<&Apdu<'a>> for InstallCertificate<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        Ok(Self { slot: apdu.slot_in_p2(0)?, der: apdu.data })
    }
}

slot_command!(InstallCertificate<'_>, ins::INSTALL_CERTIFICATE, der);

/// VERIFY CERTIFICATE: one to four DER certificates, anchor side first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyCertificate<'a> {
    /// The concatenated certificates.
    pub path: &'a [u8],
}

plain_command!(VerifyCertificate, ins::VERIFY_CERTIFICATE, path);

/// UPDATE CA ANCHOR with an authority-signed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateCaAnchor<'a> {
    /// The signed order.
    pub order: &'a [u8],
}

plain_command!(UpdateCaAnchor, ins::UPDATE_CA_ANCHOR, order);

/// AGENT ISSUE with the agent certificate of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentIssue<'a> {
    /// The agent slot.
    pub slot: KeySlot,
    /// The request TLV ([`crate::certs::AgentRequest`]), parsed by the card.
    pub request: &'a [u8],
}

impl<'a> TryFrom<&Apdu<'a>> for AgentIssue<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        Ok(Self { slot: apdu.slot_in_p2(0)?, request: apdu.data })
    }
}

slot_command!(AgentIssue<'_>, ins::AGENT_ISSUE, request);

/// What SIGN DATA signs (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInput<'a> {
    /// `00`: data the card hashes.
    Data(&'a [u8]),
    /// `01`: a SHA-256 digest.
    Digest([u8; 32]),
}

/// SIGN DATA with a signature slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignData<'a> {
    /// The signature slot (P2).
    pub slot: KeySlot,
    /// What to sign.
    pub input: SignInput<'a>,
}

impl<'a> TryFrom<&Apdu<'a>> for SignData<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        let slot = KeySlot::new(apdu.p2)?;
        let input = match apdu.p1 {
            0x00 => SignInput::Data(apdu.data),
            0x01 => SignInput::Digest(apdu.data.try_into().map_err(|_| Sw::WRONG_LENGTH)?),
            _ => return Err(Sw::WRONG_P1P2),
        };
        Ok(Self { slot, input })
    }
}

impl CardCommand for SignData<'_> {
    const SPEC: &'static CommandSpec = spec_of(ins::SIGN_DATA);

    fn p1p2(&self) -> [u8; 2] {
        let p1 = match self.input {
            SignInput::Data(_) => 0x00,
            SignInput::Digest(_) => 0x01,
        };
        [p1, self.slot.number()]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        match &self.input {
            SignInput::Data(data) => out.put(data),
            SignInput::Digest(digest) => out.put(digest),
        }
    }
}

/// DECRYPT an ECIES blob with an encryption slot (the plaintext is secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decrypt<'a> {
    /// The encryption slot.
    pub slot: KeySlot,
    /// The blob.
    pub blob: &'a [u8],
}

impl<'a> TryFrom<&Apdu<'a>> for Decrypt<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        Ok(Self { slot: apdu.slot_in_p2(0)?, blob: apdu.data })
    }
}

slot_command!(Decrypt<'_>, ins::DECRYPT, blob);

/// REVOKE with an authority-signed revocation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoke<'a> {
    /// The signed order.
    pub order: &'a [u8],
}

plain_command!(Revoke, ins::REVOKE, order);

/// REVOCATION REQUEST: the device-signed request to revoke the key of a slot (Fig. 6, 602).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRevocation {
    /// The slot whose key is to be revoked.
    pub slot: KeySlot,
    /// CRL reason code (RFC 5280 §5.3.1): 0 to 10, 7 excepted.
    pub reason: u8,
}

/// True for a CRL reason code RFC 5280 defines (7 is unused).
pub fn crl_reason_defined(reason: u8) -> bool {
    reason <= 10 && reason != 7
}

impl TryFrom<&Apdu<'_>> for RequestRevocation {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        let slot = apdu.slot_in_p2(0)?;
        apdu.expect_len(1)?;
        let reason = apdu.data.first().copied().ok_or(Sw::WRONG_LENGTH)?;
        if !crl_reason_defined(reason) {
            return Err(Sw::BAD_DATA);
        }
        Ok(Self { slot, reason })
    }
}

impl CardCommand for RequestRevocation {
    const SPEC: &'static CommandSpec = spec_of(ins::REVOCATION_REQUEST);

    fn p1p2(&self) -> [u8; 2] {
        [0x00, self.slot.number()]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        out.put(&[self.reason]);
    }
}
