//! The generator of `apdu-specs/vectors/authority.apdu`: the authority
//! protocols run on a vector card (seeded entropy, fixed clock), each
//! exchange written as a transcript step, each status word asserted, the
//! card's signatures written as wildcards.

use apdu_specs::capdu;
use apdu_specs::commands::{CLA_PROPRIETARY, ins};
use apdu_specs::inspection::{InspectionAck, LockAction, LockOrder};
use apdu_specs::signed::Signed;
use apdu_specs::x509::Usage;
use card_sim::{Entropy, SimCard, SimClock};
use testkit::services::{authorize, credit_issuer, credit_line, payment, profile_with_credit_issuer};
use testkit::{FIXTURE_TIME, VECTOR_SERIAL, vector_keys, vector_options};

/// The vector meter's ID (`PCM-VECTOR-1`).
const METER_ID: [u8; 12] = *b"PCM-VECTOR-1";
/// The slot whose key the revocation transcript revokes.
const REVOKED_SLOT: u8 = 2;

/// How a response's data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Byte for byte.
    Exact,
    /// A signed envelope: all but the trailing 64-byte signature, then `*`.
    Signed,
    /// Fresh card output (a generated public key): its length only.
    Length,
}

struct Generator {
    out: String,
    /// Transcripts so far: name, `from`, C-APDUs sent.
    transcripts: Vec<(String, Option<String>, Vec<Vec<u8>>)>,
    card: SimCard,
}

fn hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn fresh_card() -> SimCard {
    SimCard::manufacture_in_memory(
        &vector_keys().issuer.public(),
        VECTOR_SERIAL,
        Entropy::seeded(1),
        SimClock::fixed(FIXTURE_TIME),
    )
    .expect("vector card")
}

/// `sw` against a pattern of four hex digits or `x`.
fn sw_matches(pattern: &str, sw: [u8; 2]) -> bool {
    let got = format!("{:02X}{:02X}", sw[0], sw[1]);
    pattern.len() == 4 && pattern.chars().zip(got.chars()).all(|(p, g)| p == 'x' || p.eq_ignore_ascii_case(&g))
}

fn apdu(header: [u8; 4], data: &[u8], ne: usize) -> Vec<u8> {
    capdu::encode(header, data, ne, false).expect("APDU")
}

fn proprietary(ins: u8, p2: u8, data: &[u8], ne: usize) -> Vec<u8> {
    apdu([CLA_PROPRIETARY, ins, 0, p2], data, ne)
}

fn get_data(tag: u16) -> Vec<u8> {
    let [p1, p2] = tag.to_be_bytes();
    vec![0x00, ins::GET_DATA, p1, p2, 0x00]
}

/// The envelope with its last signature byte flipped.
fn forged(envelope: &[u8]) -> Vec<u8> {
    let mut bad = envelope.to_vec();
    if let Some(last) = bad.last_mut() {
        *last ^= 0x01;
    }
    bad
}

impl Generator {
    fn new() -> Self {
        Self { out: String::new(), transcripts: Vec::new(), card: fresh_card() }
    }

    fn note(&mut self, text: &str) {
        for line in text.lines() {
            self.out.push_str(&format!("# {line}\n"));
        }
    }

    /// Starts transcript `name` on a card that replayed `from`'s lineage
    /// and was power-cycled after each transcript, as the replay does.
    fn begin(&mut self, name: &str, from: Option<&str>, about: &str) {
        let mut chain = Vec::new();
        let mut cur = from.map(str::to_string);
        while let Some(n) = cur {
            let t = self.transcripts.iter().find(|t| t.0 == n).expect("earlier transcript");
            chain.push(t.2.clone());
            cur = t.1.clone();
        }
        chain.reverse();
        let mut card = fresh_card();
        for steps in &chain {
            for c in steps {
                card.transmit(c).expect("powered");
            }
            card.power_off();
            card.power_on().expect("power on");
        }
        self.card = card;
        self.out.push_str(&format!("\n@ {name}{}\n", from.map(|f| format!(" from {f}")).unwrap_or_default()));
        self.note(about);
        self.transcripts.push((name.to_string(), from.map(str::to_string), Vec::new()));
    }

    fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
        self.transcripts.last_mut().expect("in a transcript").2.push(c.to_vec());
        self.card.transmit(c).expect("powered")
    }

    /// Sends `c` (following 61xx with GET RESPONSE), writes the exchanges,
    /// asserts the final status word against `sw`; returns the response data.
    fn send(&mut self, c: &[u8], shape: Shape, sw: &str) -> Vec<u8> {
        let mut exchanges = vec![(c.to_vec(), self.transmit(c))];
        while let Some((_, r)) = exchanges.last()
            && r.len() >= 2
            && r[r.len() - 2] == 0x61
            && sw != "61xx"
        {
            let get = vec![0x00, ins::GET_RESPONSE, 0, 0, r[r.len() - 1]];
            let answer = self.transmit(&get);
            exchanges.push((get, answer));
        }
        let last = &exchanges[exchanges.len() - 1].1;
        let got = [last[last.len() - 2], last[last.len() - 1]];
        assert!(sw_matches(sw, got), "{}: expected {sw}, the card answered {}", hex(c), hex(last));
        let data: Vec<u8> = exchanges.iter().flat_map(|(_, r)| r[..r.len() - 2].to_vec()).collect();
        let exact = match shape {
            Shape::Exact => data.len(),
            Shape::Signed => data.len().checked_sub(64).expect("a signed response"),
            Shape::Length => 0,
        };
        let mut offset = 0;
        for (c, r) in &exchanges {
            let (d, s) = r.split_at(r.len() - 2);
            let keep = exact.saturating_sub(offset).min(d.len());
            let matcher = if keep == d.len() {
                hex(d)
            } else if keep == 0 {
                format!("*{}", d.len())
            } else {
                format!("{}*", hex(&d[..keep]))
            };
            let gap = if matcher.is_empty() { "" } else { " " };
            self.out.push_str(&format!("> {}\n< {matcher}{gap}{}\n", hex(c), hex(s)));
            offset += d.len();
        }
        data
    }

    fn ok(&mut self, c: &[u8]) -> Vec<u8> {
        self.send(c, Shape::Exact, "9000")
    }

    fn signed(&mut self, c: &[u8]) -> Vec<u8> {
        self.send(c, Shape::Signed, "9000")
    }

    fn refused(&mut self, c: &[u8], sw: &str) {
        self.send(c, Shape::Exact, sw);
    }

    /// SELECT and VERIFY of the vector PIN.
    fn open(&mut self) {
        self.ok(&testkit::select_apdu());
        self.ok(&testkit::verify_apdu("123456"));
    }
}

/// The whole generated block of `authority.apdu`.
pub fn authority_block() -> String {
    let keys = vector_keys();
    let authority = &keys.authority;
    let mut g = Generator::new();
    g.out.push_str(&format!("! anchor {}\n", hex(&keys.issuer.public())));
    g.out.push_str(&format!("! serial {VECTOR_SERIAL}\n"));
    g.out.push_str(&format!("! time {FIXTURE_TIME}\n"));

    g.begin(
        "personalize",
        None,
        "The vector card personalized with a profile that also trusts the vector credit issuer.\n\
         Before ACTIVATE (lifecycle PERSONALIZATION) the authority commands are refused: 6985.",
    );
    g.ok(&testkit::select_apdu());
    let profile = profile_with_credit_issuer(&vector_options(), VECTOR_SERIAL);
    for c in testkit::chained_apdus([CLA_PROPRIETARY, ins::STORE_DATA, 0, 0], &profile) {
        g.ok(&c);
    }
    g.ok(&testkit::verify_apdu("123456"));
    g.refused(&proprietary(ins::RECHARGE_INIT, 0, &500u64.to_be_bytes(), 256), "6985");
    g.refused(&proprietary(ins::INSPECTION_REPORT, 0, &[], 256), "6985");
    g.refused(&proprietary(ins::PAY, 0, &payment(100).encode(), 256), "6985");
    g.ok(&[0x00, ins::ACTIVATE, 0x00, 0x00]);
    g.ok(&get_data(0xDF21));
    let public_keys = g.ok(&get_data(0xDF24));
    let device: [u8; 65] = apdu_specs::tlv::find(&public_keys, 0x81).expect("device key").try_into().expect("65 bytes");

    // Remote recharge.
    g.begin(
        "recharge",
        Some("personalize"),
        "RECHARGE INIT signs S1 (the signature is a wildcard); a forged S2 is refused (6A80 or 6982)\n\
         and changes nothing; Le too short is refused (6Cxx) before the credit commits; the good S2\n\
         credits DR and CT and returns S3; the same S2 again (replayed NT) is refused; GET RECHARGE\n\
         PROOF returns the stored S3 of NT 1 and 6A88 for an NT never credited.",
    );
    g.ok(&testkit::select_apdu());
    g.refused(&proprietary(ins::RECHARGE_INIT, 0, &500u64.to_be_bytes(), 256), "6982");
    g.ok(&testkit::verify_apdu("123456"));
    g.ok(&get_data(0xDF20));
    g.refused(&proprietary(ins::RECHARGE_INIT, 0, &0u64.to_be_bytes(), 256), "6A80");
    let s1 = g.signed(&proprietary(ins::RECHARGE_INIT, 0, &500u64.to_be_bytes(), 256));
    let s2 = authorize(&s1);
    g.refused(&proprietary(ins::RECHARGE_CREDIT, 0, &forged(&s2), 256), "6xxx");
    g.refused(&proprietary(ins::RECHARGE_CREDIT, 0, &s2, 1), "6Cxx");
    g.ok(&get_data(0xDF20));
    g.signed(&proprietary(ins::RECHARGE_CREDIT, 0, &s2, 256));
    g.ok(&get_data(0xDF20));
    g.refused(&proprietary(ins::RECHARGE_CREDIT, 0, &s2, 256), "6xxx");
    g.signed(&proprietary(ins::GET_RECHARGE_PROOF, 0, &1u32.to_be_bytes(), 256));
    g.refused(&proprietary(ins::GET_RECHARGE_PROOF, 0, &2u32.to_be_bytes(), 256), "6A88");

    // Inspection.
    g.begin(
        "inspection",
        Some("personalize"),
        "INSPECTION REPORT signs the registers, counts, audit head and lifecycle; an acknowledgement\n\
         with a forged signature, or answering another report, is refused; the right one sets the\n\
         next deadline (GET DATA DF21) and is refused when replayed.",
    );
    g.open();
    let report = g.signed(&proprietary(ins::INSPECTION_REPORT, 0, &[], 256));
    let body = Signed::parse(&report).expect("report envelope").body.to_vec();
    let ack_for = |digest: [u8; 32]| {
        authority::orders::inspection_ack(
            authority,
            &InspectionAck {
                meter_id: METER_ID,
                report_digest: digest,
                next_deadline: FIXTURE_TIME + 90 * 86_400,
                time: FIXTURE_TIME,
            },
        )
    };
    let ack = ack_for(testkit::forge::sha256(&body));
    g.refused(&proprietary(ins::INSPECTION_ACK, 0, &forged(&ack), 0), "6xxx");
    g.refused(&proprietary(ins::INSPECTION_ACK, 0, &ack_for([0; 32]), 0), "6xxx");
    g.ok(&proprietary(ins::INSPECTION_ACK, 0, &ack, 0));
    g.ok(&get_data(0xDF21));
    g.refused(&proprietary(ins::INSPECTION_ACK, 0, &ack, 0), "6xxx");

    // LOCK and UNLOCK orders.
    let order = |action, sequence| {
        authority::orders::lock_order(
            authority,
            &LockOrder { meter_id: METER_ID, action, sequence, reason: 0, time: FIXTURE_TIME },
        )
    };
    g.begin(
        "lock-orders",
        Some("personalize"),
        "An authority LOCK order moves the card to LOCKED (DF21): value services and PAY are refused\n\
         (wrong lifecycle, 6985); a forged order and a replayed one are refused; UNLOCK restores it.",
    );
    g.open();
    let lock = order(LockAction::Lock, 1);
    g.refused(&proprietary(ins::LOCK_ORDER, 0, &forged(&lock), 0), "6xxx");
    g.ok(&proprietary(ins::LOCK_ORDER, 0, &lock, 0));
    g.ok(&get_data(0xDF21));
    g.refused(&testkit::indicium_apdu(1, 20), "6985");
    g.refused(&proprietary(ins::RECHARGE_INIT, 0, &500u64.to_be_bytes(), 256), "6985");
    g.refused(&proprietary(ins::LOCK_ORDER, 0, &lock, 0), "6xxx");
    g.ok(&proprietary(ins::LOCK_ORDER, 0, &order(LockAction::Unlock, 2), 0));
    g.ok(&get_data(0xDF21));
    g.send(&testkit::indicium_apdu(1, 20), Shape::Signed, "9000");

    // Revocation (Fig. 6).
    g.begin(
        "revocation",
        Some("personalize"),
        "A key made in a slot (its bytes are card output: matched by length); REVOCATION REQUEST\n\
         signs the request (602); a forged order is refused (610-614); the order destroys the key and\n\
         returns the signed confirmation (616-624); the same order again finds the key revoked (9405).",
    );
    g.open();
    let public = g.send(
        &apdu([0x00, ins::GENERATE_KEY_PAIR, 0, REVOKED_SLOT], &[Usage::Signature as u8], 256),
        Shape::Length,
        "9000",
    );
    let public: [u8; 65] = public.as_slice().try_into().expect("a 65-byte public key");
    g.refused(&proprietary(ins::REVOCATION_REQUEST, REVOKED_SLOT, &[0x0B], 256), "6xxx");
    g.signed(&proprietary(ins::REVOCATION_REQUEST, REVOKED_SLOT, &[0x01], 256));
    let revoke = authority::orders::revocation_order(authority, &METER_ID, REVOKED_SLOT, &public, 1, FIXTURE_TIME);
    g.refused(&proprietary(ins::REVOKE, 0, &forged(&revoke), 256), "6xxx");
    g.signed(&proprietary(ins::REVOKE, 0, &revoke, 256));
    g.refused(&proprietary(ins::REVOKE, 0, &revoke, 256), "9405");

    // Line of credit and PAY (Figs. 7-9).
    let line = authority::orders::credit_line(&credit_issuer(), &credit_line(1, 1_000, METER_ID, device));
    g.begin(
        "credit",
        Some("personalize"),
        "Without a line: DF26 and PAY are refused. A line with a forged issuer signature is refused;\n\
         the good one is installed (DF26 status, DF27 the line as installed). PAY returns the payment\n\
         certificate; Le too short is refused (6700) before anything is spent (DF26); a payment beyond the\n\
         remaining credit gets the insufficient-credit status (906) and changes nothing (DF26).\n\
         DF28 is the last indicium, after one is printed.",
    );
    g.open();
    g.refused(&get_data(0xDF26), "6A88");
    g.refused(&proprietary(ins::PAY, 0, &payment(100).encode(), 256), "6xxx");
    g.refused(&apdu([CLA_PROPRIETARY, ins::INSTALL_CREDIT_LINE, 0, 0], &forged(&line), 0), "6xxx");
    g.ok(&apdu([CLA_PROPRIETARY, ins::INSTALL_CREDIT_LINE, 0, 0], &line, 0));
    g.ok(&get_data(0xDF26));
    g.ok(&get_data(0xDF27));
    g.refused(&proprietary(ins::PAY, 0, &payment(300).encode(), 1), "6700");
    g.ok(&get_data(0xDF26));
    g.signed(&proprietary(ins::PAY, 0, &payment(300).encode(), 256));
    g.ok(&get_data(0xDF26));
    g.refused(&proprietary(ins::PAY, 0, &payment(800).encode(), 256), "940A");
    g.ok(&get_data(0xDF26));
    g.refused(&get_data(0xDF28), "6A88");
    g.send(&testkit::indicium_apdu(1, 20), Shape::Signed, "9000");
    g.send(&get_data(0xDF28), Shape::Signed, "9000");
    g.out
}
