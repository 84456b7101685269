//! X.509 v3 certificates for P-256 / ECDSA-with-SHA-256 (RFC 5280): a strict
//! parser that exposes what the card checks (signed bytes, names, validity,
//! key, extensions) and a builder shared by the card (agent issuance) and the
//! authority (CA). Also the certificate profiles of the slot usages.

use crate::codec::FormatError;
use crate::der::{self, Der, tag};
use crate::oid;
use alloc::vec::Vec;

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

/// A parsed certificate. Borrowed from the DER it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The whole certificate.
    pub der: &'a [u8],
    /// The TBSCertificate encoding: what the issuer signed.
    pub tbs: &'a [u8],
    /// Serial number magnitude.
    pub serial: &'a [u8],
    /// Issuer Name encoding.
    pub issuer: &'a [u8],
    /// Subject Name encoding.
    pub subject: &'a [u8],
    /// notBefore, Unix seconds.
    pub not_before: u64,
    /// notAfter, Unix seconds.
    pub not_after: u64,
    /// Subject public key, uncompressed SEC1.
    pub public_key: &'a [u8],
    /// The issuer's signature, raw r‖s.
    pub signature: [u8; 64],
    /// Extensions acted on.
    pub extensions: Extensions,
}

fn algorithm(r: &mut Der<'_>) -> Result<(), FormatError> {
    let mut a = r.nested(tag::SEQUENCE, "signature algorithm")?;
    if a.oid("signature algorithm")? != oid::ECDSA_WITH_SHA256 {
        return Err(FormatError::Invalid("signature algorithm"));
    }
    a.finish()
}

/// Reads a Name, checking its shape (SEQUENCE OF SET OF AttributeTypeAndValue); returns its encoding.
pub fn read_name<'a>(r: &mut Der<'a>) -> Result<&'a [u8], FormatError> {
    let name = r.object(tag::SEQUENCE, "name")?;
    check_name_contents(name.content)?;
    Ok(name.whole)
}

/// Checks that `der` is exactly one well-formed Name.
pub fn check_name(der: &[u8]) -> Result<(), FormatError> {
    let mut r = Der::new(der);
    read_name(&mut r)?;
    r.finish()
}

fn check_name_contents(content: &[u8]) -> Result<(), FormatError> {
    let mut rdns = Der::new(content);
    while !rdns.is_empty() {
        let mut set = rdns.nested(tag::SET, "relative distinguished name")?;
        if set.is_empty() {
            return Err(FormatError::Invalid("relative distinguished name"));
        }
        while !set.is_empty() {
            let mut atv = set.nested(tag::SEQUENCE, "attribute")?;
            atv.oid("attribute type")?;
            let value = atv.any()?;
            if !matches!(value.tag, tag::UTF8_STRING | tag::PRINTABLE_STRING | 0x16 | 0x14 | 0x1E) {
                return Err(FormatError::Invalid("attribute value"));
            }
            atv.finish()?;
        }
    }
    Ok(())
}

/// Reads a SubjectPublicKeyInfo for a P-256 key; returns the point.
pub fn read_spki<'a>(r: &mut Der<'a>) -> Result<&'a [u8], FormatError> {
    let mut spki = r.nested(tag::SEQUENCE, "subject public key info")?;
    let mut alg = spki.nested(tag::SEQUENCE, "key algorithm")?;
    if alg.oid("key algorithm")? != oid::EC_PUBLIC_KEY || alg.oid("curve")? != oid::P256 {
        return Err(FormatError::Invalid("key algorithm"));
    }
    alg.finish()?;
    let point = spki.bits("public key")?;
    spki.finish()?;
    if point.len() != P256_POINT_LEN || point.first() != Some(&0x04) {
        return Err(FormatError::Invalid("public key"));
    }
    Ok(point)
}

/// One extension as encoded: its id, criticality and value (the OCTET STRING contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// extnID.
    pub id: &'a [u8],
    /// critical (DER: present only when TRUE).
    pub critical: bool,
    /// extnValue contents.
    pub value: &'a [u8],
}

/// Reads the contents of a SEQUENCE OF Extension (certificate, CRL or CRL
/// entry extensions): each id at most once, criticality in DER, and no
/// critical extension outside `understood` (RFC 5280 §4.2, §5.2, §5.3).
pub fn read_extensions<'a>(content: &'a [u8], understood: &[&[u8]]) -> Result<Vec<Extension<'a>>, FormatError> {
    let mut list = Der::new(content);
    let mut out: Vec<Extension<'a>> = Vec::new();
    while !list.is_empty() {
        let mut e = list.nested(tag::SEQUENCE, "extension")?;
        let id = e.oid("extension id")?;
        if out.iter().any(|x| x.id == id) {
            return Err(FormatError::Invalid("duplicate extension"));
        }
        let critical = match e.optional(tag::BOOLEAN)? {
            Some(o) => match o.content {
                [0xFF] => true,
                _ => return Err(FormatError::Invalid("extension criticality")),
            },
            None => false,
        };
        let value = e.octets("extension value")?;
        e.finish()?;
        if critical && !understood.contains(&id) {
            return Err(FormatError::Invalid("unknown critical extension"));
        }
        out.push(Extension { id, critical, value });
    }
    Ok(out)
}

/// The certificate extensions PCMeter understands.
const UNDERSTOOD: [&[u8]; 5] =
    [oid::BASIC_CONSTRAINTS, oid::KEY_USAGE, oid::EXT_KEY_USAGE, oid::SUBJECT_KEY_ID, oid::AUTHORITY_KEY_ID];

/// Parses an Extensions SEQUENCE, refusing unknown critical extensions and duplicates.
pub fn parse_extensions(content: &[u8]) -> Result<Extensions, FormatError> {
    let mut outer = Der::new(content);
    let list = outer.expect(tag::SEQUENCE, "extensions")?;
    outer.finish()?;
    let mut ext = Extensions::default();
    for Extension { id, critical, value } in read_extensions(list, &UNDERSTOOD)? {
        let mut v = Der::new(value);
        match id {
            oid::BASIC_CONSTRAINTS => {
                let mut bc = v.nested(tag::SEQUENCE, "basic constraints")?;
                let ca = match bc.optional(tag::BOOLEAN)? {
                    Some(o) if o.content == [0xFF] => true,
                    Some(_) => return Err(FormatError::Invalid("basic constraints")),
                    None => false,
                };
                let path = if bc.is_empty() { None } else { Some(bc.small_unsigned("path length")?) };
                bc.finish()?;
                if ca {
                    ext.ca = Some(path);
                } else if path.is_some() {
                    return Err(FormatError::Invalid("basic constraints"));
                }
            }
            oid::KEY_USAGE => {
                // DER named bits, at least one set (RFC 5280 §4.2.1.3); at most decipherOnly's second byte.
                ext.key_usage = match v.named_bits("key usage")? {
                    [first] | [first, _] => Some(*first),
                    _ => return Err(FormatError::Invalid("key usage")),
                };
            }
            oid::EXT_KEY_USAGE => {
                let mut ekus = v.nested(tag::SEQUENCE, "extended key usage")?;
                let mut ids = Vec::new();
                while !ekus.is_empty() {
                    ids.push(ekus.oid("key purpose")?);
                }
                ext.time_stamping_only = ids.as_slice() == [oid::KP_TIME_STAMPING];
                ext.eku_critical = critical;
            }
            oid::SUBJECT_KEY_ID | oid::AUTHORITY_KEY_ID => {
                v.any()?;
            }
            _ => {
                v = Der::new(&[]);
            }
        }
        v.finish()?;
    }
    Ok(ext)
}

impl<'a> Certificate<'a> {
    /// Parses a DER certificate: X.509 v3, ECDSA-with-SHA-256, P-256 key.
    pub fn parse(der: &'a [u8]) -> Result<Self, FormatError> {
        let mut outer = Der::new(der);
        let mut cert = outer.nested(tag::SEQUENCE, "certificate")?;
        outer.finish()?;
        let tbs_obj = cert.object(tag::SEQUENCE, "tbs certificate")?;
        algorithm(&mut cert)?;
        let signature = ecdsa_raw_from_der(cert.bits("signature")?)?;
        cert.finish()?;

        let mut tbs = Der::new(tbs_obj.content);
        let mut version = tbs.nested(tag::explicit(0), "version")?;
        if version.small_unsigned("version")? != 2 {
            return Err(FormatError::Invalid("version"));
        }
        version.finish()?;
        let serial = tbs.unsigned("serial")?;
        if serial.len() > MAX_SERIAL_LEN {
            return Err(FormatError::TooLarge("serial"));
        }
        algorithm(&mut tbs)?;
        let issuer = read_name(&mut tbs)?;
        let mut validity = tbs.nested(tag::SEQUENCE, "validity")?;
        let not_before = validity.time("not before")?;
        let not_after = validity.time("not after")?;
        validity.finish()?;
        let subject = read_name(&mut tbs)?;
        let public_key = read_spki(&mut tbs)?;
        tbs.optional(tag::implicit(1))?;
        tbs.optional(tag::implicit(2))?;
        let extensions = match tbs.optional(tag::explicit(3))? {
            Some(o) => parse_extensions(o.content)?,
            None => Extensions::default(),
        };
        tbs.finish()?;
        if not_after < not_before {
            return Err(FormatError::Invalid("validity"));
        }
        Ok(Self {
            der,
            tbs: tbs_obj.whole,
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

/// Converts an ECDSA-Sig-Value (DER SEQUENCE of r, s) to raw r‖s.
pub fn ecdsa_raw_from_der(der: &[u8]) -> Result<[u8; 64], FormatError> {
    let mut outer = Der::new(der);
    let mut s = outer.nested(tag::SEQUENCE, "ECDSA signature")?;
    outer.finish()?;
    let mut raw = [0u8; 64];
    for half in raw.chunks_exact_mut(32) {
        let m = s.unsigned("ECDSA signature")?;
        let pad = 32usize.checked_sub(m.len()).ok_or(FormatError::Invalid("ECDSA signature"))?;
        half.get_mut(pad..).ok_or(FormatError::Invalid("ECDSA signature"))?.copy_from_slice(m);
    }
    s.finish()?;
    Ok(raw)
}

/// Converts raw r‖s to an ECDSA-Sig-Value.
pub fn ecdsa_der_from_raw(raw: &[u8; 64]) -> Vec<u8> {
    let (r, s) = raw.split_at(32);
    der::seq(&[&der::unsigned(r), &der::unsigned(s)])
}

/// The AlgorithmIdentifier ecdsa-with-SHA256 (no parameters).
pub fn ecdsa_sha256_algorithm() -> Vec<u8> {
    der::seq(&[&der::oid(oid::ECDSA_WITH_SHA256)])
}

/// SubjectPublicKeyInfo of a P-256 point.
pub fn spki(point: &[u8]) -> Vec<u8> {
    let alg = der::seq(&[&der::oid(oid::EC_PUBLIC_KEY), &der::oid(oid::P256)]);
    der::seq(&[&alg, &der::bits(point)])
}

/// A Name of (attribute OID, UTF8String value) pairs, one per RDN.
pub fn name(attributes: &[(&[u8], &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(id, value)| {
            let atv = der::seq(&[&der::oid(id), &der::utf8(value)]);
            der::set_of(alloc::vec![atv])
        })
        .collect();
    der::seq(&rdns.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

fn extension(id: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[&der::oid(id), &der::boolean(true), &der::octets(value)])
    } else {
        der::seq(&[&der::oid(id), &der::octets(value)])
    }
}

fn key_usage_bits(bits: u8) -> Vec<u8> {
    let unused = bits.trailing_zeros().min(7) as u8;
    der::tlv(tag::BIT_STRING, &[unused, bits])
}

/// What a certificate is for: the end-entity usages, or the root CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A slot usage.
    Slot(Usage),
    /// A self-signed root CA.
    Root,
}

/// The extensions of a profile, as a list of Extension encodings.
pub fn profile_extensions(profile: Profile) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let (ca, bits) = match profile {
        Profile::Root => (Some(None), key_usage::KEY_CERT_SIGN | key_usage::CRL_SIGN),
        Profile::Slot(Usage::Agent) => (Some(Some(AGENT_PATH_LEN)), Usage::Agent.key_usage()),
        Profile::Slot(u) => (None, u.key_usage()),
    };
    if let Some(path) = ca {
        let mut bc = der::boolean(true);
        if let Some(p) = path {
            bc.extend_from_slice(&der::small_unsigned(p));
        }
        out.push(extension(oid::BASIC_CONSTRAINTS, true, &der::seq(&[&bc])));
    }
    out.push(extension(oid::KEY_USAGE, true, &key_usage_bits(bits)));
    if profile == Profile::Slot(Usage::Postmark) {
        out.push(extension(oid::EXT_KEY_USAGE, true, &der::seq(&[&der::oid(oid::KP_TIME_STAMPING)])));
    }
    out
}

/// Key identifier (RFC 7093 method 1): the leftmost 160 bits of SHA-256 of the key.
pub fn key_id(sha256_of_key: &[u8; 32]) -> &[u8] {
    sha256_of_key.get(..20).unwrap_or(&[])
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
    pub profile: Profile,
    /// Subject key identifier.
    pub subject_key_id: &'a [u8],
    /// Authority key identifier (the issuer's subject key identifier).
    pub authority_key_id: &'a [u8],
}

impl Template<'_> {
    /// The TBSCertificate encoding to be signed.
    pub fn tbs(&self) -> Vec<u8> {
        let mut exts = profile_extensions(self.profile);
        exts.push(extension(oid::SUBJECT_KEY_ID, false, &der::octets(self.subject_key_id)));
        let aki = der::tlv(tag::SEQUENCE, &der::tlv(tag::implicit(0), self.authority_key_id));
        exts.push(extension(oid::AUTHORITY_KEY_ID, false, &aki));
        let exts = der::seq(&exts.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let validity = der::seq(&[&der::x509_time(self.not_before), &der::x509_time(self.not_after)]);
        der::seq(&[
            &der::tlv(tag::explicit(0), &der::small_unsigned(2)),
            &der::unsigned(self.serial),
            &ecdsa_sha256_algorithm(),
            self.issuer,
            &validity,
            self.subject,
            &spki(self.public_key),
            &der::tlv(tag::explicit(3), &exts),
        ])
    }
}

/// A signed object: `SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING signature }`
/// (certificates, CRLs and PKCS#10 requests share this shape).
pub fn signed_object(tbs: &[u8], raw_signature: &[u8; 64]) -> Vec<u8> {
    der::seq(&[tbs, &ecdsa_sha256_algorithm(), &der::bits(&ecdsa_der_from_raw(raw_signature))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_convert_both_ways() {
        let mut raw = [0u8; 64];
        raw[0] = 0x80;
        raw[40] = 0x01;
        let d = ecdsa_der_from_raw(&raw);
        assert_eq!(ecdsa_raw_from_der(&d).unwrap(), raw);
        assert!(ecdsa_raw_from_der(&d[..d.len() - 1]).is_err());
    }

    #[test]
    fn a_built_certificate_parses_back() {
        let point = {
            let mut p = [7u8; 65];
            p[0] = 4;
            p
        };
        let subject = name(&[(oid::COMMON_NAME, "meter slot 1")]);
        let issuer = name(&[(oid::COMMON_NAME, "PCMeter CA")]);
        for usage in Usage::ALL {
            let t = Template {
                serial: &[1, 2, 3],
                issuer: &issuer,
                subject: &subject,
                not_before: 1_795_435_200,
                not_after: 1_826_971_200,
                public_key: &point,
                profile: Profile::Slot(usage),
                subject_key_id: &[1; 20],
                authority_key_id: &[2; 20],
            };
            let der = signed_object(&t.tbs(), &[9; 64]);
            let c = Certificate::parse(&der).unwrap();
            assert_eq!(c.serial, [1, 2, 3]);
            assert_eq!(c.subject, &subject[..]);
            assert_eq!(c.issuer, &issuer[..]);
            assert_eq!(c.public_key, &point[..]);
            assert_eq!(c.signature, [9; 64]);
            for other in Usage::ALL {
                assert_eq!(other.allowed_by(&c.extensions), other == usage, "{usage:?} cert for {other:?}");
            }
            for cut in [1, 10, der.len() / 2, der.len() - 1] {
                assert!(Certificate::parse(&der[..cut]).is_err());
            }
        }
    }
}
