//! The postage indicium (claims 17, 31; Fig. 2), IBI-style, big-endian:
//!
//! | field | bytes |
//! |---|---|
//! | version (1) | 1 |
//! | algorithm (1 = ECDSA P-256, 2 = HMAC-SHA-256/128) | 1 |
//! | postal certificate serial | 4 |
//! | device ID (meter ID, ASCII) | 12 |
//! | ascending register AR_p after this piece | 5 |
//! | postage | 3 |
//! | mailing date YYYYMMDD | 4 |
//! | origin postcode (ASCII) | 5 |
//! | software ID (ASCII) | 12 |
//! | descending register DR after this piece | 5 |
//! | rate class 1 + rate-table version 3 | 4 |
//! | postage piece count after this piece | 4 |
//! | authenticator: ECDSA r‖s (64) or truncated HMAC (16) | 64 / 16 |
//!
//! The authenticator covers the 60 bytes before it. For ECDSA the digest is
//! SHA-256 of those bytes. For the MAC variant the key is diversified from an
//! authority master key: `K = HMAC-SHA-256(master, "PCMeter indicium MAC" || 00 || meter ID)`.

use crate::codec::{FormatError, Reader, Writer, fits};
use alloc::vec::Vec;

/// Layout version.
pub const INDICIUM_VERSION: u8 = 1;
/// Length of the signed part.
pub const SIGNED_LEN: usize = 60;
/// Length of an ECDSA indicium.
pub const ECDSA_LEN: usize = SIGNED_LEN + 64;
/// Length of a MAC indicium.
pub const MAC_LEN: usize = SIGNED_LEN + 16;
/// Label for diversifying the per-meter MAC key.
pub const MAC_KEY_LABEL: &[u8] = b"PCMeter indicium MAC";

/// How indicia are authenticated (chosen at personalization).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IndiciumAlgorithm {
    /// ECDSA P-256 with SHA-256, raw r‖s.
    EcdsaP256 = 1,
    /// HMAC-SHA-256 truncated to 16 bytes with a diversified per-meter key.
    HmacSha256 = 2,
}

impl IndiciumAlgorithm {
    /// Decodes the algorithm byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        match b {
            1 => Ok(Self::EcdsaP256),
            2 => Ok(Self::HmacSha256),
            _ => Err(FormatError::Invalid("indicium algorithm")),
        }
    }

    /// Length of the authenticator.
    pub fn auth_len(self) -> usize {
        match self {
            Self::EcdsaP256 => 64,
            Self::HmacSha256 => 16,
        }
    }

    /// Total indicium length.
    pub fn indicium_len(self) -> usize {
        SIGNED_LEN + self.auth_len()
    }
}

/// The signed fields of an indicium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndiciumBody {
    /// Authentication algorithm.
    pub algorithm: IndiciumAlgorithm,
    /// Serial of the postal certificate.
    pub postal_cert_serial: u32,
    /// Meter ID.
    pub device_id: [u8; 12],
    /// AR_p after this piece (40 bits).
    pub ascending_register: u64,
    /// Postage in minor units (24 bits).
    pub postage: u32,
    /// Mailing date, YYYYMMDD.
    pub date: u32,
    /// Origin postcode.
    pub origin: [u8; 5],
    /// Software ID.
    pub software_id: [u8; 12],
    /// DR after this piece (40 bits).
    pub descending_register: u64,
    /// Rate class.
    pub rate_class: u8,
    /// Rate-table version (24 bits).
    pub rate_table_version: u32,
    /// Postage piece count after this piece.
    pub piece_count: u32,
}

impl IndiciumBody {
    /// True when every field fits its width.
    pub fn fits(&self) -> bool {
        fits(self.ascending_register, 5)
            && fits(u64::from(self.postage), 3)
            && fits(self.descending_register, 5)
            && fits(u64::from(self.rate_table_version), 3)
    }

    /// Encodes the 60 signed bytes (fields are truncated to their width; check [`Self::fits`]).
    pub fn encode(&self) -> [u8; SIGNED_LEN] {
        let mut v: Vec<u8> = Vec::with_capacity(SIGNED_LEN);
        v.put_u8(INDICIUM_VERSION);
        v.put_u8(self.algorithm as u8);
        v.put_u32(self.postal_cert_serial);
        v.put(&self.device_id);
        v.put_uint(self.ascending_register, 5);
        v.put_uint(u64::from(self.postage), 3);
        v.put_u32(self.date);
        v.put(&self.origin);
        v.put(&self.software_id);
        v.put_uint(self.descending_register, 5);
        v.put_u8(self.rate_class);
        v.put_uint(u64::from(self.rate_table_version), 3);
        v.put_u32(self.piece_count);
        let mut out = [0u8; SIGNED_LEN];
        for (o, b) in out.iter_mut().zip(v.iter()) {
            *o = *b;
        }
        out
    }

    /// Decodes the 60 signed bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        if r.u8("version")? != INDICIUM_VERSION {
            return Err(FormatError::Invalid("indicium version"));
        }
        let body = Self {
            algorithm: IndiciumAlgorithm::from_byte(r.u8("algorithm")?)?,
            postal_cert_serial: r.u32("postal_cert_serial")?,
            device_id: r.array("device_id")?,
            ascending_register: r.uint(5, "ascending_register")?,
            postage: r.uint(3, "postage")? as u32,
            date: r.u32("date")?,
            origin: r.array("origin")?,
            software_id: r.array("software_id")?,
            descending_register: r.uint(5, "descending_register")?,
            rate_class: r.u8("rate_class")?,
            rate_table_version: r.uint(3, "rate_table_version")? as u32,
            piece_count: r.u32("piece_count")?,
        };
        r.finish()?;
        Ok(body)
    }
}

/// A complete indicium: signed part and authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicium<'a> {
    /// The 60 signed bytes.
    pub signed: &'a [u8],
    /// Decoded fields.
    pub body: IndiciumBody,
    /// Signature or MAC.
    pub authenticator: &'a [u8],
}

impl<'a> Indicium<'a> {
    /// Splits and decodes an indicium; the length must match its algorithm.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let signed = bytes.get(..SIGNED_LEN).ok_or(FormatError::Truncated("indicium"))?;
        let body = IndiciumBody::parse(signed)?;
        let authenticator = bytes.get(SIGNED_LEN..).unwrap_or(&[]);
        if authenticator.len() != body.algorithm.auth_len() {
            return Err(FormatError::Invalid("authenticator length"));
        }
        Ok(Self { signed, body, authenticator })
    }
}
