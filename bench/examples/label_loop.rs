//! A hot loop to profile: PNG or PDF labels of one indicium, through
//! pcmeter's public label API.
//!
//! `perf record -g target/release/examples/label_loop png 300`
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "png".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let keys = pcmeter::simulated::AuthorityKeys::from_seed("bench");
    let mut sim = pcmeter::simulated::operational(
        &keys,
        &pcmeter::simulated::Options::at(testkit::FIXTURE_TIME, 100_000_000_000),
    )
    .expect("meter");
    let pin = sim.pin.clone();
    let indicium = sim
        .meter
        .run(|tx| {
            tx.verify_pin(&pin)?;
            tx.print_indicium(&testkit::piece(1, 1))
        })
        .expect("indicium");
    let imprint = pcmeter::label::Imprint::new(&indicium, *b"USD", 2).expect("imprint");
    let t = Instant::now();
    for _ in 0..n {
        let out = match what.as_str() {
            "pdf" => pcmeter::label::pdf::label_pdf(&imprint),
            _ => pcmeter::label::raster::label_png(&imprint),
        };
        std::hint::black_box(out.expect("label"));
    }
    println!("{what}: {:.0} µs per label", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
