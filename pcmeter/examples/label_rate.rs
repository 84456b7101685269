//! Labels/s beside the indicium rate of the same run:
//! `cargo run --release -p pcmeter --example label_rate -- [N] [pdf|png]`
//! (default 10000 labels, both formats).
//!
//! An in-process meter (memory store) prints N indicia (timed: the indicium
//! rate), then [`pcmeter::label::bench::pdf`] lays them out on A4 sheets as
//! `pcmeter batch` does and [`pcmeter::label::bench::png`] renders each as a
//! single-label PNG (both timed: labels/s).

use apdu_specs::mailpiece::{MailPiece, postcode};
use pcmeter::label::bench;
use pcmeter::label::sheet::Sheet;
use pcmeter::simulated::{AuthorityKeys, Options, operational};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let only = std::env::args().nth(2);
    let wants = |format: &str| only.as_deref().is_none_or(|o| o == format);
    let now = 1_790_000_000;
    let mut m = operational(&AuthorityKeys::from_seed("label-rate"), &Options::at(now, 100_000_000))?;
    let status = m.meter.run(|tx| tx.status())?;
    let date = apdu_specs::date::yyyymmdd_from_unix(now);
    let pin = m.pin.clone();
    let start = Instant::now();
    let indicia = m.meter.with_session(|s| {
        s.verify_pin(&pin)?;
        (0..n)
            .map(|i| {
                let piece = MailPiece {
                    rate_class: 1 + (i % 2) as u8,
                    weight_grams: 20,
                    date,
                    origin: postcode("10001").unwrap_or([b' '; 5]),
                    destination: postcode(&format!("{:05}", i % 100_000)).unwrap_or([b' '; 5]),
                };
                s.print_indicium(&piece)
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let indicium_rate = n as f64 / start.elapsed().as_secs_f64();

    println!("labels {n}");
    println!("indicia/s {indicium_rate:.0}");
    if wants("pdf") {
        let start = Instant::now();
        let pdf = bench::pdf(&indicia, status.currency, status.exponent, Sheet::A4)?;
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("PDF labels/s {rate:.0} ({:.2} x the indicium rate; PDF {} bytes)", rate / indicium_rate, pdf.len());
    }
    if wants("png") {
        let start = Instant::now();
        let bytes = bench::png(&indicia, status.currency, status.exponent)?;
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("PNG labels/s {rate:.0} ({:.2} x the indicium rate; {bytes} PNG bytes)", rate / indicium_rate);
    }
    Ok(())
}
