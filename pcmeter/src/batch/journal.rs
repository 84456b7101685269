//! The batch journal, next to the output (`labels.pdf.journal`): it binds
//! each CSV row to the piece count of the indicium that paid for it, and
//! keeps that indicium's bytes, so a resumed or re-run batch never charges
//! a row twice and the PDF can always be rebuilt.
//!
//! Text, one record per line, each appended and fsync'd before the batch
//! goes on:
//!
//! ```text
//! pcmeter-batch-journal 1 <SHA-256 of the CSV, hex>
//! intent <line> <meter ID hex> <postage piece count before>   (before PRINT INDICIUM is sent)
//! done <line> <piece count> <indicium hex>                    (as soon as the card answers)
//! void <line>                                                 (the card refused: nothing was charged)
//! ```
//!
//! A last line without its newline is a torn append (the process died while
//! writing it) and is dropped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "pcmeter-batch-journal 1";

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The journal belongs to another CSV.
    #[error("{0}: this journal belongs to another mailing list; use another --out or remove the journal")]
    OtherMailing(PathBuf),
    /// A line does not parse.
    #[error("{0}: line {1} is damaged")]
    Damaged(PathBuf, usize),
}

/// A row whose charge was announced but whose answer was never journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// CSV line.
    pub line: usize,
    /// Meter that was asked.
    pub meter_id: [u8; 12],
    /// Postage piece count before the request.
    pub count_before: u32,
}

/// A paid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    /// Piece count of its indicium.
    pub piece_count: u32,
    /// The indicium.
    pub indicium: Vec<u8>,
}

/// An open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    done: BTreeMap<usize, Paid>,
    pending: Option<Pending>,
}

/// The journal path for an output file.
pub fn path_for(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".journal");
    out.with_file_name(name)
}

impl Journal {
    /// Opens (or creates) the journal at `path` for the CSV with digest `csv_sha256`.
    pub fn open(path: &Path, csv_sha256: &[u8; 32]) -> Result<Self, JournalError> {
        let io = |e| JournalError::Io(path.into(), e);
        let header = format!("{MAGIC} {}", hex::encode(csv_sha256));
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let mut journal = Self {
            path: path.into(),
            file: OpenOptions::new().create(true).append(true).open(path).map_err(io)?,
            done: BTreeMap::new(),
            pending: None,
        };
        // Complete lines only: a torn last append is cut off.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            journal.file.set_len(complete as u64).map_err(io)?;
            tracing::warn!(path = %path.display(), "dropped a torn journal line");
        }
        let mut lines = text[..complete].lines().enumerate();
        match lines.next() {
            None => journal.append(&header)?,
            Some((_, first)) if first == header => {}
            Some(_) => return Err(JournalError::OtherMailing(path.into())),
        }
        for (i, line) in lines {
            journal.replay(line).ok_or_else(|| JournalError::Damaged(path.into(), i + 1))?;
        }
        Ok(journal)
    }

    fn replay(&mut self, line: &str) -> Option<()> {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["intent", l, meter, count] => {
                let meter_id = hex::decode(meter).ok()?.try_into().ok()?;
                self.pending = Some(Pending { line: l.parse().ok()?, meter_id, count_before: count.parse().ok()? });
            }
            ["done", l, count, ind] => {
                let line: usize = l.parse().ok()?;
                self.done.insert(line, Paid { piece_count: count.parse().ok()?, indicium: hex::decode(ind).ok()? });
                self.pending = self.pending.take().filter(|p| p.line != line);
            }
            ["void", l] => {
                let line: usize = l.parse().ok()?;
                self.pending = self.pending.take().filter(|p| p.line != line);
            }
            _ => return None,
        }
        Some(())
    }

    /// Appends one record and makes it durable.
    fn append(&mut self, record: &str) -> Result<(), JournalError> {
        let io = |e| JournalError::Io(self.path.clone(), e);
        self.file.write_all(format!("{record}\n").as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// Records that `line` is about to be charged on `meter_id`, whose
    /// postage count is `count_before`.
    pub fn intent(&mut self, line: usize, meter_id: &[u8; 12], count_before: u32) -> Result<(), JournalError> {
        self.append(&format!("intent {line} {} {count_before}", hex::encode(meter_id)))?;
        self.pending = Some(Pending { line, meter_id: *meter_id, count_before });
        Ok(())
    }

    /// Records the paid indicium of `line`.
    pub fn done(&mut self, line: usize, piece_count: u32, indicium: &[u8]) -> Result<(), JournalError> {
        self.append(&format!("done {line} {piece_count} {}", hex::encode(indicium)))?;
        self.done.insert(line, Paid { piece_count, indicium: indicium.to_vec() });
        self.pending = None;
        Ok(())
    }

    /// Records that the card charged nothing for `line`.
    pub fn void(&mut self, line: usize) -> Result<(), JournalError> {
        self.append(&format!("void {line}"))?;
        self.pending = None;
        Ok(())
    }

    /// The announced charge whose outcome is not journaled, if any.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// The paid rows by CSV line.
    pub fn paid(&self) -> &BTreeMap<usize, Paid> {
        &self.done
    }
}
