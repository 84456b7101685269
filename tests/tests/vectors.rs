//! The transcript vectors in apdu-specs, replayed on the applet directly and
//! through host-driver's transport; their generated parts checked against
//! the generator; every status word seen checked against the reference.
//!
//! `foundation.apdu` is written by hand around two generated blocks;
//! `authority.apdu` (the authority protocols: recharge, inspection, lock
//! orders, revocation, line of credit and PAY) is generated whole by
//! [`authority_block`] from the vector keys: it runs the commands on a vector
//! card, writes each exchange, and asserts the status word each step is
//! meant to show, so the file can only say what the card does.

mod authority_vectors;

use apdu_specs::sw::Sw;
use card_sim::{InProcessTransport, SharedCard};
use host_driver::transport::{CardTransaction, Transport};
use std::sync::Arc;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../apdu-specs/vectors/foundation.apdu");
const AUTHORITY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../apdu-specs/vectors/authority.apdu");

/// Every vector file.
fn vector_files() -> Vec<(&'static str, apdu_specs::vectors::VectorFile)> {
    vec![
        ("foundation", testkit::foundation_vectors()),
        (
            "authority",
            apdu_specs::vectors::VectorFile::parse(apdu_specs::vectors::files::AUTHORITY)
                .unwrap_or_else(|e| panic!("authority.apdu: {e}")),
        ),
    ]
}

fn generated_block(begin: &str) -> String {
    let keys = testkit::vector_keys();
    let mut out = String::new();
    match begin {
        "fixture" => {
            out.push_str(&format!("! anchor {}\n", hex::encode_upper(keys.issuer.public())));
            out.push_str(&format!("! serial {}\n", testkit::VECTOR_SERIAL));
            out.push_str(&format!("! time {}\n", testkit::FIXTURE_TIME));
        }
        "authority" => out = authority_vectors::authority_block(),
        _ => {
            for a in testkit::personalization_apdus(&keys, &testkit::vector_options()) {
                out.push_str(&format!("> {}\n< 9000\n", hex::encode_upper(a)));
            }
        }
    }
    out
}

fn regenerate(text: &str, blocks: &[&str]) -> String {
    let mut out = text.to_string();
    for &name in blocks {
        let begin = format!("# begin {name} (generated)\n");
        let end = format!("# end {name}\n");
        let (Some(b), Some(e)) = (out.find(&begin), out.find(&end)) else { panic!("markers for {name} missing") };
        out = format!("{}{}{}{}", &out[..b + begin.len()], generated_block(name), "", &out[e..]);
    }
    out
}

fn check_generated(path: &str, blocks: &[&str]) {
    let text = std::fs::read_to_string(path).unwrap();
    let fresh = regenerate(&text, blocks);
    if std::env::var_os("PCMETER_WRITE_VECTORS").is_some() {
        std::fs::write(path, &fresh).unwrap();
        return;
    }
    assert!(fresh == text, "{path} is stale: run PCMETER_WRITE_VECTORS=1 cargo test -p tests --test vectors");
}

#[test]
fn generated_parts_match_the_generator() {
    check_generated(FILE, &["fixture", "personalization"]);
}

#[test]
fn the_authority_file_matches_its_generator() {
    check_generated(AUTHORITY_FILE, &["authority"]);
}

#[test]
fn every_authority_command_has_a_transcript() {
    use apdu_specs::commands::ins;
    let (_, vf) = vector_files().pop().unwrap();
    for command in [
        ins::RECHARGE_INIT,
        ins::RECHARGE_CREDIT,
        ins::GET_RECHARGE_PROOF,
        ins::INSPECTION_REPORT,
        ins::INSPECTION_ACK,
        ins::LOCK_ORDER,
        ins::REVOCATION_REQUEST,
        ins::REVOKE,
        ins::INSTALL_CREDIT_LINE,
        ins::PAY,
    ] {
        let sent = vf.transcripts.iter().flat_map(|t| &t.steps).filter(|s| s.capdu.get(1) == Some(&command));
        let sws: std::collections::BTreeSet<u16> = sent.filter_map(|s| s.expect.exact_sw()).collect();
        assert!(sws.contains(&0x9000), "INS {command:02X}: no accepted exchange in authority.apdu");
        assert!(sws.iter().any(|sw| *sw != 0x9000), "INS {command:02X}: no refusal in authority.apdu");
    }
    for tag in [[0xDF, 0x26], [0xDF, 0x27], [0xDF, 0x28]] {
        let read = vf.transcripts.iter().flat_map(|t| &t.steps).any(|s| {
            s.capdu.get(1) == Some(&ins::GET_DATA)
                && s.capdu.get(2..4) == Some(&tag[..])
                && s.expect.exact_sw() == Some(0x9000)
        });
        assert!(read, "GET DATA {:02X}{:02X}: no transcript reads it", tag[0], tag[1]);
    }
}

#[test]
fn transcripts_pass_on_the_card_directly() {
    for (file, vf) in vector_files() {
        assert!(vf.transcripts.len() >= 2, "{file}");
        for t in &vf.transcripts {
            let steps = testkit::replay_on_card(&vf, &t.name);
            let steps = steps.unwrap_or_else(|m| panic!("{file}: direct replay: {m:?}"));
            println!("{file} transcript {}: {} exchanges on the applet", t.name, steps.len());
        }
    }
}

#[test]
fn transcripts_pass_through_the_host_transport() {
    for (file, vf) in vector_files() {
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
            steps.unwrap_or_else(|m| panic!("{file}: host replay: {m:?}"));
        }
    }
}

#[test]
fn every_status_word_in_the_vectors_is_documented() {
    for (file, vf) in vector_files() {
        for t in &vf.transcripts {
            for (step, r) in testkit::replay_on_card(&vf, &t.name).unwrap() {
                let sw = Sw::from_response(&r).unwrap();
                let ins = step.capdu.get(1).copied().unwrap_or(0);
                assert!(
                    testkit::documented(&step.capdu, sw),
                    "{file} line {}: SW {sw} not documented for INS {ins:02X}",
                    step.line
                );
            }
        }
    }
}
