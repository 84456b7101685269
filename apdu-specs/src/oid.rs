//! OBJECT IDENTIFIERs of PCMeter's X.509, PKCS#10, CRL and RFC 3161 objects.

use const_oid::ObjectIdentifier;

/// id-sha256 (2.16.840.1.101.3.4.2.1).
pub const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// ecdsa-with-SHA256 (1.2.840.10045.4.3.2).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// id-ecPublicKey (1.2.840.10045.2.1).
pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 / secp256r1 (1.2.840.10045.3.1.7).
pub const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// commonName (2.5.4.3).
pub const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// serialNumber attribute (2.5.4.5).
pub const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
/// countryName (2.5.4.6).
pub const COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
/// organizationName (2.5.4.10).
pub const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

/// subjectKeyIdentifier (2.5.29.14).
pub const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// keyUsage (2.5.29.15).
pub const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// basicConstraints (2.5.29.19).
pub const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// cRLNumber (2.5.29.20).
pub const CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
/// reasonCode (2.5.29.21).
pub const CRL_REASON: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
/// authorityKeyIdentifier (2.5.29.35).
pub const AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// extKeyUsage (2.5.29.37).
pub const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
pub const KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
/// id-kp-emailProtection (1.3.6.1.5.5.7.3.4).
pub const KP_EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
/// id-kp-timeStamping (1.3.6.1.5.5.7.3.8).
pub const KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// pkcs-9 extensionRequest (1.2.840.113549.1.9.14).
pub const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// id-signedData (1.2.840.113549.1.7.2).
pub const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4).
pub const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// contentType attribute (1.2.840.113549.1.9.3).
pub const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// messageDigest attribute (1.2.840.113549.1.9.4).
pub const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-aa-signingCertificateV2 (1.2.840.113549.1.9.16.2.47).
pub const SIGNING_CERTIFICATE_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// PCMeter's own arc, a UUID OID (ITU-T X.667):
/// 2.25.142379499854054249765303877065905245072, as encoded contents octets.
/// Its arcs exceed the 32 bits `const-oid` holds, so PCMeter's OIDs travel
/// as raw contents and are compared byte for byte.
pub const PCMETER_ARC: &[u8] = &[
    0x69, 0x81, 0xD6, 0x9D, 0xA5, 0xD4, 0xC7, 0xC8, 0xF2, 0xBC, 0x95, 0x9D, 0x97, 0x96, 0xCF, 0xC3, 0xF0, 0xFE, 0x97,
    0x10,
];
/// The postmark TSA policy: PCMeter arc `.1`.
pub const POSTMARK_POLICY: &[u8] = &[
    0x69, 0x81, 0xD6, 0x9D, 0xA5, 0xD4, 0xC7, 0xC8, 0xF2, 0xBC, 0x95, 0x9D, 0x97, 0x96, 0xCF, 0xC3, 0xF0, 0xFE, 0x97,
    0x10, 0x01,
];
/// TSTInfo extension carrying the meter ID: PCMeter arc `.2`.
pub const METER_ID_EXTENSION: &[u8] = &[
    0x69, 0x81, 0xD6, 0x9D, 0xA5, 0xD4, 0xC7, 0xC8, 0xF2, 0xBC, 0x95, 0x9D, 0x97, 0x96, 0xCF, 0xC3, 0xF0, 0xFE, 0x97,
    0x10, 0x02,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcmeter_oids_are_under_the_arc_and_others_encode_as_before() {
        assert_eq!(&POSTMARK_POLICY[..PCMETER_ARC.len()], PCMETER_ARC);
        assert_eq!(&METER_ID_EXTENSION[..PCMETER_ARC.len()], PCMETER_ARC);
        assert!(ObjectIdentifier::from_bytes(PCMETER_ARC).is_err(), "beyond const-oid's 32-bit arcs");
        assert_eq!(P256.as_bytes(), [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]);
        assert_eq!(SIGNING_CERTIFICATE_V2.as_bytes()[9..], [0x02, 0x2F]);
    }
}
