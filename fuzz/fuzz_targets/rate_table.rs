//! Rate tables: the body parser and pricing, then UPDATE RATES of the same
//! bytes on an operational card under the oracle.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tests::oracle::{Oracle, fresh_card, operational_store};

static STORE: OnceLock<card_sim::MemoryStore> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = apdu_specs::rates::RateTable::parse_body(data) {
        for c in &t.classes {
            let _ = t.postage(c.id, 1);
            let _ = t.postage(c.id, u32::MAX);
        }
        assert_eq!(apdu_specs::rates::RateTable::parse_body(&t.encode_body()).as_ref(), Ok(&t));
    }
    let store = STORE.get_or_init(operational_store);
    let mut card = fresh_card(store, true);
    let mut oracle = Oracle::new(card.platform_mut().store_ref());
    if let Ok(apdu) = apdu_specs::capdu::encode([0x80, 0x62, 0, 0], &data[..data.len().min(8192)], 0, true) {
        let r = card.process(&apdu);
        if r.ends_with(&[0x90, 0x00]) {
            // Accepted: it must verify on its own under the right key, or it was a forgery.
            assert!(
                tests::oracle::authentic(
                    data,
                    apdu_specs::signed::DOMAIN_RATE_TABLE,
                    &tests::vector_keys().authority.public()
                ),
                "a rate table without the authority signature was accepted"
            );
        }
        oracle.check(card.platform_mut().store_ref(), &apdu, &r).unwrap();
    }
});
