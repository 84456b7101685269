//! Writes one meter imprint from a fresh simulated meter as PDF, PNG and SVG
//! (`cargo run -p pcmeter --example imprint -- OUT_DIR`); docs/imprint.png is
//! the PDF rendered with `pdftoppm -png -r 150 -singlefile`.

use apdu_specs::date::yyyymmdd_from_unix;
use apdu_specs::mailpiece::{MailPiece, postcode};
use pcmeter::label::{Imprint, pdf, raster, svg};
use pcmeter::simulated::{AuthorityKeys, Options, operational};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "imprint-out".into()));
    std::fs::create_dir_all(&out)?;
    let now = 1_790_000_000;
    let mut m = operational(&AuthorityKeys::from_seed("imprint example"), &Options::at(now, 10_000))?;
    let piece = MailPiece {
        rate_class: 1,
        weight_grams: 20,
        date: yyyymmdd_from_unix(now),
        origin: postcode("10115").ok_or("postcode")?,
        destination: postcode("75001").ok_or("postcode")?,
    };
    let (status, indicium) = m.meter.with_session(|s| {
        s.verify_pin(&m.pin)?;
        Ok((s.status()?, s.print_indicium(&piece)?))
    })?;
    let imprint = Imprint::new(&indicium, status.currency, status.exponent)?;
    std::fs::write(out.join("imprint.pdf"), pdf::label_pdf(&imprint)?)?;
    std::fs::write(out.join("imprint.png"), raster::label_png(&imprint)?)?;
    std::fs::write(out.join("imprint.svg"), svg::label_svg(&imprint)?)?;
    println!("wrote {}/imprint.{{pdf,png,svg}}", out.display());
    Ok(())
}
