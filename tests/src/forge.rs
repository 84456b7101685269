//! Builders of hostile PKI inputs for the malleability and strict-parsing
//! tests: high-S twins of every signed format, TBS encodings taken apart and
//! re-signed, and RFC 3161 tokens whose unsigned fields are chosen freely.

use crate::FIXTURE_TIME;
use crate::pki;
use apdu_specs::der::{self, Der, tag};
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
    let mut outer = Der::new(object);
    let mut s = outer.nested(tag::SEQUENCE, "signed object").expect("a signed object");
    let tbs = s.object(tag::SEQUENCE, "tbs").expect("tbs").whole.to_vec();
    s.expect(tag::SEQUENCE, "algorithm").expect("algorithm");
    let signature = x509::ecdsa_raw_from_der(s.bits("signature").expect("signature")).expect("ECDSA-Sig-Value");
    (tbs, signature)
}

/// The high-S twin of a certificate or CRL: the same TBS under r‖(n − s).
pub fn signed_object_twin(object: &[u8]) -> Vec<u8> {
    let (tbs, signature) = split_signed(object);
    x509::signed_object(&tbs, &twin(&signature))
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
    postmark::wrap_token(&parts, t.certificate).expect("re-wrapped")
}

/// The raw signature of a token.
pub fn token_signature(token: &[u8]) -> [u8; 64] {
    Token::parse(token).expect("a token").signature
}

/// `tbs` signed by `key` as a certificate, CRL or request (ecdsa-with-SHA256).
pub fn resigned(key: &SigningKeyPair, tbs: &[u8]) -> Vec<u8> {
    x509::signed_object(tbs, &key.sign_digest(&sha256(tbs)))
}

/// The encodings of the elements of a SEQUENCE (or of any constructed object).
pub fn elements(constructed: &[u8]) -> Vec<Vec<u8>> {
    let mut outer = Der::new(constructed);
    let whole = outer.any().expect("one object");
    let mut inner = Der::new(whole.content);
    let mut out = Vec::new();
    while !inner.is_empty() {
        out.push(inner.any().expect("element").whole.to_vec());
    }
    out
}

/// A SEQUENCE of already encoded elements.
pub fn sequence(elements: &[Vec<u8>]) -> Vec<u8> {
    der::seq(&elements.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

/// An X.509 extension.
pub fn extension(id: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[&der::oid(id), &der::boolean(true), &der::octets(value)])
    } else {
        der::seq(&[&der::oid(id), &der::octets(value)])
    }
}

/// An AlgorithmIdentifier with NULL parameters.
pub fn algorithm(id: &[u8]) -> Vec<u8> {
    der::seq(&[&der::oid(id), &der::tlv(tag::NULL, &[])])
}

/// SHA-384 (2.16.840.1.101.3.4.2.2): a digest PCMeter tokens never use.
pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];

/// A CMS attribute with one value.
pub fn attribute(id: &[u8], value: &[u8]) -> Vec<u8> {
    der::seq(&[&der::oid(id), &der::set_of(vec![value.to_vec()])])
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
        let subject = Certificate::parse(&self.certificate).expect("certificate").subject.to_vec();
        Postmark { digest: *digest, time: FIXTURE_TIME, serial: 1, meter_id: *b"PCM-TSA-TEST" }.tst_info(&subject)
    }

    /// A genuine token layout for `tst_info`, ready to be altered and signed.
    pub fn token(&self, tst_info: Vec<u8>) -> TokenBuilder {
        let cert = Certificate::parse(&self.certificate).expect("certificate");
        let signed_attributes = postmark::signed_attributes(&sha256(&tst_info), &sha256(&self.certificate));
        TokenBuilder {
            digest_algorithms: der::set_of(vec![algorithm(oid::SHA256)]),
            signer_id: der::seq(&[cert.issuer, &der::unsigned(cert.serial)]),
            digest_algorithm: algorithm(oid::SHA256),
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
        implicit[0] = tag::explicit(0);
        let signer_info = der::seq(&[
            &der::small_unsigned(1),
            &self.signer_id,
            &self.digest_algorithm,
            &implicit,
            &x509::ecdsa_sha256_algorithm(),
            &der::octets(&x509::ecdsa_der_from_raw(&signature)),
        ]);
        let encap = der::seq(&[&der::oid(oid::TST_INFO), &der::tlv(tag::explicit(0), &der::octets(&self.tst_info))]);
        let signed_data = der::seq(&[
            &der::small_unsigned(3),
            &self.digest_algorithms,
            &encap,
            &der::tlv(tag::explicit(0), &self.certificate),
            &der::set_of(vec![signer_info]),
        ]);
        der::seq(&[&der::oid(oid::SIGNED_DATA), &der::tlv(tag::explicit(0), &signed_data)])
    }
}
