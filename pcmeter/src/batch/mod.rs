//! Bulk mailing: a CSV of pieces ([`csv`]) becomes indicia charged on the
//! meter and a multi-page PDF of label sheets ([`crate::label::sheet`]).
//!
//! Money safety:
//! - every row is validated against the card's rate table and date before
//!   anything is charged;
//! - each charge is announced in the journal ([`journal`]) before PRINT
//!   INDICIUM is sent, and its indicium is journaled (fsync'd) as soon as the
//!   card answers, before anything is rendered; a re-run or resumed batch
//!   skips journaled rows;
//! - an announced charge whose answer was lost (crash between the card's
//!   answer and the journal) is resolved from the card: the postage count
//!   says whether it was charged, GET DATA `DF28` returns the last indicium,
//!   and the audit record of that piece count must match the row;
//! - insufficient funds (`9401`) stops the batch cleanly and lists the rows
//!   not printed;
//! - the PDF is rebuilt from the journal (every paid row, in CSV order).

pub mod csv;
pub mod journal;
pub mod progress;

use crate::label::sheet::{Sheet, sheet_pdf};
use crate::label::{Imprint, LabelError};
use apdu_specs::audit::Event;
use apdu_specs::indicium::Indicium;
use apdu_specs::service::Service;
use apdu_specs::tags;
use host_driver::meter::Transaction;
use host_driver::{CardStatus, Meter, MeterError, Pin, Transport};
use journal::{Journal, JournalError};
use progress::Progress;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a batch run needs besides the meter.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The PDF to write (the journal goes beside it).
    pub out: PathBuf,
    /// Label sheet.
    pub sheet: Sheet,
}

/// What a batch run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows charged in this run.
    pub printed_now: usize,
    /// Rows paid in all runs (labels in the PDF).
    pub pieces: usize,
    /// Postage of every paid row, minor units.
    pub total_postage: u64,
    /// Funds left on the meter (DR), minor units.
    pub funds_left: u64,
    /// Currency and exponent of the amounts.
    pub currency: [u8; 3],
    /// Minor-unit exponent.
    pub exponent: u8,
    /// Rows recovered from the card (charged, answer lost before journaling).
    pub recovered: Vec<usize>,
    /// Rows not printed (CSV lines), when the batch stopped.
    pub not_printed: Vec<usize>,
    /// Why the batch stopped early.
    pub stopped: Option<String>,
    /// PDF pages written.
    pub pages: usize,
}

/// Why a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Bad rows; nothing was charged.
    #[error("{} bad row(s); nothing was charged:\n{}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<csv::RowError>),
    /// The journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The meter.
    #[error("meter: {0}")]
    Meter(#[from] MeterError),
    /// A label.
    #[error(transparent)]
    Label(#[from] LabelError),
    /// Writing the PDF.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A charge announced on another meter is still unresolved.
    #[error("CSV line {line} has an unresolved charge on meter {meter}: resume with that meter")]
    OtherMeterPending {
        /// CSV line.
        line: usize,
        /// The meter it was sent to.
        meter: String,
    },
    /// The card charged a row but no longer holds its indicium.
    #[error(
        "CSV line {line} was paid (piece {piece}) but its indicium is no longer on the card; it is not charged again"
    )]
    PaidIndiciumLost {
        /// CSV line.
        line: usize,
        /// Piece count of the payment.
        piece: u32,
    },
    /// The card answered something that is not the indicium asked for.
    #[error("CSV line {0}: the card's answer is not a valid indicium: {1}")]
    BadIndicium(usize, String),
}

fn meter_text(id: &[u8; 12]) -> String {
    String::from_utf8_lossy(id).trim_end_matches([' ', '\0']).to_owned()
}

/// Resolves an announced charge whose answer never reached the journal.
fn recover<T: Transport>(
    tx: &mut Transaction<'_, T>,
    journal: &mut Journal,
    rows: &[csv::Row],
    meter_id: &[u8; 12],
) -> Result<Option<usize>, BatchError> {
    let Some(pending) = journal.pending().cloned() else { return Ok(None) };
    if pending.meter_id != *meter_id {
        return Err(BatchError::OtherMeterPending { line: pending.line, meter: meter_text(&pending.meter_id) });
    }
    let count_now = tx.registers()?.count(Service::Postage);
    let piece = pending.count_before.wrapping_add(1);
    if count_now == pending.count_before {
        tracing::info!(line = pending.line, "the announced charge never happened");
        journal.void(pending.line)?;
        return Ok(None);
    }
    // Was piece `count_before + 1` this row? The audit record says.
    let (_, records) = tx.audit_log()?;
    let row = rows.iter().find(|r| r.line == pending.line);
    let record =
        records.iter().find(|r| r.event == Event::Indicium && r.detail.get(..4) == Some(&piece.to_be_bytes()[..]));
    let matches = match (record, row) {
        (Some(r), Some(row)) => {
            let mut expect = Vec::with_capacity(14);
            expect.extend_from_slice(&piece.to_be_bytes());
            expect.push(row.piece.rate_class);
            expect.extend_from_slice(&row.piece.weight_grams.to_be_bytes());
            expect.extend_from_slice(&row.piece.destination);
            r.detail.get(..14) == Some(&expect[..])
        }
        _ => false,
    };
    if !matches {
        tracing::info!(line = pending.line, piece, "piece {piece} is not this row: it was not charged");
        journal.void(pending.line)?;
        return Ok(None);
    }
    let last = tx.get_data(tags::LAST_INDICIUM)?;
    let body = Indicium::parse(&last).map_err(|e| BatchError::BadIndicium(pending.line, e.to_string()))?.body;
    if body.piece_count != piece || body.device_id != *meter_id {
        return Err(BatchError::PaidIndiciumLost { line: pending.line, piece });
    }
    tracing::warn!(line = pending.line, piece, "recovered a paid indicium from the card");
    journal.done(pending.line, piece, &last)?;
    Ok(Some(pending.line))
}

/// Charges the rows not yet paid, journaling each answer. Returns the lines
/// charged and, when the card refused for lack of funds, why it stopped.
fn charge<T: Transport>(
    tx: &mut Transaction<'_, T>,
    journal: &mut Journal,
    todo: &[csv::Row],
    meter_id: &[u8; 12],
    progress: &mut dyn Progress,
) -> Result<(usize, Option<String>), BatchError> {
    let mut count = tx.registers()?.count(Service::Postage);
    let mut printed = 0;
    for row in todo {
        journal.intent(row.line, meter_id, count)?;
        match tx.print_indicium(&row.piece) {
            Ok(indicium) => {
                // Paid: journaled whatever it is, before anything else.
                let parsed = Indicium::parse(&indicium).map(|i| i.body.piece_count);
                let piece = parsed.unwrap_or(count.wrapping_add(1));
                journal.done(row.line, piece, &indicium)?;
                parsed.map_err(|e| BatchError::BadIndicium(row.line, e.to_string()))?;
                count = piece;
                printed += 1;
                progress.advance(row.line);
            }
            Err(MeterError::Card(CardStatus::InsufficientFunds)) => {
                journal.void(row.line)?;
                return Ok((printed, Some(format!("insufficient funds at CSV line {}", row.line))));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((printed, None))
}

/// Runs (or resumes) the batch for the mailing list `csv_text`.
pub fn run<T: Transport>(
    meter: &mut Meter<T>,
    pin: &Pin,
    csv_text: &str,
    opts: &BatchOptions,
    progress: &mut dyn Progress,
) -> Result<Summary, BatchError> {
    let meter_id = meter.fci().and_then(|f| f.meter_id).ok_or(MeterError::Card(CardStatus::ConditionsNotSatisfied))?;
    let (status, table) = meter.run(|tx| Ok((tx.status()?, tx.rate_table()?.table)))?;
    let rows = csv::parse(csv_text, &table, status.time).map_err(BatchError::Invalid)?;

    let digest: [u8; 32] = Sha256::digest(csv_text.as_bytes()).into();
    let mut journal = Journal::open(&journal::path_for(&opts.out), &digest)?;

    let mut recovered = Vec::new();
    let (printed_now, stopped) = {
        let mut tx = meter.transaction()?;
        let work = (|| {
            recovered.extend(recover(&mut tx, &mut journal, &rows, &meter_id)?);
            let todo: Vec<csv::Row> = rows.iter().filter(|r| !journal.paid().contains_key(&r.line)).copied().collect();
            if todo.is_empty() {
                return Ok((0, None));
            }
            tx.verify_pin(pin)?;
            progress.begin(todo.len() as u64);
            let result = charge(&mut tx, &mut journal, &todo, &meter_id, progress);
            progress.end();
            result
        })();
        let ended = tx.end_session();
        let outcome = work?;
        ended?;
        outcome
    };

    let paid = journal.paid();
    let imprints = paid
        .values()
        .map(|p| Imprint::new(&p.indicium, status.currency, status.exponent))
        .collect::<Result<Vec<_>, _>>()?;
    write_atomically(&opts.out, &sheet_pdf(&imprints, opts.sheet)?)?;
    // The session end reset the card: select the meter again to read the funds left.
    meter.select()?;
    let regs = meter.run(|tx| tx.registers())?;
    Ok(Summary {
        printed_now,
        pieces: imprints.len(),
        total_postage: imprints.iter().map(|i| u64::from(i.body().postage)).sum(),
        funds_left: regs.descending,
        currency: status.currency,
        exponent: status.exponent,
        recovered,
        not_printed: rows.iter().map(|r| r.line).filter(|l| !paid.contains_key(l)).collect(),
        stopped,
        pages: imprints.len().div_ceil(opts.sheet.per_page()),
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    let io = |e| BatchError::Io(path.into(), e);
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

impl Summary {
    /// The summary as lines for people.
    pub fn text(&self) -> String {
        let money = |v| crate::demo::money(v, &self.currency, self.exponent);
        let mut t = format!(
            "pieces {} ({} printed now, {} page(s))\ntotal postage {}\nfunds left {}\n",
            self.pieces,
            self.printed_now,
            self.pages,
            money(self.total_postage),
            money(self.funds_left)
        );
        if !self.recovered.is_empty() {
            t.push_str(&format!("recovered from the card: CSV lines {:?}\n", self.recovered));
        }
        if let Some(why) = &self.stopped {
            t.push_str(&format!("STOPPED: {why}\nnot printed: CSV lines {:?}\n", self.not_printed));
        }
        t
    }
}
