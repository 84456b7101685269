//! Strict parsing and CRL freshness (review items 10 and 12). Every input
//! here is correctly signed by the key the verifier trusts, so what gets it
//! refused is the one field under test: a stale or future CRL, an unknown
//! critical CRL or entry extension, a keyUsage BIT STRING that is not DER, a
//! GeneralizedTime before 2050, and a postmark token whose unsigned fields
//! (signer identifier, digest algorithms), policy or attributes are wrong.

use apdu_specs::FormatError;
use apdu_specs::crl::{CrlContent, Revoked};
use apdu_specs::oid;
use apdu_specs::postmark::{Token, Verdict};
use apdu_specs::x509::{self, Certificate, CertificateProfile, Template, Usage};
use host_driver::certificates::{CrlAt, CrlError, PostmarkCheckError, verify_crl, verify_postmark};
use host_driver::{CardStatus, MeterError};
use testkit::FIXTURE_TIME;
use testkit::forge::{self, PkiMeter, TestTsa, TokenBuilder, tlv};
use testkit::pki::{self, changes_nothing, slots};

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
    let public = f.meter.run(|tx| tx.read_slot(slot)).unwrap().public_key.unwrap();
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
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
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
        let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::SIGNATURE, &cert)));
        assert!(matches!(e, MeterError::Card(CardStatus::BadData)), "{what}: {e:?}");
    }
    let genuine = certificate_for(&mut f, slots::SIGNATURE, |_| {});
    f.meter.run(|tx| tx.install_certificate(slots::SIGNATURE, &genuine)).unwrap();
}

#[test]
fn a_certificate_validity_in_generalized_time_before_2050_is_refused_by_card_and_host() {
    let mut f = PkiMeter::new("validity time");
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let cert = certificate_for(&mut f, slots::SIGNATURE, |p| {
        p[4] = tlv::seq(&[&tlv::generalized_time(FIXTURE_TIME - 60), &tlv::generalized_time(FIXTURE_TIME + DAY)]);
    });
    assert!(Certificate::parse(&cert).is_err());
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::SIGNATURE, &cert)));
    assert!(matches!(e, MeterError::Card(CardStatus::BadData)), "{e:?}");
    // From 2050 on GeneralizedTime is the only form, and it is read.
    let far = certificate_for(&mut f, slots::SIGNATURE, |p| {
        p[4] = tlv::seq(&[&tlv::x509_time(FIXTURE_TIME - 60), &tlv::generalized_time(2_524_608_000)]);
    });
    assert_eq!(Certificate::parse(&far).unwrap().not_after, 2_524_608_000);
    f.meter.run(|tx| tx.install_certificate(slots::SIGNATURE, &far)).unwrap();
}

// ---------------------------------------------------------------- tokens

/// Checks that a correctly signed token with one wrong field is refused by the
/// token parser, the host verifier and the card (6A80, nothing charged).
fn refused_everywhere(f: &mut PkiMeter, what: &str, token: &[u8], message: &[u8]) {
    assert!(Token::parse(token).is_err(), "{what}: parsed");
    let e = verify_postmark(token, message, &f.ca.public_key(), None).unwrap_err();
    assert!(matches!(e, PostmarkCheckError::Malformed(_)), "{what}: {e:?}");
    let digest = forge::sha256(message);
    let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.validate_postmark(&digest, token)));
    assert!(matches!(e, MeterError::Card(CardStatus::BadData)), "{what}: {e:?}");
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
    assert_eq!(f.meter.run(|tx| tx.validate_postmark(&forge::sha256(message), &token)).unwrap(), Verdict::Valid);

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

// ------------------------------------------------- the profile, rule by rule

/// A change to the elements of a genuine encoding.
type Mutation = Box<dyn Fn(&mut Vec<Vec<u8>>)>;

/// One refused input: what it breaks, how it is made from a genuine encoding,
/// and the exact error the parser must give.
struct Refusal {
    rule: &'static str,
    mutate: Mutation,
    error: FormatError,
}

fn refusal(rule: &'static str, error: FormatError, mutate: impl Fn(&mut Vec<Vec<u8>>) + 'static) -> Refusal {
    Refusal { rule, mutate: Box::new(mutate), error }
}

/// Replaces the extension list (element 7 of the TBS) with `f` applied to its extensions.
fn with_extensions(p: &mut [Vec<u8>], f: impl Fn(&mut Vec<Vec<u8>>)) {
    let mut exts = forge::elements(&forge::elements(&p[7])[0]);
    f(&mut exts);
    p[7] = tlv::tlv(tlv::explicit(3), &forge::sequence(&exts));
}

fn spki_with(curve: &[u8], bits: &[u8]) -> Vec<u8> {
    let algorithm = tlv::seq(&[&tlv::oid(oid::EC_PUBLIC_KEY.as_bytes()), &tlv::oid(curve)]);
    tlv::seq(&[&algorithm, &tlv::tlv(0x03, bits)])
}

fn invalid(what: &'static str) -> FormatError {
    FormatError::Invalid(what)
}

/// Every rule of PCMeter's certificate profile, checked after `x509-cert`'s
/// generic parse: each input is a genuine CA-signed certificate with one
/// field broken (and re-signed, so only that field is wrong). The parser
/// names the rule, and the card refuses the certificate with 6A80 and
/// changes nothing.
#[test]
fn refused_inputs() {
    use apdu_specs::der::ErrorKind;
    let mut f = PkiMeter::new("refused inputs");
    f.meter.run(|tx| tx.generate_key_pair(slots::SIGNATURE, Usage::Signature)).unwrap();
    let sha384_ecdsa = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03];
    let p384 = [0x2B, 0x81, 0x04, 0x00, 0x22];
    let ski = |critical: Option<bool>| {
        let value = tlv::octets(&tlv::octets(&[3; 20]));
        let id = tlv::oid(oid::SUBJECT_KEY_ID.as_bytes());
        match critical {
            Some(c) => tlv::seq(&[&id, &tlv::boolean(c), &value]),
            None => tlv::seq(&[&id, &value]),
        }
    };
    let basic_constraints = |value: Vec<u8>| forge::extension(oid::BASIC_CONSTRAINTS.as_bytes(), true, &value);
    let tbs_rules = vec![
        refusal("version absent (v1)", invalid("version"), |p| drop(p.remove(0))),
        refusal("version v2", invalid("version"), |p| p[0] = tlv::tlv(tlv::explicit(0), &tlv::small_unsigned(1))),
        refusal("negative serial", invalid("serial"), |p| p[1] = tlv::tlv(0x02, &[0x80, 1])),
        refusal("21-octet serial", FormatError::TooLarge("serial"), |p| p[1] = tlv::unsigned(&[1; 21])),
        refusal("TBS signature ecdsa-with-SHA384", invalid("signature algorithm"), move |p| {
            p[2] = tlv::seq(&[&tlv::oid(&sha384_ecdsa)])
        }),
        refusal("TBS signature algorithm with NULL parameters", invalid("signature algorithm"), |p| {
            p[2] = forge::algorithm(oid::ECDSA_WITH_SHA256.as_bytes())
        }),
        refusal("an empty RDN", invalid("relative distinguished name"), |p| p[5] = tlv::seq(&[&tlv::tlv(0x31, &[])])),
        refusal("an attribute value that is not a directory string", invalid("attribute value"), |p| {
            let atv = tlv::seq(&[&tlv::oid(oid::COMMON_NAME.as_bytes()), &tlv::tlv(0x02, &[1])]);
            p[5] = tlv::seq(&[&tlv::set_of(vec![atv])]);
        }),
        refusal("notBefore in GeneralizedTime before 2050", invalid("not before"), |p| {
            p[4] = tlv::seq(&[&tlv::generalized_time(FIXTURE_TIME - 60), &tlv::x509_time(FIXTURE_TIME + DAY)]);
        }),
        refusal("notAfter before notBefore", invalid("validity"), |p| {
            p[4] = tlv::seq(&[&tlv::x509_time(FIXTURE_TIME), &tlv::x509_time(FIXTURE_TIME - 1)]);
        }),
        refusal("a P-384 key", invalid("key algorithm"), move |p| {
            p[6] = spki_with(&p384, &[&[0, 4][..], &[7; 96]].concat())
        }),
        refusal("an RSA key", invalid("key algorithm"), |p| {
            let rsa =
                tlv::seq(&[&tlv::oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]), &tlv::tlv(0x05, &[])]);
            p[6] = tlv::seq(&[&rsa, &tlv::bits(&[0x30, 0])]);
        }),
        refusal("a compressed point", invalid("public key"), |p| {
            p[6] = spki_with(oid::P256.as_bytes(), &[&[0, 2][..], &[7; 32]].concat())
        }),
        refusal("a point with unused bits", invalid("public key"), |p| {
            p[6] = spki_with(oid::P256.as_bytes(), &[&[1, 4][..], &[8; 64]].concat())
        }),
        refusal("an extension twice", invalid("duplicate extension"), move |p| {
            with_extensions(p, |e| e.push(ski(None)))
        }),
        refusal("an unknown critical extension", invalid("unknown critical extension"), |p| {
            with_extensions(p, |e| e.push(forge::extension(UNKNOWN_EXTENSION, true, &tlv::octets(b"obey"))))
        }),
        refusal("critical FALSE encoded (DER omits the default)", invalid("certificate"), move |p| {
            with_extensions(p, |e| e[1] = ski(Some(false)))
        }),
        refusal("basicConstraints: a path length without cA", invalid("basic constraints"), move |p| {
            with_extensions(p, |e| e.push(basic_constraints(tlv::seq(&[&tlv::small_unsigned(0)]))))
        }),
        refusal("basicConstraints: cA FALSE encoded", invalid("basic constraints"), move |p| {
            with_extensions(p, |e| e.push(basic_constraints(tlv::seq(&[&tlv::boolean(false)]))))
        }),
        refusal("keyUsage not in DER", invalid("key usage"), |p| {
            with_extensions(p, |e| replace(&mut e[0], &[0x03, 0x02, 0x06, 0xC0], &[0x03, 0x02, 0x05, 0xC0]))
        }),
    ];
    for r in tbs_rules {
        let cert = certificate_for(&mut f, slots::SIGNATURE, &r.mutate);
        assert_eq!(Certificate::parse(&cert).unwrap_err(), r.error, "{}", r.rule);
        let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::SIGNATURE, &cert)));
        assert!(matches!(e, MeterError::Card(CardStatus::BadData)), "{}: {e:?}", r.rule);
    }

    // The signed envelope: outer algorithm and signature encoding.
    let genuine = certificate_for(&mut f, slots::SIGNATURE, |_| {});
    let outer_rules = vec![
        refusal("outer signature algorithm with NULL parameters", invalid("signature algorithm"), |o| {
            o[1] = forge::algorithm(oid::ECDSA_WITH_SHA256.as_bytes())
        }),
        refusal("signature BIT STRING with unused bits", invalid("signature"), |o| o[2][2] = 1),
        refusal(
            "ECDSA-Sig-Value with a negative r",
            FormatError::Der {
                what: "ECDSA signature",
                kind: ErrorKind::Value { tag: apdu_specs::der::Tag::Integer },
                position: Some(5),
            },
            |o| o[2] = tlv::bits(&tlv::seq(&[&tlv::tlv(0x02, &[0x80]), &tlv::small_unsigned(1)])),
        ),
        refusal("ECDSA-Sig-Value with a 33-octet r", invalid("ECDSA signature"), |o| {
            o[2] = tlv::bits(&tlv::seq(&[&tlv::unsigned(&[1; 33]), &tlv::small_unsigned(1)]))
        }),
    ];
    for r in outer_rules {
        let mut outer = forge::elements(&genuine);
        (r.mutate)(&mut outer);
        let cert = forge::sequence(&outer);
        assert_eq!(Certificate::parse(&cert).unwrap_err(), r.error, "{}", r.rule);
        let e = changes_nothing(&mut f.meter, |m| m.run(|tx| tx.install_certificate(slots::SIGNATURE, &cert)));
        assert!(matches!(e, MeterError::Card(CardStatus::BadData)), "{}: {e:?}", r.rule);
    }

    // Malformed DER: the error says where.
    let truncated = Certificate::parse(&genuine[..genuine.len() - 1]).unwrap_err();
    assert!(matches!(truncated, FormatError::Der { what: "certificate", position: Some(_), .. }), "{truncated:?}");
    let trailing = Certificate::parse(&[&genuine[..], &[0]].concat()).unwrap_err();
    assert!(
        matches!(trailing, FormatError::Der { kind: ErrorKind::TrailingData { .. }, position: Some(p), .. } if p as usize == genuine.len()),
        "{trailing:?}"
    );
    f.meter.run(|tx| tx.install_certificate(slots::SIGNATURE, &genuine)).unwrap();
}

/// The CRL and PKCS#10 rules on top of `x509-cert`'s parse.
#[test]
fn refused_crls_and_requests() {
    use apdu_specs::crl::parse_verified;
    use apdu_specs::csr::Request;
    let f = PkiMeter::new("refused crls");
    let ca_key = f.ca.public_key();
    let engine = card_core::soft_engine::verifier();
    let check = card_core::EngineCheck(&engine);
    let content = crl_content(&f, FIXTURE_TIME, FIXTURE_TIME + DAY);
    let crl_rules = vec![
        refusal("CRL v1", invalid("CRL version"), |p| p[0] = tlv::small_unsigned(0)),
        refusal("no nextUpdate", FormatError::Missing("nextUpdate"), |p| drop(p.remove(4))),
        refusal("CRL signature algorithm with NULL parameters", invalid("signature algorithm"), |p| {
            p[1] = forge::algorithm(oid::ECDSA_WITH_SHA256.as_bytes())
        }),
    ];
    for r in crl_rules {
        let mut parts = forge::elements(&content.tbs().unwrap());
        (r.mutate)(&mut parts);
        let crl = forge::resigned(&f.keys.ca, &forge::sequence(&parts));
        assert_eq!(parse_verified(&crl, &ca_key, &check).unwrap_err(), r.error, "{}", r.rule);
    }
    let foreign = forge::resigned(&f.keys.authority, &content.tbs().unwrap());
    assert_eq!(parse_verified(&foreign, &ca_key, &check).unwrap_err(), invalid("CRL signature"));

    let mut point = [5u8; 65];
    point[0] = 4;
    let subject = pki::subject("request");
    let info = apdu_specs::csr::request_info(&subject, &point, Usage::Signature).unwrap();
    let csr_rules = vec![
        refusal(
            "version 1",
            FormatError::Der {
                what: "certification request",
                kind: apdu_specs::der::ErrorKind::Value { tag: apdu_specs::der::Tag::Integer },
                // `der` reports no position for an ENUMERATED-style value out of range.
                position: None,
            },
            |p| p[0] = tlv::small_unsigned(1),
        ),
        refusal("a P-384 key", invalid("key algorithm"), |p| {
            p[2] = spki_with(&[0x2B, 0x81, 0x04, 0x00, 0x22], &[&[0, 4][..], &[7; 96]].concat())
        }),
        refusal("an extensionRequest with two values", invalid("requested extensions"), |p| {
            let attribute = forge::elements(&p[3])[0].clone();
            let mut parts = forge::elements(&attribute);
            let value = forge::elements(&parts[1])[0].clone();
            parts[1] = tlv::set_of(vec![value.clone(), tlv::seq(&[&value])]);
            p[3] = tlv::tlv(tlv::explicit(0), &forge::sequence(&parts));
        }),
    ];
    for r in csr_rules {
        let mut parts = forge::elements(&info);
        (r.mutate)(&mut parts);
        let request = forge::resigned(&f.keys.ca, &forge::sequence(&parts));
        assert_eq!(Request::parse(&request).unwrap_err(), r.error, "{}", r.rule);
    }
}
