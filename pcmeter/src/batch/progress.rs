//! Batch progress: an `indicatif` bar on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};

/// Receives the batch's progress.
pub trait Progress {
    /// `total` rows to charge in this run.
    fn begin(&mut self, total: u64);
    /// One more row charged (its CSV line).
    fn advance(&mut self, line: usize);
    /// The run is over.
    fn end(&mut self);
}

/// No output (tests, `--json`).
pub struct Silent;

impl Progress for Silent {
    fn begin(&mut self, _: u64) {}
    fn advance(&mut self, _: usize) {}
    fn end(&mut self) {}
}

/// An `indicatif` progress bar on standard error.
pub struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn begin(&mut self, total: u64) {
        self.0.set_length(total);
        let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} labels {per_sec} eta {eta}");
        if let Ok(style) = style {
            self.0.set_style(style);
        }
    }
    fn advance(&mut self, _: usize) {
        self.0.inc(1);
    }
    fn end(&mut self) {
        self.0.finish();
    }
}

/// A plain line every `every` rows (and at the end) to a writer.
pub struct Lines<W: Write> {
    out: W,
    every: u64,
    total: u64,
    done: u64,
}

impl<W: Write> Lines<W> {
    /// Lines to `out`, one every `every` rows.
    pub fn new(out: W, every: u64) -> Self {
        Self { out, every: every.max(1), total: 0, done: 0 }
    }
}

impl<W: Write> Progress for Lines<W> {
    fn begin(&mut self, total: u64) {
        self.total = total;
        let _ = writeln!(self.out, "batch: {total} rows to print");
    }
    fn advance(&mut self, line: usize) {
        self.done += 1;
        if self.done.is_multiple_of(self.every) || self.done == self.total {
            let _ = writeln!(self.out, "batch: {}/{} printed (CSV line {line})", self.done, self.total);
        }
    }
    fn end(&mut self) {
        let _ = self.out.flush();
    }
}

/// A bar when standard error is a terminal, else a line every 100 rows.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar(indicatif::ProgressBar::new(0)))
    } else {
        Box::new(Lines::new(std::io::stderr(), 100))
    }
}
