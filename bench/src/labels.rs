//! Labels at speed, through pcmeter's public API, beside the indicium rate
//! of the same simulated meter in the same run.
//!
//! The label calls are pcmeter's own harness entry points
//! (`pcmeter::label::bench`), the layout calls `pcmeter batch` and `print` make.

use pcmeter::batch::{self, BatchOptions};
use pcmeter::label::sheet::Sheet;
use pcmeter::simulated::{self, SimulatedMeter};
use std::path::Path;
use std::time::Instant;

/// Per second, in the same run: indicia through host-driver (typed API,
/// in-process transport), mail-room labels to PDF, labels to PNG.
#[derive(Debug, Clone, Copy)]
pub struct Labels {
    /// Indicia/s through the typed API.
    pub indicia: f64,
    /// Labels/s to PDF: charged indicia laid out as A4 label sheets
    /// (`pcmeter::label::bench::pdf`, the batch's layout call), no journal.
    pub pdf: f64,
    /// Labels/s of the whole mail-room batch (CSV → charged indicia → A4
    /// label-sheet PDF, each row made durable in the journal before and after
    /// it is charged).
    pub batch: f64,
    /// Labels/s of indicium + one PNG label each (`pcmeter::label::bench::png`).
    pub png: f64,
    /// Labels in each measurement.
    pub n: usize,
}

fn meter() -> SimulatedMeter {
    let keys = simulated::AuthorityKeys::from_seed("bench");
    let mut sim = simulated::operational(&keys, &simulated::Options::at(testkit::FIXTURE_TIME, 100_000_000_000))
        .expect("simulated meter");
    sim.meter.run(|tx| tx.verify_pin(&sim.pin)).expect("PIN");
    sim
}

/// The mail-room path: `batch::run` over a CSV of `n` pieces to a label-sheet PDF.
fn pdf_labels(sim: &mut SimulatedMeter, n: usize, out: &Path) {
    let date = apdu_specs::date::yyyymmdd_from_unix(testkit::FIXTURE_TIME);
    let mut csv = String::from("class,weight,origin,destination,date\n");
    for _ in 0..n {
        csv.push_str(&format!("1,20,10001,94105,{date}\n"));
    }
    let pin = sim.pin.clone();
    let opts = BatchOptions { out: out.to_path_buf(), sheet: Sheet::A4 };
    let summary = batch::run(&mut sim.meter, &pin, &csv, &opts, &mut batch::progress::Silent).expect("batch of labels");
    assert_eq!(summary.pieces, n, "every label printed");
}

/// `n` charged indicia as label sheets: the label calls of the batch, timed with the charging.
fn pdf_sheets(sim: &mut SimulatedMeter, n: usize, currency: [u8; 3], exponent: u8) -> usize {
    let piece = testkit::piece(1, 1);
    let indicia: Vec<Vec<u8>> = {
        let mut s = sim.meter.transaction().expect("session");
        (0..n).map(|_| s.print_indicium(&piece).expect("indicium")).collect()
    };
    pcmeter::label::bench::pdf(&indicia, currency, exponent, Sheet::A4).expect("PDF labels").len()
}

/// One PNG label of `indicium`.
fn png_label(indicium: &[u8], currency: [u8; 3], exponent: u8) -> usize {
    pcmeter::label::bench::png(&[indicium.to_vec()], currency, exponent).expect("PNG label")
}

/// Measures the three rates with `n` labels each, files under `dir`.
pub fn run(n: usize, dir: &Path) -> Labels {
    let mut sim = meter();
    let piece = testkit::piece(1, 1);
    let (currency, exponent) =
        sim.meter.run(|tx| tx.rate_table().map(|t| (t.table.currency, t.table.exponent))).expect("rate table");
    let t = Instant::now();
    {
        let mut s = sim.meter.transaction().expect("session");
        for _ in 0..n {
            std::hint::black_box(s.print_indicium(&piece).expect("indicium"));
        }
    }
    let indicia = n as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    {
        let mut s = sim.meter.transaction().expect("session");
        for _ in 0..n {
            let ind = s.print_indicium(&piece).expect("indicium");
            std::hint::black_box(png_label(&ind, currency, exponent));
        }
    }
    let png = n as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    std::hint::black_box(pdf_sheets(&mut sim, n, currency, exponent));
    let pdf = n as f64 / t.elapsed().as_secs_f64();

    std::fs::create_dir_all(dir).expect("label dir");
    let out = dir.join(format!("labels-{}.pdf", std::process::id()));
    let t = Instant::now();
    pdf_labels(&mut sim, n, &out);
    let batch = n as f64 / t.elapsed().as_secs_f64();
    std::fs::remove_file(batch::journal::path_for(&out)).ok();
    std::fs::remove_file(&out).ok();
    Labels { indicia, pdf, batch, png, n }
}
