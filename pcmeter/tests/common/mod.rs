//! Fixtures shared by the pcmeter integration tests: an in-process meter,
//! mailing lists and scratch directories.
#![allow(dead_code)]

use apdu_specs::date::yyyymmdd_from_unix;
use card_sim::InProcessTransport;
use host_driver::Meter;
use pcmeter::simulated::{AuthorityKeys, Options, SimulatedMeter, operational};
use std::path::PathBuf;

/// Card time of every fixture meter (2026-09-21).
pub const NOW: u64 = 1_790_000_000;

/// An operational meter with `credit` minor units and meter ID `id` (12 characters at most).
pub fn meter(credit: u64, id: &str) -> SimulatedMeter {
    let mut opts = Options::at(NOW, credit);
    opts.profile.meter_id = id.to_owned();
    operational(&AuthorityKeys::from_seed("pcmeter-labels"), &opts).expect("fixture meter")
}

/// The postal public key (tests take it from the card; the CLI never does).
pub fn postal_key(m: &mut Meter<InProcessTransport>) -> [u8; 65] {
    m.run(|tx| tx.public_keys()).expect("public keys").postal.expect("ECDSA meter")
}

/// The card's date as CSV text.
pub fn today() -> String {
    let d = yyyymmdd_from_unix(NOW);
    format!("{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100)
}

/// A mailing list of `n` valid pieces (classes 1 and 2 of the default table, light weights).
pub fn mailing(n: usize) -> String {
    let mut csv = String::from("class,weight,origin,destination,date\n");
    for i in 0..n {
        csv.push_str(&format!("{},{},{:05},{:05},{}\n", 1 + i % 2, 10 + i % 15, 10_000 + i % 7, 20_000 + i, today()));
    }
    csv
}

/// A fresh scratch directory under the target directory's temp.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pcmeter-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The `count` Data Matrix symbols `dmtxread` finds in a PNG.
pub fn dmtxread(png: &std::path::Path, count: usize) -> Vec<Vec<u8>> {
    pcmeter::scan::decode_png(png, pcmeter::scan::Limit::Count(count)).unwrap_or_default()
}

/// The symbols of each page of a label-sheet PDF rendered at 300 dpi, for
/// `labels` labels on sheets of `per_page`.
pub fn decode_sheets(pdf: &std::path::Path, labels: usize, per_page: usize) -> Vec<Vec<Vec<u8>>> {
    let count = |page: usize| pcmeter::scan::Limit::Count(labels.saturating_sub(page * per_page).min(per_page));
    pcmeter::scan::decode_pdf_pages(pdf, 300, count).expect("pdftoppm and dmtxread")
}
