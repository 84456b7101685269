//! The money path of every value command: Le is checked before anything is
//! charged (review item 4), a revocation fee DR cannot cover is kept as a
//! debt and collected before the next value service (item 13), and HASH
//! needs the PIN (item 14).

use apdu_specs::audit::{Event, Head, Record};
use apdu_specs::commands::{COMMANDS, Charge, ResponseLength, ins};
use apdu_specs::rates::RateTable;
use apdu_specs::registers::Registers;
use apdu_specs::signed::Signed;
use apdu_specs::sw::Sw;
use apdu_specs::{Service, tags};
use card_sim::MemoryStore;
use testkit::oracle::fresh_card;
use testkit::services::{self, Services, ValidCommand};

type Card = card_core::Applet<card_sim::SimPlatform>;

fn send(card: &mut Card, apdu: &[u8]) -> (Vec<u8>, Sw) {
    let r = card.process(apdu);
    let (data, sw) = r.split_at(r.len() - 2);
    (data.to_vec(), Sw(u16::from_be_bytes([sw[0], sw[1]])))
}

/// Sends `apdu` and fetches the rest of a 61xx answer.
fn fetch(card: &mut Card, apdu: &[u8]) -> (Vec<u8>, Sw) {
    let (mut data, mut sw) = send(card, apdu);
    while sw.sw1() == 0x61 {
        let (more, next) = send(card, &[0x00, ins::GET_RESPONSE, 0, 0, 0x00]);
        data.extend(more);
        sw = next;
    }
    (data, sw)
}

fn get(card: &mut Card, tag: u16) -> Vec<u8> {
    let [p1, p2] = tag.to_be_bytes();
    let (data, sw) = fetch(card, &[0x00, ins::GET_DATA, p1, p2, 0x00]);
    assert_eq!(sw, Sw::OK, "GET DATA {tag:04X}");
    data
}

fn registers(card: &mut Card) -> Registers {
    Registers::parse(&get(card, tags::REGISTERS)).unwrap()
}

fn head(card: &mut Card) -> Head {
    Head::parse(&get(card, tags::AUDIT_HEAD)).unwrap()
}

/// Registers, audit head and every slot: what a refusal must leave alone.
fn snapshot(card: &mut Card) -> Vec<Vec<u8>> {
    let mut out = vec![get(card, tags::REGISTERS), get(card, tags::AUDIT_HEAD)];
    for slot in 0..apdu_specs::certs::SLOT_COUNT {
        let (data, sw) = fetch(card, &[0x80, ins::READ_SLOT, 0x00, slot, 0x00]);
        assert_eq!(sw, Sw::OK, "READ SLOT {slot}");
        out.push(data);
    }
    out
}

/// The audit records written after `since`.
fn records_since(card: &mut Card, since: u32) -> Vec<Record> {
    let n = head(card).records - since;
    let mut apdu = vec![0x00, ins::GET_DATA_ODD, 0xDF, 0x25, 0x06];
    apdu.extend_from_slice(&since.to_be_bytes());
    apdu.extend_from_slice(&(n as u16).to_be_bytes());
    apdu.push(0x00);
    let (data, sw) = fetch(card, &apdu);
    assert_eq!(sw, Sw::OK);
    data.chunks(apdu_specs::audit::RECORD_LEN).map(|c| Record::parse(c).unwrap()).collect()
}

fn rate_table(card: &mut Card) -> RateTable {
    let signed = get(card, tags::RATE_TABLE);
    RateTable::parse_body(Signed::parse(&signed).unwrap().body).unwrap()
}

/// The service a value command counts, and what it costs on this card.
fn price(card: &mut Card, command: &ValidCommand) -> (Service, u64) {
    let table = rate_table(card);
    match command.spec.charge {
        Charge::Postage => (Service::Postage, u64::from(table.postage(1, 20).unwrap())),
        Charge::Fee(s) => (s, u64::from(table.fee(s))),
        Charge::None | Charge::Credit => unreachable!("not a charged command"),
    }
}

/// Sends with `ne` and fetches the rest of a 61xx answer.
fn run(card: &mut Card, command: &ValidCommand, ne: usize) -> (Vec<u8>, Sw) {
    fetch(card, &command.apdu(ne))
}

/// The shortest Le below the command's largest response, and what the card must answer it.
fn short_le(response: ResponseLength) -> Option<(usize, Sw)> {
    match response {
        ResponseLength::None | ResponseLength::Fixed(1) => None,
        ResponseLength::Fixed(n) => Some((usize::from(n) - 1, Sw::wrong_le(usize::from(n)))),
        ResponseLength::Indicium => Some((123, Sw::wrong_le(124))),
        ResponseLength::UpTo(n) => Some((usize::from(n) - 1, Sw::WRONG_LENGTH)),
        ResponseLength::Variable => Some((255, Sw::WRONG_LENGTH)),
    }
}

/// The Le that holds every response of the command.
fn right_le(response: ResponseLength) -> usize {
    match response {
        ResponseLength::Fixed(n) | ResponseLength::UpTo(n) => usize::from(n),
        ResponseLength::Indicium => 124,
        ResponseLength::None | ResponseLength::Variable => 65_536,
    }
}

/// Attack: send a value command with a short Le so that the card charges,
/// then answers 6Cxx and throws the output away; the host re-sends and is
/// charged again. Every value command of the table refuses a short Le
/// before anything is charged, and with a right Le is charged exactly once.
#[test]
fn a_short_le_cannot_get_a_value_command_charged_twice() {
    let services = services::prepared(100_000);
    let value: Vec<&ValidCommand> = services.commands.iter().filter(|c| c.spec.is_value()).collect();
    assert_eq!(value.len(), COMMANDS.iter().filter(|c| c.is_value()).count());
    let mut refused = 0;
    for command in value {
        let name = command.spec.name;
        let mut card = fresh_card(&services.store, true);
        let command = &services::with_pending(command, &mut |a| card.process(a));
        if command.spec.charge == Charge::Credit {
            credited_once(&mut card, command);
            refused += 1;
            continue;
        }
        let (service, fee) = price(&mut card, command);
        if let Some((ne, want)) = short_le(command.spec.response) {
            let before = snapshot(&mut card);
            let (data, sw) = send(&mut card, &command.apdu(ne));
            assert_eq!((data.len(), sw), (0, want), "{name} with Le {ne}");
            assert!(snapshot(&mut card) == before, "{name}: a refused Le changed the card");
            refused += 1;
        }
        let before = registers(&mut card);
        let (data, sw) = run(&mut card, command, right_le(command.spec.response));
        assert_eq!(sw, Sw::OK, "{name} with the right Le");
        let after = registers(&mut card);
        assert_eq!(after.count(service), before.count(service) + 1, "{name}: counted once");
        assert_eq!(after.descending + fee, before.descending, "{name}: DR debited once");
        assert!(after.balanced());
        if let ResponseLength::Fixed(n) = command.spec.response {
            assert_eq!(data.len(), usize::from(n), "{name}: the fixed length of the table");
        }
    }
    assert!(refused >= 8, "only {refused} value commands had a short Le to refuse");
}

/// A short Le on RECHARGE CREDIT is refused before anything is credited and
/// leaves the request pending; with the right Le it credits exactly once.
fn credited_once(card: &mut Card, command: &ValidCommand) {
    let ResponseLength::Fixed(n) = command.spec.response else { panic!("RECHARGE CREDIT answers a fixed length") };
    let before = snapshot(card);
    let (data, sw) = send(card, &command.apdu(usize::from(n) - 1));
    assert_eq!((data.len(), sw), (0, Sw::wrong_le(usize::from(n))), "RECHARGE CREDIT with a short Le");
    assert!(snapshot(card) == before, "a refused Le changed the card");
    let before = registers(card);
    let (data, sw) = run(card, command, usize::from(n));
    assert_eq!((data.len(), sw), (usize::from(n), Sw::OK), "RECHARGE CREDIT with the right Le");
    let after = registers(card);
    let amount = services::RECHARGE_AMOUNT;
    assert_eq!((after.descending, after.control_total), (before.descending + amount, before.control_total + amount));
    assert_eq!(after.recharge_seq, before.recharge_seq + 1);
    assert_eq!(run(card, command, usize::from(n)).1, Sw::CONDITIONS_NOT_SATISFIED, "the same S2 again");
    assert_eq!(registers(card), after, "credited once");
}

fn prepared_card(credit: u64) -> (Services, Card) {
    let services = services::prepared(credit);
    let card = fresh_card(&services.store, true);
    (services, card)
}

fn power_cycle(card: Card) -> (MemoryStore, Card) {
    let store = card.into_platform().into_store();
    let card = fresh_card(&store, true);
    (store, card)
}

/// DR of the indebted card: below the revocation fee (100).
const LOW_FUNDS: u64 = 99;

/// A card whose revocation fee (100) DR ([`LOW_FUNDS`]) could not cover.
fn indebted() -> (Services, Card) {
    let (services, mut card) = prepared_card(LOW_FUNDS);
    let (confirmation, sw) = run(&mut card, services.command(ins::REVOKE), 0);
    assert_eq!(sw, Sw::OK);
    let body = Signed::parse(&confirmation).unwrap().body.to_vec();
    let c = apdu_specs::certs::RevocationConfirmation::parse(&body).unwrap();
    assert!(!c.paid, "payment due");
    (services, card)
}

/// Attack: let DR run low, then have slots revoked for free: a revocation
/// fee that funds cannot cover must not vanish.
#[test]
fn a_revocation_fee_funds_cannot_cover_is_kept_as_a_debt() {
    let (_, mut card) = prepared_card(LOW_FUNDS);
    let before = registers(&mut card);
    let since = head(&mut card).records;
    drop(card);
    let (_, mut card) = indebted();
    let after = registers(&mut card);
    assert_eq!(after.debt, 100, "the fee is owed");
    assert_eq!((after.descending, after.ar_certificates), (before.descending, before.ar_certificates), "nothing paid");
    assert_eq!(after.count(Service::Revocation), before.count(Service::Revocation) + 1);
    assert!(after.balanced());
    let recorded: Vec<Record> =
        records_since(&mut card, since).into_iter().filter(|r| r.event == Event::DebtRecorded).collect();
    assert_eq!(recorded.len(), 1, "the debt has its audit record");
    assert_eq!(recorded[0].amount, 100);
    let (_, mut card) = power_cycle(card);
    assert_eq!(registers(&mut card).debt, 100, "the debt is persistent");
}

/// Attack: keep using value services while a revocation fee is owed. The
/// next value service collects the debt first, or is refused with the
/// funds status and changes nothing.
#[test]
fn a_debt_is_collected_before_the_next_value_service() {
    for ins in [ins::SIGN_DATA, ins::PRINT_INDICIUM] {
        let (services, mut card) = indebted();
        let command = services.command(ins);
        let (service, fee) = price(&mut card, command);
        assert!(fee < LOW_FUNDS, "DR alone would cover the service: only the debt makes it fall short");
        let before = snapshot(&mut card);
        assert_eq!(run(&mut card, command, 0).1, Sw::INSUFFICIENT_FUNDS, "{}", command.spec.name);
        assert!(snapshot(&mut card) == before, "a refusal changes nothing");

        let mut store = card.into_platform().into_store();
        services::set_funds(&mut store, 1_000);
        let mut card = fresh_card(&store, true);
        let before = registers(&mut card);
        let since = head(&mut card).records;
        assert_eq!(run(&mut card, command, 0).1, Sw::OK, "{}", command.spec.name);
        let after = registers(&mut card);
        assert_eq!(after.debt, 0, "collected");
        assert_eq!(after.descending, before.descending - 100 - fee);
        assert_eq!(after.ar_certificates, before.ar_certificates + 100 + if ins == ins::SIGN_DATA { fee } else { 0 });
        assert_eq!(after.count(service), before.count(service) + 1);
        assert!(after.balanced());
        let log = records_since(&mut card, since);
        assert_eq!(log[0].event, Event::DebtCollected, "collected first, with its audit record");
        assert_eq!((log[0].amount, log[0].detail[0]), (100, service.code()));
        assert_eq!(log[1].amount, fee);
    }
}

/// Attack: stream a message into HASH without the PIN (a free on-card
/// SHA-256 for anyone at the reader). HASH needs the PIN like every service.
#[test]
fn hash_needs_the_pin() {
    let mut c = testkit::DirectCard::operational();
    let before = c.snapshot();
    assert_eq!(Sw(c.sw(&[0x80, ins::HASH, 0x00, 0x00])), Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(Sw(c.sw(&[0x80, ins::HASH, 0x01, 0x00, 0x03, 1, 2, 3])), Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(c.snapshot(), before);
    assert_eq!(c.verify("123456"), Sw::OK);
    assert_eq!(Sw(c.sw(&[0x80, ins::HASH, 0x00, 0x00])), Sw::OK);
    assert_eq!(Sw(c.sw(&[0x80, ins::HASH, 0x01, 0x00, 0x03, 1, 2, 3])), Sw::OK);
}
