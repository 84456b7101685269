//! SVG renderer: the Data Matrix as one path of module runs, text as text
//! elements in Helvetica.

use super::layout::{self, Rect, Shape};
use super::{Imprint, LabelError};
use std::fmt::Write;

/// Escapes text for an XML text node.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The label as SVG, [`layout::LABEL_POINTS`] in user units (points).
pub fn label_svg(imprint: &Imprint) -> Result<String, LabelError> {
    let (w, h) = layout::LABEL_POINTS;
    let shapes = layout::layout(imprint, Rect { x: 0.0, y: 0.0, w, h }, false)?;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}pt\" height=\"{h}pt\" viewBox=\"0 0 {w} {h}\">\n\
<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\n"
    );
    for shape in &shapes {
        // Writing to a String cannot fail.
        let _ = match shape {
            Shape::Frame { rect, line } => writeln!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#000\" stroke-width=\"{line}\"/>",
                rect.x, rect.y, rect.w, rect.h
            ),
            Shape::Symbol { x, y, module, symbol } => {
                let mut d = String::new();
                for (row, x0, len) in symbol.runs() {
                    let _ = write!(d, "M{x0} {row}h{len}v1h-{len}z");
                }
                writeln!(
                    out,
                    "<path class=\"datamatrix\" transform=\"translate({x} {y}) scale({module})\" fill=\"#000\" shape-rendering=\"crispEdges\" d=\"{d}\"/>"
                )
            }
            Shape::Text { x, baseline, size, bold, text } => writeln!(
                out,
                "<text x=\"{x}\" y=\"{baseline}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{size}\"{}>{}</text>",
                if *bold { " font-weight=\"bold\"" } else { "" },
                escape(text)
            ),
        };
    }
    out.push_str("</svg>\n");
    Ok(out)
}
