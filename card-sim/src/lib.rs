//! # PCMeter simulated card
//!
//! Runs the `card-core` applet on a PC: a transactional store, the OS random
//! source, a crypto engine chosen at start ([`Engine`]: the pure-Rust one by
//! default, aws-lc-rs with feature `aws-lc`) and a clock (the OS clock, or
//! one injected by tests), plus power control (on, off, reset) and the tamper
//! input; an in-process transport (crate `card-transport`) that host code
//! drives like a reader.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "aws-lc-engine")]
pub mod aws_lc_engine;
pub mod clock;
pub mod engine;
pub mod entropy;
pub mod in_process;
pub mod journal;
pub mod memory_store;
pub mod platform;
pub mod sim;
pub mod vpcd;

pub use clock::SimClock;
pub use engine::{Engine, EngineError, SimCrypto};
pub use entropy::Entropy;
pub use in_process::{InProcessTransport, SharedCard};
pub use journal::JournalStore;
pub use journal::medium::DirMedium;
pub use memory_store::MemoryStore;
pub use platform::SimPlatform;
pub use sim::{SimCard, SimError, draw_serial};
