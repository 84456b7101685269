//! The APDU and TLV layer on their own: APDU parsing, the ISO layer, BER-TLV,
//! FCI and the other GET DATA layouts.
#![no_main]
use apdu_specs::{audit, fci, registers, tlv};
use libfuzzer_sys::fuzz_target;

struct Echo;
impl card_core::iso::Handler for Echo {
    fn admit(&mut self, _: &'static apdu_specs::CommandSpec) -> Result<(), apdu_specs::Sw> {
        Ok(())
    }
    fn response_length(&self, spec: &'static apdu_specs::CommandSpec) -> apdu_specs::commands::ResponseLength {
        spec.response
    }
    fn handle(
        &mut self,
        spec: &'static apdu_specs::CommandSpec,
        req: &card_core::iso::Request,
    ) -> Result<Vec<u8>, apdu_specs::Sw> {
        (spec.parse)(&req.apdu())?;
        Ok(req.data.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = iso7816::command::CommandView::try_from(data);
    let mut layer = card_core::iso::IsoLayer::default();
    for apdu in testkit::oracle::split_apdus(data) {
        let r = layer.process(apdu, &mut Echo);
        assert!(r.len() >= 2);
    }
    let _ = tlv::parse_unique(data);
    let _ = tlv::find(data, 0x6F);
    let _ = fci::Fci::parse(data);
    let _ = registers::Registers::parse(data);
    let _ = registers::Status::parse(data);
    let _ = audit::Record::parse(data);
    let _ = audit::Head::parse(data);
    let _ = apdu_specs::mailpiece::MailPiece::parse(data);
    let _ = apdu_specs::pin::PinBlock::parse(data);
});
