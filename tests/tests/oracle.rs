//! The fuzzers' invariant oracle as a stateful property test, run by CI on
//! every change: sequences of valid and mutated commands of every INS of the
//! command table, certificate services included, against a personalized card
//! with certified slots and the PIN verified, the oracle after every APDU.
//! Every run sends exactly `CASES × APDUS_PER_CASE` = 6,400 APDUs. A failure
//! shrinks to a minimal APDU sequence and is printed in transcript-vector
//! form, ready to append under "# Regressions" in
//! `apdu-specs/vectors/foundation.apdu`.

use apdu_specs::capdu;
use apdu_specs::commands::{COMMANDS, Lookup, ins, lookup};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeSet;
use std::sync::Mutex;
use testkit::oracle::{Oracle, fresh_card};
use testkit::services::{self, Services};
use testkit::{FIXTURE_TIME, signed_table};

/// Sequences per run.
const CASES: u32 = 128;
/// APDUs in every sequence.
const APDUS_PER_CASE: usize = 50;

/// One valid command of every INS of the table, with an Le that takes the
/// whole response (extended when the data needs it).
fn table_commands(services: &Services) -> impl Strategy<Value = Vec<Vec<u8>>> + use<> {
    let apdus: Vec<Vec<u8>> = services.commands.iter().map(|c| c.apdu(65_536)).collect();
    proptest::sample::select(apdus).prop_map(|a| vec![a])
}

/// The table's valid RECHARGE CREDIT stands for "S2 answering the last S1"
/// (no sequence can know the card's nonce in advance): it becomes that S2,
/// signed by the vector authority, when the card has signed an S1.
fn answer_last_request(apdu: &[u8], last_s1: &Option<Vec<u8>>) -> Vec<u8> {
    let placeholder = capdu::encode([0x80, ins::RECHARGE_CREDIT, 0, 0], services::RECHARGE_PLACEHOLDER, 0, false);
    let placeholders =
        [placeholder, capdu::encode([0x80, ins::RECHARGE_CREDIT, 0, 0], services::RECHARGE_PLACEHOLDER, 65_536, true)];
    match last_s1 {
        Some(s1) if placeholders.iter().any(|p| p.as_deref() == Ok(apdu)) => {
            capdu::encode([0x80, ins::RECHARGE_CREDIT, 0, 0], &services::authorize(s1), 0, false).unwrap()
        }
        _ => apdu.to_vec(),
    }
}

/// Valid commands of every kind the card knows.
fn valid(services: &Services) -> impl Strategy<Value = Vec<Vec<u8>>> + use<> {
    prop_oneof![
        8 => table_commands(services),
        4 => (1u8..=4, 0u32..2500).prop_map(|(c, g)| vec![testkit::indicium_apdu(c, g)]),
        1 => Just(vec![testkit::verify_apdu("123456")]),
        1 => Just(vec![testkit::verify_apdu("000000")]),
        1 => Just(vec![vec![0x00, 0x20, 0xFF, 0x81]]),
        1 => prop_oneof![Just(0xDF20u16), Just(0xDF21), Just(0xDF22), Just(0xDF23), Just(0xDF24), any::<u16>()]
            .prop_map(|t| vec![vec![0x00, 0xCA, (t >> 8) as u8, t as u8, 0x00]]),
        1 => (0u32..8, 1u16..70).prop_map(|(s, n)| {
            let mut a = vec![0x00, 0xCB, 0xDF, 0x25, 0x06];
            a.extend_from_slice(&s.to_be_bytes());
            a.extend_from_slice(&n.to_be_bytes());
            a.push(0);
            vec![a]
        }),
        1 => Just(vec![vec![0x00, 0xC0, 0x00, 0x00, 0x00]]),
        1 => Just(vec![testkit::select_apdu()]),
        1 => Just(vec![services.command(ins::RECHARGE_INIT).apdu(0), services.command(ins::RECHARGE_CREDIT).apdu(0)]),
        1 => (1u32..6, any::<bool>()).prop_map(|(v, chained)| {
            let t = signed_table(v, FIXTURE_TIME - 1, |t| t.classes[0].breaks[0].price = 60 + v);
            if chained {
                testkit::chained_apdus([0x80, 0x62, 0, 0], &t)
            } else {
                vec![capdu::encode([0x80, 0x62, 0, 0], &t, 0, true).unwrap()]
            }
        }),
    ]
}

/// A valid command, mutated: bit flips, truncation, extension, another CLA or INS.
fn mutated(services: &Services) -> impl Strategy<Value = Vec<Vec<u8>>> + use<> {
    (valid(services), any::<prop::sample::Index>(), any::<u8>(), 0u8..5).prop_map(|(mut cmds, at, byte, how)| {
        if let Some(a) = cmds.last_mut() {
            let i = at.index(a.len().max(1)).min(a.len().saturating_sub(1));
            match how {
                0 => a[i] ^= byte | 1,
                1 => a.truncate(i),
                2 => a.push(byte),
                3 => a[0] = byte,
                _ => {
                    if a.len() > 1 {
                        a[1] = byte
                    }
                }
            }
        }
        cmds
    })
}

/// Exactly [`APDUS_PER_CASE`] APDUs: as many steps, each one APDU or more, cut to size.
fn sequence(services: &Services) -> impl Strategy<Value = Vec<Vec<u8>>> + use<> {
    proptest::collection::vec(
        prop_oneof![
            6 => valid(services),
            3 => mutated(services),
            1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| vec![b]),
        ],
        APDUS_PER_CASE,
    )
    .prop_map(|v| v.into_iter().flatten().take(APDUS_PER_CASE).collect())
}

/// What the run saw of the table: every INS sent, and the value commands that succeeded.
#[derive(Default)]
struct Coverage {
    sent: BTreeSet<u8>,
    succeeded: BTreeSet<u8>,
    apdus: usize,
}

#[test]
fn the_oracle_holds_after_every_apdu_of_random_sequences() {
    let services = services::prepared(1_000_000);
    let store = services.store.clone();
    let coverage = Mutex::new(Coverage::default());
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    let result = runner.run(&sequence(&services), |seq| {
        let mut card = fresh_card(&store, true);
        let mut oracle = Oracle::new(card.platform_mut().store_ref());
        let mut last_s1 = None;
        for a in &seq {
            let a = &answer_last_request(a, &last_s1);
            let r = card.process(a);
            if a.get(1) == Some(&ins::RECHARGE_INIT) && r.ends_with(&[0x90, 0x00]) {
                last_s1 = Some(r[..r.len() - 2].to_vec());
            }
            if let (Some(&cla), Some(&ins)) = (a.first(), a.get(1))
                && let Lookup::Found(spec) = lookup(cla, ins)
            {
                let mut seen = coverage.lock().unwrap();
                seen.sent.insert(spec.ins);
                if spec.is_value() && r.ends_with(&[0x90, 0x00]) {
                    seen.succeeded.insert(spec.ins);
                }
            }
            coverage.lock().unwrap().apdus += 1;
            oracle.check(card.platform_mut().store_ref(), a, &r).map_err(TestCaseError::fail)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        // Print the minimal sequence as a regression transcript.
        if let proptest::test_runner::TestError::Fail(_, seq) = &e {
            let mut card = fresh_card(&store, true);
            let mut last_s1 = None;
            println!(
                "# minimal failing sequence, from the card of testkit::services::prepared(1_000_000) with the PIN verified"
            );
            for a in seq {
                let a = &answer_last_request(a, &last_s1);
                let r = card.process(a);
                if a.get(1) == Some(&ins::RECHARGE_INIT) && r.ends_with(&[0x90, 0x00]) {
                    last_s1 = Some(r[..r.len() - 2].to_vec());
                }
                println!("> {}\n< {:02X}{:02X}", hex::encode_upper(a), r[r.len() - 2], r[r.len() - 1]);
            }
        }
        panic!("{e}");
    }
    let seen = coverage.into_inner().unwrap();
    println!("oracle: {} APDUs in {CASES} sequences, every invariant held after each", seen.apdus);
    assert_eq!(seen.apdus, CASES as usize * APDUS_PER_CASE);
    for spec in COMMANDS {
        assert!(seen.sent.contains(&spec.ins), "{} was never sent", spec.name);
        if spec.is_value() {
            assert!(seen.succeeded.contains(&spec.ins), "{} never succeeded", spec.name);
        }
    }
}

/// The oracle's own checks bite: a released signature that does not verify
/// under the card's key, and a slot's private key in a response, are both caught.
#[test]
fn the_oracle_catches_a_forged_signature_and_a_leaked_slot_key() {
    let services = services::prepared(1_000_000);
    let mut card = fresh_card(&services.store, true);
    let indicium = services.command(apdu_specs::commands::ins::PRINT_INDICIUM).apdu(0);
    let mut oracle = Oracle::new(card.platform_mut().store_ref());
    let mut r = card.process(&indicium);
    assert!(r.ends_with(&[0x90, 0x00]));
    let last_signature_byte = r.len() - 3;
    r[last_signature_byte] ^= 0x01;
    let e = oracle.check(card.platform_mut().store_ref(), &indicium, &r).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");

    let mut oracle = Oracle::new(card.platform_mut().store_ref());
    let record = card_core::platform::Store::read(
        card.platform_mut().store_ref(),
        card_core::state::slot_record(services::slots::SIGNATURE),
    );
    let slot = card_core::state::Slot::decode(&record.unwrap().unwrap()).unwrap();
    let mut leak = slot.secret.as_ref().expect("a slot key").0.to_vec();
    leak.extend_from_slice(&[0x90, 0x00]);
    let e = oracle.check(card.platform_mut().store_ref(), &[0x00, 0xCA, 0xDF, 0x20, 0x00], &leak).unwrap_err();
    assert!(e.contains("private key"), "{e}");
}
