//! A card with every service ready, and one valid APDU for every command of
//! the table: the starting point of the oracle run, the key-leak scan and
//! the Le and debt tests; the vector credit issuer and the signed messages
//! of the authority protocols (S2, lines of credit); and the test set-up
//! that moves the funds of a stored card.

use crate::oracle::{card_with_entropy, operational_store};
use crate::pki::{self, ext_apdu};
use crate::{FIXTURE_TIME, vector_keys};
use apdu_specs::certs::AgentRequest;
use apdu_specs::commands::{self, CommandSpec, ins};
use apdu_specs::credit::{CreditLine, PaymentRequest};
use apdu_specs::perso::CardSerial;
use apdu_specs::recharge::{RechargeAuthorization, RechargeRequest};
use apdu_specs::signed::Signed;
use apdu_specs::x509::Usage;
use authority::SigningKeyPair;
use card_core::platform::{Store, WriteSet};
use card_core::state::{Counters, records};
use card_sim::MemoryStore;

/// Slots of the prepared card.
pub mod slots {
    /// Certified postmark slot.
    pub const POSTMARK: u8 = 0;
    /// Certified agent slot.
    pub const AGENT: u8 = 1;
    /// Certified signature slot.
    pub const SIGNATURE: u8 = 2;
    /// Encryption key (uncertified).
    pub const ENCRYPTION: u8 = 3;
    /// A signature key whose certificate is issued but not installed.
    pub const PENDING: u8 = 4;
    /// Empty: free for GENERATE KEY PAIR.
    pub const FREE: u8 = 5;
}

/// A valid C-APDU of one command, its data and header kept apart so that
/// tests can re-encode it with another Le.
#[derive(Debug, Clone)]
pub struct ValidCommand {
    /// The command's row of the table.
    pub spec: &'static CommandSpec,
    /// CLA INS P1 P2.
    pub header: [u8; 4],
    /// Data field.
    pub data: Vec<u8>,
}

impl ValidCommand {
    /// The APDU with `ne` (extended when the data or `ne` need it).
    pub fn apdu(&self, ne: usize) -> Vec<u8> {
        let extended = self.data.len() > 255 || ne > 256;
        apdu_specs::capdu::encode(self.header, &self.data, ne, extended).expect("encodable")
    }
}

/// The prepared card and one valid command per INS of the table.
pub struct Services {
    /// The card's store: operational, PIN not yet verified in any session.
    pub store: MemoryStore,
    /// One valid command for every INS of [`commands::COMMANDS`], in table order.
    pub commands: Vec<ValidCommand>,
}

impl Services {
    /// The valid command of `ins`.
    pub fn command(&self, ins: u8) -> &ValidCommand {
        self.commands.iter().find(|c| c.spec.ins == ins).expect("every INS has a valid command")
    }
}

/// The vector credit issuer: its key is personalized into the card of
/// [`crate::oracle::operational_store`] (and so of [`prepared`]).
pub fn credit_issuer() -> SigningKeyPair {
    SigningKeyPair::from_seed("pcmeter-vectors/credit-issuer")
}

/// The vector profile of `opts` for the card `serial`, trusting the vector credit issuer.
pub fn profile_with_credit_issuer(opts: &pcmeter::simulated::Options, serial: CardSerial) -> Vec<u8> {
    let keys = vector_keys();
    let table = authority::sign_rate_table(&keys.authority, &authority::default_rate_table(1, opts.profile.issued_at));
    let profile = opts
        .profile
        .build(serial, &keys.authority, keys.ca.public(), vec![credit_issuer().public()], Some(&keys.mac_master), table)
        .expect("vector profile");
    authority::profile::sign_profile(&keys.issuer, &profile)
}

/// A line of credit of the vector issuer for `meter_id` and its device key
/// `creditor_key`, in the vector currency, valid a year around the fixture time.
pub fn credit_line(serial: u64, line: u64, meter_id: [u8; 12], creditor_key: [u8; 65]) -> CreditLine {
    let issuer_id = crate::forge::sha256(&credit_issuer().public());
    CreditLine {
        serial,
        holder: String::from("Vector Mail Room"),
        meter_id,
        creditor_key,
        issuer_key_id: issuer_id[..8].try_into().expect("8 bytes"),
        currency: *b"USD",
        exponent: 2,
        line,
        not_before: FIXTURE_TIME - 86_400,
        not_after: FIXTURE_TIME + 365 * 86_400,
        authorized_use: String::from("postal supplies"),
    }
}

/// A payment request of `amount` to a test merchant.
pub fn payment(amount: u64) -> PaymentRequest {
    PaymentRequest { amount, merchant: String::from("Stationer"), reference: String::from("INV-7") }
}

/// S2 answering the card's S1 `s1_envelope` with the vector authority key
/// (the deadline 90 days after the fixture time). Panics on a malformed S1.
pub fn authorize(s1_envelope: &[u8]) -> Vec<u8> {
    let s1 = RechargeRequest::parse(Signed::parse(s1_envelope).expect("S1 envelope").body).expect("S1");
    authority::orders::recharge_authorization(&vector_keys().authority, &authorization_for(&s1))
}

/// The S2 body an honest authority returns for `s1`.
pub fn authorization_for(s1: &RechargeRequest) -> RechargeAuthorization {
    RechargeAuthorization {
        meter_id: s1.meter_id,
        sequence: s1.sequence,
        nonce: s1.nonce,
        amount: s1.amount,
        new_control_total: s1.registers.control_total + s1.amount,
        next_deadline: FIXTURE_TIME + 90 * 86_400,
        time: FIXTURE_TIME,
    }
}

/// Data of the table's valid RECHARGE CREDIT: no card can know its nonce in
/// advance, so it stands for "S2 answering the last S1" ([`with_pending`]).
pub const RECHARGE_PLACEHOLDER: &[u8] = b"S2 for the last S1";

/// Amount of the table's valid RECHARGE INIT.
pub const RECHARGE_AMOUNT: u64 = 500;

/// `command` made ready to run through `send`: a RECHARGE CREDIT first gets
/// its request (a RECHARGE INIT sent through `send`) and the S2 answering it;
/// every other command is returned as it is.
pub fn with_pending(command: &ValidCommand, send: &mut dyn FnMut(&[u8]) -> Vec<u8>) -> ValidCommand {
    if command.spec.ins != ins::RECHARGE_CREDIT {
        return command.clone();
    }
    let r = send(
        &apdu_specs::capdu::encode([0x80, ins::RECHARGE_INIT, 0, 0], &RECHARGE_AMOUNT.to_be_bytes(), 256, false)
            .expect("RECHARGE INIT"),
    );
    assert!(r.ends_with(&[0x90, 0x00]), "RECHARGE INIT answered {r:02X?}");
    ValidCommand { data: authorize(&r[..r.len() - 2]), ..command.clone() }
}

fn valid(ins: u8, header: [u8; 4], data: Vec<u8>) -> ValidCommand {
    ValidCommand { spec: commands::by_ins(ins).expect("INS in the table"), header, data }
}

/// Builds the prepared card: registered with the vector CA, postmark, agent
/// and signature slots certified, an encryption key, a pending certificate,
/// a postmark to validate; `credit` in DR.
pub fn prepared(credit: u64) -> Services {
    let keys = vector_keys();
    let mut ca = pki::ca_for(&keys);
    let mut card = card_with_entropy(&operational_store(), true, 11);
    let mut send = |a: &[u8]| card.process(a);
    let meter_id = pki::register_raw(&mut send, &mut ca);
    send(&crate::verify_apdu("123456"));
    let subject = pki::subject("services");
    let (pm_public, pm_cert) = pki::request_raw(&mut send, &mut ca, slots::POSTMARK, Usage::Postmark);
    send(&ext_apdu([0x80, ins::INSTALL_CERTIFICATE, 0x00, slots::POSTMARK], &pm_cert));
    let agent_cert = pki::certify_raw(&mut send, &mut ca, slots::AGENT, Usage::Agent);
    pki::certify_raw(&mut send, &mut ca, slots::SIGNATURE, Usage::Signature);
    let (_, pending_cert) = pki::request_raw(&mut send, &mut ca, slots::PENDING, Usage::Signature);
    let challenge = ca.challenge(FIXTURE_TIME).expect("CA challenge");
    let r = send(&ext_apdu([0x00, ins::GENERATE_KEY_PAIR, 0x00, slots::ENCRYPTION], &[Usage::Encryption as u8]));
    let enc_public: [u8; 65] = r[..r.len() - 2].try_into().expect("public key");
    let digest = [0x42u8; 32];
    let r = send(&ext_apdu([0x80, ins::POSTMARK, 0x00, slots::POSTMARK], &digest));
    let parts = apdu_specs::postmark::SignedParts::parse(&r[..r.len() - 2]).expect("postmark parts");
    let token = apdu_specs::postmark::wrap_token(&parts, &pm_cert).expect("token");
    let public_keys = send(&[0x00, ins::GET_DATA, 0xDF, 0x24, 0x00]);
    let device: [u8; 65] = apdu_specs::tlv::find(&public_keys, 0x81).expect("device key").try_into().expect("65 bytes");
    let first_line = authority::orders::credit_line(&credit_issuer(), &credit_line(1, 1_000_000, meter_id, device));
    let r = send(&ext_apdu([0x80, ins::INSTALL_CREDIT_LINE, 0, 0], &first_line));
    assert!(r.ends_with(&[0x90, 0x00]), "INSTALL CREDIT LINE answered {r:02X?}");
    let recharge = valid(ins::RECHARGE_CREDIT, [0x80, ins::RECHARGE_CREDIT, 0, 0], RECHARGE_PLACEHOLDER.to_vec());
    let ready = with_pending(&recharge, &mut send);
    let r = send(&ready.apdu(256));
    assert!(r.ends_with(&[0x90, 0x00]), "RECHARGE CREDIT answered {r:02X?}");
    card.reset();
    let mut store = card.into_platform().into_store();
    set_funds(&mut store, credit);

    let agent_request = signature_agent_request(&subject);
    let revoke =
        authority::orders::revocation_order(&keys.authority, &meter_id, slots::POSTMARK, &pm_public, 1, FIXTURE_TIME);
    let next_ca = authority::SigningKeyPair::from_seed("services next CA").public();
    let anchor = authority::orders::anchor_update(&keys.authority, &meter_id, 1, &next_ca);
    let blob = host_driver::certificates::encrypt_to(&enc_public, b"sealed for the card").expect("ECIES");
    let mut validate = digest.to_vec();
    validate.extend_from_slice(&token);
    let pin = apdu_specs::pin::PinBlock::from_digits("123456").expect("PIN").as_bytes().to_vec();
    let puk = apdu_specs::pin::PinBlock::from_digits("12345678").expect("PUK").as_bytes().to_vec();
    let table = crate::signed_table(2, FIXTURE_TIME - 1, |t| t.classes[0].breaks[0].price = 61);
    let profile =
        pcmeter::simulated::signed_profile(&keys, &crate::vector_options(), crate::VECTOR_SERIAL).expect("profile");
    // An acknowledgement can only answer a report the card just signed (its nonce is fresh): this one answers none.
    let ack = authority::orders::inspection_ack(
        &keys.authority,
        &apdu_specs::inspection::InspectionAck {
            meter_id,
            report_digest: [0; 32],
            next_deadline: FIXTURE_TIME + 90 * 86_400,
            time: FIXTURE_TIME,
        },
    );
    let unlock = authority::orders::lock_order(
        &keys.authority,
        &apdu_specs::inspection::LockOrder {
            meter_id,
            action: apdu_specs::inspection::LockAction::Unlock,
            sequence: 1,
            reason: 0,
            time: FIXTURE_TIME,
        },
    );
    let next_line = authority::orders::credit_line(&credit_issuer(), &credit_line(2, 500_000, meter_id, device));
    let mut commands = Vec::new();
    for spec in commands::COMMANDS {
        let c = match spec.ins {
            ins::SELECT => valid(spec.ins, [0x00, ins::SELECT, 0x04, 0x00], apdu_specs::AID.to_vec()),
            ins::GET_RESPONSE => valid(spec.ins, [0x00, ins::GET_RESPONSE, 0, 0], Vec::new()),
            ins::VERIFY => valid(spec.ins, [0x00, ins::VERIFY, 0x00, 0x81], pin.clone()),
            ins::CHANGE_REFERENCE_DATA => {
                valid(spec.ins, [0x00, ins::CHANGE_REFERENCE_DATA, 0x00, 0x81], [&pin[..], &pin[..]].concat())
            }
            ins::RESET_RETRY_COUNTER => valid(spec.ins, [0x00, ins::RESET_RETRY_COUNTER, 0x01, 0x81], puk.clone()),
            ins::ACTIVATE => valid(spec.ins, [0x00, ins::ACTIVATE, 0, 0], Vec::new()),
            ins::GET_DATA => valid(spec.ins, [0x00, ins::GET_DATA, 0xDF, 0x20], Vec::new()),
            ins::GET_DATA_ODD => valid(spec.ins, [0x00, ins::GET_DATA_ODD, 0xDF, 0x25], vec![0, 0, 0, 0, 0, 4]),
            ins::STORE_DATA => valid(spec.ins, [0x80, ins::STORE_DATA, 0, 0], profile.clone()),
            ins::PRINT_INDICIUM => {
                valid(spec.ins, [0x80, ins::PRINT_INDICIUM, 0, 0], crate::piece(1, 20).encode().to_vec())
            }
            ins::UPDATE_RATES => valid(spec.ins, [0x80, ins::UPDATE_RATES, 0, 0], table.clone()),
            ins::GENERATE_KEY_PAIR => {
                valid(spec.ins, [0x00, ins::GENERATE_KEY_PAIR, 0, slots::FREE], vec![Usage::Signature as u8])
            }
            ins::READ_SLOT => valid(spec.ins, [0x80, ins::READ_SLOT, 0, slots::POSTMARK], Vec::new()),
            ins::CERTIFICATE_REQUEST => {
                valid(spec.ins, [0x80, ins::CERTIFICATE_REQUEST, 0, slots::SIGNATURE], challenge.to_vec())
            }
            ins::INSTALL_CERTIFICATE => {
                valid(spec.ins, [0x80, ins::INSTALL_CERTIFICATE, 0, slots::PENDING], pending_cert.clone())
            }
            ins::HASH => valid(spec.ins, [0x80, ins::HASH, 0, 0], Vec::new()),
            ins::POSTMARK => valid(spec.ins, [0x80, ins::POSTMARK, 0, slots::POSTMARK], digest.to_vec()),
            ins::VALIDATE_POSTMARK => valid(spec.ins, [0x80, ins::VALIDATE_POSTMARK, 0, 0], validate.clone()),
            ins::VERIFY_CERTIFICATE => valid(spec.ins, [0x80, ins::VERIFY_CERTIFICATE, 0, 0], agent_cert.clone()),
            ins::UPDATE_CA_ANCHOR => valid(spec.ins, [0x80, ins::UPDATE_CA_ANCHOR, 0, 0], anchor.clone()),
            ins::AGENT_ISSUE => valid(spec.ins, [0x80, ins::AGENT_ISSUE, 0, slots::AGENT], agent_request.clone()),
            ins::SIGN_DATA => valid(spec.ins, [0x80, ins::SIGN_DATA, 0x01, slots::SIGNATURE], digest.to_vec()),
            ins::DECRYPT => valid(spec.ins, [0x80, ins::DECRYPT, 0, slots::ENCRYPTION], blob.clone()),
            ins::REVOKE => valid(spec.ins, [0x80, ins::REVOKE, 0, 0], revoke.clone()),
            ins::REVOCATION_REQUEST => valid(spec.ins, [0x80, ins::REVOCATION_REQUEST, 0, slots::SIGNATURE], vec![1]),
            ins::RECHARGE_INIT => {
                valid(spec.ins, [0x80, ins::RECHARGE_INIT, 0, 0], RECHARGE_AMOUNT.to_be_bytes().to_vec())
            }
            ins::RECHARGE_CREDIT => recharge.clone(),
            ins::GET_RECHARGE_PROOF => {
                valid(spec.ins, [0x80, ins::GET_RECHARGE_PROOF, 0, 0], 1u32.to_be_bytes().to_vec())
            }
            ins::INSPECTION_REPORT => valid(spec.ins, [0x80, ins::INSPECTION_REPORT, 0, 0], Vec::new()),
            ins::INSPECTION_ACK => valid(spec.ins, [0x80, ins::INSPECTION_ACK, 0, 0], ack.clone()),
            ins::LOCK_ORDER => valid(spec.ins, [0x80, ins::LOCK_ORDER, 0, 0], unlock.clone()),
            ins::INSTALL_CREDIT_LINE => valid(spec.ins, [0x80, ins::INSTALL_CREDIT_LINE, 0, 0], next_line.clone()),
            ins::PAY => valid(spec.ins, [0x80, ins::PAY, 0, 0], payment(100).encode()),
            other => panic!("no valid command written for INS {other:02X}: add one"),
        };
        commands.push(c);
    }
    Services { store, commands }
}

/// An AGENT ISSUE request for a one-day signature certificate for `subject`,
/// delivered to a fresh host key.
pub fn signature_agent_request(subject: &[u8]) -> Vec<u8> {
    let delivery = host_driver::certificates::DeliveryKey::generate().expect("delivery key");
    AgentRequest { subject, not_after: FIXTURE_TIME + 86_400, usage: Usage::Signature, delivery_key: delivery.public }
        .encode()
}

/// Sets DR of a stored card to `dr`, keeping AR_p + AR_c + DR == CT: money
/// above `dr` is moved to AR_c as if spent, money missing is credited to DR
/// and CT as the remote recharge (not built yet) will. Test set-up only: no
/// audit record is written.
pub fn set_funds(store: &mut impl Store, dr: u64) {
    let bytes = store.read(records::COUNTERS).expect("store").expect("counters record");
    let mut counters = Counters::decode(&bytes).expect("counters");
    let regs = &mut counters.regs;
    if dr < regs.descending {
        regs.ar_certificates += regs.descending - dr;
    } else {
        regs.control_total += dr - regs.descending;
    }
    regs.descending = dr;
    assert!(regs.balanced());
    let mut set = WriteSet::new();
    set.put(records::COUNTERS, counters.encode());
    store.commit(&set).expect("commit");
}

/// A meter on a card powered from a copy of `store`, over the in-process
/// transport (PIN not verified), with the card's clock and power controls.
pub struct StoredMeter {
    /// The typed API.
    pub meter: host_driver::Meter<card_sim::InProcessTransport>,
    /// Power and reset controls.
    pub card: std::sync::Arc<std::sync::Mutex<card_sim::SharedCard>>,
    /// The card clock, at the fixture time.
    pub clock: card_sim::SimClock,
}

impl StoredMeter {
    /// Powers a card on from a copy of `store` and selects it.
    pub fn on(store: &MemoryStore) -> Self {
        let clock = card_sim::SimClock::fixed(FIXTURE_TIME);
        let platform = card_sim::SimPlatform::new(store.clone(), card_sim::Entropy::seeded(5), clock.clone());
        let card = card_sim::SharedCard::new(card_sim::SimCard::from_platform(platform).expect("stored card"));
        let transport = card_sim::InProcessTransport::new(std::sync::Arc::clone(&card));
        let meter = host_driver::Meter::connect(transport).expect("meter selects");
        Self { meter, card, clock }
    }

    /// The device public key of the card.
    pub fn device_key(&mut self) -> [u8; 65] {
        self.meter.run(|tx| tx.public_keys()).expect("public keys").device
    }

    /// The meter ID of the card.
    pub fn meter_id(&mut self) -> [u8; 12] {
        self.meter.fci().and_then(|f| f.meter_id).expect("personalized")
    }

    /// Cuts the power and powers the card on again (volatile state is lost), then re-selects.
    pub fn power_cycle(&mut self) {
        {
            let mut card = self.card.lock().expect("card");
            card.power_off();
            card.power_on().expect("power on");
        }
        self.meter.recover().expect("re-selected");
    }
}

/// Runs `f` with the PIN verified (`123456`).
pub fn with_pin<R>(
    meter: &mut host_driver::Meter<card_sim::InProcessTransport>,
    f: impl FnOnce(&mut host_driver::Transaction<'_, card_sim::InProcessTransport>) -> Result<R, host_driver::MeterError>,
) -> Result<R, host_driver::MeterError> {
    let pin = host_driver::Pin::new("123456").expect("PIN");
    meter.run(|tx| {
        tx.verify_pin(&pin)?;
        f(tx)
    })
}
