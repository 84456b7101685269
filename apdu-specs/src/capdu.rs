//! Encoding C-APDUs (ISO/IEC 7816-3 §12.1): cases 1–4, short or extended.
//! The card parses with `iso7816::command::CommandView`; a property test
//! checks that every encoding here parses back to the same fields.

use alloc::vec::Vec;

/// Largest data field of one extended APDU.
pub const MAX_EXTENDED_DATA: usize = 65_535;
/// Largest Ne (extended `00 00`).
pub const MAX_NE: usize = 65_536;

/// Why a command cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Data longer than 65535 bytes.
    #[error("data field too long for one APDU")]
    DataTooLong,
    /// Ne above 65536.
    #[error("Ne too large")]
    NeTooLarge,
}

/// Encodes one C-APDU. `ne` = 0 means no Le field. Short form is used when
/// the data fits in 255 bytes and Ne ≤ 256, unless `force_extended`.
pub fn encode(header: [u8; 4], data: &[u8], ne: usize, force_extended: bool) -> Result<Vec<u8>, EncodeError> {
    if data.len() > MAX_EXTENDED_DATA {
        return Err(EncodeError::DataTooLong);
    }
    if ne > MAX_NE {
        return Err(EncodeError::NeTooLarge);
    }
    let extended = force_extended || data.len() > 255 || ne > 256;
    let mut out = Vec::with_capacity(4 + 3 + data.len() + 2);
    out.extend_from_slice(&header);
    if !extended {
        if !data.is_empty() {
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        if ne > 0 {
            out.push((ne % 256) as u8);
        }
        return Ok(out);
    }
    if !data.is_empty() {
        out.push(0);
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        if ne > 0 {
            out.extend_from_slice(&((ne % MAX_NE) as u16).to_be_bytes());
        }
    } else if ne > 0 {
        out.push(0);
        out.extend_from_slice(&((ne % MAX_NE) as u16).to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso7816::command::CommandView;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encodings_parse_back(
            header in any::<[u8; 4]>().prop_map(|mut h| { h[0] &= 0x0F; h[0] &= !0x0C; h }),
            data in proptest::collection::vec(any::<u8>(), 0..600),
            ne in prop_oneof![Just(0usize), 1usize..=256, 257usize..=65_536],
            force in any::<bool>(),
        ) {
            let apdu = encode(header, &data, ne, force).unwrap();
            let view = CommandView::try_from(apdu.as_slice()).unwrap();
            prop_assert_eq!(view.data(), data.as_slice());
            prop_assert_eq!(view.expected(), ne);
            prop_assert_eq!(view.p1, header[2]);
            prop_assert_eq!(view.p2, header[3]);
        }
    }
}
