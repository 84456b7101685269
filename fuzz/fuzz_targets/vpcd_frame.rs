//! The vpcd frame reader on arbitrary bytes, and the card's answers to the frames.
#![no_main]
use card_sim::vpcd::{EchoCard, handle, read_frame_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut cursor = std::io::Cursor::new(data);
    let mut card = EchoCard;
    while let Ok(frame) = read_frame_from(&mut cursor) {
        let _ = handle(&mut card, frame);
    }
});
