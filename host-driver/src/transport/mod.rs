//! Byte-level transports: the traits of crate `card-transport`, re-exported,
//! and their PC/SC implementation. The in-process transport to a simulated
//! card lives with the simulator (`card_sim::in_process`).

pub mod pcsc;

pub use card_transport::{CardTransaction, Transport, TransportError, session_state_is_gone};
