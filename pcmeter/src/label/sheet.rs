//! Label sheets: where each label of a page goes on A4 (2 × 7, 99.1 × 38.1 mm
//! labels, as L7163) and US Letter (3 × 10, 2⅝ × 1 in labels, as 5160).

use super::layout::{self, Rect};
use super::pdf::{PdfDocument, RenderedPage};
use super::{Imprint, LabelError};

/// A label sheet format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sheet {
    /// A4, 2 columns × 7 rows.
    #[default]
    A4,
    /// US Letter, 3 columns × 10 rows.
    Letter,
}

impl std::str::FromStr for Sheet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "a4" => Ok(Self::A4),
            "letter" => Ok(Self::Letter),
            _ => Err(format!("unknown sheet {s:?}: a4 or letter")),
        }
    }
}

/// Geometry of a sheet, in points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SheetGeometry {
    /// Page width and height.
    pub page: (f32, f32),
    /// Columns and rows of labels.
    pub grid: (usize, usize),
    /// Label width and height.
    pub label: (f32, f32),
    /// Left and top margins to the first label.
    pub margin: (f32, f32),
    /// Distance from one label's corner to the next, across and down.
    pub pitch: (f32, f32),
}

/// The imprint sits this far inside the die-cut label edge.
const INSET: f32 = 4.0;

impl Sheet {
    /// The sheet's geometry.
    pub fn geometry(self) -> SheetGeometry {
        const MM: f32 = 72.0 / 25.4;
        match self {
            Self::A4 => SheetGeometry {
                page: (210.0 * MM, 297.0 * MM),
                grid: (2, 7),
                label: (99.1 * MM, 38.1 * MM),
                margin: (4.65 * MM, 15.15 * MM),
                pitch: (101.6 * MM, 38.1 * MM),
            },
            Self::Letter => SheetGeometry {
                page: (612.0, 792.0),
                grid: (3, 10),
                label: (189.0, 72.0),
                margin: (13.5, 36.0),
                pitch: (198.0, 72.0),
            },
        }
    }

    /// Labels per page.
    pub fn per_page(self) -> usize {
        let g = self.geometry();
        g.grid.0 * g.grid.1
    }

    /// The box of label `index` on its page (row by row), imprint inset applied.
    pub fn slot(self, index: usize) -> Rect {
        let g = self.geometry();
        let i = index % self.per_page();
        let (col, row) = (i % g.grid.0, i / g.grid.0);
        Rect {
            x: g.margin.0 + col as f32 * g.pitch.0 + INSET,
            y: g.margin.1 + row as f32 * g.pitch.1 + INSET,
            w: g.label.0 - 2.0 * INSET,
            h: g.label.1 - 2.0 * INSET,
        }
    }
}

/// `imprints` on as many sheets as they need, in order. Pages are laid
/// out and compressed on up to [`std::thread::available_parallelism`]
/// threads (the card signs one indicium at a time; the host's other cores
/// keep the labels from being a mail room's bottleneck), then written in order.
pub fn sheet_pdf(imprints: &[Imprint], sheet: Sheet) -> Result<Vec<u8>, LabelError> {
    let pages: Vec<&[Imprint]> = imprints.chunks(sheet.per_page()).collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(pages.len()).max(1);
    let per_thread = pages.len().div_ceil(threads).max(1);
    let rendered: Vec<Result<Vec<RenderedPage>, LabelError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = pages
            .chunks(per_thread)
            .map(|share| scope.spawn(move || share.iter().map(|page| render_sheet_page(page, sheet)).collect()))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(Err(LabelError::Renderer))).collect()
    });
    let mut doc = PdfDocument::new();
    for share in rendered {
        for page in share? {
            doc.push_page(page);
        }
    }
    Ok(doc.finish())
}

/// One sheet of `imprints` (at most a page's worth), laid out and compressed.
fn render_sheet_page(imprints: &[Imprint], sheet: Sheet) -> Result<RenderedPage, LabelError> {
    let g = sheet.geometry();
    let mut shapes = Vec::new();
    for (i, imprint) in imprints.iter().enumerate() {
        shapes.extend(layout::layout(imprint, sheet.slot(i), false)?);
    }
    Ok(RenderedPage::new(g.page.0, g.page.1, &shapes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_on_the_page_and_do_not_overlap() {
        for sheet in [Sheet::A4, Sheet::Letter] {
            let g = sheet.geometry();
            let slots: Vec<Rect> = (0..sheet.per_page()).map(|i| sheet.slot(i)).collect();
            for (i, a) in slots.iter().enumerate() {
                assert!(a.x >= 0.0 && a.y >= 0.0 && a.x + a.w <= g.page.0 && a.y + a.h <= g.page.1, "{sheet:?} {i}");
                for b in &slots[..i] {
                    let apart = a.x >= b.x + b.w || b.x >= a.x + a.w || a.y >= b.y + b.h || b.y >= a.y + a.h;
                    assert!(apart, "{sheet:?}: label {i} overlaps");
                }
            }
            assert_eq!(sheet.slot(sheet.per_page()), slots[0], "the next page starts at the top");
        }
        assert_eq!(Sheet::A4.per_page(), 14);
        assert_eq!(Sheet::Letter.per_page(), 30);
        assert_eq!("LETTER".parse::<Sheet>(), Ok(Sheet::Letter));
        assert!("a5".parse::<Sheet>().is_err());
    }
}
