//! The glue between PCMeter's PKI formats and RustCrypto `der`: decoding
//! that insists on the one canonical encoding and keeps the error position,
//! encoding with context, and X.509 / RFC 3161 times as Unix seconds.
//!
//! Every tag and length PCMeter reads or writes goes through `der`; this
//! module only adds PCMeter's rules on top.

use crate::codec::FormatError;
use alloc::vec::Vec;
use core::time::Duration;
use der::asn1::GeneralizedTime;
use der::{DateTime, Decode, Encode};
use x509_cert::time::Time;

/// 2050-01-01T00:00:00Z: X.509 times before it are UTCTime, from it GeneralizedTime.
pub const Y2050: u64 = 2_524_608_000;

/// The [`FormatError`] of a `der` error met while reading `what`, with its position.
pub fn der_error(what: &'static str) -> impl Fn(der::Error) -> FormatError {
    move |e| FormatError::Der { what, kind: e.kind(), position: e.position().map(u32::from) }
}

/// Decodes exactly one `T` from `bytes` under DER.
pub fn decode<'a, T>(bytes: &'a [u8], what: &'static str) -> Result<T, FormatError>
where
    T: Decode<'a, Error = der::Error>,
{
    T::from_der(bytes).map_err(der_error(what))
}

/// Refuses `bytes` unless they are the canonical encoding of `value`, which
/// was decoded from them: `der` accepts an explicitly encoded DEFAULT value
/// (a critical FALSE), which DER forbids, so re-encoding must give the same
/// bytes.
pub fn check_canonical(value: &impl Encode, bytes: &[u8], what: &'static str) -> Result<(), FormatError> {
    if encode(value, what)? != bytes {
        return Err(FormatError::Invalid(what));
    }
    Ok(())
}

/// [`decode`], then [`check_canonical`].
pub fn decode_canonical<'a, T>(bytes: &'a [u8], what: &'static str) -> Result<T, FormatError>
where
    T: Decode<'a, Error = der::Error> + Encode,
{
    let value = decode(bytes, what)?;
    check_canonical(&value, bytes, what)?;
    Ok(value)
}

/// The DER encoding of `value`.
pub fn encode(value: &impl Encode, what: &'static str) -> Result<Vec<u8>, FormatError> {
    value.to_der().map_err(der_error(what))
}

fn date_time(secs: u64, what: &'static str) -> Result<DateTime, FormatError> {
    DateTime::from_unix_duration(Duration::from_secs(secs)).map_err(der_error(what))
}

/// An X.509 `Time`: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
pub fn x509_time(secs: u64, what: &'static str) -> Result<Time, FormatError> {
    Ok(Time::from(date_time(secs, what)?))
}

/// A GeneralizedTime (`YYYYMMDDHHMMSSZ`, RFC 3161 genTime).
pub fn generalized_time(secs: u64, what: &'static str) -> Result<GeneralizedTime, FormatError> {
    Ok(GeneralizedTime::from_date_time(date_time(secs, what)?))
}

/// An X.509 `Time` as Unix seconds, in the form RFC 5280 §4.1.2.5 allows:
/// a GeneralizedTime before 2050 is refused.
pub fn unix_seconds(time: &Time, what: &'static str) -> Result<u64, FormatError> {
    let secs = time.to_unix_duration().as_secs();
    match time {
        Time::GeneralTime(_) if secs < Y2050 => Err(FormatError::Invalid(what)),
        _ => Ok(secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::OctetString;

    #[test]
    fn times_round_trip_in_their_rfc_5280_form() {
        for t in [0u64, 1_795_435_200, Y2050 - 1, Y2050, 4_102_444_800] {
            let time = x509_time(t, "t").unwrap();
            assert_eq!(matches!(time, Time::UtcTime(_)), t < Y2050);
            assert_eq!(unix_seconds(&time, "t").unwrap(), t);
            let general = Time::GeneralTime(generalized_time(t, "t").unwrap());
            assert_eq!(unix_seconds(&general, "t").is_ok(), t >= Y2050);
        }
        assert_eq!(&x509_time(1_795_435_200, "t").unwrap().to_der().unwrap()[2..], b"261123120000Z");
        assert!(x509_time(u64::MAX, "t").is_err());
    }

    #[test]
    fn decoding_keeps_the_position_and_refuses_non_canonical_input() {
        assert_eq!(decode_canonical::<OctetString>(&[4, 2, 1, 2], "o").unwrap().as_bytes(), [1, 2]);
        // A long-form length for a short value.
        let e = decode_canonical::<OctetString>(&[4, 0x81, 2, 1, 2], "o").unwrap_err();
        assert!(matches!(e, FormatError::Der { what: "o", .. }), "{e:?}");
        // Truncated: the position is where the input ran out.
        let e = decode_canonical::<OctetString>(&[4, 5, 1], "o").unwrap_err();
        assert!(matches!(e, FormatError::Der { position: Some(_), .. }), "{e:?}");
        // Trailing bytes.
        assert!(decode_canonical::<OctetString>(&[4, 1, 1, 0], "o").is_err());
    }
}
