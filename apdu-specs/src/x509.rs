//! X.509 v3 certificates for P-256 / ECDSA-with-SHA-256 (RFC 5280) on
//! RustCrypto `x509-cert`: the generic DER parse is `x509-cert`'s, and
//! PCMeter's profile is an explicit check after it ([`Certificate::parse`]).
//! The builder is shared by the card (agent issuance) and the authority
//! (CA), and so are the certificate profiles of the slot usages.

use crate::asn1;
use crate::codec::FormatError;
use crate::oid;
use crate::p256_signature;
use alloc::vec::Vec;
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, BitStringRef, OctetString, Utf8StringRef};
use der::{Any, Decode, Encode, Reader, Sequence, SliceReader, Tag, Tagged};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::ext::{Extension, Extensions as ExtensionList};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

pub use crate::p256_signature::{der_from_raw as ecdsa_der_from_raw, raw_from_der as ecdsa_raw_from_der};

/// Length of an uncompressed SEC1 P-256 point.
pub const P256_POINT_LEN: usize = 65;
/// Largest serial number (RFC 5280: at most 20 octets).
pub const MAX_SERIAL_LEN: usize = 20;
/// The path length constraint of agent certificates: an agent issues end-entity certificates only.
pub const AGENT_PATH_LEN: u64 = 0;

/// What a slot key is for. Fixed when the key is generated; the certificate
/// installed in the slot must carry the matching profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Usage {
    /// Cryptographic postmarks (RFC 3161): critical EKU timeStamping only.
    Postmark = 1,
    /// Signatures on data (integrity, authentication, non-repudiation).
    Signature = 2,
    /// Key agreement for decryption (confidentiality).
    Encryption = 3,
    /// Issuing certificates as an agent: CA, path length 0.
    Agent = 4,
}

/// keyUsage bits (RFC 5280 §4.2.1.3), as the first byte of the BIT STRING.
pub mod key_usage {
    /// digitalSignature.
    pub const DIGITAL_SIGNATURE: u8 = 0x80;
    /// nonRepudiation (contentCommitment).
    pub const NON_REPUDIATION: u8 = 0x40;
    /// keyAgreement.
    pub const KEY_AGREEMENT: u8 = 0x08;
    /// keyCertSign.
    pub const KEY_CERT_SIGN: u8 = 0x04;
    /// cRLSign.
    pub const CRL_SIGN: u8 = 0x02;
}

impl Usage {
    /// All usages.
    pub const ALL: [Usage; 4] = [Usage::Postmark, Usage::Signature, Usage::Encryption, Usage::Agent];

    /// Decodes a usage byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        Self::ALL.into_iter().find(|u| *u as u8 == b).ok_or(FormatError::Invalid("usage"))
    }

    /// Name for people.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postmark => "postmark",
            Self::Signature => "signature",
            Self::Encryption => "encryption",
            Self::Agent => "agent",
        }
    }

    /// keyUsage bits of the profile.
    pub fn key_usage(self) -> u8 {
        use key_usage::*;
        match self {
            Self::Postmark | Self::Signature => DIGITAL_SIGNATURE | NON_REPUDIATION,
            Self::Encryption => KEY_AGREEMENT,
            Self::Agent => DIGITAL_SIGNATURE | KEY_CERT_SIGN | CRL_SIGN,
        }
    }

    /// True when a parsed certificate carries this usage's profile.
    pub fn allowed_by(self, ext: &Extensions) -> bool {
        let ku = ext.key_usage.unwrap_or(0);
        let wants = self.key_usage();
        let ku_ok = ku & wants == wants;
        match self {
            Self::Postmark => ku_ok && ext.time_stamping_only && ext.eku_critical && ext.ca.is_none(),
            Self::Signature => ku_ok && ext.ca.is_none() && !ext.time_stamping_only,
            Self::Encryption => ku_ok && ext.ca.is_none(),
            Self::Agent => ku_ok && ext.ca == Some(Some(AGENT_PATH_LEN)),
        }
    }

    /// True for the usages an agent may issue (Fig. 3A): signature and
    /// encryption, never timestamping (postmark) or agent/CA certificates.
    pub fn issuable_by_agent(self) -> bool {
        matches!(self, Self::Signature | Self::Encryption)
    }
}

/// The extensions the card and the host act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// basicConstraints cA = TRUE, with its path length constraint.
    pub ca: Option<Option<u64>>,
    /// keyUsage first byte.
    pub key_usage: Option<u8>,
    /// extKeyUsage holds exactly id-kp-timeStamping.
    pub time_stamping_only: bool,
    /// extKeyUsage is marked critical.
    pub eku_critical: bool,
}

/// A parsed certificate that passed PCMeter's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The whole certificate.
    pub der: &'a [u8],
    /// The TBSCertificate encoding: what the issuer signed.
    pub tbs: &'a [u8],
    /// Serial number magnitude.
    pub serial: Vec<u8>,
    /// Issuer Name encoding.
    pub issuer: Vec<u8>,
    /// Subject Name encoding.
    pub subject: Vec<u8>,
    /// notBefore, Unix seconds.
    pub not_before: u64,
    /// notAfter, Unix seconds.
    pub not_after: u64,
    /// Subject public key, uncompressed SEC1.
    pub public_key: [u8; P256_POINT_LEN],
    /// The issuer's signature, raw r‖s.
    pub signature: [u8; 64],
    /// Extensions acted on.
    pub extensions: Extensions,
}

// ------------------------------------------------------------ the profile

/// Checks an AlgorithmIdentifier: ecdsa-with-SHA256 without parameters (RFC 5758 §3.2).
pub fn check_ecdsa_sha256(algorithm: &AlgorithmIdentifierOwned) -> Result<(), FormatError> {
    if algorithm.oid != oid::ECDSA_WITH_SHA256 || algorithm.parameters.is_some() {
        return Err(FormatError::Invalid("signature algorithm"));
    }
    Ok(())
}

/// The raw r‖s in a signature BIT STRING (no unused bits, an ECDSA-Sig-Value).
pub fn signature_bits(bits: &BitString) -> Result<[u8; 64], FormatError> {
    p256_signature::raw_from_der(bits.as_bytes().ok_or(FormatError::Invalid("signature"))?)
}

/// Checks a Name against PCMeter's profile: every RDN holds at least one
/// attribute, and every value is a directory string (UTF8String,
/// PrintableString, IA5String, TeletexString or BMPString). Returns its encoding.
pub fn check_name_profile(name: &Name) -> Result<Vec<u8>, FormatError> {
    for rdn in name.iter_rdn() {
        if rdn.is_empty() {
            return Err(FormatError::Invalid("relative distinguished name"));
        }
    }
    let directory_string = [Tag::Utf8String, Tag::PrintableString, Tag::Ia5String, Tag::TeletexString, Tag::BmpString];
    if name.iter().any(|atv| !directory_string.contains(&atv.value.tag())) {
        return Err(FormatError::Invalid("attribute value"));
    }
    asn1::encode(name, "name")
}

/// Checks that `der` is exactly one well-formed Name under PCMeter's profile.
pub fn check_name(der: &[u8]) -> Result<(), FormatError> {
    check_name_profile(&asn1::decode_canonical(der, "name")?).map(drop)
}

/// The P-256 point of a SubjectPublicKeyInfo: id-ecPublicKey with the named
/// curve prime256v1 only, an uncompressed point.
pub fn p256_point(spki: &SubjectPublicKeyInfoOwned) -> Result<[u8; P256_POINT_LEN], FormatError> {
    let curve = spki.algorithm.parameters.as_ref().map(|p| p.decode_as::<ObjectIdentifier>());
    if spki.algorithm.oid != oid::EC_PUBLIC_KEY || !matches!(curve, Some(Ok(c)) if c == oid::P256) {
        return Err(FormatError::Invalid("key algorithm"));
    }
    let point = spki.subject_public_key.as_bytes().ok_or(FormatError::Invalid("public key"))?;
    match <[u8; P256_POINT_LEN]>::try_from(point) {
        Ok(p) if p[0] == 0x04 => Ok(p),
        _ => Err(FormatError::Invalid("public key")),
    }
}

/// The magnitude of a serial number: non-negative, at most 20 octets.
pub(crate) fn serial_magnitude(serial: &SerialNumber) -> Result<Vec<u8>, FormatError> {
    let bytes = serial.as_bytes();
    let magnitude = match bytes {
        [first, ..] if first & 0x80 != 0 => return Err(FormatError::Invalid("serial")),
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    };
    if magnitude.len() > MAX_SERIAL_LEN {
        return Err(FormatError::TooLarge("serial"));
    }
    Ok(magnitude.to_vec())
}

/// Checks a list of extensions (certificate, CRL or CRL entry): each id at
/// most once, and no critical extension outside `understood` (RFC 5280 §4.2,
/// §5.2, §5.3).
pub fn check_extension_list(list: &[Extension], understood: &[ObjectIdentifier]) -> Result<(), FormatError> {
    for (i, e) in list.iter().enumerate() {
        if list.iter().skip(i + 1).any(|other| other.extn_id == e.extn_id) {
            return Err(FormatError::Invalid("duplicate extension"));
        }
        if e.critical && !understood.contains(&e.extn_id) {
            return Err(FormatError::Invalid("unknown critical extension"));
        }
    }
    Ok(())
}

/// The certificate extensions PCMeter understands.
const UNDERSTOOD: [ObjectIdentifier; 5] =
    [oid::BASIC_CONSTRAINTS, oid::KEY_USAGE, oid::EXT_KEY_USAGE, oid::SUBJECT_KEY_ID, oid::AUTHORITY_KEY_ID];

/// The first byte of a keyUsage named bit list, which must be DER (X.690
/// §11.2.2: the last byte non-zero and its lowest set bit the last used one)
/// and hold one or two bytes (at most decipherOnly).
fn key_usage_byte(value: &[u8]) -> Result<u8, FormatError> {
    let bits: BitStringRef<'_> = asn1::decode_canonical(value, "key usage")?;
    match bits.raw_bytes() {
        [first, rest @ ..] if rest.len() <= 1 => {
            let last = rest.last().unwrap_or(first);
            if *last == 0 || u32::from(bits.unused_bits()) != last.trailing_zeros() {
                return Err(FormatError::Invalid("key usage"));
            }
            Ok(*first)
        }
        _ => Err(FormatError::Invalid("key usage")),
    }
}

/// Reads the extensions PCMeter acts on, after [`check_extension_list`].
pub fn parse_extensions(list: &[Extension]) -> Result<Extensions, FormatError> {
    check_extension_list(list, &UNDERSTOOD)?;
    let mut ext = Extensions::default();
    for e in list {
        let value = e.extn_value.as_bytes();
        match e.extn_id {
            oid::BASIC_CONSTRAINTS => {
                let bc: BasicConstraints = asn1::decode_canonical(value, "basic constraints")?;
                match (bc.ca, bc.path_len_constraint) {
                    (true, path) => ext.ca = Some(path.map(u64::from)),
                    (false, Some(_)) => return Err(FormatError::Invalid("basic constraints")),
                    (false, None) => {}
                }
            }
            oid::KEY_USAGE => ext.key_usage = Some(key_usage_byte(value)?),
            oid::EXT_KEY_USAGE => {
                let eku: ExtendedKeyUsage = asn1::decode_canonical(value, "extended key usage")?;
                ext.time_stamping_only = eku.0 == [oid::KP_TIME_STAMPING];
                ext.eku_critical = e.critical;
            }
            oid::SUBJECT_KEY_ID => drop(asn1::decode_canonical::<SubjectKeyIdentifier>(value, "subject key id")?),
            oid::AUTHORITY_KEY_ID => drop(asn1::decode_canonical::<AuthorityKeyIdentifier>(value, "authority key id")?),
            _ => {}
        }
    }
    Ok(ext)
}

/// The first element of a DER SEQUENCE, as encoded: the to-be-signed part of
/// a signed object that has already been decoded.
pub(crate) fn first_element<'a>(der: &'a [u8], what: &'static str) -> Result<&'a [u8], FormatError> {
    let mut reader = SliceReader::new(der).map_err(asn1::der_error(what))?;
    reader
        .sequence(|r| {
            let first = r.tlv_bytes()?;
            r.read_slice(r.remaining_len())?;
            Ok(first)
        })
        .map_err(asn1::der_error(what))
}

impl<'a> Certificate<'a> {
    /// Parses a DER certificate with `x509-cert`, then checks PCMeter's
    /// profile: X.509 v3, ecdsa-with-SHA256 (inside and out, no
    /// parameters), a P-256 key, a non-negative serial of at most 20 octets,
    /// names of directory strings, RFC 5280 times with notBefore ≤ notAfter,
    /// no duplicate or unknown critical extension, and DER throughout (the
    /// last check: the profile's own errors name the field).
    pub fn parse(der: &'a [u8]) -> Result<Self, FormatError> {
        let cert: x509_cert::Certificate = asn1::decode(der, "certificate")?;
        let tbs = cert.tbs_certificate();
        if tbs.version() != x509_cert::Version::V3 {
            return Err(FormatError::Invalid("version"));
        }
        check_ecdsa_sha256(cert.signature_algorithm())?;
        check_ecdsa_sha256(tbs.signature())?;
        let signature = signature_bits(cert.signature())?;
        let serial = serial_magnitude(tbs.serial_number())?;
        let issuer = check_name_profile(tbs.issuer())?;
        let subject = check_name_profile(tbs.subject())?;
        let not_before = asn1::unix_seconds(&tbs.validity().not_before, "not before")?;
        let not_after = asn1::unix_seconds(&tbs.validity().not_after, "not after")?;
        let public_key = p256_point(tbs.subject_public_key_info())?;
        let extensions = parse_extensions(tbs.extensions().map_or(&[], Vec::as_slice))?;
        if not_after < not_before {
            return Err(FormatError::Invalid("validity"));
        }
        asn1::check_canonical(&cert, der, "certificate")?;
        Ok(Self {
            der,
            tbs: first_element(der, "certificate")?,
            serial,
            issuer,
            subject,
            not_before,
            not_after,
            public_key,
            signature,
            extensions,
        })
    }

    /// True when `time` is inside the validity period.
    pub fn valid_at(&self, time: u64) -> bool {
        (self.not_before..=self.not_after).contains(&time)
    }
}

/// The two operations a verifier needs from a crypto engine.
pub trait SignatureCheck {
    /// SHA-256 over the concatenation of `parts`.
    fn sha256(&self, parts: &[&[u8]]) -> [u8; 32];
    /// True when raw r‖s is a valid P-256 signature of `digest` under `key`.
    fn verify(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool;
}

/// Why a certificate is not acceptable under an issuer key at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateFault {
    /// The issuer key did not sign it (unknown CA, or altered).
    NotSignedByIssuer,
    /// Outside its validity period.
    OutsideValidity,
}

impl Certificate<'_> {
    /// Checks the issuer's signature, then the validity at `time`.
    pub fn check(&self, issuer_key: &[u8], time: u64, crypto: &impl SignatureCheck) -> Result<(), CertificateFault> {
        let digest = crypto.sha256(&[self.tbs]);
        if !crypto.verify(issuer_key, &digest, &self.signature) {
            return Err(CertificateFault::NotSignedByIssuer);
        }
        if !self.valid_at(time) {
            return Err(CertificateFault::OutsideValidity);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- building

/// The AlgorithmIdentifier ecdsa-with-SHA256 (no parameters).
pub fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: oid::ECDSA_WITH_SHA256, parameters: None }
}

/// The encoded AlgorithmIdentifier ecdsa-with-SHA256.
pub fn ecdsa_sha256_algorithm() -> Result<Vec<u8>, FormatError> {
    asn1::encode(&ecdsa_sha256(), "signature algorithm")
}

/// SubjectPublicKeyInfo of a P-256 point.
pub fn subject_public_key_info(point: &[u8]) -> Result<SubjectPublicKeyInfoOwned, FormatError> {
    let der_error = asn1::der_error("subject public key info");
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned { oid: oid::EC_PUBLIC_KEY, parameters: Some(Any::from(&oid::P256)) },
        subject_public_key: BitString::from_bytes(point).map_err(der_error)?,
    })
}

/// The encoded SubjectPublicKeyInfo of a P-256 point.
pub fn spki(point: &[u8]) -> Result<Vec<u8>, FormatError> {
    asn1::encode(&subject_public_key_info(point)?, "subject public key info")
}

/// A Name of (attribute OID, UTF8String value) pairs, one per RDN.
pub fn name(attributes: &[(ObjectIdentifier, &str)]) -> Result<Vec<u8>, FormatError> {
    let der_error = asn1::der_error("name");
    let mut rdns = RdnSequence::default();
    for (id, value) in attributes {
        let value = Any::encode_from(&Utf8StringRef::new(value).map_err(&der_error)?).map_err(&der_error)?;
        let mut rdn = RelativeDistinguishedName::default();
        rdn.insert(AttributeTypeAndValue { oid: *id, value }).map_err(&der_error)?;
        rdns.push(rdn);
    }
    asn1::encode(&rdns, "name")
}

/// The value of the first attribute `id` in the DER Name `der` (the reading
/// side of [`name`]), when it is a UTF8String or PrintableString; `None` when
/// the Name does not decode or holds no such attribute.
pub fn attribute(der: &[u8], id: ObjectIdentifier) -> Option<Vec<u8>> {
    let name = Name::from_der(der).ok()?;
    let at = name.iter().find(|atv| atv.oid == id)?;
    if ![Tag::Utf8String, Tag::PrintableString].contains(&at.value.tag()) {
        return None;
    }
    Some(at.value.value().to_vec())
}

fn extension(id: ObjectIdentifier, critical: bool, value: &impl Encode) -> Result<Extension, FormatError> {
    let value = OctetString::new(asn1::encode(value, "extension")?).map_err(asn1::der_error("extension"))?;
    Ok(Extension { extn_id: id, critical, extn_value: value })
}

/// A keyUsage named bit list of one byte, in DER (trailing zero bits unused).
fn key_usage_bits(bits: u8) -> Result<BitString, FormatError> {
    let unused = bits.trailing_zeros().min(7) as u8;
    BitString::new(unused, [bits]).map_err(asn1::der_error("key usage"))
}

/// What a certificate is for: the end-entity usages, or the root CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProfile {
    /// A slot usage.
    Slot(Usage),
    /// A self-signed root CA.
    Root,
}

/// The extensions of a profile.
pub fn profile_extensions(profile: CertificateProfile) -> Result<ExtensionList, FormatError> {
    let mut out = Vec::new();
    let (ca, bits) = match profile {
        CertificateProfile::Root => (Some(None), key_usage::KEY_CERT_SIGN | key_usage::CRL_SIGN),
        CertificateProfile::Slot(Usage::Agent) => (Some(Some(AGENT_PATH_LEN as u8)), Usage::Agent.key_usage()),
        CertificateProfile::Slot(u) => (None, u.key_usage()),
    };
    if let Some(path_len_constraint) = ca {
        out.push(extension(oid::BASIC_CONSTRAINTS, true, &BasicConstraints { ca: true, path_len_constraint })?);
    }
    out.push(extension(oid::KEY_USAGE, true, &key_usage_bits(bits)?)?);
    if profile == CertificateProfile::Slot(Usage::Postmark) {
        out.push(extension(oid::EXT_KEY_USAGE, true, &ExtendedKeyUsage(alloc::vec![oid::KP_TIME_STAMPING]))?);
    }
    Ok(out)
}

/// Key identifier (RFC 7093 method 1): the leftmost 160 bits of SHA-256 of the key.
pub fn key_id(sha256_of_key: &[u8; 32]) -> &[u8] {
    sha256_of_key.get(..20).unwrap_or(&[])
}

/// An authorityKeyIdentifier holding only the key identifier.
pub fn authority_key_identifier(key_id: &[u8]) -> Result<AuthorityKeyIdentifier, FormatError> {
    let key_identifier = OctetString::new(key_id).map_err(asn1::der_error("authority key id"))?;
    Ok(AuthorityKeyIdentifier { key_identifier: Some(key_identifier), ..Default::default() })
}

/// TBSCertificate as PCMeter writes it (`x509-cert` decodes it; its own type
/// has no public constructor): always v3, with extensions.
#[derive(Sequence)]
struct TbsCertificateFields {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: x509_cert::Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: ExtensionList,
}

/// Everything a certificate says, before it is signed.
#[derive(Debug, Clone)]
pub struct Template<'a> {
    /// Serial number magnitude (at most 20 octets, non-zero).
    pub serial: &'a [u8],
    /// Issuer Name encoding.
    pub issuer: &'a [u8],
    /// Subject Name encoding.
    pub subject: &'a [u8],
    /// notBefore, Unix seconds.
    pub not_before: u64,
    /// notAfter, Unix seconds.
    pub not_after: u64,
    /// Subject key, uncompressed SEC1.
    pub public_key: &'a [u8],
    /// Profile.
    pub profile: CertificateProfile,
    /// Subject key identifier.
    pub subject_key_id: &'a [u8],
    /// Authority key identifier (the issuer's subject key identifier).
    pub authority_key_id: &'a [u8],
}

impl Template<'_> {
    /// The TBSCertificate encoding to be signed.
    pub fn tbs(&self) -> Result<Vec<u8>, FormatError> {
        let mut extensions = profile_extensions(self.profile)?;
        let ski = OctetString::new(self.subject_key_id).map_err(asn1::der_error("subject key id"))?;
        extensions.push(extension(oid::SUBJECT_KEY_ID, false, &SubjectKeyIdentifier(ski))?);
        extensions.push(extension(oid::AUTHORITY_KEY_ID, false, &authority_key_identifier(self.authority_key_id)?)?);
        let validity = Validity::new(
            asn1::x509_time(self.not_before, "not before")?,
            asn1::x509_time(self.not_after, "not after")?,
        );
        let fields = TbsCertificateFields {
            version: x509_cert::Version::V3,
            serial_number: SerialNumber::new(self.serial).map_err(asn1::der_error("serial"))?,
            signature: ecdsa_sha256(),
            issuer: Name::from_der(self.issuer).map_err(asn1::der_error("issuer"))?,
            validity,
            subject: Name::from_der(self.subject).map_err(asn1::der_error("subject"))?,
            subject_public_key_info: subject_public_key_info(self.public_key)?,
            extensions,
        };
        asn1::encode(&fields, "TBSCertificate")
    }
}

/// A signed object: `SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING signature }`
/// (certificates, CRLs and PKCS#10 requests share this shape). `tbs` must be
/// one DER object.
pub fn signed_object(tbs: &[u8], raw_signature: &[u8; 64]) -> Result<Vec<u8>, FormatError> {
    #[derive(Sequence)]
    struct SignedObject<'a> {
        tbs: der::asn1::AnyRef<'a>,
        algorithm: AlgorithmIdentifierOwned,
        signature: BitString,
    }
    let der_error = asn1::der_error("signed object");
    let signature = BitString::from_bytes(&p256_signature::der_from_raw(raw_signature)?).map_err(&der_error)?;
    let object = SignedObject {
        tbs: der::asn1::AnyRef::from_der(tbs).map_err(&der_error)?,
        algorithm: ecdsa_sha256(),
        signature,
    };
    asn1::encode(&object, "signed object")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> [u8; 65] {
        let mut p = [7u8; 65];
        p[0] = 4;
        p
    }

    fn template<'a>(issuer: &'a [u8], subject: &'a [u8], point: &'a [u8], usage: Usage) -> Template<'a> {
        Template {
            serial: &[1, 2, 3],
            issuer,
            subject,
            not_before: 1_795_435_200,
            not_after: 1_826_971_200,
            public_key: point,
            profile: CertificateProfile::Slot(usage),
            subject_key_id: &[1; 20],
            authority_key_id: &[2; 20],
        }
    }

    #[test]
    fn a_built_certificate_parses_back() {
        let point = point();
        let subject = name(&[(oid::COMMON_NAME, "meter slot 1")]).unwrap();
        let issuer = name(&[(oid::COMMON_NAME, "PCMeter CA")]).unwrap();
        for usage in Usage::ALL {
            let tbs = template(&issuer, &subject, &point, usage).tbs().unwrap();
            let der = signed_object(&tbs, &[9; 64]).unwrap();
            let c = Certificate::parse(&der).unwrap();
            assert_eq!(c.tbs, &tbs[..]);
            assert_eq!(c.serial, [1, 2, 3]);
            assert_eq!(c.subject, subject);
            assert_eq!(c.issuer, issuer);
            assert_eq!(c.public_key, point);
            assert_eq!(c.signature, [9; 64]);
            for other in Usage::ALL {
                assert_eq!(other.allowed_by(&c.extensions), other == usage, "{usage:?} cert for {other:?}");
            }
            for cut in [1, 10, der.len() / 2, der.len() - 1] {
                assert!(Certificate::parse(&der[..cut]).is_err());
            }
        }
    }

    #[test]
    fn the_encoding_is_the_one_pcmeter_always_wrote() {
        // Byte for byte what the hand-written encoder produced for these inputs.
        assert_eq!(
            name(&[(oid::COMMON_NAME, "CA")]).unwrap(),
            [0x30, 0x0D, 0x31, 0x0B, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0C, 0x02, b'C', b'A']
        );
        let exts = profile_extensions(CertificateProfile::Slot(Usage::Agent)).unwrap();
        assert_eq!(
            asn1::encode(&exts[0], "x").unwrap(),
            [
                0x30, 0x12, 0x06, 0x03, 0x55, 0x1D, 0x13, 0x01, 0x01, 0xFF, 0x04, 0x08, 0x30, 0x06, 0x01, 0x01, 0xFF,
                0x02, 0x01, 0x00
            ]
        );
        assert_eq!(
            asn1::encode(&exts[1], "x").unwrap(),
            [0x30, 0x0E, 0x06, 0x03, 0x55, 0x1D, 0x0F, 0x01, 0x01, 0xFF, 0x04, 0x04, 0x03, 0x02, 0x01, 0x86]
        );
    }

    #[test]
    fn key_usage_named_bits_must_be_der() {
        assert_eq!(key_usage_byte(&[3, 2, 6, 0xC0]).unwrap(), 0xC0);
        assert_eq!(key_usage_byte(&[3, 2, 1, 0x86]).unwrap(), 0x86);
        assert_eq!(key_usage_byte(&[3, 3, 7, 0x80, 0x80]).unwrap(), 0x80);
        for bad in [
            &[3, 2, 6, 0xC1][..], // a padding bit set
            &[3, 2, 5, 0xC0],     // a trailing zero bit counted as used
            &[3, 2, 7, 0xC0],     // a used bit inside the padding
            &[3, 2, 0, 0x00],     // a trailing zero byte
            &[3, 3, 0, 0x80, 0],  // likewise
            &[3, 2, 8, 0x00],     // eight unused bits
            &[3, 1, 3],           // unused bits without bytes
            &[3, 1, 0],           // no bit at all
        ] {
            assert!(key_usage_byte(bad).is_err(), "{bad:02X?}");
        }
    }
}
