//! Peak heap per APDU, for every command of the table, and the persistent
//! image of a card with every slot certified and a full rate table.

use crate::card_bench::{self, ok};
use apdu_specs::commands::{CommandSpec, ins};
use apdu_specs::x509::Usage;
use card_core::platform::CryptoEngine;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use testkit::pki::{self, ext_apdu};
use testkit::services;

/// Counts live and peak heap bytes.
pub struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only adds counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// The heap above the live bytes at the call that `f` reached at its peak
/// (its result included, since the card allocates the response).
pub fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// One command's peak: its row of the table, the status word it answered, the bytes.
pub struct Peak {
    /// The command.
    pub spec: &'static CommandSpec,
    /// The status word.
    pub sw: u16,
    /// Peak heap of the APDU.
    pub bytes: usize,
}

fn sw_of(r: &[u8]) -> u16 {
    match r {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// Peak heap of one valid APDU of every command, each on a fresh copy of
/// the prepared card of `testkit::services` (PIN verified; STORE DATA and
/// ACTIVATE on a blank card, as their lifecycle needs; GET RESPONSE after a
/// READ SLOT answered `61xx`).
pub fn per_command() -> Vec<Peak> {
    let prepared = services::prepared(1_000_000);
    let mut out = Vec::new();
    for command in &prepared.commands {
        let spec = command.spec;
        let (r, bytes) = match spec.ins {
            ins::STORE_DATA | ins::ACTIVATE => {
                let mut card = testkit::oracle::fresh_card(&testkit::oracle::blank_store(), false);
                let store = services::ValidCommand::apdu(prepared.command(ins::STORE_DATA), 65_536);
                let verify = testkit::verify_apdu("123456");
                if spec.ins == ins::STORE_DATA {
                    peak_of(|| card.process(&store))
                } else {
                    ok(card.process(&store));
                    ok(card.process(&verify));
                    peak_of(|| card.process(&command.apdu(0)))
                }
            }
            ins::INSPECTION_ACK => {
                // An acknowledgement answers the report the card just signed.
                let mut card = testkit::oracle::fresh_card(&prepared.store, true);
                let r = ok(card.process(&prepared.command(ins::INSPECTION_REPORT).apdu(65_536)));
                let signed = apdu_specs::signed::Signed::parse(&r[..r.len() - 2]).expect("signed report");
                let report = apdu_specs::inspection::InspectionReport::parse(signed.body).expect("report");
                let digest = card_sim::Engine::Soft.instantiate(card_sim::Entropy::Os).sha256(&[signed.body]);
                let ack = authority::orders::inspection_ack(
                    &testkit::vector_keys().authority,
                    &apdu_specs::inspection::InspectionAck {
                        meter_id: report.meter_id,
                        report_digest: digest,
                        next_deadline: testkit::FIXTURE_TIME + 90 * 86_400,
                        time: testkit::FIXTURE_TIME,
                    },
                );
                let apdu = ext_apdu([0x80, ins::INSPECTION_ACK, 0, 0], &ack);
                peak_of(|| card.process(&apdu))
            }
            ins::GET_RESPONSE => {
                let mut card = testkit::oracle::fresh_card(&prepared.store, true);
                let r = card.process(&[0x80, ins::READ_SLOT, 0x00, services::slots::POSTMARK, 0x00]);
                assert_eq!(r[r.len() - 2], 0x61, "READ SLOT with a short Le answers 61xx");
                peak_of(|| card.process(&[0x00, ins::GET_RESPONSE, 0x00, 0x00, 0x00]))
            }
            _ => {
                let mut card = testkit::oracle::fresh_card(&prepared.store, true);
                let ready = services::with_pending(command, &mut |a| card.process(a));
                let apdu = ready.apdu(65_536);
                peak_of(|| card.process(&apdu))
            }
        };
        out.push(Peak { spec, sw: sw_of(&r), bytes });
    }
    out
}

/// The persistent image of a card with all 8 slots certified and a rate
/// table of 16 classes × 16 weight breaks, after 64 indicia, and the peak
/// heap of that UPDATE RATES (the largest signed object the card takes).
pub fn full_image() -> (usize, usize, usize) {
    let (mut card, mut ca) = card_bench::operational_with_ca(card_sim::Engine::Soft, card_sim::MemoryStore::new());
    let mut send = |c: &[u8]| card.process(c);
    for slot in 1..apdu_specs::certs::SLOT_COUNT {
        pki::certify_raw(&mut send, &mut ca, slot, Usage::Signature);
    }
    let table = testkit::signed_table(2, testkit::FIXTURE_TIME - 1, |t| {
        let prices = t.classes[0].breaks[0].price;
        t.classes = (1..=apdu_specs::rates::MAX_CLASSES as u8)
            .map(|id| apdu_specs::rates::RateClass {
                id,
                breaks: (1..=apdu_specs::rates::MAX_BREAKS as u32)
                    .map(|i| apdu_specs::rates::WeightBreak { max_grams: i * 100, price: prices + i })
                    .collect(),
            })
            .collect();
    });
    let (r, peak) = peak_of(|| card.process(&ext_apdu([0x80, ins::UPDATE_RATES, 0, 0], &table)));
    ok(r);
    for _ in 0..64 {
        assert_eq!(card.process(&testkit::indicium_apdu(1, 1)).len(), 126);
    }
    let image = card.platform_mut().store_ref().image_size();
    (image, table.len(), peak)
}
