//! The typed-API suite (`tests/src/suite.rs`) on the in-process transport;
//! `pcsc.rs` runs the same list through pcscd.

use tests::suite::InProcessRig;

fn fresh(test: impl FnOnce(&mut InProcessRig)) {
    test(&mut InProcessRig::default());
}

tests::suite_tests!(InProcessRig, fresh);
