//! Rate tables: the body parser and pricing, then UPDATE RATES of the same
//! bytes on an operational card under the oracle.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use testkit::oracle::{accepts_only_authentic, operational_store};

/// The starting card and the key that must have signed what it accepts.
static FIXTURE: OnceLock<(card_sim::MemoryStore, [u8; 65])> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = apdu_specs::rates::RateTable::parse_body(data) {
        for c in &t.classes {
            let _ = t.postage(c.id, 1);
            let _ = t.postage(c.id, u32::MAX);
        }
        assert_eq!(apdu_specs::rates::RateTable::parse_body(&t.encode_body()).as_ref(), Ok(&t));
    }
    let (store, key) = FIXTURE.get_or_init(|| (operational_store(), testkit::vector_keys().authority.public()));
    accepts_only_authentic(store, true, [0x80, 0x62, 0, 0], data, apdu_specs::signed::DOMAIN_RATE_TABLE, key);
});
