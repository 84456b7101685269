//! A stream of arbitrary C-APDUs on a personalized, activated card with the
//! PIN verified; the invariant oracle runs after every APDU.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use testkit::oracle::{Oracle, fresh_card, operational_store, split_apdus};

static STORE: OnceLock<card_sim::MemoryStore> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let store = STORE.get_or_init(operational_store);
    let mut card = fresh_card(store, true);
    let mut oracle = Oracle::new(card.platform_mut().store_ref());
    for apdu in split_apdus(data) {
        let r = card.process(apdu);
        if let Err(e) = oracle.check(card.platform_mut().store_ref(), apdu, &r) {
            panic!("invariant broken after {}: {e}", hex_of(apdu));
        }
    }
});

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
