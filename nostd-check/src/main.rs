//! The no_std check: card-core (with its soft crypto engine) linked into a
//! `#![no_std]`, `#![no_main]` binary with its own panic handler, allocator
//! and entry point, as on a secure element. If card-core or any of its
//! dependencies pulls in `std`, this fails to build (`std` brings a second
//! panic handler). Running it manufactures a card in RAM and SELECTs it:
//! exit status 0 when the applet answers `9000`.
//!
//! No embedded target can be installed here, so it is built for the host:
//! the C library gives the process entry (`main`) and `memcpy`, nothing
//! else. Built and run by `scripts/test.sh`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use apdu_specs::perso::CardSerial;
use card_core::soft_engine::{EntropySource, SoftEngine};
use card_core::{Applet, Platform, RecordId, Store, StoreError, WriteSet};
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

#[link(name = "c")]
unsafe extern "C" {}

/// A bump allocator over a static arena (freed memory is not reused).
struct Arena {
    bytes: UnsafeCell<[u8; ARENA_LEN]>,
    next: AtomicUsize,
}

const ARENA_LEN: usize = 4 << 20;

// SAFETY: `next` is advanced atomically, so no two allocations overlap.
unsafe impl Sync for Arena {}

// SAFETY: every block returned lies inside the arena, aligned as asked, and is
// handed out once.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.bytes.get() as usize;
        let mut start = 0;
        let claimed = self.next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |next| {
            start = (base + next).next_multiple_of(layout.align()) - base;
            let end = start.checked_add(layout.size())?;
            (end <= ARENA_LEN).then_some(end)
        });
        match claimed {
            Ok(_) => self.bytes.get().cast::<u8>().wrapping_add(start),
            Err(_) => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ARENA: Arena = Arena { bytes: UnsafeCell::new([0; ARENA_LEN]), next: AtomicUsize::new(0) };

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The precompiled `alloc` names the unwinding personality routine; with
/// `panic = "abort"` nothing unwinds, so it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// Likewise, the host's precompiled `alloc` (built for unwinding, unlike an
/// embedded target's) calls `_Unwind_Resume` on its cleanup paths; with
/// `panic = "abort"` they are never taken.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    loop {}
}

/// A deterministic entropy source (this check signs nothing).
struct Counter(u8);

impl EntropySource for Counter {
    fn fill(&mut self, out: &mut [u8]) -> bool {
        for b in out {
            self.0 = self.0.wrapping_mul(29).wrapping_add(7);
            *b = self.0;
        }
        true
    }
}

/// A RAM store.
#[derive(Default)]
struct RamStore(BTreeMap<u16, Vec<u8>>);

impl Store for RamStore {
    fn read(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(&id.0).cloned())
    }

    fn commit(&mut self, set: &WriteSet) -> Result<(), StoreError> {
        for (id, value) in set.writes() {
            if value.is_empty() {
                self.0.remove(&id.0);
            } else {
                self.0.insert(id.0, value.clone());
            }
        }
        Ok(())
    }
}

struct Board {
    crypto: SoftEngine<Counter>,
    store: RamStore,
}

impl Platform for Board {
    type Crypto = SoftEngine<Counter>;
    type Store = RamStore;

    fn crypto(&mut self) -> &mut Self::Crypto {
        &mut self.crypto
    }

    fn store(&mut self) -> &mut Self::Store {
        &mut self.store
    }

    fn now(&self) -> Option<u64> {
        Some(1_795_435_200)
    }
}

/// The process entry, called by the C runtime.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    let board = Board { crypto: SoftEngine::new(Counter(1)), store: RamStore::default() };
    // Any valid P-256 point will do as the issuer key: the generator.
    let issuer: [u8; 65] = [
        0x04, 0x6B, 0x17, 0xD1, 0xF2, 0xE1, 0x2C, 0x42, 0x47, 0xF8, 0xBC, 0xE6, 0xE5, 0x63, 0xA4, 0x40, 0xF2, 0x77,
        0x03, 0x7D, 0x81, 0x2D, 0xEB, 0x33, 0xA0, 0xF4, 0xA1, 0x39, 0x45, 0xD8, 0x98, 0xC2, 0x96, 0x4F, 0xE3, 0x42,
        0xE2, 0xFE, 0x1A, 0x7F, 0x9B, 0x8E, 0xE7, 0xEB, 0x4A, 0x7C, 0x0F, 0x9E, 0x16, 0x2B, 0xCE, 0x33, 0x57, 0x6B,
        0x31, 0x5E, 0xCE, 0xCB, 0xB6, 0x40, 0x68, 0x37, 0xBF, 0x51, 0xF5,
    ];
    let Ok(mut applet) = Applet::manufacture(board, &issuer, CardSerial(*b"NOSTD001")) else { return 2 };
    let select = [0x00, 0xA4, 0x04, 0x00, 0x09, 0xF0, 0x50, 0x43, 0x4D, 0x45, 0x54, 0x45, 0x52, 0x01, 0x00];
    let answer = applet.process(&select);
    if answer.ends_with(&[0x90, 0x00]) { 0 } else { 1 }
}
