//! Data Matrix (ECC 200) rendering of indicia as PNG and SVG. The bytes are
//! encoded as they are (Base 256), so a decoder returns the indicium exactly.

use datamatrix::{DataMatrix, SymbolList};

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

/// Encodes `data` as a square ECC 200 symbol.
pub fn encode(data: &[u8]) -> Result<Symbol, RenderError> {
    let code = DataMatrix::encode(data, SymbolList::default().enforce_square()).map_err(|_| RenderError::TooLarge)?;
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

/// Renders `data` as SVG with `scale` user units per module.
pub fn svg(data: &[u8], scale: usize) -> Result<String, RenderError> {
    let sym = encode(data)?;
    let scale = scale.max(1);
    let (w, h) = (sym.size.0 * scale, sym.size.1 * scale);
    let mut path = String::new();
    for (i, dark) in sym.modules.iter().enumerate() {
        if *dark {
            let (x, y) = ((i % sym.size.0) * scale, (i / sym.size.0) * scale);
            path.push_str(&format!("M{x} {y}h{scale}v{scale}h-{scale}z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" shape-rendering=\"crispEdges\">\
<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>\n"
    ))
}
