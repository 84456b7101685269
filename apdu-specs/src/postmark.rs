//! Cryptographic postmarks as RFC 3161 TimeStampTokens.
//!
//! The card builds the DER of the TSTInfo and of the signed attributes
//! (contentType, messageDigest, signingCertificateV2) and signs the
//! attributes with the postmark slot key. The host wraps the three parts and
//! the slot certificate into CMS SignedData ([`wrap_token`]). Validation
//! ([`validate`]) is shared by the card (charged service) and the host.
//!
//! The ASN.1 is declared with `der`'s derive macros (RFC 3161 §2.4.2,
//! RFC 5652 §5, RFC 5035): the subset PCMeter emits and accepts, parsed
//! generically and then checked against PCMeter's profile.

use crate::asn1;
use crate::codec::FormatError;
use crate::oid;
use crate::x509::{self, Certificate, SignatureCheck, Usage};
use alloc::vec::Vec;
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, GeneralizedTime, IntRef, Null, OctetStringRef, SetOfVec};
use der::{Any, Decode, Reader, Sequence, SliceReader, Tag, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

/// Most content octets of a [`Nonce`] (RFC 3161 leaves the size open; OpenSSL sends 8).
pub const MAX_NONCE_LEN: usize = 32;

/// An RFC 3161 nonce: the content octets of a DER INTEGER (two's complement,
/// minimal encoding), 1 to [`MAX_NONCE_LEN`] octets. The card copies it into
/// TSTInfo unchanged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nonce {
    len: u8,
    octets: [u8; MAX_NONCE_LEN],
}

impl Nonce {
    /// A nonce from the content octets of an INTEGER: refused unless they are
    /// the minimal encoding and at most [`MAX_NONCE_LEN`] octets.
    pub fn new(content: &[u8]) -> Result<Self, FormatError> {
        let mut octets = [0; MAX_NONCE_LEN];
        octets.get_mut(..content.len()).ok_or(FormatError::TooLarge("nonce"))?.copy_from_slice(content);
        let len = u8::try_from(content.len()).map_err(|_| FormatError::TooLarge("nonce"))?;
        let nonce = Self { len, octets };
        // `der`'s decoder refuses an empty or non-minimal INTEGER.
        asn1::decode::<IntRef<'_>>(&nonce.to_der(), "nonce")?;
        Ok(nonce)
    }

    /// Decodes exactly one DER INTEGER (tag, length, content) as a nonce.
    pub fn from_der(bytes: &[u8]) -> Result<Self, FormatError> {
        let int: IntRef<'_> = asn1::decode(bytes, "nonce")?;
        Self::new(int.as_bytes())
    }

    /// The content octets.
    pub fn as_bytes(&self) -> &[u8] {
        self.octets.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The DER INTEGER (tag `02`, length, content): at most 32 content octets,
    /// so the length is always one octet.
    pub fn to_der(&self) -> Vec<u8> {
        [&[0x02, self.len], self.as_bytes()].concat()
    }

    fn int_ref(&self) -> Result<IntRef<'_>, FormatError> {
        IntRef::new(self.as_bytes()).map_err(asn1::der_error("nonce"))
    }
}

impl core::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Nonce(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// What the card stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Postmark {
    /// SHA-256 of the message.
    pub digest: [u8; 32],
    /// Card time, Unix seconds.
    pub time: u64,
    /// Postmark serial (never repeats on a meter).
    pub serial: u64,
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// The requester's nonce, echoed in TSTInfo.
    pub nonce: Option<Nonce>,
}

// ------------------------------------------------------------ the ASN.1

/// MessageImprint (RFC 3161 §2.4.1).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: &'a OctetStringRef,
}

/// Accuracy (RFC 3161 §2.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

/// An Extension whose extnID may lie beyond `const-oid`'s 32-bit arcs (PCMeter's arc).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct RawExtension<'a> {
    extn_id: AnyRef<'a>,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: &'a OctetStringRef,
}

/// TSTInfo (RFC 3161 §2.4.2). The policy is PCMeter's arc, so it is carried raw.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct TstInfoFields<'a> {
    version: u8,
    policy: AnyRef<'a>,
    message_imprint: MessageImprint<'a>,
    serial_number: u64,
    gen_time: GeneralizedTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Vec<RawExtension<'a>>>,
}

/// ESSCertIDv2 (RFC 5035 §4): hashAlgorithm DEFAULT SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct EssCertIdV2<'a> {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: &'a OctetStringRef,
    #[asn1(optional = "true")]
    issuer_serial: Option<AnyRef<'a>>,
}

/// SigningCertificateV2 (RFC 5035 §3).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct SigningCertificateV2<'a> {
    certs: Vec<EssCertIdV2<'a>>,
    #[asn1(optional = "true")]
    policies: Option<AnyRef<'a>>,
}

/// IssuerAndSerialNumber (RFC 5652 §10.2.4).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct IssuerAndSerialNumber {
    issuer: Name,
    serial_number: SerialNumber,
}

/// SignerInfo (RFC 5652 §5.3) with an IssuerAndSerialNumber signer identifier.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct SignerInfo<'a> {
    version: u64,
    sid: IssuerAndSerialNumber,
    digest_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    signed_attrs: SetOfVec<Attribute>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: &'a OctetStringRef,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    unsigned_attrs: Option<SetOfVec<Attribute>>,
}

/// EncapsulatedContentInfo (RFC 5652 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct EncapsulatedContentInfo<'a> {
    e_content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    e_content: Option<&'a OctetStringRef>,
}

/// SignedData (RFC 5652 §5.1): certificates and signer infos kept as
/// encoded elements, decoded one by one.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct SignedData<'a> {
    version: u64,
    digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    encap_content_info: EncapsulatedContentInfo<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<SetOfVec<AnyRef<'a>>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    crls: Option<SetOfVec<AnyRef<'a>>>,
    signer_infos: SetOfVec<AnyRef<'a>>,
}

/// ContentInfo (RFC 5652 §3) holding SignedData: a TimeStampToken.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct TimeStampToken<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SignedData<'a>,
}

// ------------------------------------------------------------ building

/// SHA-256 with NULL parameters, as PCMeter writes it.
fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: oid::SHA256, parameters: Some(Any::from(Null)) }
}

/// Checks an AlgorithmIdentifier that must be SHA-256 (parameters absent or NULL).
fn check_sha256(algorithm: &AlgorithmIdentifierOwned, what: &'static str) -> Result<(), FormatError> {
    let null_or_absent = algorithm.parameters.as_ref().is_none_or(|p| p.tag() == Tag::Null && p.value().is_empty());
    if algorithm.oid != oid::SHA256 || !null_or_absent {
        return Err(FormatError::Invalid(what));
    }
    Ok(())
}

fn octets<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a OctetStringRef, FormatError> {
    OctetStringRef::new(bytes).map_err(asn1::der_error(what))
}

/// An encoded OBJECT IDENTIFIER from its contents octets (PCMeter's arc is beyond `const-oid`).
fn raw_oid<'a>(contents: &'a [u8], what: &'static str) -> Result<AnyRef<'a>, FormatError> {
    AnyRef::new(Tag::ObjectIdentifier, contents).map_err(asn1::der_error(what))
}

impl Postmark {
    /// The TSTInfo encoding. `tsa_name` is the signer certificate's subject
    /// (verifiers match the two); the meter ID travels in a non-critical
    /// extension under PCMeter's arc.
    pub fn tst_info(&self, tsa_name: &[u8]) -> Result<Vec<u8>, FormatError> {
        let meter_id = asn1::encode(&octets(&self.meter_id, "meter id")?, "meter id")?;
        let fields = TstInfoFields {
            version: 1,
            policy: raw_oid(oid::POSTMARK_POLICY, "policy")?,
            message_imprint: MessageImprint {
                hash_algorithm: sha256_algorithm(),
                hashed_message: octets(&self.digest, "message imprint")?,
            },
            serial_number: self.serial,
            gen_time: asn1::generalized_time(self.time, "genTime")?,
            accuracy: Some(Accuracy { seconds: Some(1), millis: None, micros: None }),
            ordering: false,
            nonce: self.nonce.as_ref().map(Nonce::int_ref).transpose()?,
            tsa: Some(GeneralName::DirectoryName(Name::from_der(tsa_name).map_err(asn1::der_error("TSA name"))?)),
            extensions: Some(alloc::vec![RawExtension {
                extn_id: raw_oid(oid::METER_ID_EXTENSION, "meter id extension")?,
                critical: false,
                extn_value: octets(&meter_id, "meter id extension")?,
            }]),
        };
        asn1::encode(&fields, "TSTInfo")
    }
}

fn attribute(id: ObjectIdentifier, value: &impl der::Encode) -> Result<Attribute, FormatError> {
    let der_error = asn1::der_error("signed attribute");
    let value = Any::from_der(&asn1::encode(value, "signed attribute")?).map_err(&der_error)?;
    Ok(Attribute { oid: id, values: SetOfVec::try_from(alloc::vec![value]).map_err(&der_error)? })
}

/// The signed attributes, SET-tagged as they are signed (RFC 5652 §5.4):
/// contentType id-ct-TSTInfo, messageDigest of the TSTInfo, and
/// signingCertificateV2 with the SHA-256 of the signer certificate.
pub fn signed_attributes(tst_info_digest: &[u8; 32], certificate_digest: &[u8; 32]) -> Result<Vec<u8>, FormatError> {
    let ess_cert_id = EssCertIdV2 {
        hash_algorithm: None,
        cert_hash: octets(certificate_digest, "certificate hash")?,
        issuer_serial: None,
    };
    let attributes = SetOfVec::try_from(alloc::vec![
        attribute(oid::CONTENT_TYPE, &oid::TST_INFO)?,
        attribute(oid::MESSAGE_DIGEST, &octets(tst_info_digest, "message digest")?)?,
        attribute(
            oid::SIGNING_CERTIFICATE_V2,
            &SigningCertificateV2 { certs: alloc::vec![ess_cert_id], policies: None }
        )?,
    ])
    .map_err(asn1::der_error("signed attributes"))?;
    asn1::encode(&attributes, "signed attributes")
}

/// The card's POSTMARK response: TSTInfo ‖ signed attributes ‖ OCTET STRING (raw r‖s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedParts<'a> {
    /// TSTInfo encoding.
    pub tst_info: &'a [u8],
    /// Signed attributes, SET-tagged.
    pub signed_attributes: &'a [u8],
    /// Raw r‖s over SHA-256 of `signed_attributes`.
    pub signature: [u8; 64],
}

impl<'a> SignedParts<'a> {
    /// Encodes the response.
    pub fn encode(tst_info: &[u8], signed_attributes: &[u8], signature: &[u8; 64]) -> Result<Vec<u8>, FormatError> {
        let signature = asn1::encode(&octets(signature, "signature")?, "signature")?;
        Ok([tst_info, signed_attributes, &signature].concat())
    }

    /// Parses the response: a SEQUENCE, a SET and a 64-byte OCTET STRING.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let der_error = asn1::der_error("postmark parts");
        let mut r = SliceReader::new(bytes).map_err(&der_error)?;
        let mut element = |tag: Tag, what: &'static str| match Tag::peek(&r) {
            Ok(t) if t == tag => r.tlv_bytes().map_err(&der_error),
            Ok(_) => Err(FormatError::Invalid(what)),
            Err(_) => Err(FormatError::Missing(what)),
        };
        let tst_info = element(Tag::Sequence, "TSTInfo")?;
        let signed_attributes = element(Tag::Set, "signed attributes")?;
        let signature = element(Tag::OctetString, "signature")?;
        if !r.is_finished() {
            return Err(FormatError::Trailing(usize::try_from(r.remaining_len()).unwrap_or(usize::MAX)));
        }
        let signature: &OctetStringRef = asn1::decode_canonical(signature, "signature")?;
        let signature = signature.as_bytes().try_into().map_err(|_| FormatError::Invalid("signature"))?;
        Ok(Self { tst_info, signed_attributes, signature })
    }
}

/// Whether a token carries its signer certificate (RFC 3161 `certReq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerCertificate {
    /// In SignedData's `certificates`.
    Carried,
    /// Left out: the verifier has it (SignerInfo and signingCertificateV2 still name it).
    Omitted,
}

/// Wraps the card's parts and the signer certificate into an RFC 3161
/// TimeStampToken (CMS ContentInfo with SignedData) that carries the certificate.
pub fn wrap_token(parts: &SignedParts<'_>, certificate: &[u8]) -> Result<Vec<u8>, FormatError> {
    wrap_token_with(parts, certificate, SignerCertificate::Carried)
}

/// [`wrap_token`], with the certificate carried or left out. [`Token::parse`]
/// (PCMeter's profile) reads only tokens that carry it.
pub fn wrap_token_with(
    parts: &SignedParts<'_>,
    certificate: &[u8],
    carry: SignerCertificate,
) -> Result<Vec<u8>, FormatError> {
    let der_error = asn1::der_error("TimeStampToken");
    let cert = Certificate::parse(certificate)?;
    let signature = x509::ecdsa_der_from_raw(&parts.signature)?;
    let signer_info = SignerInfo {
        version: 1,
        sid: IssuerAndSerialNumber {
            issuer: Name::from_der(&cert.issuer).map_err(&der_error)?,
            serial_number: SerialNumber::new(&cert.serial).map_err(&der_error)?,
        },
        digest_algorithm: sha256_algorithm(),
        signed_attrs: asn1::decode_canonical(parts.signed_attributes, "signed attributes")?,
        signature_algorithm: x509::ecdsa_sha256(),
        signature: octets(&signature, "signature")?,
        unsigned_attrs: None,
    };
    let signer_info = asn1::encode(&signer_info, "signer info")?;
    fn one(element: &[u8]) -> Result<SetOfVec<AnyRef<'_>>, FormatError> {
        let der_error = asn1::der_error("TimeStampToken");
        SetOfVec::try_from(alloc::vec![AnyRef::from_der(element).map_err(&der_error)?]).map_err(&der_error)
    }
    let token = TimeStampToken {
        content_type: oid::SIGNED_DATA,
        content: SignedData {
            version: 3,
            digest_algorithms: SetOfVec::try_from(alloc::vec![sha256_algorithm()]).map_err(&der_error)?,
            encap_content_info: EncapsulatedContentInfo {
                e_content_type: oid::TST_INFO,
                e_content: Some(octets(parts.tst_info, "TSTInfo")?),
            },
            certificates: match carry {
                SignerCertificate::Carried => Some(one(certificate)?),
                SignerCertificate::Omitted => None,
            },
            crls: None,
            signer_infos: one(&signer_info)?,
        },
    };
    asn1::encode(&token, "TimeStampToken")
}

// ------------------------------------------------------------ parsing

/// The fields of a TSTInfo a verifier needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TstInfo {
    /// The message imprint (SHA-256).
    pub digest: [u8; 32],
    /// Serial number (PCMeter serials fit 64 bits).
    pub serial: u64,
    /// genTime, Unix seconds.
    pub time: u64,
    /// The nonce, when the request carried one.
    pub nonce: Option<Nonce>,
}

impl TstInfo {
    /// Parses a TSTInfo encoding; it must be version 1 under PCMeter's
    /// postmark policy with a SHA-256 imprint.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let t: TstInfoFields<'_> = asn1::decode_canonical(bytes, "TSTInfo")?;
        if t.version != 1 {
            return Err(FormatError::Invalid("TSTInfo version"));
        }
        if t.policy.tag() != Tag::ObjectIdentifier || t.policy.value() != oid::POSTMARK_POLICY {
            return Err(FormatError::Invalid("policy"));
        }
        check_sha256(&t.message_imprint.hash_algorithm, "imprint algorithm")?;
        let digest =
            t.message_imprint.hashed_message.as_bytes().try_into().map_err(|_| FormatError::Invalid("imprint"))?;
        let nonce = t.nonce.map(|n| Nonce::new(n.as_bytes())).transpose()?;
        Ok(Self { digest, serial: t.serial_number, time: t.gen_time.to_unix_duration().as_secs(), nonce })
    }
}

/// A parsed TimeStampToken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    /// The TSTInfo encoding.
    pub tst_info: &'a [u8],
    /// Its fields.
    pub info: TstInfo,
    /// The first certificate carried (the signer's).
    pub certificate: Vec<u8>,
    /// Signed attributes, SET-tagged as they were signed.
    pub signed_attributes: Vec<u8>,
    /// messageDigest attribute value.
    pub message_digest: [u8; 32],
    /// signingCertificateV2 certificate hash.
    pub certificate_digest: [u8; 32],
    /// Signature, raw r‖s.
    pub signature: [u8; 64],
}

/// The one value of an attribute.
fn single_value(attribute: &Attribute) -> Result<&Any, FormatError> {
    match attribute.values.as_slice() {
        [value] => Ok(value),
        _ => Err(FormatError::Invalid("attribute values")),
    }
}

/// messageDigest and the signingCertificateV2 hash of the signed attributes,
/// each attribute type at most once (RFC 5652 §5.3) and contentType id-ct-TSTInfo.
fn read_attributes(attributes: &SetOfVec<Attribute>) -> Result<([u8; 32], [u8; 32]), FormatError> {
    let der_error = asn1::der_error("signed attribute");
    let (mut content_type, mut message_digest, mut cert_digest) = (false, None, None);
    for (i, a) in attributes.iter().enumerate() {
        if attributes.iter().skip(i + 1).any(|other| other.oid == a.oid) {
            return Err(FormatError::Invalid("duplicate signed attribute"));
        }
        match a.oid {
            oid::CONTENT_TYPE => {
                content_type = single_value(a)?.decode_as::<ObjectIdentifier>().map_err(&der_error)? == oid::TST_INFO;
            }
            oid::MESSAGE_DIGEST => {
                let digest: &OctetStringRef = single_value(a)?.decode_as().map_err(&der_error)?;
                message_digest = digest.as_bytes().try_into().ok();
            }
            oid::SIGNING_CERTIFICATE_V2 => {
                let sc: SigningCertificateV2<'_> = single_value(a)?.decode_as().map_err(&der_error)?;
                let first = sc.certs.first().ok_or(FormatError::Missing("ESS certificate id"))?;
                if first.hash_algorithm.as_ref().is_some_and(|alg| alg.oid != oid::SHA256) {
                    return Err(FormatError::Invalid("ESS hash algorithm"));
                }
                cert_digest = first.cert_hash.as_bytes().try_into().ok();
            }
            _ => {}
        }
    }
    match (content_type, message_digest, cert_digest) {
        (true, Some(m), Some(c)) => Ok((m, c)),
        _ => Err(FormatError::Missing("signed attribute")),
    }
}

impl<'a> Token<'a> {
    /// Parses a TimeStampToken (ContentInfo / SignedData with one signer)
    /// with the declared types, then checks PCMeter's profile:
    /// digestAlgorithms and the SignerInfo both exactly SHA-256, the signer
    /// identifier naming the certificate carried (which passes the
    /// certificate profile), ecdsa-with-SHA256, PCMeter's policy, each signed
    /// attribute type once.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let token: TimeStampToken<'a> = asn1::decode_canonical(bytes, "TimeStampToken")?;
        if token.content_type != oid::SIGNED_DATA {
            return Err(FormatError::Invalid("content type"));
        }
        let sd = token.content;
        // digestAlgorithms: exactly SHA-256, the one the SignerInfo must name too.
        match sd.digest_algorithms.as_slice() {
            [algorithm] => check_sha256(algorithm, "digest algorithms")?,
            _ => return Err(FormatError::Invalid("digest algorithms")),
        }
        if sd.encap_content_info.e_content_type != oid::TST_INFO {
            return Err(FormatError::Invalid("encapsulated content type"));
        }
        let tst_info = sd.encap_content_info.e_content.ok_or(FormatError::Missing("TSTInfo"))?.as_bytes();
        let certificates = sd.certificates.ok_or(FormatError::Missing("certificates"))?;
        let certificate = certificates.as_slice().first().ok_or(FormatError::Missing("certificate"))?;
        let certificate = asn1::encode(certificate, "certificate")?;
        let signer_info = match sd.signer_infos.as_slice() {
            [one] => one,
            _ => return Err(FormatError::Invalid("signer infos")),
        };
        let si: SignerInfo<'a> = signer_info.decode_as().map_err(asn1::der_error("signer info"))?;
        // Version 1: the signer is named by issuer and serial, which must be the certificate's.
        if si.version != 1 {
            return Err(FormatError::Invalid("signer info version"));
        }
        let signer = Certificate::parse(&certificate)?;
        let issuer = x509::check_name_profile(&si.sid.issuer)?;
        if issuer != signer.issuer || x509::serial_magnitude(&si.sid.serial_number)? != signer.serial {
            return Err(FormatError::Invalid("signer identifier"));
        }
        check_sha256(&si.digest_algorithm, "digest algorithm")?;
        x509::check_ecdsa_sha256(&si.signature_algorithm)?;
        let signature = x509::ecdsa_raw_from_der(si.signature.as_bytes())?;
        let (message_digest, certificate_digest) = read_attributes(&si.signed_attrs)?;
        Ok(Self {
            tst_info,
            info: TstInfo::parse(tst_info)?,
            signed_attributes: asn1::encode(&si.signed_attrs, "signed attributes")?,
            certificate,
            message_digest,
            certificate_digest,
            signature,
        })
    }

    /// The signed attributes as the SET that was signed.
    pub fn signed_attributes_as_signed(&self) -> Vec<u8> {
        self.signed_attributes.clone()
    }
}

/// The outcome of a postmark validation (Fig. 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verdict {
    /// Certificate, signature and digest all check.
    Valid = 0,
    /// The signer certificate is not from the CA, not valid at the postmark time, or not a postmark certificate.
    CertificateInvalid = 1,
    /// The signature or the signed attributes do not check.
    SignatureInvalid = 2,
    /// The postmark is genuine but stamps another message.
    DigestMismatch = 3,
    /// The signer certificate is on the CA's revocation list (off-card only).
    Revoked = 4,
}

impl Verdict {
    /// Decodes a verdict byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        use Verdict::*;
        [Valid, CertificateInvalid, SignatureInvalid, DigestMismatch, Revoked]
            .into_iter()
            .find(|v| *v as u8 == b)
            .ok_or(FormatError::Invalid("verdict"))
    }
}

/// Validates a parsed token for a message digest under the CA key: the
/// certificate first, then the signature and attributes, then the digest.
pub fn validate(token: &Token<'_>, message_digest: &[u8; 32], ca_key: &[u8], crypto: &impl SignatureCheck) -> Verdict {
    let Ok(cert) = Certificate::parse(&token.certificate) else { return Verdict::CertificateInvalid };
    if cert.check(ca_key, token.info.time, crypto).is_err() || !Usage::Postmark.allowed_by(&cert.extensions) {
        return Verdict::CertificateInvalid;
    }
    let attrs = token.signed_attributes_as_signed();
    let signed_ok = crypto.verify(&cert.public_key, &crypto.sha256(&[&attrs]), &token.signature)
        && crypto.sha256(&[token.tst_info]) == token.message_digest
        && crypto.sha256(&[&token.certificate]) == token.certificate_digest;
    if !signed_ok {
        return Verdict::SignatureInvalid;
    }
    if token.info.digest != *message_digest {
        return Verdict::DigestMismatch;
    }
    Verdict::Valid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsa_name() -> Vec<u8> {
        x509::name(&[(oid::COMMON_NAME, "PCMeter TSA")]).unwrap()
    }

    #[test]
    fn the_nonce_travels_into_tst_info_and_back() {
        let nonce = Nonce::new(&[0x00, 0x9A, 0x01, 0x02]).unwrap();
        let stamp =
            Postmark { digest: [7; 32], time: 1_795_435_200, serial: 9, meter_id: *b"PCM-NONCE-01", nonce: None };
        let without = TstInfo::parse(&stamp.tst_info(&tsa_name()).unwrap()).unwrap();
        assert_eq!(without.nonce, None);
        let der = Postmark { nonce: Some(nonce), ..stamp }.tst_info(&tsa_name()).unwrap();
        let with = TstInfo::parse(&der).unwrap();
        assert_eq!(with.nonce, Some(nonce));
        assert_eq!((with.digest, with.serial, with.time), ([7; 32], 9, 1_795_435_200));
        // The INTEGER sits in TSTInfo as it was given.
        assert!(der.windows(6).any(|w| w == [0x02, 0x04, 0x00, 0x9A, 0x01, 0x02]));
    }

    #[test]
    fn nonces_are_minimal_integers_of_at_most_32_octets() {
        assert_eq!(Nonce::new(&[0x7F; 32]).unwrap().as_bytes(), &[0x7F; 32]);
        assert_eq!(Nonce::new(&[0x80]).unwrap().to_der(), [0x02, 0x01, 0x80]);
        assert_eq!(Nonce::from_der(&[0x02, 0x02, 0x00, 0x80]).unwrap().as_bytes(), &[0x00, 0x80]);
        assert_eq!(Nonce::new(&[0x01; 33]), Err(FormatError::TooLarge("nonce")));
        for refused in [&[][..], &[0x00, 0x01], &[0xFF, 0xFF]] {
            assert!(Nonce::new(refused).is_err(), "{refused:02x?}");
        }
        assert!(Nonce::from_der(&[0x04, 0x01, 0x01]).is_err());
        assert!(Nonce::from_der(&[0x02, 0x01, 0x01, 0x00]).is_err());
    }
}
