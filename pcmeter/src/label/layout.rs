//! The geometry of one label in a box, as shapes any renderer can draw.
//! Coordinates run right and down from the top-left corner, in the
//! renderer's unit (points for PDF and SVG, pixels for PNG).

use super::{Imprint, LabelError};
use crate::render::{self, Symbol};

/// A rectangle: top-left corner, width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

/// One thing to draw.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A stroked rectangle (the imprint's border).
    Frame {
        /// Where.
        rect: Rect,
        /// Line width.
        line: f32,
    },
    /// A Data Matrix, quiet zone included, with its top-left corner at (`x`, `y`).
    Symbol {
        /// Left edge.
        x: f32,
        /// Top edge.
        y: f32,
        /// Side of one module.
        module: f32,
        /// The modules.
        symbol: Symbol,
    },
    /// A line of text starting at (`x`, `baseline`).
    Text {
        /// Left edge.
        x: f32,
        /// Baseline.
        baseline: f32,
        /// Font size (the em).
        size: f32,
        /// Bold (the postage).
        bold: bool,
        /// The text (ASCII).
        text: String,
    },
}

/// Helvetica advance widths (thousandths of the em) for the characters of a label.
fn helvetica_width(c: char) -> u16 {
    match c {
        '0'..='9' | '#' => 556,
        ' ' | '.' | ',' | ':' | '/' | 'I' => 278,
        '-' => 333,
        'J' => 500,
        'L' => 556,
        'F' | 'T' | 'Z' => 611,
        'A' | 'B' | 'E' | 'K' | 'P' | 'S' | 'V' | 'X' | 'Y' => 667,
        'C' | 'D' | 'H' | 'N' | 'R' | 'U' => 722,
        'G' | 'O' | 'Q' => 778,
        'M' => 833,
        'W' => 944,
        _ => 667,
    }
}

/// Width of `text` at `size` in Helvetica (bold counted 8 % wider), so it fits the box.
pub fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    let em: u32 = text.chars().map(|c| u32::from(helvetica_width(c))).sum();
    em as f32 / 1000.0 * size * if bold { 1.08 } else { 1.0 }
}

/// Size of the postage line relative to the detail lines.
const POSTAGE_SCALE: f32 = 1.8;
/// Line pitch relative to the font size.
const LEADING: f32 = 1.3;

/// Lays out `imprint` in `frame`. With `whole_modules` (raster output) the
/// module side is a whole number of units, so every module is crisp.
pub fn layout(imprint: &Imprint, frame: Rect, whole_modules: bool) -> Result<Vec<Shape>, LabelError> {
    let symbol = render::encode(imprint.indicium())?;
    let line = (frame.h * 0.012).max(0.5);
    let pad = frame.h * 0.06;
    let side = frame.h - 2.0 * pad;
    let modules = symbol.size.0.max(symbol.size.1) as f32;
    let mut module = side / modules;
    if whole_modules {
        module = module.floor().max(1.0);
    }
    let sym_side = module * modules;
    let sym_x = frame.x + pad;
    let sym_y = frame.y + (frame.h - sym_side) / 2.0;

    let text_x = sym_x + sym_side + pad * 0.5;
    let text_w = frame.x + frame.w - pad - text_x;
    if text_w <= 0.0 {
        return Err(LabelError::Layout("the box is too narrow for the text beside the symbol"));
    }
    let postage = imprint.postage_text();
    let details = imprint.detail_lines();
    // Detail size: the block height fits the box, and every line its width.
    let block_units = POSTAGE_SCALE * 1.1 + details.len() as f32 * LEADING;
    let mut size = side / block_units;
    let widest =
        details.iter().map(|t| text_width(t, 1.0, false)).fold(text_width(&postage, POSTAGE_SCALE, true), f32::max);
    if widest > 0.0 {
        size = size.min(text_w / widest);
    }

    let mut shapes = vec![
        Shape::Frame {
            rect: Rect { x: frame.x + line / 2.0, y: frame.y + line / 2.0, w: frame.w - line, h: frame.h - line },
            line,
        },
        Shape::Symbol { x: sym_x, y: sym_y, module, symbol },
    ];
    let block_h = block_units * size;
    let mut baseline = frame.y + (frame.h - block_h) / 2.0 + POSTAGE_SCALE * size;
    shapes.push(Shape::Text { x: text_x, baseline, size: POSTAGE_SCALE * size, bold: true, text: postage });
    baseline += POSTAGE_SCALE * size * 0.1;
    for text in details {
        baseline += LEADING * size;
        shapes.push(Shape::Text { x: text_x, baseline, size, bold: false, text });
    }
    Ok(shapes)
}

/// The single-label box in points: 99.1 × 38.1 mm, the A4 2×7 sheet's label.
pub const LABEL_POINTS: (f32, f32) = (281.0, 108.0);

/// Pixels per point of single-label PNGs (288 dpi).
pub const PNG_SCALE: f32 = 4.0;
