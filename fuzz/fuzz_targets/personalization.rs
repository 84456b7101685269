//! Personalization data: the envelope and profile parsers, then STORE DATA
//! of the same bytes on a blank card under the oracle. Only a profile the
//! issuer really signed may be accepted.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use testkit::oracle::{accepts_only_authentic, blank_store};

/// The starting card and the key that must have signed what it accepts.
static FIXTURE: OnceLock<(card_sim::MemoryStore, [u8; 65])> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = apdu_specs::signed::Signed::parse(data) {
        let _ = apdu_specs::perso::Profile::parse_body(s.body);
    }
    let _ = apdu_specs::perso::Profile::parse_body(data);
    let (store, key) = FIXTURE.get_or_init(|| (blank_store(), testkit::vector_keys().issuer.public()));
    accepts_only_authentic(store, false, [0x80, 0xE2, 0, 0], data, apdu_specs::signed::DOMAIN_PERSONALIZATION, key);
});
