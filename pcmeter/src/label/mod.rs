//! Meter imprints: the indicium's Data Matrix (with its quiet zone) beside
//! the human-readable postage, date, origin postcode, meter ID and piece
//! count, in a bordered box, like a franking imprint.
//!
//! One layout ([`layout`]) gives the shapes of a label in a box; three
//! renderers draw them: PNG ([`raster`], with a built-in 5×7 bitmap font),
//! SVG ([`svg`], text elements) and PDF ([`pdf`], the Data Matrix as filled
//! paths and base-14 Helvetica text). [`sheet`] places labels on A4 and US
//! Letter label sheets.

pub mod bench;
pub mod font;
pub mod layout;
pub mod pdf;
pub mod raster;
pub mod sheet;
pub mod svg;

use crate::demo::money;
use crate::render::RenderError;
use apdu_specs::FormatError;
use apdu_specs::indicium::{Indicium, IndiciumBody};

/// Why a label could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The bytes are not an indicium.
    #[error("not an indicium: {0}")]
    Indicium(#[from] FormatError),
    /// The symbol could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A sheet layout or a page list was inconsistent.
    #[error("layout: {0}")]
    Layout(&'static str),
    /// A thread rendering label pages panicked.
    #[error("a label-page rendering thread failed")]
    Renderer,
}

/// Output format of a single label, chosen from a file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Raster PNG.
    Png,
    /// Vector SVG.
    Svg,
    /// Vector PDF, one page the size of the label.
    Pdf,
}

impl Format {
    /// The format named by `path`'s extension (`.png`, `.svg`, `.pdf`).
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Some(Self::Png),
            "svg" => Some(Self::Svg),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    /// The file extension of this format (what [`Format::from_path`] reads).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
            Self::Pdf => "pdf",
        }
    }
}

/// One indicium ready to be laid out: its bytes, decoded fields, and the
/// currency and exponent of the rate table that priced it.
#[derive(Debug, Clone)]
pub struct Imprint {
    indicium: Vec<u8>,
    body: IndiciumBody,
    currency: [u8; 3],
    exponent: u8,
}

/// Text of a 12-byte ASCII field without its padding.
fn ascii_field(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end_matches([' ', '\0']).to_owned()
}

impl Imprint {
    /// Parses `indicium` (`apdu_specs::indicium`); `currency` and `exponent`
    /// come from the card's status or rate table.
    pub fn new(indicium: &[u8], currency: [u8; 3], exponent: u8) -> Result<Self, LabelError> {
        let body = Indicium::parse(indicium)?.body;
        Ok(Self { indicium: indicium.to_vec(), body, currency, exponent })
    }

    /// The indicium bytes the Data Matrix carries.
    pub fn indicium(&self) -> &[u8] {
        &self.indicium
    }

    /// The decoded fields.
    pub fn body(&self) -> &IndiciumBody {
        &self.body
    }

    /// Postage as printed: currency and amount with the table's exponent.
    pub fn postage_text(&self) -> String {
        money(u64::from(self.body.postage), &self.currency, self.exponent)
    }

    /// The meter ID as text.
    pub fn meter_id(&self) -> String {
        ascii_field(&self.body.device_id)
    }

    /// The mailing date as `YYYY-MM-DD`.
    pub fn date_text(&self) -> String {
        let d = self.body.date;
        format!("{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100)
    }

    /// The human-readable lines under the postage, in print order.
    pub fn detail_lines(&self) -> [String; 5] {
        [
            format!("DATE {}", self.date_text()),
            format!("FROM {}", ascii_field(&self.body.origin)),
            format!("METER {}", self.meter_id()),
            format!("PIECE {}", self.body.piece_count),
            format!("CLASS {} RATES V{}", self.body.rate_class, self.body.rate_table_version),
        ]
    }
}
