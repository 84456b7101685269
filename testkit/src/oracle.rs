//! The invariant oracle, run after every APDU by the fuzz targets and the
//! stateful proptest. It reads the card's state out of band, from its store,
//! so checking never disturbs the session (open chains, pending responses).
//! Signatures it checks are verified with `p256` directly, not by the card's
//! crypto engine.

use apdu_specs::audit::Record;
use apdu_specs::certs::{
    DOMAIN_CERTIFICATE_REQUEST, DOMAIN_REVOCATION_CONFIRMATION, DOMAIN_REVOCATION_REQUEST, SLOT_COUNT,
};
use apdu_specs::commands::ins;
use apdu_specs::credit::DOMAIN_PAYMENT_CERTIFICATE;
use apdu_specs::inspection::DOMAIN_INSPECTION_REPORT;
use apdu_specs::recharge::{DOMAIN_RECHARGE_RECEIPT, DOMAIN_RECHARGE_REQUEST};
use apdu_specs::sw::Sw;
use card_core::platform::Store;
use card_core::state::{Counters, Secrets, Slot, audit_cell, records, slot_record};
use card_sim::MemoryStore;
use sha2::{Digest, Sha256};

/// What the oracle remembers between APDUs.
pub struct Oracle {
    prev: Counters,
    /// Every private key the card has held so far (device, postal, MAC, slots).
    secrets: Vec<[u8; 32]>,
}

/// The public keys that sign what the card releases.
struct PublicKeys {
    device: [u8; 65],
    postal: Option<[u8; 65]>,
}

fn counters(store: &MemoryStore) -> Counters {
    store.read(records::COUNTERS).ok().flatten().and_then(|b| Counters::decode(&b).ok()).unwrap_or_default()
}

fn stored_secrets(store: &MemoryStore) -> Option<Secrets> {
    store.read(records::SECRETS).ok().flatten().and_then(|b| Secrets::decode(&b).ok())
}

/// The card's private keys now: device, postal, MAC and slot keys.
pub fn secrets(store: &MemoryStore) -> Vec<[u8; 32]> {
    let mut v = Vec::new();
    if let Some(s) = stored_secrets(store) {
        v.push(s.device.0);
        v.extend(s.postal.as_ref().map(|p| p.0));
        v.extend(s.mac_key.as_ref().map(|k| *k.expose()));
    }
    for n in 0..SLOT_COUNT {
        let slot = store.read(slot_record(n)).ok().flatten().and_then(|b| Slot::decode(&b).ok());
        v.extend(slot.and_then(|s| s.secret.as_ref().map(|k| k.0)));
    }
    v
}

fn public_keys(store: &MemoryStore) -> Option<PublicKeys> {
    stored_secrets(store).map(|s| PublicKeys { device: s.device_public, postal: s.postal_public })
}

/// Checks what a command released with 9000 under the card's public keys,
/// with `p256` directly: indicia (postal key); certificate requests,
/// revocation requests and confirmations, recharge requests and receipts,
/// inspection reports and payment certificates (device key).
fn check_signed_output(store: &MemoryStore, capdu: &[u8], data: &[u8]) -> Result<(), String> {
    let Some(keys) = public_keys(store) else { return Ok(()) };
    let checked = match capdu.get(1).copied() {
        Some(ins::PRINT_INDICIUM) => match keys.postal {
            Some(postal) => {
                host_driver::verify::verify_indicium(data, host_driver::verify::IndiciumKey::Ecdsa(&postal)).is_ok()
            }
            None => true,
        },
        Some(ins::CERTIFICATE_REQUEST) => authentic(data, DOMAIN_CERTIFICATE_REQUEST, &keys.device),
        Some(ins::REVOKE) => authentic(data, DOMAIN_REVOCATION_CONFIRMATION, &keys.device),
        Some(ins::REVOCATION_REQUEST) => authentic(data, DOMAIN_REVOCATION_REQUEST, &keys.device),
        Some(ins::RECHARGE_INIT) => authentic(data, DOMAIN_RECHARGE_REQUEST, &keys.device),
        Some(ins::RECHARGE_CREDIT | ins::GET_RECHARGE_PROOF) => authentic(data, DOMAIN_RECHARGE_RECEIPT, &keys.device),
        Some(ins::INSPECTION_REPORT) => authentic(data, DOMAIN_INSPECTION_REPORT, &keys.device),
        Some(ins::PAY) => authentic(data, DOMAIN_PAYMENT_CERTIFICATE, &keys.device),
        _ => true,
    };
    if checked {
        Ok(())
    } else {
        Err(format!("a signature the card released does not verify: {}", hex::encode_upper(capdu)))
    }
}

fn read_record(store: &MemoryStore, seq: u32) -> Option<Record> {
    store.read(audit_cell(seq)).ok().flatten().and_then(|b| Record::parse(&b).ok())
}

impl Oracle {
    /// Starts from the card's current state.
    pub fn new(store: &MemoryStore) -> Self {
        Self { prev: counters(store), secrets: secrets(store) }
    }

    /// Checks one exchange. The error says which invariant broke.
    pub fn check(&mut self, store: &MemoryStore, capdu: &[u8], response: &[u8]) -> Result<(), String> {
        let sw = Sw::from_response(response).ok_or("response without a status word")?;
        if !crate::documented(capdu, sw) {
            return Err(format!("SW {sw} is not documented for {}", hex::encode_upper(capdu)));
        }
        // Keys appear with personalization and key generation; a destroyed key is still remembered.
        for k in secrets(store) {
            if !self.secrets.contains(&k) {
                self.secrets.push(k);
            }
        }
        for s in &self.secrets {
            if response.windows(16).any(|w| s.windows(16).any(|k| k == w)) {
                return Err(String::from("a private key (16+ bytes of it) appeared in a response"));
            }
        }
        let now = counters(store);
        let (a, b) = (&self.prev.regs, &now.regs);
        if !b.balanced() {
            return Err(format!("AR_p + AR_c + DR != CT: {b:?}"));
        }
        let credited = b.control_total.checked_sub(a.control_total).ok_or("CT went down")?;
        // Only a successful RECHARGE CREDIT credits an operational meter, as recharge NT + 1;
        // personalization sets the first credit.
        let recharge = capdu.get(1) == Some(&ins::RECHARGE_CREDIT) && sw == Sw::OK;
        if credited > 0 && a.control_total != 0 && !recharge {
            return Err(String::from("CT rose without a recharge"));
        }
        if recharge && (credited == 0 || a.recharge_seq.checked_add(1) != Some(b.recharge_seq)) {
            return Err(String::from("a recharge did not credit CT as recharge NT + 1"));
        }
        if !recharge && a.control_total != 0 && b.recharge_seq != a.recharge_seq {
            return Err(String::from("NT moved without a recharge"));
        }
        if b.descending > a.descending + credited {
            return Err(String::from("DR rose without a credit"));
        }
        // A debt is only ever collected into AR_c.
        if b.debt < a.debt && b.ar_certificates < a.ar_certificates + (a.debt - b.debt) {
            return Err(String::from("the debt fell without AR_c collecting it"));
        }
        // A chain segment (CLA bit 10) answers 9000 with no data: nothing was signed yet.
        let chain_segment = capdu.first().is_some_and(|cla| cla & apdu_specs::commands::CLA_CHAIN != 0);
        if sw == Sw::OK
            && !chain_segment
            && let Some(data) = response.get(..response.len() - 2)
        {
            check_signed_output(store, capdu, data)?;
        }
        let monotone = b.ar_postage >= a.ar_postage
            && b.ar_certificates >= a.ar_certificates
            && b.recharge_seq >= a.recharge_seq
            && b.postmark_serial >= a.postmark_serial
            && b.counts.iter().zip(a.counts.iter()).all(|(x, y)| x >= y)
            && now.audit_records >= self.prev.audit_records
            && now.time_floor >= self.prev.time_floor
            && now.rate_version_seen >= self.prev.rate_version_seen;
        if !monotone {
            return Err(String::from("a counter went backwards"));
        }
        // The new audit records chain from the previous head to the new one.
        let mut hash = self.prev.audit_head;
        for seq in self.prev.audit_records..now.audit_records {
            let r = read_record(store, seq).ok_or_else(|| format!("audit record {seq} missing"))?;
            if r.seq != seq || r.prev_hash != hash {
                return Err(format!("audit chain broken at {seq}"));
            }
            hash = Sha256::digest(r.encode()).into();
        }
        if hash != now.audit_head {
            return Err(String::from("audit head does not match the chain"));
        }
        self.prev = now;
        Ok(())
    }
}

/// A personalized, activated card's store (vector keys, fixed clock): the
/// starting point of every fuzz input. Power it on with [`fresh_card`].
/// Its profile also trusts the vector credit issuer ([`crate::services::credit_issuer`]).
pub fn operational_store() -> MemoryStore {
    let mut c = crate::DirectCard::blank();
    let mut opts = crate::vector_options();
    opts.profile.initial_credit = 1_000_000;
    let profile = crate::services::profile_with_credit_issuer(&opts, crate::VECTOR_SERIAL);
    assert_eq!(c.send_chained([0x80, ins::STORE_DATA, 0, 0], &profile).1, Sw::OK.0, "personalized");
    assert_eq!(c.verify("123456"), Sw::OK.0);
    assert_eq!(c.sw(&[0x00, ins::ACTIVATE, 0x00, 0x00]), Sw::OK.0, "activated");
    c.card.power_off();
    c.card.platform_mut().map(|p| p.store_ref().clone()).unwrap_or_default()
}

/// A blank (manufactured) card's store.
pub fn blank_store() -> MemoryStore {
    let mut c = crate::DirectCard::blank();
    c.card.power_off();
    c.card.platform_mut().map(|p| p.store_ref().clone()).unwrap_or_default()
}

/// Powers a card on from a copy of `store`, selected, with the PIN verified when `verify`.
pub fn fresh_card(store: &MemoryStore, verify: bool) -> card_core::Applet<card_sim::SimPlatform> {
    card_with_entropy(store, verify, 3)
}

/// As [`fresh_card`], its random source seeded with `seed`. A card built up
/// under one seed and then run under the same seed would draw its random
/// stream again (a recharge nonce equal to a key generated before): the
/// fixtures build with another seed than [`fresh_card`] runs with.
pub fn card_with_entropy(store: &MemoryStore, verify: bool, seed: u64) -> card_core::Applet<card_sim::SimPlatform> {
    let platform = card_sim::SimPlatform::new(
        store.clone(),
        card_sim::Entropy::seeded(seed),
        card_sim::SimClock::fixed(crate::FIXTURE_TIME),
    );
    let mut a = card_core::Applet::power_on(platform).expect("stored card powers on");
    a.process(&crate::select_apdu());
    if verify {
        a.process(&crate::verify_apdu("123456"));
    }
    a
}

/// Splits fuzz input into APDUs: a length byte then that many bytes; `FF`
/// then two length bytes for long ones.
pub fn split_apdus(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&first, rest)) = data.split_first() {
        let (len, rest) = if first == 0xFF {
            match rest {
                [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])) % 9000, tail),
                _ => break,
            }
        } else {
            (usize::from(first), rest)
        };
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

/// Encodes APDUs in the [`split_apdus`] framing (seed corpora).
pub fn join_apdus(apdus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in apdus {
        if a.len() < 0xFF {
            out.push(a.len() as u8);
        } else {
            out.push(0xFF);
            out.extend_from_slice(&(a.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(a);
    }
    out
}

/// Sends `data` in one extended APDU with `header` to a card powered from
/// `store` (PIN verified when `verify`), under the oracle. If the card
/// accepts it, `data` must verify on its own under `key` and `domain`:
/// anything else accepted would be a forgery.
pub fn accepts_only_authentic(
    store: &MemoryStore,
    verify: bool,
    header: [u8; 4],
    data: &[u8],
    domain: &[u8],
    key: &[u8; 65],
) {
    let mut card = fresh_card(store, verify);
    let mut oracle = Oracle::new(card.platform_mut().store_ref());
    let Ok(apdu) = apdu_specs::capdu::encode(header, data.get(..data.len().min(8192)).unwrap_or(data), 0, true) else {
        return;
    };
    let r = card.process(&apdu);
    if r.ends_with(&[0x90, 0x00]) {
        assert!(authentic(data, domain, key), "the card accepted {:02X} data that does not verify", header[1]);
    }
    if let Err(e) = oracle.check(card.platform_mut().store_ref(), &apdu, &r) {
        panic!("{e}");
    }
}

/// Independent check of a signed envelope under `key` and `domain`, with
/// `p256` directly rather than the card's engine (the fuzz targets assert
/// that whatever the card accepts passes this).
pub fn authentic(data: &[u8], domain: &[u8], key: &[u8; 65]) -> bool {
    use p256::ecdsa::{Signature, VerifyingKey, signature::Verifier};
    let Ok(signed) = apdu_specs::signed::Signed::parse(data) else { return false };
    let (Ok(key), Ok(signature)) = (VerifyingKey::from_sec1_bytes(key), Signature::from_slice(&signed.signature))
    else {
        return false;
    };
    let message = apdu_specs::signed::Signed::signing_input(domain, signed.body).concat();
    key.verify(&message, &signature).is_ok()
}
