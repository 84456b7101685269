//! The typed-API suite (`testkit/src/suite.rs`) on the in-process transport;
//! `pcsc.rs` runs the same list through pcscd.

use testkit::suite::InProcessRig;

fn fresh(test: impl FnOnce(&mut InProcessRig)) {
    test(&mut InProcessRig::default());
}

testkit::suite_tests!(InProcessRig, fresh);
