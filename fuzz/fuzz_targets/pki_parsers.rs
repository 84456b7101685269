//! The PKI parsers on RustCrypto `der`/`x509-cert` with PCMeter's profile
//! checks on top (X.509, certificate paths, PKCS#10 inside the device
//! envelope, RFC 3161 tokens and card parts, CRLs, agent requests and
//! responses, slot records): never a panic, and what parses is
//! self-consistent and canonical (it is exactly the input, and the parts it
//! names re-encode to the same bytes).
#![no_main]
use apdu_specs::certs::{AgentRequest, AgentResponse, CertificateRequest, SlotInfo};
use apdu_specs::postmark::{self, SignedParts, Token};
use apdu_specs::x509::{self, Certificate, SignatureCheck};
use apdu_specs::{crl, csr, path, signed::Signed};
use card_core::EngineCheck;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let soft = card_core::soft_engine::verifier();
    let engine = EngineCheck(&soft);
    if let Ok(c) = Certificate::parse(data) {
        assert!(c.not_before <= c.not_after);
        assert_eq!(c.der, data);
        assert!(data.windows(c.tbs.len()).any(|w| w == c.tbs));
        assert!(x509::check_name(&c.issuer).is_ok() && x509::check_name(&c.subject).is_ok());
        // The signature re-encodes into the certificate it came from.
        let reencoded = x509::signed_object(c.tbs, &c.signature).expect("a parsed certificate re-encodes");
        assert_eq!(reencoded, data);
        // A certificate never verifies under a key it was not signed with (the fuzzer holds no CA key).
        let _ = c.check(&c.public_key, c.not_before, &engine);
    }
    if let Ok(p) = path::parse_path(data) {
        assert!(!p.is_empty() && p.len() <= path::MAX_PATH_CERTIFICATES);
        let _ = path::verify_path(&[4; 65], &p, 0, &engine);
    }
    if let Ok(r) = csr::Request::parse(data) {
        let _ = r.usage();
        let _ = engine.verify(&r.public_key, &engine.sha256(&[r.info]), &r.signature);
    }
    if let Ok(s) = Signed::parse(data) {
        if let Ok(r) = CertificateRequest::parse(s.body) {
            let _ = csr::Request::parse(r.csr);
        }
    }
    if let Ok(t) = Token::parse(data) {
        assert_eq!(t.signed_attributes_as_signed(), t.signed_attributes);
        assert!(Certificate::parse(&t.certificate).is_ok(), "the signer certificate passed the profile");
        let _ = postmark::validate(&t, &[0; 32], &t.certificate, &engine);
    }
    if let Ok(p) = SignedParts::parse(data) {
        let again = SignedParts::encode(p.tst_info, p.signed_attributes, &p.signature).expect("re-encodes");
        assert_eq!(again, data);
        let _ = postmark::TstInfo::parse(p.tst_info);
    }
    if let Ok(i) = postmark::TstInfo::parse(data) {
        let _ = i.serial;
    }
    if let Ok(r) = AgentResponse::parse(data) {
        assert_eq!(r.encode().expect("re-encodes"), data);
    }
    let _ = crl::parse_verified(data, &[4; 65], &engine);
    let _ = AgentRequest::parse(data);
    let _ = SlotInfo::parse(data);
});
