//! Property tests of the APDU state machine: random input never panics and
//! always ends in a documented status word; a chain never leaks into the next
//! command; the register invariant holds under random command sequences.

use apdu_specs::capdu;
use apdu_specs::commands::ins;
use apdu_specs::sw::Sw;
use proptest::prelude::*;
use testkit::{DirectCard, FIXTURE_TIME, documented, signed_table};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn check_response(capdu: &[u8], r: &(Vec<u8>, u16)) -> Result<(), TestCaseError> {
    let sw = Sw(r.1);
    prop_assert!(documented(capdu, sw), "SW {sw} not documented for {}", hex::encode_upper(capdu));
    Ok(())
}

/// Every INS of the command table (certificate services included), or any byte.
fn known_ins() -> impl Strategy<Value = u8> {
    let table: Vec<u8> = apdu_specs::commands::COMMANDS.iter().map(|c| c.ins).collect();
    prop_oneof![4 => proptest::sample::select(table), 1 => any::<u8>()]
}

prop_compose! {
    fn apdu()(
        cla in prop_oneof![Just(0x00u8), Just(0x10), Just(0x80), Just(0x90), any::<u8>()],
        ins in known_ins(),
        p1 in prop_oneof![Just(0u8), Just(0x04), Just(0xDF), Just(0xFF), any::<u8>()],
        p2 in prop_oneof![Just(0u8), Just(0x81), Just(0x20), Just(0x21), Just(0x25), any::<u8>()],
        data in proptest::collection::vec(any::<u8>(), 0..600),
        ne in prop_oneof![Just(0usize), 1usize..=256, 257usize..=65_536],
        extended in any::<bool>(),
    ) -> Vec<u8> {
        capdu::encode([cla, ins, p1, p2], &data, ne, extended).unwrap()
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn random_bytes_never_panic_and_end_in_a_documented_status_word(
        inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..40)
    ) {
        let mut c = DirectCard::operational();
        c.verify("123456");
        for input in inputs {
            let r = c.card.transmit(&input).unwrap();
            prop_assert!(r.len() >= 2);
            let (d, sw) = r.split_at(r.len() - 2);
            check_response(&input, &(d.to_vec(), u16::from_be_bytes([sw[0], sw[1]])))?;
        }
        c.card.reset().unwrap();
        c.select();
        prop_assert!(c.registers().balanced());
    }

    #[test]
    fn random_apdus_short_extended_and_chained_are_answered_precisely(
        apdus in proptest::collection::vec(apdu(), 1..40)
    ) {
        let mut c = DirectCard::operational();
        c.verify("123456");
        for a in apdus {
            let r = c.send(&a);
            check_response(&a, &r)?;
        }
        c.card.reset().unwrap();
        c.select();
        prop_assert!(c.registers().balanced());
    }

    #[test]
    fn an_interrupted_chain_never_leaks_into_the_next_command(
        blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..=255), 1..5),
        interrupter in 0usize..5,
    ) {
        let mut c = DirectCard::operational();
        c.verify("123456");
        for b in &blocks {
            let mut a = vec![0x90, ins::UPDATE_RATES, 0, 0, b.len() as u8];
            a.extend_from_slice(b);
            prop_assert_eq!(c.sw(&a), Sw::OK);
        }
        match interrupter {
            0 => prop_assert_eq!(c.hex("00CADF2000").1, Sw::LAST_COMMAND_OF_CHAIN_EXPECTED),
            1 => prop_assert_eq!(c.hex("9062010001AA").1, Sw::LAST_COMMAND_OF_CHAIN_EXPECTED),
            2 => prop_assert_eq!(c.hex("00C0000000").1, Sw::LAST_COMMAND_OF_CHAIN_EXPECTED),
            3 => {
                // Overflow: the chain is dropped with 6A84.
                let big = vec![0xEEu8; 4096];
                let mut sw = Sw::OK.0;
                for _ in 0..3 {
                    let a = capdu::encode([0x90, ins::UPDATE_RATES, 0, 0], &big, 0, true).unwrap();
                    sw = c.sw(&a);
                    if sw != Sw::OK { break; }
                }
                prop_assert_eq!(sw, Sw::NOT_ENOUGH_MEMORY);
            }
            _ => {
                c.card.reset().unwrap();
                c.select();
                c.verify("123456");
            }
        }
        // The next command sees exactly its own data: a valid table is accepted.
        let table = signed_table(2, FIXTURE_TIME - 1, |_| {});
        let a = capdu::encode([0x80, ins::UPDATE_RATES, 0, 0], &table, 0, true).unwrap();
        prop_assert_eq!(c.sw(&a), Sw::OK);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Indicium { class: u8, grams: u32 },
    Rates { version_step: i8, forged: bool, delay: u64 },
    Verify { right: bool },
    Reset,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..=4, 0u32..3000).prop_map(|(class, grams)| Op::Indicium { class, grams }),
        2 => (-1i8..=2, any::<bool>(), prop_oneof![Just(0u64), 1u64..7200]).prop_map(|(version_step, forged, delay)| Op::Rates { version_step, forged, delay }),
        2 => any::<bool>().prop_map(|right| Op::Verify { right }),
        1 => Just(Op::Reset),
        1 => (0u64..3600).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn the_register_invariant_holds_under_random_sequences(ops in proptest::collection::vec(op(), 1..60)) {
        let mut c = DirectCard::operational_with_credit(50_000);
        c.verify("123456");
        let mut version = 1u32;
        let mut prev = c.registers();
        for op in ops {
            match op {
                Op::Indicium { class, grams } => {
                    let r = c.print(class, grams);
                    prop_assert!([Sw::OK, Sw::INSUFFICIENT_FUNDS, Sw::SECURITY_STATUS_NOT_SATISFIED, Sw::BAD_DATA, Sw::NOT_FOUND, Sw::PIN_BLOCKED].contains(&Sw(r.1)), "{:04X}", r.1);
                }
                Op::Rates { version_step, forged, delay } => {
                    let v = (i64::from(version) + i64::from(version_step)).max(1) as u32;
                    let now = c.clock.now().unwrap();
                    let signed = if forged {
                        authority::sign_rate_table(&authority::SigningKeyPair::from_seed("forger"), &authority::default_rate_table(v, now))
                    } else {
                        signed_table(v, now + delay, |t| t.classes[0].breaks[0].price = 70 + v)
                    };
                    if c.update_rates(&signed) == Sw::OK {
                        prop_assert!(!forged && v > version);
                        version = v;
                    }
                }
                Op::Verify { right } => {
                    c.verify(if right { "123456" } else { "000000" });
                }
                Op::Reset => {
                    c.card.reset().unwrap();
                    c.select();
                }
                Op::Advance(s) => c.clock.advance(s),
            }
            let regs = c.registers();
            prop_assert!(regs.balanced(), "AR_p + AR_c + DR != CT: {regs:?}");
            prop_assert!(regs.ar_postage >= prev.ar_postage);
            prop_assert!(regs.descending <= prev.descending, "DR rose without a recharge");
            prop_assert_eq!(regs.control_total, prev.control_total);
            for (a, b) in regs.counts.iter().zip(prev.counts.iter()) {
                prop_assert!(a >= b);
            }
            prev = regs;
        }
    }
}
