//! The PRINT INDICIUM request: what the host says about the mail piece. The
//! host never states a price; the card prices the piece from its rate table.
//!
//! ```text
//! rate class 1 | weight grams 4 | mailing date YYYYMMDD 4 | origin postcode 5 | destination postcode 5
//! ```

use crate::codec::{FormatError, Reader, Writer};
use crate::date::days_from_yyyymmdd;
use alloc::vec::Vec;

/// Length of the request.
pub const MAIL_PIECE_LEN: usize = 19;

/// A mail piece to be franked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailPiece {
    /// Rate class.
    pub rate_class: u8,
    /// Weight in grams.
    pub weight_grams: u32,
    /// Mailing date YYYYMMDD.
    pub date: u32,
    /// Origin postcode, ASCII, space padded.
    pub origin: [u8; 5],
    /// Destination postcode, ASCII, space padded.
    pub destination: [u8; 5],
}

/// Pads a postcode to 5 ASCII bytes (`None` if too long or not alphanumeric).
pub fn postcode(text: &str) -> Option<[u8; 5]> {
    let mut out = [b' '; 5];
    if text.len() > 5 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) || text.is_empty() {
        return None;
    }
    for (o, b) in out.iter_mut().zip(text.bytes()) {
        *o = b;
    }
    Some(out)
}

fn valid_postcode(p: &[u8; 5]) -> bool {
    let trimmed = p.iter().rposition(|b| *b != b' ').map_or(0, |i| i + 1);
    trimmed > 0 && p.iter().take(trimmed).all(u8::is_ascii_alphanumeric) && p.iter().skip(trimmed).all(|b| *b == b' ')
}

impl MailPiece {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(MAIL_PIECE_LEN);
        v.put_u8(self.rate_class);
        v.put_u32(self.weight_grams);
        v.put_u32(self.date);
        v.put(&self.origin);
        v.put(&self.destination);
        v
    }

    /// Decodes and validates the request (date is a real date, postcodes are ASCII).
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        let piece = Self {
            rate_class: r.u8("rate_class")?,
            weight_grams: r.u32("weight")?,
            date: r.u32("date")?,
            origin: r.array("origin")?,
            destination: r.array("destination")?,
        };
        r.finish()?;
        if days_from_yyyymmdd(piece.date).is_none() {
            return Err(FormatError::Invalid("date"));
        }
        if !valid_postcode(&piece.origin) || !valid_postcode(&piece.destination) {
            return Err(FormatError::Invalid("postcode"));
        }
        Ok(piece)
    }
}
