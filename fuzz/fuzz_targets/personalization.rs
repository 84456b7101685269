//! Personalization data: the envelope and profile parsers, then STORE DATA
//! of the same bytes on a blank card under the oracle.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tests::oracle::{Oracle, blank_store, fresh_card};

static STORE: OnceLock<card_sim::MemoryStore> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = apdu_specs::signed::Signed::parse(data) {
        let _ = apdu_specs::perso::Profile::parse_body(s.body);
    }
    let _ = apdu_specs::perso::Profile::parse_body(data);
    let store = STORE.get_or_init(blank_store);
    let mut card = fresh_card(store, false);
    let mut oracle = Oracle::new(card.platform_mut().store_ref());
    if let Ok(apdu) = apdu_specs::capdu::encode([0x80, 0xE2, 0, 0], &data[..data.len().min(8192)], 0, true) {
        let r = card.process(&apdu);
        // Nobody can forge the issuer's signature: the card stays blank.
        if r.ends_with(&[0x90, 0x00]) {
            // Accepted: it must verify on its own under the right key, or it was a forgery.
            assert!(
                tests::oracle::authentic(
                    data,
                    apdu_specs::signed::DOMAIN_PERSONALIZATION,
                    &tests::vector_keys().issuer.public()
                ),
                "forged personalization accepted"
            );
        }
        oracle.check(card.platform_mut().store_ref(), &apdu, &r).unwrap();
    }
});
