//! The mailing list: a CSV of mail pieces, validated whole before anything
//! is charged.
//!
//! ```text
//! # comments and blank lines are skipped; the header line is optional
//! class,weight,origin,destination,date
//! 1,20,12345,67890,2026-11-26
//! ```
//!
//! | column | meaning |
//! |---|---|
//! | `class` | rate class, a number in the card's rate table (read with GET DATA) |
//! | `weight` | grams, within the class's weight breaks (1 up to the last break) |
//! | `origin` | origin postcode, 1 to 5 letters or digits |
//! | `destination` | destination postcode, 1 to 5 letters or digits |
//! | `date` | mailing date `YYYY-MM-DD` or `YYYYMMDD`, from the card's date up to [`MAX_DAYS_AHEAD`] days ahead |
//!
//! Fields are trimmed; quoting is not needed (no field may hold a comma).
//! Rows are numbered by their line in the file (1-based), which is how
//! errors and the journal name them.

use apdu_specs::date::days_from_yyyymmdd;
use apdu_specs::mailpiece::{MailPiece, postcode};
use apdu_specs::rates::{PriceError, RateTable};

/// How many days after the card's date a mailing date may be (the card's rule).
pub const MAX_DAYS_AHEAD: i64 = 30;

/// The header line's column names.
pub const COLUMNS: [&str; 5] = ["class", "weight", "origin", "destination", "date"];

/// One valid row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Line number in the file (1-based).
    pub line: usize,
    /// The piece as the card is asked to frank it.
    pub piece: MailPiece,
    /// Postage the card's table gives it (for the summary; the card prices it again).
    pub postage: u32,
}

/// A bad row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

fn parse_date(text: &str) -> Option<u32> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    let shape_ok = text.len() == 8
        || (text.len() == 10 && text.as_bytes().get(4) == Some(&b'-') && text.as_bytes().get(7) == Some(&b'-'));
    if !shape_ok || digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits.parse().ok()?;
    days_from_yyyymmdd(value).map(|_| value)
}

fn parse_row(line: usize, text: &str, table: &RateTable, today: i64) -> Result<Row, String> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [class, weight, origin, destination, date] = fields.as_slice() else {
        return Err(format!("expected 5 columns ({}), found {}", COLUMNS.join(","), fields.len()));
    };
    let class: u8 = class.parse().map_err(|_| format!("class {class:?} is not a number from 0 to 255"))?;
    let weight: u32 = weight.parse().map_err(|_| format!("weight {weight:?} is not a whole number of grams"))?;
    let postage = table.postage(class, weight).map_err(|e| match e {
        PriceError::UnknownClass => format!("unknown class {class} (not in rate table v{})", table.version),
        PriceError::WeightOutOfRange => format!("weight {weight} g out of range for class {class}"),
    })?;
    let origin_code =
        postcode(origin).ok_or_else(|| format!("bad origin postcode {origin:?}: 1 to 5 letters or digits"))?;
    let destination_code = postcode(destination)
        .ok_or_else(|| format!("bad destination postcode {destination:?}: 1 to 5 letters or digits"))?;
    let date_value = parse_date(date).ok_or_else(|| format!("bad date {date:?}: a real date YYYY-MM-DD"))?;
    let day = days_from_yyyymmdd(date_value).unwrap_or(i64::MIN);
    if day < today || day > today + MAX_DAYS_AHEAD {
        return Err(format!("date {date} is outside the card's window (today up to {MAX_DAYS_AHEAD} days ahead)"));
    }
    let piece = MailPiece {
        rate_class: class,
        weight_grams: weight,
        date: date_value,
        origin: origin_code,
        destination: destination_code,
    };
    Ok(Row { line, piece, postage })
}

/// Parses and validates every row against `table` and the card time `now`
/// (Unix seconds). Returns all rows, or every bad row with its line number.
pub fn parse(text: &str, table: &RateTable, now: u64) -> Result<Vec<Row>, Vec<RowError>> {
    let today = (now / 86_400) as i64;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut header_allowed = true;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if std::mem::take(&mut header_allowed) && content.to_ascii_lowercase().starts_with("class") {
            let names: Vec<String> = content.split(',').map(|f| f.trim().to_ascii_lowercase()).collect();
            if names != COLUMNS {
                errors.push(RowError { line, reason: format!("header must be {}", COLUMNS.join(",")) });
            }
            continue;
        }
        match parse_row(line, content, table, today) {
            Ok(row) => rows.push(row),
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(RowError { line: 0, reason: "the mailing has no rows".into() });
    }
    if errors.is_empty() { Ok(rows) } else { Err(errors) }
}
