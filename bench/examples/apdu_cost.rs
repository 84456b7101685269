//! Card-side cost of the benchmark APDUs, in process (no pcscd).
use std::time::Instant;
fn main() {
    let mut card = testkit::DirectCard::operational_with_credit(100_000_000);
    card.verify("123456");
    for _ in 0..70 {
        card.print(1, 1);
    }
    let audit = [0x00, 0xCB, 0xDF, 0x25, 0x00, 0x00, 0x06, 0, 0, 0, 8, 0, 60, 0x10, 0x2C];
    for (label, apdu) in
        [("empty", &[0x00u8, 0x20, 0x00, 0x81][..]), ("256", &[0x00, 0xCA, 0xDF, 0x22, 0x00][..]), ("4k", &audit[..])]
    {
        let n = 20_000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(card.card.transmit(apdu).unwrap());
        }
        println!("{label}: {:.2} µs per APDU", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    // PRINT INDICIUM as the PC/SC benchmark's card answers it (same card, same entropy source).
    let indicium = testkit::indicium_apdu(1, 1);
    let n = 5_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(card.card.transmit(&indicium).unwrap());
    }
    println!("indicium: {:.2} µs per APDU", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
