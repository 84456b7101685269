//! PNG renderer: shapes onto an 8-bit greyscale canvas, text with the
//! built-in bitmap font ([`super::font`]).

use super::font;
use super::layout::{self, Rect, Shape};
use super::{Imprint, LabelError};
use crate::render::RenderError;

/// A white greyscale canvas.
struct Canvas {
    w: usize,
    h: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Self { w, h, pixels: vec![255; w * h] }
    }

    /// Fills the pixels of [x0, x1) × [y0, y1), clipped to the canvas.
    fn fill(&mut self, x0: f32, y0: f32, x1: f32, y1: f32) {
        let clip = |v: f32, max: usize| (v.round().max(0.0) as usize).min(max);
        let (x0, x1) = (clip(x0, self.w), clip(x1, self.w));
        let (y0, y1) = (clip(y0, self.h), clip(y1, self.h));
        for y in y0..y1 {
            if let Some(row) = self.pixels.get_mut(y * self.w + x0..y * self.w + x1) {
                row.fill(0);
            }
        }
    }

    fn draw(&mut self, shape: &Shape) {
        match shape {
            Shape::Frame { rect, line } => {
                let half = line / 2.0;
                let (l, t, r, b) = (rect.x - half, rect.y - half, rect.x + rect.w + half, rect.y + rect.h + half);
                self.fill(l, t, r, t + line);
                self.fill(l, b - line, r, b);
                self.fill(l, t, l + line, b);
                self.fill(r - line, t, r, b);
            }
            Shape::Symbol { x, y, module, symbol } => {
                for (row, x0, len) in symbol.runs() {
                    let top = y + row as f32 * module;
                    self.fill(x + x0 as f32 * module, top, x + (x0 + len) as f32 * module, top + module);
                }
            }
            Shape::Text { x, baseline, size, bold, text } => {
                // Cap height of Helvetica is 0.72 em; a glyph is 7 dots high.
                let dot = (size * 0.72 / font::HEIGHT as f32).round().max(1.0);
                let top = baseline - dot * font::HEIGHT as f32;
                for (i, c) in text.chars().enumerate() {
                    let left = x + (i * font::ADVANCE) as f32 * dot;
                    for gy in 0..font::HEIGHT {
                        for gx in 0..font::WIDTH {
                            if font::dot(c, gx, gy) {
                                let (px, py) = (left + gx as f32 * dot, top + gy as f32 * dot);
                                let extra = if *bold { dot.max(2.0) / 2.0 } else { 0.0 };
                                self.fill(px, py, px + dot + extra, py + dot);
                            }
                        }
                    }
                }
            }
        }
    }

    fn png(&self) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            // Black and white only: fast deflate compresses it nearly as
            // well, and the default level was most of a PNG label's time
            // (profiled on 10,000 labels).
            enc.set_compression(png::Compression::Fast);
            let mut writer = enc.write_header().map_err(|e| RenderError::Png(e.to_string()))?;
            writer.write_image_data(&self.pixels).map_err(|e| RenderError::Png(e.to_string()))?;
        }
        Ok(out)
    }
}

/// The label as a PNG, [`layout::LABEL_POINTS`] at [`layout::PNG_SCALE`] pixels per point.
pub fn label_png(imprint: &Imprint) -> Result<Vec<u8>, LabelError> {
    let (w, h) = (layout::LABEL_POINTS.0 * layout::PNG_SCALE, layout::LABEL_POINTS.1 * layout::PNG_SCALE);
    let shapes = layout::layout(imprint, Rect { x: 0.0, y: 0.0, w, h }, true)?;
    let mut canvas = Canvas::new(w as usize, h as usize);
    for shape in &shapes {
        canvas.draw(shape);
    }
    Ok(canvas.png()?)
}
