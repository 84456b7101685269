//! The DER parsers of the certificate services (X.509, PKCS#10 inside the
//! device envelope, RFC 3161 tokens and card parts, CRLs, agent requests,
//! slot records): never a panic, and what parses is self-consistent.
#![no_main]
use apdu_specs::certs::{AgentRequest, CertificateRequest, SlotInfo};
use apdu_specs::postmark::{self, SignedParts, Token};
use apdu_specs::x509::{Certificate, SignatureCheck};
use card_core::EngineCheck;
use apdu_specs::{crl, csr, signed::Signed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let soft = card_core::soft_engine::verifier();
    let engine = EngineCheck(&soft);
    if let Ok(c) = Certificate::parse(data) {
        assert!(c.not_before <= c.not_after);
        assert_eq!(c.public_key.len(), 65);
        assert!(data.windows(c.tbs.len()).any(|w| w == c.tbs));
        // A certificate never verifies under a key it was not signed with (the fuzzer holds no CA key).
        let _ = c.check(c.public_key, c.not_before, &engine);
    }
    if let Ok(r) = csr::Request::parse(data) {
        let _ = r.usage();
        let _ = engine.verify(r.public_key, &engine.sha256(&[r.info]), &r.signature);
    }
    if let Ok(s) = Signed::parse(data) {
        if let Ok(r) = CertificateRequest::parse(s.body) {
            let _ = csr::Request::parse(r.csr);
        }
    }
    if let Ok(t) = Token::parse(data) {
        let attrs = t.signed_attributes_as_signed();
        assert_eq!(attrs.len(), t.signed_attributes.len());
        let _ = postmark::validate(&t, &[0; 32], t.certificate, &engine);
    }
    if let Ok(p) = SignedParts::parse(data) {
        let _ = postmark::TstInfo::parse(p.tst_info);
        if let Ok(c) = Certificate::parse(data) {
            let _ = postmark::wrap_token(&p, c.der);
        }
    }
    let _ = crl::parse_verified(data, &[4; 65], &engine);
    let _ = AgentRequest::parse(data);
    let _ = SlotInfo::parse(data);
});
