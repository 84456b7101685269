//! Strict parsing and CRL freshness (review items 10 and 12). Every input
//! here is correctly signed by the key the verifier trusts, so what gets it
//! refused is the one field under test: a stale or future CRL, an unknown
//! critical CRL or entry extension, a keyUsage BIT STRING that is not DER, a
//! GeneralizedTime before 2050, and a postmark token whose unsigned fields
//! (signer identifier, digest algorithms), policy or attributes are wrong.

use apdu_specs::crl::{CrlContent, Revoked};
use apdu_specs::oid;
use apdu_specs::postmark::{Token, Verdict};
use apdu_specs::x509::{self, Certificate, CertificateProfile, Template, Usage};
use host_driver::MeterError;
use host_driver::certificates::{CrlAt, CrlError, PostmarkCheckError, verify_crl, verify_postmark};
use tests::FIXTURE_TIME;
use tests::forge::{self, PkiMeter, TestTsa, TokenBuilder, tlv};
use tests::pki::{self, changes_nothing, slots};

const DAY: u64 = 86_400;
/// An extension no PCMeter verifier knows (under the PCMeter arc).
const UNKNOWN_EXTENSION: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0xFF, 0x7F, 0x63];

// ------------------------------------------------------------------ CRLs

fn crl_content(f: &PkiMeter, this_update: u64, next_update: u64) -> CrlContent {
    let ca = Certificate::parse(f.ca.certificate()).unwrap();
    CrlContent {
        issuer: ca.issuer.clone(),
        this_update,
        next_update,
        number: 9,
        authority_key_id: vec![1; 20],
        revoked: vec![Revoked { serial: vec![0x01, 0x77], time: this_update, reason: 1 }],
    }
}

/// A TBSCertList with `extra` appended to its crlExtensions, or to its first entry's extensions.
fn crl_tbs_with_extension(content: &CrlContent, extra: Vec<u8>, in_entry: bool) -> Vec<u8> {
    let mut parts = forge::elements(&content.tbs().unwrap());
    let at = if in_entry { 5 } else { parts.len() - 1 };
    parts[at] = if in_entry {
        let mut entries = forge::elements(&parts[at]);
        let mut entry = forge::elements(&entries[0]);
        let mut exts = forge::elements(&entry[2]);
        exts.push(extra);
        entry[2] = forge::sequence(&exts);
        entries[0] = forge::sequence(&entry);
        forge::sequence(&entries)
    } else {
        let mut exts = forge::elements(&forge::elements(&parts[at])[0]);
        exts.push(extra);
        tlv::tlv(tlv::explicit(0), &forge::sequence(&exts))
    };
    forge::sequence(&parts)
}

#[test]
fn a_crl_from_the_future_or_past_its_next_update_is_refused_as_stale() {
    let mut f = PkiMeter::new("stale crl");
    let ca_key = f.ca.public_key();
    let future = f.ca.crl(FIXTURE_TIME + DAY, DAY).unwrap();
    assert_eq!(
        verify_crl(CrlAt { der: &future, now: FIXTURE_TIME }, &ca_key).unwrap_err(),
        CrlError::NotYetValid { this_update: FIXTURE_TIME + DAY, now: FIXTURE_TIME }
    );
    let expired = f.ca.crl(FIXTURE_TIME - 2 * DAY, DAY).unwrap();
    assert_eq!(
        verify_crl(CrlAt { der: &expired, now: FIXTURE_TIME }, &ca_key).unwrap_err(),
        CrlError::Expired { next_update: FIXTURE_TIME - DAY, now: FIXTURE_TIME }
    );
    // The postmark check says why it reached no verdict.
    let tsa = TestTsa::new(&mut f.ca, &f.meter_id);
    let message = b"stale";
    let token = tsa.token(tsa.tst_info(&forge::sha256(message))).signed_by(&tsa.key);
    let e = verify_postmark(&token, message, &ca_key, Some(CrlAt { der: &expired, now: FIXTURE_TIME })).unwrap_err();
    assert!(matches!(e, PostmarkCheckError::Crl(CrlError::Expired { .. })), "{e:?}");
    assert!(e.to_string().contains("nextUpdate"), "{e}");
    // Current from thisUpdate through nextUpdate, both included.
    let current = f.ca.crl(FIXTURE_TIME, DAY).unwrap();
    for now in [FIXTURE_TIME, FIXTURE_TIME + DAY] {
        verify_crl(CrlAt { der: &current, now }, &ca_key).unwrap();
        let v = verify_postmark(&token, message, &ca_key, Some(CrlAt { der: &current, now })).unwrap();
        assert_eq!(v, Verdict::Valid);
    }
}

#[test]
fn a_crl_with_an_unknown_critical_extension_is_refused() {
    let f = PkiMeter::new("critical crl");
    let ca_key = f.ca.public_key();
    let content = crl_content(&f, FIXTURE_TIME, FIXTURE_TIME + DAY);
    let at = CrlAt { der: &[], now: FIXTURE_TIME };
    for in_entry in [false, true] {
        let benign = forge::extension(UNKNOWN_EXTENSION, false, &tlv::octets(b"note"));
        let crl = forge::resigned(&f.keys.ca, &crl_tbs_with_extension(&content, benign, in_entry));
        let list = verify_crl(CrlAt { der: &crl, ..at }, &ca_key).unwrap();
        assert!(list.lists(&[0x01, 0x77]), "a non-critical unknown extension is ignored");

        let critical = forge::extension(UNKNOWN_EXTENSION, true, &tlv::octets(b"obey me"));
        let crl = forge::resigned(&f.keys.ca, &crl_tbs_with_extension(&content, critical, in_entry));
        let e = verify_crl(CrlAt { der: &crl, ..at }, &ca_key).unwrap_err();
        assert!(matches!(e, CrlError::Malformed(_)), "in entry: {in_entry}: {e:?}");
    }
}

#[test]
fn a_crl_with_a_generalized_time_before_2050_is_refused() {
    let f = PkiMeter::new("crl time");
    let content = crl_content(&f, FIXTURE_TIME, FIXTURE_TIME + DAY);
    let mut parts = forge::elements(&content.tbs().unwrap());
    assert_eq!(parts[3], tlv::x509_time(FIXTURE_TIME));
    parts[3] = tlv::generalized_time(FIXTURE_TIME);
    let crl = forge::resigned(&f.keys.ca, &forge::sequence(&parts));
    let e = verify_crl(CrlAt { der: &crl, now: FIXTURE_TIME }, &f.ca.public_key()).unwrap_err();
    assert!(matches!(e, CrlError::Malformed(_)), "{e:?}");
}

// ---------------------------------------------------------- certificates

/// A CA-signed TBS for the key in `slot`, with `tweak` applied to its elements.
fn certificate_for(f: &mut PkiMeter, slot: u8, tweak: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    let public = f.meter.read_slot(slot).unwrap().public_key.unwrap();
    let issuer = Certificate::parse(f.ca.certificate()).unwrap().subject;
    let subject = pki::subject("strict");
    let tbs = Template {
        serial: &[0x42, 0x01],
        issuer: &issuer,
        subject: &subject,
        not_before: FIXTURE_TIME - 60,
        not_after: FIXTURE_TIME + DAY,
        public_key: &public,
        profile: CertificateProfile::Slot(Usage::Signature),
        subject_key_id: &[3; 20],
        authority_key_id: &[4; 20],
    }
    .tbs()
    .unwrap();
    let mut parts = forge::elements(&tbs);
    tweak(&mut parts);
    forge::resigned(&f.keys.ca, &forge::sequence(&parts))
}

fn replace(haystack: &mut [u8], needle: &[u8], with: &[u8]) {
    let at = haystack.windows(needle.len()).position(|w| w == needle).expect("pattern present");
    haystack[at..at + with.len()].copy_from_slice(with);
}

#[test]
fn a_key_usage_that_is_not_minimal_der_is_refused_by_card_and_host() {
    let mut f = PkiMeter::new("key usage");
    f.meter.generate_key_pair(slots::SIGNATURE, Usage::Signature).unwrap();
    // digitalSignature | nonRepudiation is 03 02 06 C0 in DER.
    let genuine_key_usage = [0x03, 0x02, 0x06, 0xC0];
    for (what, bad) in [
        ("padding bit set", [0x03, 0x02, 0x06, 0xC1]),
        ("padding bits counted as used", [0x03, 0x02, 0x05, 0xC0]),
        ("a used bit declared unused", [0x03, 0x02, 0x07, 0xC0]),
        ("no bit set", [0x03, 0x02, 0x00, 0x00]),
    ] {
        let cert = certificate_for(&mut f, slots::SIGNATURE, |p| replace(&mut p[7], &genuine_key_usage, &bad));
        assert!(Certificate::parse(&cert).is_err(), "{what}");
        let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::SIGNATURE, &cert));
        assert!(matches!(e, MeterError::BadData { .. }), "{what}: {e:?}");
    }
    let genuine = certificate_for(&mut f, slots::SIGNATURE, |_| {});
    f.meter.install_certificate(slots::SIGNATURE, &genuine).unwrap();
}

#[test]
fn a_certificate_validity_in_generalized_time_before_2050_is_refused_by_card_and_host() {
    let mut f = PkiMeter::new("validity time");
    f.meter.generate_key_pair(slots::SIGNATURE, Usage::Signature).unwrap();
    let cert = certificate_for(&mut f, slots::SIGNATURE, |p| {
        p[4] = tlv::seq(&[&tlv::generalized_time(FIXTURE_TIME - 60), &tlv::generalized_time(FIXTURE_TIME + DAY)]);
    });
    assert!(Certificate::parse(&cert).is_err());
    let e = changes_nothing(&mut f.meter, |m| m.install_certificate(slots::SIGNATURE, &cert));
    assert!(matches!(e, MeterError::BadData { .. }), "{e:?}");
    // From 2050 on GeneralizedTime is the only form, and it is read.
    let far = certificate_for(&mut f, slots::SIGNATURE, |p| {
        p[4] = tlv::seq(&[&tlv::x509_time(FIXTURE_TIME - 60), &tlv::generalized_time(2_524_608_000)]);
    });
    assert_eq!(Certificate::parse(&far).unwrap().not_after, 2_524_608_000);
    f.meter.install_certificate(slots::SIGNATURE, &far).unwrap();
}

// ---------------------------------------------------------------- tokens

/// Checks that a correctly signed token with one wrong field is refused by the
/// token parser, the host verifier and the card (6A80, nothing charged).
fn refused_everywhere(f: &mut PkiMeter, what: &str, token: &[u8], message: &[u8]) {
    assert!(Token::parse(token).is_err(), "{what}: parsed");
    let e = verify_postmark(token, message, &f.ca.public_key(), None).unwrap_err();
    assert!(matches!(e, PostmarkCheckError::Malformed(_)), "{what}: {e:?}");
    let digest = forge::sha256(message);
    let e = changes_nothing(&mut f.meter, |m| m.validate_postmark(&digest, token));
    assert!(matches!(e, MeterError::BadData { .. }), "{what}: {e:?}");
}

/// One change to a genuine token layout.
type Tweak<'a> = Box<dyn Fn(&mut TokenBuilder) + 'a>;

#[test]
fn postmark_tokens_with_a_wrong_signer_id_digest_algorithm_policy_or_duplicate_attribute_are_refused() {
    let mut f = PkiMeter::new("strict tokens");
    let tsa = TestTsa::new(&mut f.ca, &f.meter_id);
    let message = b"strict token";
    let genuine = tsa.token(tsa.tst_info(&forge::sha256(message)));
    // The builder's genuine token is valid on the card and off it.
    let token = genuine.signed_by(&tsa.key);
    assert_eq!(verify_postmark(&token, message, &f.ca.public_key(), None).unwrap(), Verdict::Valid);
    assert_eq!(f.meter.validate_postmark(&forge::sha256(message), &token).unwrap(), Verdict::Valid);

    let cert = Certificate::parse(&tsa.certificate).unwrap();
    let other_issuer = x509::name(&[(oid::COMMON_NAME, "Somebody Else")]).unwrap();
    let sha384 = forge::algorithm(forge::SHA384);
    let sha256 = forge::algorithm(oid::SHA256.as_bytes());
    let variants: Vec<(&str, Tweak)> = vec![
        (
            "signer serial of another certificate",
            Box::new(|t| t.signer_id = tlv::seq(&[&cert.issuer, &tlv::unsigned(&[0x55])])),
        ),
        (
            "signer issuer of another CA",
            Box::new(|t| t.signer_id = tlv::seq(&[&other_issuer, &tlv::unsigned(&cert.serial)])),
        ),
        ("digestAlgorithms SHA-384 only", Box::new(|t| t.digest_algorithms = tlv::set_of(vec![sha384.clone()]))),
        (
            "digestAlgorithms with an extra SHA-384",
            Box::new(|t| t.digest_algorithms = tlv::set_of(vec![sha256.clone(), sha384.clone()])),
        ),
        ("signer digest algorithm SHA-384", Box::new(|t| t.digest_algorithm = sha384.clone())),
        (
            "another policy",
            Box::new(|t| {
                let mut policy = oid::POSTMARK_POLICY.to_vec();
                *policy.last_mut().unwrap() ^= 0x01;
                replace(&mut t.tst_info, oid::POSTMARK_POLICY, &policy);
                t.signed_attributes = apdu_specs::postmark::signed_attributes(
                    &forge::sha256(&t.tst_info),
                    &forge::sha256(&t.certificate),
                )
                .unwrap();
            }),
        ),
        (
            "messageDigest twice",
            Box::new(|t| {
                let mut attrs = forge::elements(&t.signed_attributes);
                attrs.push(forge::attribute(oid::MESSAGE_DIGEST.as_bytes(), &tlv::octets(&forge::sha256(&t.tst_info))));
                t.signed_attributes = tlv::set_of(attrs);
            }),
        ),
    ];
    for (what, tweak) in variants {
        let mut t = genuine.clone();
        tweak(&mut t);
        refused_everywhere(&mut f, what, &t.signed_by(&tsa.key), message);
    }
}
