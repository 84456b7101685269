//! HASH, POSTMARK and VALIDATE POSTMARK.

use super::{Apdu, CardCommand, DataSink, KeySlot, spec_of};
use crate::commands::{CommandSpec, ins};
use crate::postmark::Nonce;
use crate::sw::Sw;
use der::ErrorKind;

/// A SHA-256 digest.
type Digest = [u8; 32];

/// HASH: the card's SHA-256 stream for a postmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash<'a> {
    /// `00 00`: start a new stream.
    Start,
    /// `01 00`: absorb the data field.
    Absorb(&'a [u8]),
}

impl<'a> TryFrom<&Apdu<'a>> for Hash<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        match apdu.p1p2() {
            0x0000 => {
                apdu.expect_len(0)?;
                Ok(Self::Start)
            }
            0x0100 => Ok(Self::Absorb(apdu.data)),
            _ => Err(Sw::WRONG_P1P2),
        }
    }
}

impl CardCommand for Hash<'_> {
    const SPEC: &'static CommandSpec = spec_of(ins::HASH);

    fn p1p2(&self) -> [u8; 2] {
        match self {
            Self::Start => [0x00, 0x00],
            Self::Absorb(_) => [0x01, 0x00],
        }
    }

    fn write_data(&self, out: &mut impl DataSink) {
        if let Self::Absorb(data) = self {
            out.put(data);
        }
    }
}

/// P1 `00`: a digest heads the data field; P1 `01`: the digest of the HASH
/// stream (`None`). Returns the digest and the rest of the data field.
fn digest_or_stream<'a>(apdu: &Apdu<'a>) -> Result<(Option<Digest>, &'a [u8]), Sw> {
    match apdu.p1 {
        0x00 => {
            let (digest, rest) = apdu.data.split_first_chunk::<32>().ok_or(Sw::WRONG_LENGTH)?;
            Ok((Some(*digest), rest))
        }
        0x01 => Ok((None, apdu.data)),
        _ => Err(Sw::WRONG_P1P2),
    }
}

/// P1 for a digest in the data field (`00`) or the HASH stream (`01`).
fn digest_p1(digest: &Option<Digest>) -> u8 {
    if digest.is_some() { 0x00 } else { 0x01 }
}

/// POSTMARK with a slot's postmark key: of a digest, or of the HASH stream,
/// with an optional requester nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Postmark {
    /// The postmark slot (P2).
    pub slot: KeySlot,
    /// The digest from the host, or `None` for the HASH stream.
    pub digest: Option<Digest>,
    /// The RFC 3161 nonce to echo in TSTInfo, after the digest as a DER INTEGER.
    pub nonce: Option<Nonce>,
}

/// The optional nonce after the digest: nothing, or exactly one DER INTEGER
/// of 1 to 32 content octets. A TLV cut short (a lone byte included) or
/// followed by more bytes is `6700`; another tag, a non-minimal encoding or a
/// longer nonce is `6A80`.
fn nonce_field(rest: &[u8]) -> Result<Option<Nonce>, Sw> {
    match rest.len() {
        0 => return Ok(None),
        1 => return Err(Sw::WRONG_LENGTH),
        _ => {}
    }
    Nonce::from_der(rest).map(Some).map_err(|e| match e {
        crate::FormatError::Der { kind: ErrorKind::Incomplete { .. } | ErrorKind::TrailingData { .. }, .. } => {
            Sw::WRONG_LENGTH
        }
        _ => Sw::BAD_DATA,
    })
}

impl TryFrom<&Apdu<'_>> for Postmark {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'_>) -> Result<Self, Sw> {
        let slot = KeySlot::new(apdu.p2)?;
        let (digest, rest) = digest_or_stream(apdu)?;
        Ok(Self { slot, digest, nonce: nonce_field(rest)? })
    }
}

impl CardCommand for Postmark {
    const SPEC: &'static CommandSpec = spec_of(ins::POSTMARK);

    fn p1p2(&self) -> [u8; 2] {
        [digest_p1(&self.digest), self.slot.number()]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        if let Some(digest) = &self.digest {
            out.put(digest);
        }
        if let Some(nonce) = &self.nonce {
            out.put(&nonce.to_der());
        }
    }
}

/// VALIDATE POSTMARK: a token checked against a digest or the HASH stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatePostmark<'a> {
    /// The message digest, or `None` for the HASH stream.
    pub digest: Option<Digest>,
    /// The TimeStampToken (DER).
    pub token: &'a [u8],
}

impl<'a> TryFrom<&Apdu<'a>> for ValidatePostmark<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        if apdu.p2 != 0 {
            return Err(Sw::WRONG_P1P2);
        }
        let (digest, token) = digest_or_stream(apdu)?;
        Ok(Self { digest, token })
    }
}

impl CardCommand for ValidatePostmark<'_> {
    const SPEC: &'static CommandSpec = spec_of(ins::VALIDATE_POSTMARK);

    fn p1p2(&self) -> [u8; 2] {
        [digest_p1(&self.digest), 0]
    }

    fn write_data(&self, out: &mut impl DataSink) {
        if let Some(digest) = &self.digest {
            out.put(digest);
        }
        out.put(self.token);
    }
}
