//! The tearing campaign. For every command that changes persistent state,
//! and for every N from 0 to the number of low-level operations the command
//! performs, power is cut at operation N. Two crash modes are used:
//! unsynced data lost, or everything issued kept; the interrupted write is
//! torn in both. Each variant runs with and without journal compaction.
//! After a restart from the store:
//! - the state equals the state before or the state after;
//! - AR_p + AR_c + DR == CT;
//! - no counter went backwards;
//! - the audit chain verifies;
//! - a released signed output implies the committed state.

use apdu_specs::audit::{Head, Record};
use apdu_specs::commands::ins;
use apdu_specs::registers::Registers;
use apdu_specs::sw::Sw;
use card_core::Applet;
use card_core::platform::Platform;
use card_sim::journal::JournalStore;
use card_sim::journal::fault::{CrashMode, FaultMedium};
use card_sim::{Entropy, SimClock, SimPlatform};
use host_driver::verify::verify_audit_chain;
use std::collections::BTreeMap;
use testkit::{FIXTURE_TIME, select_apdu, signed_table, vector_keys, vector_options, verify_apdu};

/// Tear points of the whole campaign, as the README states them.
const README_TEAR_POINTS: usize = 432;

type Card = Applet<SimPlatform<JournalStore<FaultMedium>>>;
type State = BTreeMap<u16, Vec<u8>>;
const NAME: &str = "card";

fn power_on(medium: FaultMedium, clock: &SimClock) -> Card {
    let store = JournalStore::open(medium, NAME).expect("the journal always reopens after a tear");
    Applet::power_on(SimPlatform::new(store, Entropy::seeded(11), clock.clone())).expect("the card restarts")
}

fn power_off(card: Card) -> FaultMedium {
    card.into_platform().into_store().into_medium()
}

/// The durable state, with the randomized part of the records that keep a
/// signature the card made (the last indicium, the recharge receipts) left
/// out: ECDSA nonces differ from run to run on the aws-lc engine, so "the
/// state after" is the signed content, not the signature's bytes.
fn state(card: &mut Card) -> State {
    use card_core::state::records::{LAST_INDICIUM, RECEIPT_BASE};
    let mut snapshot = card.platform_mut().store().snapshot();
    for (id, bytes) in snapshot.iter_mut() {
        let signed_by_the_card = *id == LAST_INDICIUM.0 || (RECEIPT_BASE..RECEIPT_BASE + 0x100).contains(id);
        if signed_by_the_card {
            bytes.truncate(bytes.len().saturating_sub(64));
        }
    }
    snapshot
}

fn sw(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

fn ok(card: &mut Card, apdu: &[u8]) {
    assert_eq!(sw(&card.process(apdu)), Sw::OK, "{}", hex::encode_upper(apdu));
}

fn get(card: &mut Card, apdu: &[u8]) -> Vec<u8> {
    let r = card.process(apdu);
    assert_eq!(sw(&r), Sw::OK);
    r[..r.len() - 2].to_vec()
}

fn registers(card: &mut Card) -> Registers {
    Registers::parse(&get(card, &[0x00, 0xCA, 0xDF, 0x20, 0x00])).unwrap()
}

fn audit_ok(card: &mut Card) {
    let head = Head::parse(&get(card, &[0x00, 0xCA, 0xDF, 0x23, 0x00])).unwrap();
    let n = head.records - head.oldest;
    let records: Vec<Record> = if n == 0 {
        Vec::new()
    } else {
        let mut a = vec![0x00, 0xCB, 0xDF, 0x25, 0x00, 0x00, 0x06];
        a.extend_from_slice(&head.oldest.to_be_bytes());
        a.extend_from_slice(&(n as u16).to_be_bytes());
        a.extend_from_slice(&[0x00, 0x00]);
        get(card, &a).chunks(69).map(|c| Record::parse(c).unwrap()).collect()
    };
    verify_audit_chain(&head, &records).expect("audit chain verifies after restart");
}

/// True when a response carries data the card released (9000, or 61xx with more to come).
fn released(r: &[u8]) -> bool {
    r.len() > 2 && matches!(r[r.len() - 2], 0x90 | 0x61)
}

fn diff(a: &State, b: &State) -> Vec<u16> {
    a.keys().chain(b.keys()).filter(|k| a.get(k) != b.get(k)).copied().collect()
}

/// A command under test: the durable state it starts from, the session set-up
/// (not torn), and the APDUs that change state (torn).
struct Scenario {
    name: &'static str,
    pre: FaultMedium,
    clock: SimClock,
    setup: Vec<Vec<u8>>,
    command: Vec<Vec<u8>>,
    /// The last APDU releases signed output (a 9000 or 61xx answer means it left the card).
    output: bool,
}

fn fresh_medium(clock: &SimClock) -> FaultMedium {
    let store = JournalStore::open(FaultMedium::new(), NAME).unwrap();
    let platform = SimPlatform::new(store, Entropy::seeded(11), clock.clone());
    let card = Applet::manufacture(platform, &vector_keys().issuer.public(), testkit::VECTOR_SERIAL).unwrap();
    let mut m = power_off(card);
    m.reboot();
    m
}

fn advance(medium: FaultMedium, clock: &SimClock, apdus: &[Vec<u8>]) -> FaultMedium {
    let mut card = power_on(medium, clock);
    for a in apdus {
        ok(&mut card, a);
    }
    let mut m = power_off(card);
    m.reboot();
    m
}

/// The data of the last answer of `apdus`, run on a card powered from `medium`
/// (its random source restarts with every power-on: a run after it draws the same nonces).
fn answer_of(medium: &FaultMedium, clock: &SimClock, apdus: &[Vec<u8>]) -> Vec<u8> {
    let mut card = power_on(medium.clone(), clock);
    let mut last = Vec::new();
    for a in apdus {
        last = get(&mut card, a);
    }
    last
}

/// The authority's acknowledgement of the signed inspection report `report`.
fn ack_for(report: &[u8], next_deadline: u64) -> Vec<u8> {
    use sha2::Digest;
    let body = apdu_specs::signed::Signed::parse(report).unwrap().body;
    let parsed = apdu_specs::inspection::InspectionReport::parse(body).unwrap();
    let ack = apdu_specs::inspection::InspectionAck {
        meter_id: parsed.meter_id,
        report_digest: sha2::Sha256::digest(body).into(),
        next_deadline,
        time: FIXTURE_TIME,
    };
    authority::orders::inspection_ack(&vector_keys().authority, &ack)
}

fn scenarios() -> Vec<Scenario> {
    let clock = SimClock::fixed(FIXTURE_TIME);
    // The profile also trusts the vector credit issuer, for the credit scenarios.
    let profile = testkit::services::profile_with_credit_issuer(&vector_options(), testkit::VECTOR_SERIAL);
    let perso = testkit::chained_apdus([0x80, ins::STORE_DATA, 0, 0], &profile);
    let blank = fresh_medium(&clock);
    let mut to_perso = vec![select_apdu()];
    to_perso.extend(perso.iter().cloned());
    let personalized = advance(blank.clone(), &clock, &to_perso);
    let operational =
        advance(personalized.clone(), &clock, &[select_apdu(), verify_apdu("123456"), vec![0x00, 0x44, 0x00, 0x00]]);
    let indicium = testkit::indicium_apdu(1, 20);
    let table = signed_table(2, FIXTURE_TIME - 1, |t| t.classes[0].breaks[0].price = 80);
    let late = SimClock::fixed(FIXTURE_TIME + 91 * 86_400);
    // Overdue: the acknowledgement of the report the session signs ends it.
    let report_session = vec![select_apdu(), verify_apdu("123456"), vec![0x80, ins::INSPECTION_REPORT, 0, 0, 0]];
    let report = answer_of(&operational, &late, &report_session);
    let late_ack = ack_for(&report, FIXTURE_TIME + 200 * 86_400);
    let mut list = vec![
        Scenario {
            name: "personalization",
            pre: blank,
            clock: clock.clone(),
            setup: vec![select_apdu()],
            command: perso,
            output: false,
        },
        Scenario {
            name: "activate",
            pre: personalized,
            clock: clock.clone(),
            setup: vec![select_apdu(), verify_apdu("123456")],
            command: vec![vec![0x00, 0x44, 0x00, 0x00]],
            output: false,
        },
        Scenario {
            name: "verify-wrong-pin",
            pre: operational.clone(),
            clock: clock.clone(),
            setup: vec![select_apdu()],
            command: vec![verify_apdu("000000")],
            output: false,
        },
        Scenario {
            name: "indicium",
            pre: operational.clone(),
            clock: clock.clone(),
            setup: vec![select_apdu(), verify_apdu("123456")],
            command: vec![indicium.clone()],
            output: true,
        },
        Scenario {
            name: "update-rates",
            pre: operational.clone(),
            clock: clock.clone(),
            setup: vec![select_apdu(), verify_apdu("123456")],
            command: testkit::chained_apdus([0x80, 0x62, 0x00, 0x00], &table),
            output: false,
        },
        Scenario {
            name: "inspection-ack",
            pre: operational.clone(),
            clock: late.clone(),
            setup: report_session.clone(),
            command: vec![testkit::pki::ext_apdu([0x80, ins::INSPECTION_ACK, 0, 0], &late_ack)],
            output: false,
        },
    ];
    list.extend(certificate_scenarios(operational, &clock));
    list
}

use testkit::pki::ext_apdu as ext;

/// Slots of the certified pre-state.
const PM: u8 = 0;
const AGENT: u8 = 1;
const SIG: u8 = 2;
const ENC: u8 = 3;
const PENDING: u8 = 4;

/// The pre-state of the certificate scenarios: postmark and agent slots
/// certified, signature and encryption keys, a key with an issued but not
/// installed certificate; and the material the commands need.
fn certificate_scenarios(operational: FaultMedium, clock: &SimClock) -> Vec<Scenario> {
    use apdu_specs::x509::{Certificate, Usage};
    let keys = vector_keys();
    let mut ca = testkit::pki::ca_for(&keys);
    let mut card = power_on(operational, clock);
    let mut send = |a: &[u8]| card.process(a);
    let meter_id = testkit::pki::register_raw(&mut send, &mut ca);
    assert_eq!(sw(&send(&verify_apdu("123456"))), Sw::OK);
    let subject = testkit::pki::subject("tearing");
    let pm_cert = testkit::pki::certify_raw(&mut send, &mut ca, PM, Usage::Postmark);
    let agent_cert = testkit::pki::certify_raw(&mut send, &mut ca, AGENT, Usage::Agent);
    let (_, pending_cert) = testkit::pki::request_raw(&mut send, &mut ca, PENDING, Usage::Signature);
    testkit::pki::certify_raw(&mut send, &mut ca, SIG, Usage::Signature);
    let enc_public: [u8; 65] =
        get(&mut card, &ext([0x00, 0x46, 0x00, ENC], &[Usage::Encryption as u8])).try_into().unwrap();
    let digest = [0x42u8; 32];
    let parts = get(&mut card, &ext([0x80, 0x56, 0x00, PM], &digest));
    let token =
        apdu_specs::postmark::wrap_token(&apdu_specs::postmark::SignedParts::parse(&parts).unwrap(), &pm_cert).unwrap();
    let device: [u8; 65] =
        apdu_specs::tlv::find(&get(&mut card, &[0x00, 0xCA, 0xDF, 0x24, 0x00]), 0x81).unwrap().try_into().unwrap();
    let mut pre = power_off(card);
    pre.reboot();

    let agent_request = testkit::services::signature_agent_request(&subject);
    let blob = host_driver::certificates::encrypt_to(&enc_public, b"sealed for the card").unwrap();
    let next_ca = authority::SigningKeyPair::from_seed("tearing next CA").public();
    let anchor = authority::orders::anchor_update(&keys.authority, &meter_id, 1, &next_ca);
    let pm_key: [u8; 65] = Certificate::parse(&pm_cert).unwrap().public_key;
    let revoke = authority::orders::revocation_order(&keys.authority, &meter_id, PM, &pm_key, 1, FIXTURE_TIME);
    let challenge = ca.challenge(FIXTURE_TIME).unwrap();
    let mut validate = digest.to_vec();
    validate.extend_from_slice(&token);
    let session = vec![select_apdu(), verify_apdu("123456")];
    let scenario = |name: &'static str, setup: Vec<Vec<u8>>, command: Vec<u8>, output: bool| Scenario {
        name,
        pre: pre.clone(),
        clock: clock.clone(),
        setup,
        command: vec![command],
        output,
    };
    let mut stream = session.clone();
    stream.push(ext([0x80, 0x54, 0x00, 0x00], &[]));
    stream.push(ext([0x80, 0x54, 0x01, 0x00], &[7u8; 3000]));
    let revoke = ext([0x80, 0x68, 0x00, 0x00], &revoke);
    let sign = ext([0x80, 0x64, 0x01, SIG], &digest);
    let (low_funds, indebted) = debt_states(&pre, clock, &revoke);
    let debt_scenarios = [
        Scenario {
            name: "revoke-into-debt",
            pre: low_funds,
            clock: clock.clone(),
            setup: vec![select_apdu()],
            command: vec![revoke.clone()],
            output: true,
        },
        Scenario {
            name: "collect-debt",
            pre: indebted,
            clock: clock.clone(),
            setup: session.clone(),
            command: vec![sign.clone()],
            output: true,
        },
    ];
    let mut list = vec![
        scenario("generate-key-pair", session.clone(), ext([0x00, 0x46, 0x00, 5], &[Usage::Signature as u8]), true),
        scenario("certificate-request", session.clone(), ext([0x80, 0x50, 0x00, PENDING], &challenge), true),
        scenario("install-certificate", session.clone(), ext([0x80, 0x52, 0x00, PENDING], &pending_cert), false),
        scenario("postmark", session.clone(), ext([0x80, 0x56, 0x00, PM], &digest), true),
        scenario("postmark-stream", stream, ext([0x80, 0x56, 0x01, PM], &[]), true),
        scenario("validate-postmark", session.clone(), ext([0x80, 0x58, 0x00, 0x00], &validate), true),
        scenario("verify-certificate", session.clone(), ext([0x80, 0x5A, 0x00, 0x00], &agent_cert), true),
        scenario("update-ca-anchor", session.clone(), ext([0x80, 0x5C, 0x00, 0x00], &anchor), false),
        scenario("agent-issue", session.clone(), ext([0x80, 0x5E, 0x00, AGENT], &agent_request), true),
        scenario("sign-data", session.clone(), sign, true),
        scenario("decrypt", session.clone(), ext([0x80, 0x66, 0x00, ENC], &blob), true),
        scenario("revoke", vec![select_apdu()], revoke, true),
    ];
    list.extend(debt_scenarios);
    list.extend(authority_scenarios(&pre, clock, &session, meter_id, device));
    list
}

/// Recharge credit, lock order, credit line install and PAY from the certified pre-state.
fn authority_scenarios(
    pre: &FaultMedium,
    clock: &SimClock,
    session: &[Vec<u8>],
    meter_id: [u8; 12],
    device: [u8; 65],
) -> Vec<Scenario> {
    use apdu_specs::inspection::{LockAction, LockOrder};
    use testkit::services::{authorize, credit_issuer, credit_line, payment};
    let keys = vector_keys();
    let mut recharge_session = session.to_vec();
    recharge_session.push(ext([0x80, ins::RECHARGE_INIT, 0, 0], &500u64.to_be_bytes()));
    let s2 = authorize(&answer_of(pre, clock, &recharge_session));
    let lock = authority::orders::lock_order(
        &keys.authority,
        &LockOrder { meter_id, action: LockAction::Lock, sequence: 1, reason: 2, time: FIXTURE_TIME },
    );
    let line = authority::orders::credit_line(&credit_issuer(), &credit_line(1, 10_000, meter_id, device));
    let install = ext([0x80, ins::INSTALL_CREDIT_LINE, 0, 0], &line);
    let mut to_line = session.to_vec();
    to_line.push(install.clone());
    let with_line = advance(pre.clone(), clock, &to_line);
    let scenario = |name: &'static str, pre: &FaultMedium, setup: Vec<Vec<u8>>, command: Vec<u8>, output: bool| {
        Scenario { name, pre: pre.clone(), clock: clock.clone(), setup, command: vec![command], output }
    };
    vec![
        scenario("recharge-credit", pre, recharge_session, ext([0x80, ins::RECHARGE_CREDIT, 0, 0], &s2), true),
        scenario("lock-order", pre, vec![select_apdu()], ext([0x80, ins::LOCK_ORDER, 0, 0], &lock), false),
        scenario("install-credit-line", pre, session.to_vec(), install, false),
        scenario("pay", &with_line, session.to_vec(), ext([0x80, ins::PAY, 0, 0], &payment(100).encode()), true),
    ]
}

/// Sets DR on a stored card (the stand-in for spending or the remote recharge).
fn with_funds(medium: FaultMedium, clock: &SimClock, dr: u64) -> FaultMedium {
    let mut card = power_on(medium, clock);
    testkit::services::set_funds(card.platform_mut().store(), dr);
    let mut m = power_off(card);
    m.reboot();
    m
}

/// From the certified pre-state: DR below the revocation fee, and the state
/// after that revocation left its fee as a debt, with DR then recharged so
/// that the next value service can collect it.
fn debt_states(pre: &FaultMedium, clock: &SimClock, revoke: &[u8]) -> (FaultMedium, FaultMedium) {
    let low_funds = with_funds(pre.clone(), clock, 40);
    let revoked = advance(low_funds.clone(), clock, &[select_apdu(), revoke.to_vec()]);
    let mut card = power_on(revoked.clone(), clock);
    ok(&mut card, &select_apdu());
    assert_eq!((registers(&mut card).debt, registers(&mut card).descending), (100, 40), "the fee is owed");
    drop(card);
    (low_funds, with_funds(revoked, clock, 1_000))
}

/// Runs the command on a card powered from `medium`; returns the card and the last response.
fn run(medium: FaultMedium, s: &Scenario, compaction: bool, arm: impl FnOnce(&mut FaultMedium)) -> (Card, Vec<u8>) {
    let mut card = power_on(medium, &s.clock);
    for a in &s.setup {
        ok(&mut card, a);
    }
    if compaction {
        card.platform_mut().store().force_compaction();
    }
    arm(card.platform_mut().store().medium_mut());
    let mut last = Vec::new();
    for a in &s.command {
        last = card.process(a);
    }
    (card, last)
}

#[test]
fn every_tear_point_leaves_the_state_before_or_after() {
    let mut tear_points = 0;
    for s in scenarios() {
        for compaction in [false, true] {
            // Dry run: the states before and after, and the operations the command performs.
            let (mut card, response) = run(s.pre.clone(), &s, compaction, |m| m.count_from_now());
            let ops = card.platform_mut().store().medium_mut().ops();
            let after = state(&mut card);
            let mut before_card = power_on(s.pre.clone(), &s.clock);
            let before = state(&mut before_card);
            ok(&mut before_card, &select_apdu());
            let regs_before = registers(&mut before_card);
            if s.output {
                assert!(released(&response), "{}: the dry run releases its output", s.name);
            }
            assert_ne!(before, after, "{}: the command changes state", s.name);
            assert!(ops >= 2, "{}: at least a write and a sync", s.name);

            for n in 0..=ops {
                for mode in [CrashMode::LoseUnsynced, CrashMode::KeepUnsynced] {
                    tear_points += 1;
                    let (card, last) = run(s.pre.clone(), &s, compaction, |m| m.arm(n, mode));
                    let mut medium = power_off(card);
                    medium.reboot();
                    let mut card = power_on(medium, &s.clock);
                    let now = state(&mut card);
                    let label = format!("{} (compaction {compaction}) cut at op {n}/{ops} {mode:?}", s.name);
                    assert!(
                        now == before || now == after,
                        "{label}: a third state; differs from before in {:?}, from after in {:?}",
                        diff(&now, &before),
                        diff(&now, &after)
                    );
                    if s.output && released(&last) {
                        assert_eq!(now, after, "{label}: output released without its debit committed");
                    }
                    ok(&mut card, &select_apdu());
                    let regs = registers(&mut card);
                    assert!(regs.balanced(), "{label}: AR_p + AR_c + DR != CT");
                    assert!(
                        regs.ar_postage >= regs_before.ar_postage && regs.control_total >= regs_before.control_total,
                        "{label}"
                    );
                    let credited = regs.control_total - regs_before.control_total;
                    assert!(regs.descending <= regs_before.descending + credited, "{label}: DR rose without a credit");
                    assert!(
                        regs.counts.iter().zip(regs_before.counts.iter()).all(|(a, b)| a >= b),
                        "{label}: a count went back"
                    );
                    audit_ok(&mut card);
                }
            }
        }
    }
    println!("tearing campaign: {tear_points} tear points, all before-or-after");
    // The figure the README states: a change to the scenarios or to the number
    // of writes a command makes must update both.
    assert_eq!(tear_points, README_TEAR_POINTS, "tear points (update the README's security model)");
}

#[test]
fn a_full_disk_keeps_the_last_good_state() {
    let s = scenarios().into_iter().find(|s| s.name == "indicium").unwrap();
    for compaction in [false, true] {
        for n in 0..2 {
            let (mut card, last) = run(s.pre.clone(), &s, compaction, |m| m.disk_full_at(n));
            assert_eq!(sw(&last), Sw::MEMORY_FAILURE, "the card reports the memory failure");
            let mut before_card = power_on(s.pre.clone(), &s.clock);
            assert!(state(&mut card) == state(&mut before_card), "nothing changed in memory");
            let mut medium = power_off(card);
            medium.reboot();
            let mut after = power_on(medium, &s.clock);
            let (a, b) = (state(&mut after), state(&mut before_card));
            assert!(a == b, "nothing changed on disk (op {n}, compaction {compaction}): differs in {:?}", diff(&a, &b));
        }
    }
}

#[test]
fn corruption_in_the_middle_is_refused_not_rolled_back() {
    let s = scenarios().into_iter().find(|s| s.name == "indicium").unwrap();
    // Three indicia after the pre-state: three more records in the journal.
    let (mut card, _) = run(s.pre.clone(), &s, false, |m| m.count_from_now());
    for _ in 0..2 {
        assert_eq!(card.process(&s.command[0]).len(), 126);
    }
    let mut medium = power_off(card);
    medium.reboot();
    // Flip a byte in the second-to-last record: an indicium record, which
    // carries the whole indicium (GET DATA DF26), is about 400 bytes.
    assert!(medium.edit(NAME, |file| {
        let end = file.iter().rposition(|b| *b != 0).unwrap();
        file[end - 600] ^= 0x01;
    }));
    let err = match JournalStore::open(medium, NAME) {
        Ok(_) => String::from("opened without complaint"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("corrupted and later records exist"), "{err}");
}

#[test]
fn a_read_only_medium_refuses_commits_and_keeps_the_state() {
    let s = scenarios().into_iter().find(|s| s.name == "indicium").unwrap();
    let (mut card, last) = run(s.pre.clone(), &s, false, |m| m.set_read_only(true));
    assert_eq!(sw(&last), Sw::MEMORY_FAILURE);
    assert_eq!(sw(&card.process(&s.command[0])), Sw::MEMORY_FAILURE, "still refused, nothing half-done");
    let mut medium = power_off(card);
    medium.set_read_only(false);
    medium.reboot();
    let mut after = power_on(medium, &s.clock);
    let mut before = power_on(s.pre.clone(), &s.clock);
    assert!(state(&mut after) == state(&mut before));
    // A new card cannot even be manufactured on a read-only medium.
    let mut ro = FaultMedium::new();
    ro.set_read_only(true);
    let store = JournalStore::open(ro, NAME).unwrap();
    let platform = SimPlatform::new(store, Entropy::seeded(1), s.clock.clone());
    assert!(Applet::manufacture(platform, &vector_keys().issuer.public(), testkit::VECTOR_SERIAL).is_err());
}

/// Attack: PIN brute force with power cuts. The attacker guesses PINs and
/// cuts the power at every possible moment of each VERIFY, hoping that a cut
/// after the comparison but before the counter is saved gives a free try.
/// Decrement-before-compare means any answer that reveals a comparison
/// implies a durably decremented counter, so at most `limit` guesses are
/// ever judged and the right PIN (the 5th guess) is never reached.
#[test]
fn attack_pin_brute_force_across_power_cuts() {
    let s = scenarios().into_iter().find(|s| s.name == "verify-wrong-pin").unwrap();
    let guesses = ["111111", "222222", "333333", "444444", "123456", "555555"];
    let mut medium = s.pre.clone();
    let mut judged = 0;
    for guess in guesses {
        for cut in 0..=2 {
            let mut card = power_on(medium, &s.clock);
            ok(&mut card, &select_apdu());
            card.platform_mut().store().medium_mut().arm(cut, CrashMode::LoseUnsynced);
            let r = card.process(&verify_apdu(guess));
            let answer = sw(&r);
            assert_ne!(answer, Sw::OK, "the attacker reached the right PIN");
            medium = power_off(card);
            medium.reboot();
            if Sw(answer).tries_left().is_some() {
                judged += 1;
                // The revealed comparison was paid for, durably.
                let mut check = power_on(medium, &s.clock);
                ok(&mut check, &select_apdu());
                let tries = apdu_specs::registers::Status::parse(&get(&mut check, &[0x00, 0xCA, 0xDF, 0x21, 0x00]))
                    .unwrap()
                    .pin_tries;
                assert_eq!(u16::from(tries), answer & 0x0F, "the counter on disk matches the answer");
                medium = power_off(check);
                medium.reboot();
            }
        }
    }
    assert_eq!(judged, 3, "exactly the retry limit of guesses were ever judged");
    let mut card = power_on(medium, &s.clock);
    ok(&mut card, &select_apdu());
    assert_eq!(sw(&card.process(&verify_apdu("123456"))), Sw::PIN_BLOCKED, "blocked, even for the right PIN");
}
