//! Data Matrix (ECC 200) rendering of indicia as PNG and SVG. The bytes are
//! encoded as they are (Base 256), so a decoder returns the indicium exactly.

use datamatrix::{DataMatrixBuilder, EncodationType, SymbolList};

/// Quiet zone around the symbol, in modules (the standard asks for at least one).
pub const QUIET_ZONE: usize = 2;

/// Why an indicium could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Too much data for any Data Matrix symbol.
    #[error("data does not fit a Data Matrix symbol")]
    TooLarge,
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// A rendered symbol as a module grid (true = dark), including the quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Width and height in modules.
    pub size: (usize, usize),
    /// Row-major modules.
    pub modules: Vec<bool>,
}

impl Symbol {
    /// True when module (`x`, `y`) is dark (false outside the symbol).
    pub fn dark(&self, x: usize, y: usize) -> bool {
        x < self.size.0 && self.modules.get(y * self.size.0 + x).copied().unwrap_or(false)
    }

    /// The dark modules as horizontal runs `(row, first column, length)`,
    /// row by row: what vector renderers draw as rectangles.
    pub fn runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let w = self.size.0;
        self.modules.chunks(w.max(1)).enumerate().flat_map(move |(row, cells)| {
            let mut runs = Vec::new();
            let mut start = None;
            for (x, dark) in cells.iter().chain(std::iter::once(&false)).enumerate() {
                match (*dark, start) {
                    (true, None) => start = Some(x),
                    (false, Some(s)) => {
                        runs.push((row, s, x - s));
                        start = None;
                    }
                    _ => {}
                }
            }
            runs
        })
    }
}

/// Encodes `data` as a square ECC 200 symbol.
pub fn encode(data: &[u8]) -> Result<Symbol, RenderError> {
    // An indicium is binary: ASCII and Base 256 are the only encodations
    // worth planning. With all six the planner's search was most of a
    // label's time (profiled on 10,000 labels), for the same symbol size.
    let code = DataMatrixBuilder::new()
        .with_encodation_types(EncodationType::Ascii | EncodationType::Base256)
        .with_symbol_list(SymbolList::default().enforce_square())
        .encode(data)
        .map_err(|_| RenderError::TooLarge)?;
    let bitmap = code.bitmap();
    let (w, h) = (bitmap.width() + 2 * QUIET_ZONE, bitmap.height() + 2 * QUIET_ZONE);
    let mut modules = vec![false; w * h];
    for (x, y) in bitmap.pixels() {
        modules[(y + QUIET_ZONE) * w + x + QUIET_ZONE] = true;
    }
    Ok(Symbol { size: (w, h), modules })
}

/// Renders `data` as an 8-bit greyscale PNG with `scale` pixels per module.
pub fn png(data: &[u8], scale: usize) -> Result<Vec<u8>, RenderError> {
    let sym = encode(data)?;
    let scale = scale.max(1);
    let (w, h) = (sym.size.0 * scale, sym.size.1 * scale);
    let mut pixels = vec![255u8; w * h];
    for (i, dark) in sym.modules.iter().enumerate() {
        if *dark {
            let (mx, my) = (i % sym.size.0, i / sym.size.0);
            for y in my * scale..(my + 1) * scale {
                pixels[y * w + mx * scale..y * w + (mx + 1) * scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| RenderError::Png(e.to_string()))?;
        writer.write_image_data(&pixels).map_err(|e| RenderError::Png(e.to_string()))?;
    }
    Ok(out)
}

/// Renders `data` as SVG with `scale` user units per module (a bare symbol;
/// [`crate::label`] makes the imprint).
pub fn svg(data: &[u8], scale: usize) -> Result<String, RenderError> {
    let sym = encode(data)?;
    let scale = scale.max(1);
    let (w, h) = (sym.size.0 * scale, sym.size.1 * scale);
    let mut path = String::new();
    for (row, x0, len) in sym.runs() {
        let (x, y, len) = (x0 * scale, row * scale, len * scale);
        path.push_str(&format!("M{x} {y}h{len}v{scale}h-{len}z"));
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" shape-rendering=\"crispEdges\">\
<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let sym = encode(&[0x5A; 124]).unwrap();
        let mut painted = vec![false; sym.modules.len()];
        for (row, x0, len) in sym.runs() {
            assert!(len > 0);
            for x in x0..x0 + len {
                assert!(!painted[row * sym.size.0 + x], "module painted twice");
                painted[row * sym.size.0 + x] = true;
            }
            assert!(!sym.dark(x0 + len, row), "a run stops before a dark module");
        }
        assert_eq!(painted, sym.modules);
        assert!(!sym.dark(0, 0), "the quiet zone is light");
    }
}
