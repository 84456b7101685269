//! The typed-API suite, written once and run on every transport: in process
//! and through pcscd + vpcd. A [`Rig`] provides fresh cards and the physical
//! events (reset by another client, removal, insertion).

use crate::{FIXTURE_TIME, piece};
use apdu_specs::Service;
use apdu_specs::command::GetData;
use apdu_specs::sw::Sw;
use apdu_specs::tags;
use host_driver::channel::{ChannelConfig, CommandApdu, exchange};
use host_driver::transport::{Transport, TransportError};
use host_driver::verify::{IndiciumKey, verify_audit_chain, verify_indicium};
use host_driver::{CardStatus, Meter, MeterError, Pin, PinStatus};
use pcmeter::simulated::{AuthorityKeys, Options, bring_up};

/// A source of fresh meters and physical events.
pub trait Rig {
    /// The transport it yields.
    type T: Transport;
    /// A selected meter on a fresh card manufactured with `keys.issuer`.
    fn blank(&mut self, keys: &AuthorityKeys, opts: &Options) -> Meter<Self::T>;
    /// Another client resets the card.
    fn reset_card(&mut self);
    /// The card leaves the reader.
    fn remove_card(&mut self);
    /// The card comes back.
    fn insert_card(&mut self);
}

/// An operational meter and its secrets.
pub struct Up<T: Transport> {
    /// The meter (PIN not verified).
    pub meter: Meter<T>,
    /// PIN.
    pub pin: Pin,
    /// PUK.
    pub puk: Pin,
    /// Keys that made it.
    pub keys: AuthorityKeys,
}

/// Brings up a meter with `credit` on `rig`.
pub fn up<R: Rig>(rig: &mut R, credit: u64, tweak: impl FnOnce(&mut Options)) -> Up<R::T> {
    let keys = AuthorityKeys::from_seed("suite");
    let mut opts = Options::at(FIXTURE_TIME, credit);
    tweak(&mut opts);
    let mut meter = rig.blank(&keys, &opts);
    let b = bring_up(&mut meter, &keys, &opts).expect("bring up");
    Up { meter, pin: b.pin, puk: b.puk, keys }
}

/// Typed errors carry the status word; WrongPin carries the tries left.
pub fn typed_errors_keep_the_status_word<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, .. } = up(rig, 1_000, |_| {});
    match meter.run(|tx| tx.print_indicium(&piece(1, 20))) {
        Err(e @ MeterError::Card(CardStatus::PinRequired)) => {
            assert_eq!(e.sw(), Some(Sw::SECURITY_STATUS_NOT_SATISFIED))
        }
        other => panic!("{other:?}"),
    }
    match meter.run(|tx| tx.verify_pin(&Pin::new("0000").unwrap())) {
        Err(e @ MeterError::Card(CardStatus::WrongPin { tries_left: 2 })) => assert_eq!(e.sw(), Some(Sw::wrong_pin(2))),
        other => panic!("{other:?}"),
    }
    assert_eq!(meter.run(|tx| tx.pin_status()).unwrap(), PinStatus::NotVerified(2));
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    assert_eq!(meter.run(|tx| tx.pin_status()).unwrap(), PinStatus::Verified);
    assert_eq!(meter.run(|tx| tx.print_indicium(&piece(1, 20))).unwrap().len(), 124);
}

/// Insufficient funds, unknown class and missing records are typed; nothing is charged.
pub fn refusals_are_typed_and_charge_nothing<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, .. } = up(rig, 1_000, |_| {});
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    match meter.run(|tx| tx.print_indicium(&piece(3, 2000))) {
        Err(e @ MeterError::Card(CardStatus::InsufficientFunds)) => assert_eq!(e.sw(), Some(Sw::INSUFFICIENT_FUNDS)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(meter.run(|tx| tx.print_indicium(&piece(7, 20))), Err(MeterError::Card(CardStatus::NotFound))));
    assert!(matches!(meter.run(|tx| tx.print_indicium(&piece(1, 0))), Err(MeterError::Card(CardStatus::BadData))));
    assert!(matches!(meter.run(|tx| tx.audit_record(9999)), Err(MeterError::Card(CardStatus::NotFound))));
    assert!(matches!(meter.run(|tx| tx.activate()), Err(MeterError::Card(CardStatus::ConditionsNotSatisfied))));
    let regs = meter.run(|tx| tx.registers()).unwrap();
    assert_eq!((regs.descending, regs.ar_postage), (1_000, 0));
}

/// Indicia from the typed API verify offline and move the registers exactly.
pub fn indicia_verify_offline_and_registers_balance<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, .. } = up(rig, 10_000, |_| {});
    let keys = meter.run(|tx| tx.public_keys()).unwrap();
    let postal = keys.postal.expect("ECDSA meter has a postal key");
    let mut s = meter.transaction().unwrap();
    s.verify_pin(&pin).unwrap();
    let mut total = 0u64;
    for (class, grams) in [(1u8, 20u32), (2, 100), (3, 500)] {
        let ind = s.print_indicium(&piece(class, grams)).unwrap();
        let body = verify_indicium(&ind, IndiciumKey::Ecdsa(&postal)).unwrap();
        total += u64::from(body.postage);
        let regs = s.registers().unwrap();
        assert_eq!(body.ascending_register, regs.ar_postage);
        assert_eq!(body.descending_register, regs.descending);
        assert!(regs.balanced());
    }
    let regs = s.registers().unwrap();
    assert_eq!((regs.ar_postage, regs.descending, regs.count(Service::Postage)), (total, 10_000 - total, 3));
    let (head, records) = s.audit_log().unwrap();
    verify_audit_chain(&head, &records).unwrap();
}

/// The MAC variant through the typed API.
pub fn the_mac_variant_works<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, keys, .. } = up(rig, 1_000, |o| {
        o.profile.hmac_variant = true;
        o.profile.meter_id = String::from("PCM-MAC-0001");
    });
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    let ind = meter.run(|tx| tx.print_indicium(&piece(1, 20))).unwrap();
    assert_eq!(ind.len(), apdu_specs::indicium::MAC_LEN);
    let k = keys.mac_master.diversify(b"PCM-MAC-0001");
    assert_eq!(verify_indicium(&ind, IndiciumKey::Mac(&k)).unwrap().postage, 73);
}

/// The channel follows 61xx (262-byte rate table), 6Cxx, and chains long data.
pub fn the_channel_follows_61xx_6cxx_and_chains<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, keys, .. } = up(rig, 1_000, |_| {});
    let rt = meter.run(|tx| tx.rate_table()).unwrap();
    assert_eq!((rt.signed.len(), rt.table.version), (262, 1));
    {
        let mut tx = meter.transport_mut().begin().unwrap();
        let cmd = CommandApdu::encode(&GetData { tag: tags::STATUS }).expect(5);
        let r = exchange(&mut tx, &cmd, &ChannelConfig::default()).unwrap();
        assert_eq!((r.data.len(), r.sw), (33, Sw::OK));
    }
    // A 262-byte signed table goes in two chained APDUs.
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    let v2 = authority::sign_rate_table(&keys.authority, &authority::default_rate_table(2, FIXTURE_TIME - 1));
    meter.run(|tx| tx.update_rates(&v2)).unwrap();
    assert_eq!(meter.run(|tx| tx.status()).unwrap().rate_table_version, 2);
    assert!(matches!(meter.run(|tx| tx.update_rates(&v2)), Err(MeterError::Card(CardStatus::ConditionsNotSatisfied))));
}

/// PIN change and unblock through the typed API.
pub fn pin_change_and_unblock<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, puk, .. } = up(rig, 1_000, |_| {});
    let new = Pin::new("97531").unwrap();
    meter.run(|tx| tx.change_pin(&pin, &new)).unwrap();
    for _ in 0..3 {
        let _ = meter.run(|tx| tx.verify_pin(&pin));
    }
    assert_eq!(meter.run(|tx| tx.pin_status()).unwrap(), PinStatus::Blocked);
    assert!(matches!(meter.run(|tx| tx.verify_pin(&new)), Err(MeterError::Card(CardStatus::PinBlocked))));
    meter.run(|tx| tx.unblock_pin(&puk, Some(&pin))).unwrap();
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    meter.run(|tx| tx.print_indicium(&piece(1, 20))).unwrap();
}

/// A reset by another client: reconnect, re-select, PIN lost and not re-sent;
/// removal and re-insertion likewise. Nothing is spent twice.
pub fn reset_and_removal_are_recovered_without_resending_the_pin<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, .. } = up(rig, 1_000, |_| {});
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    meter.run(|tx| tx.print_indicium(&piece(1, 20))).unwrap();

    rig.reset_card();
    assert!(matches!(meter.run(|tx| tx.print_indicium(&piece(1, 20))), Err(MeterError::PinStateLost)));
    assert!(matches!(meter.run(|tx| tx.print_indicium(&piece(1, 20))), Err(MeterError::Card(CardStatus::PinRequired))));
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    meter.run(|tx| tx.print_indicium(&piece(1, 20))).unwrap();

    rig.remove_card();
    match meter.run(|tx| tx.registers()) {
        Err(MeterError::Transport(TransportError::CardRemoved | TransportError::CardAbsent)) => {}
        other => panic!("expected a removal error, got {other:?}"),
    }
    rig.insert_card();
    meter.recover().unwrap();
    assert_eq!(meter.run(|tx| tx.pin_status()).unwrap(), PinStatus::NotVerified(3));
    assert_eq!(meter.run(|tx| tx.registers()).unwrap().count(Service::Postage), 2);
}

/// VERIFY and several indicia in one transaction.
pub fn a_transaction_groups_verify_and_indicia<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, .. } = up(rig, 10_000, |_| {});
    let mut s = meter.transaction().unwrap();
    s.verify_pin(&pin).unwrap();
    for _ in 0..5 {
        s.print_indicium(&piece(1, 20)).unwrap();
    }
    let regs = s.registers().unwrap();
    assert_eq!(regs.ar_postage, 5 * 73);
    assert!(regs.balanced());
}

/// The whole audit ring (64 records, 4416 bytes) in one extended exchange.
pub fn the_audit_ring_reads_in_one_exchange<R: Rig>(rig: &mut R) {
    let Up { mut meter, pin, .. } = up(rig, 100_000, |_| {});
    let mut s = meter.transaction().unwrap();
    s.verify_pin(&pin).unwrap();
    for _ in 0..70 {
        s.print_indicium(&piece(1, 1)).unwrap();
    }
    let (head, records) = s.audit_log().unwrap();
    assert_eq!(records.len(), 64);
    assert_eq!(head.records, 72);
    verify_audit_chain(&head, &records).unwrap();
}

/// Declares one `#[test]` per suite test, so the list of the suite lives here
/// once for every transport. `$run` takes a closure over `&mut $rig` and runs
/// it on a fresh rig.
#[macro_export]
macro_rules! suite_tests {
    ($rig:ty, $run:path) => {
        $crate::suite_tests!(@each $rig, $run;
            typed_errors_keep_the_status_word,
            refusals_are_typed_and_charge_nothing,
            indicia_verify_offline_and_registers_balance,
            the_mac_variant_works,
            the_channel_follows_61xx_6cxx_and_chains,
            pin_change_and_unblock,
            reset_and_removal_are_recovered_without_resending_the_pin,
            a_transaction_groups_verify_and_indicia,
            the_audit_ring_reads_in_one_exchange,
            postmarks_pass_openssl_ts_verify,
            agent_issued_chain_passes_openssl_verify,
        );
    };
    (@each $rig:ty, $run:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $run(|rig: &mut $rig| $crate::suite::$name(rig));
            }
        )*
    };
}

/// Postmarks of a digest and of a 1 MiB message hashed on the card are RFC
/// 3161 tokens that `openssl ts -verify` accepts for the file and refuses
/// for a changed file; each is charged the postmark fee.
pub fn postmarks_pass_openssl_ts_verify<R: Rig>(rig: &mut R) {
    use crate::pki::{self, Scratch, charges, openssl, slots};
    use apdu_specs::x509::Usage;
    use sha2::{Digest, Sha256};
    let Up { mut meter, pin, keys, .. } = up(rig, 100_000, |_| {});
    let mut ca = pki::ca_for(&keys);
    pki::register(&mut ca, &mut meter);
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    pki::certified(&mut meter, &mut ca, slots::POSTMARK, Usage::Postmark).unwrap();
    let dir = Scratch::new("postmark");
    let ca_pem = dir.write("ca.pem", ca.certificate_pem().as_bytes());
    let small = b"Contract between A and B, signed 2026-11-23.".to_vec();
    let large: Vec<u8> = (0..1_048_576u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let digest: [u8; 32] = Sha256::digest(&small).into();
    let by_digest = charges(&mut meter, Service::Postmark, 25, |m| {
        m.run(|tx| tx.postmark_digest(slots::POSTMARK, &digest)).unwrap()
    });
    let by_message = charges(&mut meter, Service::Postmark, 25, |m| {
        m.run(|tx| tx.postmark_message(slots::POSTMARK, &large)).unwrap()
    });
    let ts_verify = |token: &std::path::Path, file: &std::path::Path| {
        let (token, file, ca) = (token.to_str().unwrap(), file.to_str().unwrap(), ca_pem.to_str().unwrap());
        openssl(&dir.0, &["ts", "-verify", "-token_in", "-in", token, "-data", file, "-CAfile", ca])
    };
    for (name, token, data) in [("digest", &by_digest, &small), ("message", &by_message, &large)] {
        let tok = dir.write(&format!("{name}.tst"), token);
        let ok = ts_verify(&tok, &dir.write(&format!("{name}.dat"), data));
        assert!(ok.ok && ok.output.contains("Verification: OK"), "{name}: {}", ok.output);
        let mut changed = data.clone();
        changed[7] ^= 1;
        let bad = ts_verify(&tok, &dir.write(&format!("{name}-changed.dat"), &changed));
        assert!(!bad.ok, "{name}: a changed file must fail: {}", bad.output);
    }
    // Serials never repeat.
    let text = |t: &Vec<u8>| {
        openssl(
            &dir.0,
            &["ts", "-reply", "-token_in", "-token_out", "-in", dir.write("t.tst", t).to_str().unwrap(), "-text"],
        )
        .output
    };
    let (a, b) = (text(&by_digest), text(&by_message));
    assert!(a.contains("Serial number: 0x01") && b.contains("Serial number: 0x02"), "{a}\n{b}");
    assert!(a.contains("TSA: DirName:") && a.contains("PCMeter"), "{a}");
    assert_eq!(meter.run(|tx| tx.registers()).unwrap().postmark_serial, 2);
}

/// An agent certificate lets the meter issue a certificate for a key it
/// generates: `openssl verify` accepts CA → agent → receiver, the delivered
/// key matches the certificate, and openssl signs with it and verifies.
pub fn agent_issued_chain_passes_openssl_verify<R: Rig>(rig: &mut R) {
    use crate::pki::{self, Scratch, charges, ec_private_key_der, openssl, slots};
    use apdu_specs::certs::AgentRequest;
    use apdu_specs::x509::{Certificate, Usage};
    use host_driver::certificates::DeliveryKey;
    let Up { mut meter, pin, keys, .. } = up(rig, 100_000, |_| {});
    let mut ca = pki::ca_for(&keys);
    pki::register(&mut ca, &mut meter);
    meter.run(|tx| tx.verify_pin(&pin)).unwrap();
    let agent = pki::certified(&mut meter, &mut ca, slots::AGENT, Usage::Agent).unwrap();
    let delivery = DeliveryKey::generate().unwrap();
    let subject = pki::subject("receiver@example.org");
    let request = AgentRequest {
        subject: &subject,
        not_after: FIXTURE_TIME + 365 * 86_400,
        usage: Usage::Signature,
        delivery_key: delivery.public,
    };
    let issued = charges(&mut meter, Service::AgentIssuance, 500, |m| {
        m.run(|tx| tx.agent_issue(slots::AGENT, &request)).unwrap()
    });
    let receiver = Certificate::parse(&issued.certificate).unwrap();
    let secret = delivery.open(&issued).unwrap();
    assert_eq!(secret.len(), 32);

    let dir = Scratch::new("agent");
    let ca_pem = dir.write("ca.pem", ca.certificate_pem().as_bytes());
    let agent_pem = dir.cert_pem("agent.pem", &agent);
    let receiver_pem = dir.cert_pem("receiver.pem", &issued.certificate);
    let (ca_s, agent_s, receiver_s) =
        (ca_pem.to_str().unwrap(), agent_pem.to_str().unwrap(), receiver_pem.to_str().unwrap());
    let v = openssl(&dir.0, &["verify", "-CAfile", ca_s, "-untrusted", agent_s, receiver_s]);
    assert!(v.ok && v.output.contains(": OK"), "{}", v.output);
    for pem in [agent_s, receiver_s] {
        let t = openssl(&dir.0, &["x509", "-in", pem, "-noout", "-text"]);
        assert!(t.ok, "{}", t.output);
    }
    // The delivered key is the certificate's: openssl signs with it, and verifies with the certificate.
    dir.write("receiver.key", &ec_private_key_der(&secret, &receiver.public_key));
    dir.write("data.txt", b"signed by the receiver");
    let sign = openssl(
        &dir.0,
        &["dgst", "-sha256", "-keyform", "DER", "-sign", "receiver.key", "-out", "sig.der", "data.txt"],
    );
    assert!(sign.ok, "{}", sign.output);
    let key = openssl(&dir.0, &["x509", "-in", receiver_s, "-pubkey", "-noout", "-out", "receiver.pub"]);
    assert!(key.ok, "{}", key.output);
    let check = openssl(&dir.0, &["dgst", "-sha256", "-verify", "receiver.pub", "-signature", "sig.der", "data.txt"]);
    assert!(check.ok && check.output.contains("Verified OK"), "{}", check.output);
    // A delivery opened with another key fails.
    assert!(DeliveryKey::generate().unwrap().open(&issued).is_err());
}

/// The in-process rig.
#[derive(Default)]
pub struct InProcessRig {
    card: Option<std::sync::Arc<std::sync::Mutex<card_sim::SharedCard>>>,
}

impl Rig for InProcessRig {
    type T = card_sim::InProcessTransport;

    fn blank(&mut self, keys: &AuthorityKeys, opts: &Options) -> Meter<Self::T> {
        let (meter, card) = pcmeter::simulated::blank(keys, opts).expect("blank card");
        self.card = Some(card);
        meter
    }
    fn reset_card(&mut self) {
        self.card.as_ref().expect("card").lock().unwrap().reset().unwrap();
    }
    fn remove_card(&mut self) {
        self.card.as_ref().expect("card").lock().unwrap().power_off();
    }
    fn insert_card(&mut self) {
        self.card.as_ref().expect("card").lock().unwrap().power_on().unwrap();
    }
}
