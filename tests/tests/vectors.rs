//! The transcript vectors in apdu-specs, replayed on the applet directly and
//! through host-driver's transport; their generated parts checked against
//! the generator; every status word seen checked against the reference.

use apdu_specs::sw::Sw;
use card_sim::{InProcessTransport, SharedCard};
use host_driver::transport::{CardTransaction, Transport};
use std::sync::Arc;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../apdu-specs/vectors/foundation.apdu");

fn generated_block(begin: &str) -> String {
    let keys = testkit::vector_keys();
    let mut out = String::new();
    match begin {
        "fixture" => {
            out.push_str(&format!("! anchor {}\n", hex::encode_upper(keys.issuer.public())));
            out.push_str(&format!("! serial {}\n", testkit::VECTOR_SERIAL));
            out.push_str(&format!("! time {}\n", testkit::FIXTURE_TIME));
        }
        _ => {
            for a in testkit::personalization_apdus(&keys, &testkit::vector_options()) {
                out.push_str(&format!("> {}\n< 9000\n", hex::encode_upper(a)));
            }
        }
    }
    out
}

fn regenerate(text: &str) -> String {
    let mut out = text.to_string();
    for name in ["fixture", "personalization"] {
        let begin = format!("# begin {name} (generated)\n");
        let end = format!("# end {name}\n");
        let (Some(b), Some(e)) = (out.find(&begin), out.find(&end)) else { panic!("markers for {name} missing") };
        out = format!("{}{}{}{}", &out[..b + begin.len()], generated_block(name), "", &out[e..]);
    }
    out
}

#[test]
fn generated_parts_match_the_generator() {
    let text = std::fs::read_to_string(FILE).unwrap();
    let fresh = regenerate(&text);
    if std::env::var_os("PCMETER_WRITE_VECTORS").is_some() {
        std::fs::write(FILE, &fresh).unwrap();
        return;
    }
    assert!(fresh == text, "vector file is stale: run PCMETER_WRITE_VECTORS=1 cargo test -p tests --test vectors");
}

#[test]
fn transcripts_pass_on_the_card_directly() {
    let vf = testkit::foundation_vectors();
    assert!(vf.transcripts.len() >= 2);
    for t in &vf.transcripts {
        let steps = testkit::replay_on_card(&vf, &t.name);
        let steps = steps.unwrap_or_else(|m| panic!("direct replay: {m:?}"));
        println!("transcript {}: {} exchanges on the applet", t.name, steps.len());
    }
}

#[test]
fn transcripts_pass_through_the_host_transport() {
    let vf = testkit::foundation_vectors();
    for t in &vf.transcripts {
        let shared = SharedCard::new(testkit::vector_card(&vf));
        let mut transport = InProcessTransport::new(Arc::clone(&shared));
        let cycle = Arc::clone(&shared);
        let steps = testkit::replay(
            &vf,
            &t.name,
            |c| {
                // After a power cycle the transport reports the removal once; reconnect like PC/SC.
                if transport.begin().is_err() {
                    transport.reconnect().unwrap();
                }
                let mut tx = transport.begin().unwrap();
                tx.transmit(c).unwrap()
            },
            || {
                let mut card = cycle.lock().unwrap();
                card.power_off();
                card.power_on().unwrap();
            },
        );
        steps.unwrap_or_else(|m| panic!("host replay: {m:?}"));
    }
}

#[test]
fn every_status_word_in_the_vectors_is_documented() {
    let vf = testkit::foundation_vectors();
    for t in &vf.transcripts {
        for (step, r) in testkit::replay_on_card(&vf, &t.name).unwrap() {
            let sw = Sw::from_response(&r).unwrap();
            let ins = step.capdu.get(1).copied().unwrap_or(0);
            assert!(
                testkit::documented(&step.capdu, sw),
                "line {}: SW {sw} not documented for INS {ins:02X}",
                step.line
            );
        }
    }
}
