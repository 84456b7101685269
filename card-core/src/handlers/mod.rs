//! Command handlers, one module per concern. Each stages its change to the
//! persistent state in a [`crate::applet::StateChange`], commits it (the
//! store first, then RAM, in one step), and only then builds its response.

mod agent;
mod audit;
mod charge;
mod credit;
mod data;
mod indicium;
mod inspection;
mod perso;
mod pin;
mod postmark;
mod rates;
mod recharge;
mod revoke;
mod security;
mod select;
mod slots;
mod tamper;

#[cfg(test)]
pub(crate) use charge::Ascending;
