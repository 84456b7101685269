//! # pcmeter
//!
//! The library part of the `pcmeter` command, where the host driver and the
//! simulator meet: a personalized meter on a simulated card
//! ([`simulated`], also the tests' and benchmarks' fixture), the demo
//! ([`demo`]), the Data Matrix renderer ([`render`]) and the RFC 3161
//! timestamp authority ([`tsa`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod demo;
pub mod label;
pub mod render;
pub mod scan;
pub mod simulated;
pub mod tsa;
