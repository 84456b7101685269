//! The fuzzers' invariant oracle as a stateful property test, run by CI on
//! every change: sequences of valid and mutated commands against a
//! personalized card with the PIN verified, the oracle after every APDU. At
//! least 5,000 APDUs per run. A failure shrinks to a minimal APDU sequence and
//! is printed in transcript-vector form, ready to append under
//! "# Regressions" in `apdu-specs/vectors/foundation.apdu`.

use apdu_specs::capdu;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicUsize, Ordering};
use tests::oracle::{Oracle, fresh_card, operational_store};
use tests::{FIXTURE_TIME, signed_table};

/// Valid commands of every kind the card knows.
fn valid() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        4 => (1u8..=4, 0u32..2500).prop_map(|(c, g)| vec![tests::indicium_apdu(c, g)]),
        1 => Just(vec![tests::verify_apdu("123456")]),
        1 => Just(vec![tests::verify_apdu("000000")]),
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
        1 => Just(vec![tests::select_apdu()]),
        1 => (1u32..6, any::<bool>()).prop_map(|(v, chained)| {
            let t = signed_table(v, FIXTURE_TIME - 1, |t| t.classes[0].breaks[0].price = 60 + v);
            if chained {
                tests::chained_apdus([0x80, 0x62, 0, 0], &t)
            } else {
                vec![capdu::encode([0x80, 0x62, 0, 0], &t, 0, true).unwrap()]
            }
        }),
    ]
}

/// A valid command, mutated: bit flips, truncation, extension, another CLA or INS.
fn mutated() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (valid(), any::<prop::sample::Index>(), any::<u8>(), 0u8..5).prop_map(|(mut cmds, at, byte, how)| {
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

fn sequence() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(
        prop_oneof![
            6 => valid(),
            3 => mutated(),
            1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| vec![b]),
        ],
        20..80,
    )
    .prop_map(|v| v.into_iter().flatten().collect())
}

#[test]
fn the_oracle_holds_after_every_apdu_of_random_sequences() {
    let store = operational_store();
    let apdus = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config { cases: 128, failure_persistence: None, ..Config::default() });
    let result = runner.run(&sequence(), |seq| {
        let mut card = fresh_card(&store, true);
        let mut oracle = Oracle::new(card.platform_mut().store_ref());
        for a in &seq {
            let r = card.process(a);
            apdus.fetch_add(1, Ordering::Relaxed);
            oracle.check(card.platform_mut().store_ref(), a, &r).map_err(TestCaseError::fail)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        // Print the minimal sequence as a regression transcript.
        if let proptest::test_runner::TestError::Fail(_, seq) = &e {
            let mut card = fresh_card(&store, true);
            println!(
                "@ regression-NNN from operational   # append under \"# Regressions\" in apdu-specs/vectors/foundation.apdu"
            );
            for a in seq {
                let r = card.process(a);
                println!("> {}\n< {:02X}{:02X}", hex::encode_upper(a), r[r.len() - 2], r[r.len() - 1]);
            }
        }
        panic!("{e}");
    }
    let n = apdus.load(Ordering::Relaxed);
    println!("oracle: {n} APDUs in 128 sequences, every invariant held after each");
    assert!(n >= 5_000, "only {n} APDUs");
}
