//! The label pipeline as the benchmark harness times it: the same calls a
//! batch makes once its indicia are paid ([`crate::batch::run`] builds an
//! [`Imprint`] per journaled indicium and lays them out with
//! [`sheet_pdf`]), without a meter, so labels/s can be set beside the
//! indicium rate measured separately in the same run.

use super::raster::label_png;
use super::sheet::{Sheet, sheet_pdf};
use super::{Imprint, LabelError};

/// `indicia` as label sheets in one PDF, exactly as `pcmeter batch` writes
/// them. Returns the PDF file's bytes.
pub fn pdf(indicia: &[Vec<u8>], currency: [u8; 3], exponent: u8, sheet: Sheet) -> Result<Vec<u8>, LabelError> {
    let imprints = indicia.iter().map(|i| Imprint::new(i, currency, exponent)).collect::<Result<Vec<_>, _>>()?;
    sheet_pdf(&imprints, sheet)
}

/// `indicia` as single-label PNGs, as `pcmeter print --out F.png` writes
/// them. Returns the bytes of every PNG written (a sum, so nothing is
/// optimized away).
pub fn png(indicia: &[Vec<u8>], currency: [u8; 3], exponent: u8) -> Result<usize, LabelError> {
    let mut total = 0;
    for i in indicia {
        total += label_png(&Imprint::new(i, currency, exponent)?)?.len();
    }
    Ok(total)
}
