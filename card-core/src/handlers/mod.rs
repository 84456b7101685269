//! Command handlers, one module per concern. Each computes the new state,
//! commits it in one write set, and only then updates the in-memory mirror
//! and builds its response.

mod audit;
mod data;
mod indicium;
mod perso;
mod pin;
mod rates;
mod select;
mod tamper;
