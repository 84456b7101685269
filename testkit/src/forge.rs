//! Builders of hostile PKI inputs for the malleability and strict-parsing
//! tests: high-S twins of every signed format, TBS encodings taken apart and
//! re-signed, and RFC 3161 tokens whose unsigned fields are chosen freely.

use crate::FIXTURE_TIME;
use crate::pki;
use apdu_specs::oid;
use apdu_specs::p256_signature::twin;
use apdu_specs::postmark::{self, Postmark, SignedParts, Token};
use apdu_specs::signed::{self, Signed};
use apdu_specs::x509::{self, Certificate, Usage};
use authority::{CertificateAuthority, SigningKeyPair};
use card_sim::InProcessTransport;
use host_driver::Meter;
use pcmeter::simulated::{AuthorityKeys, Options, operational};
use sha2::{Digest, Sha256};

/// Raw TLV building blocks for hostile inputs, on RustCrypto `der` (which
/// writes every tag and length): the tests need encodings no declarative
/// type would produce, such as a GeneralizedTime before 2050.
pub mod tlv {
    use apdu_specs::der::asn1::{GeneralizedTime, UintRef};
    use apdu_specs::der::{Any, DateTime, Decode, Encode, Header, Reader, SliceReader, Tag};
    use apdu_specs::x509_cert::time::Time;
    use std::time::Duration;

    /// The universal or context tag of a one-byte identifier.
    fn tag(byte: u8) -> Tag {
        Tag::from_der(&[byte]).expect("a one-byte tag")
    }

    /// One object from its tag byte and contents.
    pub fn tlv(tag_byte: u8, content: &[u8]) -> Vec<u8> {
        Any::new(tag(tag_byte), content).expect("contents fit").to_der().expect("encodes")
    }

    /// Context-specific constructed tag `[n]`.
    pub const fn explicit(n: u8) -> u8 {
        0xA0 | n
    }

    /// A SEQUENCE of `parts`.
    pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    /// A SET OF `elements`, sorted by encoding as DER requires.
    pub fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
        elements.sort();
        tlv(0x31, &elements.concat())
    }

    /// An OBJECT IDENTIFIER from its contents octets.
    pub fn oid(contents: &[u8]) -> Vec<u8> {
        tlv(0x06, contents)
    }

    /// An OCTET STRING.
    pub fn octets(content: &[u8]) -> Vec<u8> {
        tlv(0x04, content)
    }

    /// A BIT STRING with no unused bits.
    pub fn bits(content: &[u8]) -> Vec<u8> {
        tlv(0x03, &[&[0], content].concat())
    }

    /// A BOOLEAN.
    pub fn boolean(v: bool) -> Vec<u8> {
        tlv(0x01, &[if v { 0xFF } else { 0x00 }])
    }

    /// A non-negative INTEGER from a big-endian magnitude.
    pub fn unsigned(magnitude: &[u8]) -> Vec<u8> {
        UintRef::new(magnitude).expect("an integer").to_der().expect("encodes")
    }

    /// A non-negative INTEGER.
    pub fn small_unsigned(v: u64) -> Vec<u8> {
        v.to_der().expect("encodes")
    }

    fn date_time(secs: u64) -> DateTime {
        DateTime::from_unix_duration(Duration::from_secs(secs)).expect("a date before 9999")
    }

    /// An X.509 `Time` in its RFC 5280 form (UTCTime before 2050).
    pub fn x509_time(secs: u64) -> Vec<u8> {
        Time::from(date_time(secs)).to_der().expect("encodes")
    }

    /// A GeneralizedTime, whatever the year.
    pub fn generalized_time(secs: u64) -> Vec<u8> {
        GeneralizedTime::from_date_time(date_time(secs)).to_der().expect("encodes")
    }

    /// The encodings of the elements of a constructed object.
    pub fn elements(constructed: &[u8]) -> Vec<Vec<u8>> {
        let mut r = SliceReader::new(constructed).expect("input");
        let header = Header::decode(&mut r).expect("a header");
        let mut out = Vec::new();
        let end = u32::from(r.position()) + u32::from(header.length());
        while u32::from(r.position()) < end {
            out.push(r.tlv_bytes().expect("an element").to_vec());
        }
        out
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// An operational in-process meter with the PIN verified, registered with the CA of its anchor.
pub struct PkiMeter {
    /// The typed API.
    pub meter: Meter<InProcessTransport>,
    /// The CA whose key is the card's anchor.
    pub ca: CertificateAuthority,
    /// Issuer, authority and CA keys.
    pub keys: AuthorityKeys,
    /// The meter ID.
    pub meter_id: [u8; 12],
}

impl PkiMeter {
    /// A meter with plenty of credit; `label` seeds its keys.
    pub fn new(label: &str) -> Self {
        let keys = AuthorityKeys::from_seed(label);
        let sim = operational(&keys, &Options::at(FIXTURE_TIME, 1_000_000)).expect("operational meter");
        let mut meter = sim.meter;
        let mut ca = pki::ca_for(&keys);
        let meter_id = pki::register(&mut ca, &mut meter);
        meter.run(|tx| tx.verify_pin(&sim.pin)).expect("PIN");
        Self { meter, ca, keys, meter_id }
    }
}

/// A signed object (certificate, CRL, PKCS#10) split into its to-be-signed encoding and raw signature.
pub fn split_signed(object: &[u8]) -> (Vec<u8>, [u8; 64]) {
    let parts = tlv::elements(object);
    let bits = tlv::elements(&tlv::seq(&[&parts[2]]))[0].clone();
    // The BIT STRING's contents: no unused bits, then the ECDSA-Sig-Value.
    let value = &bits[bits.len() - (bits.len() - 2).min(bits.len())..];
    assert_eq!(value[0], 0, "no unused bits");
    let signature = x509::ecdsa_raw_from_der(&value[1..]).expect("ECDSA-Sig-Value");
    (parts[0].clone(), signature)
}

/// The high-S twin of a certificate or CRL: the same TBS under r‖(n − s).
pub fn signed_object_twin(object: &[u8]) -> Vec<u8> {
    let (tbs, signature) = split_signed(object);
    x509::signed_object(&tbs, &twin(&signature)).expect("signed object")
}

/// The twin of a signed envelope (rate table, profile, order, device request).
pub fn envelope_twin(envelope: &[u8]) -> Vec<u8> {
    let s = Signed::parse(envelope).expect("a signed envelope");
    signed::encode(s.body, &twin(&s.signature))
}

/// The twin of an indicium: its raw r‖s is the last 64 bytes.
pub fn indicium_twin(indicium: &[u8]) -> Vec<u8> {
    let (signed, signature) = indicium.split_at(indicium.len() - 64);
    [signed, &twin(&signature.try_into().expect("64 bytes"))].concat()
}

/// The twin of an RFC 3161 token: the same parts re-wrapped under r‖(n − s).
pub fn token_twin(token: &[u8]) -> Vec<u8> {
    let t = Token::parse(token).expect("a token");
    let attributes = t.signed_attributes_as_signed();
    let parts = SignedParts { tst_info: t.tst_info, signed_attributes: &attributes, signature: twin(&t.signature) };
    postmark::wrap_token(&parts, &t.certificate).expect("re-wrapped")
}

/// The raw signature of a token.
pub fn token_signature(token: &[u8]) -> [u8; 64] {
    Token::parse(token).expect("a token").signature
}

/// `tbs` signed by `key` as a certificate, CRL or request (ecdsa-with-SHA256).
pub fn resigned(key: &SigningKeyPair, tbs: &[u8]) -> Vec<u8> {
    x509::signed_object(tbs, &key.sign_digest(&sha256(tbs))).expect("signed object")
}

/// The encodings of the elements of a SEQUENCE (or of any constructed object).
pub fn elements(constructed: &[u8]) -> Vec<Vec<u8>> {
    tlv::elements(constructed)
}

/// A SEQUENCE of already encoded elements.
pub fn sequence(elements: &[Vec<u8>]) -> Vec<u8> {
    tlv::seq(&elements.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

/// An X.509 extension.
pub fn extension(id: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        tlv::seq(&[&tlv::oid(id), &tlv::boolean(true), &tlv::octets(value)])
    } else {
        tlv::seq(&[&tlv::oid(id), &tlv::octets(value)])
    }
}

/// An AlgorithmIdentifier with NULL parameters.
pub fn algorithm(id: &[u8]) -> Vec<u8> {
    tlv::seq(&[&tlv::oid(id), &tlv::tlv(0x05, &[])])
}

/// SHA-384 (2.16.840.1.101.3.4.2.2): a digest PCMeter tokens never use.
pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];

/// A CMS attribute with one value.
pub fn attribute(id: &[u8], value: &[u8]) -> Vec<u8> {
    tlv::seq(&[&tlv::oid(id), &tlv::set_of(vec![value.to_vec()])])
}

/// A time-stamping authority outside the card: a key the test holds and a
/// postmark certificate for it issued by the card's CA. Its tokens are signed
/// correctly, so whatever a verifier refuses in them is the field under test.
pub struct TestTsa {
    /// The signing key.
    pub key: SigningKeyPair,
    /// Its postmark certificate.
    pub certificate: Vec<u8>,
}

impl TestTsa {
    /// A TSA certified by `ca` for `meter_id`.
    pub fn new(ca: &mut CertificateAuthority, meter_id: &[u8; 12]) -> Self {
        let key = SigningKeyPair::from_seed("test TSA");
        let certificate = ca
            .certify(meter_id, 7, &key.public(), Usage::Postmark, FIXTURE_TIME - 3600, FIXTURE_TIME + 86_400)
            .expect("TSA certificate");
        Self { key, certificate }
    }

    /// The TSTInfo of a postmark of `digest` at the fixture time.
    pub fn tst_info(&self, digest: &[u8; 32]) -> Vec<u8> {
        let subject = Certificate::parse(&self.certificate).expect("certificate").subject;
        Postmark { digest: *digest, time: FIXTURE_TIME, serial: 1, meter_id: *b"PCM-TSA-TEST", nonce: None }
            .tst_info(&subject)
            .expect("TSTInfo")
    }

    /// A genuine token layout for `tst_info`, ready to be altered and signed.
    pub fn token(&self, tst_info: Vec<u8>) -> TokenBuilder {
        let cert = Certificate::parse(&self.certificate).expect("certificate");
        let signed_attributes =
            postmark::signed_attributes(&sha256(&tst_info), &sha256(&self.certificate)).expect("signed attributes");
        TokenBuilder {
            digest_algorithms: tlv::set_of(vec![algorithm(oid::SHA256.as_bytes())]),
            signer_id: tlv::seq(&[&cert.issuer, &tlv::unsigned(&cert.serial)]),
            digest_algorithm: algorithm(oid::SHA256.as_bytes()),
            signed_attributes,
            tst_info,
            certificate: self.certificate.clone(),
        }
    }
}

/// The fields of a TimeStampToken (CMS SignedData, one SignerInfo), each replaceable.
#[derive(Debug, Clone)]
pub struct TokenBuilder {
    /// SignedData digestAlgorithms (a SET).
    pub digest_algorithms: Vec<u8>,
    /// SignerInfo sid (IssuerAndSerialNumber).
    pub signer_id: Vec<u8>,
    /// SignerInfo digestAlgorithm.
    pub digest_algorithm: Vec<u8>,
    /// Signed attributes, SET-tagged as they are signed.
    pub signed_attributes: Vec<u8>,
    /// The TSTInfo encoding.
    pub tst_info: Vec<u8>,
    /// The signer certificate.
    pub certificate: Vec<u8>,
}

impl TokenBuilder {
    /// The token with its signed attributes signed by `key`.
    pub fn signed_by(&self, key: &SigningKeyPair) -> Vec<u8> {
        let signature = key.sign_digest(&sha256(&self.signed_attributes));
        let mut implicit = self.signed_attributes.clone();
        implicit[0] = tlv::explicit(0);
        let signer_info = tlv::seq(&[
            &tlv::small_unsigned(1),
            &self.signer_id,
            &self.digest_algorithm,
            &implicit,
            &x509::ecdsa_sha256_algorithm().expect("algorithm"),
            &tlv::octets(&x509::ecdsa_der_from_raw(&signature).expect("ECDSA-Sig-Value")),
        ]);
        let encap =
            tlv::seq(&[&tlv::oid(oid::TST_INFO.as_bytes()), &tlv::tlv(tlv::explicit(0), &tlv::octets(&self.tst_info))]);
        let signed_data = tlv::seq(&[
            &tlv::small_unsigned(3),
            &self.digest_algorithms,
            &encap,
            &tlv::tlv(tlv::explicit(0), &self.certificate),
            &tlv::set_of(vec![signer_info]),
        ]);
        tlv::seq(&[&tlv::oid(oid::SIGNED_DATA.as_bytes()), &tlv::tlv(tlv::explicit(0), &signed_data)])
    }
}
