//! The typed-API suite on the in-process transport (the same suite runs
//! through pcscd in `pcsc.rs`).

use tests::suite::{self, InProcessRig};

#[test]
fn typed_errors_keep_the_status_word() {
    suite::typed_errors_keep_the_status_word(&mut InProcessRig::default());
}

#[test]
fn refusals_are_typed_and_charge_nothing() {
    suite::refusals_are_typed_and_charge_nothing(&mut InProcessRig::default());
}

#[test]
fn indicia_verify_offline_and_registers_balance() {
    suite::indicia_verify_offline_and_registers_balance(&mut InProcessRig::default());
}

#[test]
fn the_mac_variant_works() {
    suite::the_mac_variant_works(&mut InProcessRig::default());
}

#[test]
fn the_channel_follows_61xx_6cxx_and_chains() {
    suite::the_channel_follows_61xx_6cxx_and_chains(&mut InProcessRig::default());
}

#[test]
fn pin_change_and_unblock() {
    suite::pin_change_and_unblock(&mut InProcessRig::default());
}

#[test]
fn reset_and_removal_are_recovered_without_resending_the_pin() {
    suite::reset_and_removal_are_recovered_without_resending_the_pin(&mut InProcessRig::default());
}

#[test]
fn a_transaction_groups_verify_and_indicia() {
    suite::a_transaction_groups_verify_and_indicia(&mut InProcessRig::default());
}

#[test]
fn the_audit_ring_reads_in_one_exchange() {
    suite::the_audit_ring_reads_in_one_exchange(&mut InProcessRig::default());
}
