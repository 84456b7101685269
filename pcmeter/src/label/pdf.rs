//! PDF renderer: pages of shapes, the Data Matrix as filled rectangles (one
//! per run of dark modules) in module units, text in the base-14 Helvetica
//! and Helvetica-Bold fonts (nothing embedded). Content streams are
//! Flate-compressed.

use super::layout::{self, Rect, Shape};
use super::{Imprint, LabelError};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Ref, Str};
use std::io::Write;

const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const FONT_REGULAR: Ref = Ref::new(3);
const FONT_BOLD: Ref = Ref::new(4);
const FIRST_FREE: i32 = 5;

/// A page's size and its compressed content stream: the costly part of a
/// page, independent of the document, so pages can be rendered in parallel
/// and added in order.
pub struct RenderedPage {
    width: f32,
    height: f32,
    stream: Vec<u8>,
}

impl RenderedPage {
    /// Draws `shapes` on a page `width` × `height` points and compresses it.
    pub fn new(width: f32, height: f32, shapes: &[Shape]) -> Self {
        Self { width, height, stream: deflate(&content(shapes, height)) }
    }
}

/// A PDF being built page by page.
pub struct PdfDocument {
    pdf: Pdf,
    pages: Vec<Ref>,
    next: i32,
}

impl Default for PdfDocument {
    fn default() -> Self {
        Self::new()
    }
}

/// Draws `shapes` into a content stream for a page `height` points high
/// (shapes have y down, PDF has y up).
fn content(shapes: &[Shape], height: f32) -> Vec<u8> {
    let mut c = Content::new();
    for shape in shapes {
        match shape {
            Shape::Frame { rect, line } => {
                c.set_line_width(*line);
                c.rect(rect.x, height - rect.y - rect.h, rect.w, rect.h);
                c.stroke();
            }
            Shape::Symbol { x, y, module, symbol } => {
                c.save_state();
                // Module units, rows running down from the symbol's top-left corner.
                c.transform([*module, 0.0, 0.0, -*module, *x, height - *y]);
                for (row, x0, len) in symbol.runs() {
                    c.rect(x0 as f32, row as f32, len as f32, 1.0);
                }
                c.fill_nonzero();
                c.restore_state();
            }
            Shape::Text { x, baseline, size, bold, text } => {
                let font = if *bold { Name(b"F2") } else { Name(b"F1") };
                c.begin_text();
                c.set_font(font, *size);
                c.next_line(*x, height - *baseline);
                c.show(Str(text.as_bytes()));
                c.end_text();
            }
        }
    }
    c.finish().into_vec()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

impl PdfDocument {
    /// An empty document.
    pub fn new() -> Self {
        let mut pdf = Pdf::new();
        pdf.type1_font(FONT_REGULAR).base_font(Name(b"Helvetica"));
        pdf.type1_font(FONT_BOLD).base_font(Name(b"Helvetica-Bold"));
        Self { pdf, pages: Vec::new(), next: FIRST_FREE }
    }

    fn alloc(&mut self) -> Ref {
        let r = Ref::new(self.next);
        self.next += 1;
        r
    }

    /// Adds a page `width` × `height` points with `shapes` on it.
    pub fn add_page(&mut self, width: f32, height: f32, shapes: &[Shape]) {
        self.push_page(RenderedPage::new(width, height, shapes));
    }

    /// Adds a page rendered beforehand (possibly on another thread).
    pub fn push_page(&mut self, page: RenderedPage) {
        let (page_id, content_id) = (self.alloc(), self.alloc());
        self.pdf.stream(content_id, &page.stream).filter(Filter::FlateDecode);
        let mut writer = self.pdf.page(page_id);
        writer.media_box(pdf_writer::Rect::new(0.0, 0.0, page.width, page.height));
        writer.parent(PAGE_TREE);
        writer.contents(content_id);
        let mut resources = writer.resources();
        resources.fonts().pair(Name(b"F1"), FONT_REGULAR).pair(Name(b"F2"), FONT_BOLD);
        resources.finish();
        writer.finish();
        self.pages.push(page_id);
    }

    /// Pages added so far.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The finished file.
    pub fn finish(mut self) -> Vec<u8> {
        self.pdf.catalog(CATALOG).pages(PAGE_TREE);
        let count = self.pages.len() as i32;
        self.pdf.pages(PAGE_TREE).kids(self.pages.iter().copied()).count(count);
        self.pdf.finish()
    }
}

/// The label alone as a one-page PDF of [`layout::LABEL_POINTS`].
pub fn label_pdf(imprint: &Imprint) -> Result<Vec<u8>, LabelError> {
    let (w, h) = layout::LABEL_POINTS;
    let shapes = layout::layout(imprint, Rect { x: 0.0, y: 0.0, w, h }, false)?;
    let mut doc = PdfDocument::new();
    doc.add_page(w, h, &shapes);
    Ok(doc.finish())
}
