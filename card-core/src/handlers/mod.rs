//! Command handlers, one module per concern. Each computes the new state,
//! commits it in one write set, and only then updates the in-memory mirror
//! and builds its response.

mod agent;
mod audit;
mod charge;
mod data;
mod indicium;
mod perso;
mod pin;
mod postmark;
mod rates;
mod revoke;
mod security;
mod select;
mod slots;
mod tamper;
