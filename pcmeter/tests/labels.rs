//! Meter imprints in PNG, SVG and PDF: each carries the exact indicium (an
//! independent decoder, `dmtxread`, reads it back; the PDF after
//! `pdftoppm`), and the human-readable fields.

mod common;

use apdu_specs::mailpiece::{MailPiece, postcode};
use common::*;
use pcmeter::label::sheet::{Sheet, sheet_pdf};
use pcmeter::label::{Imprint, layout, pdf, raster, svg};
use pcmeter::render;

fn imprints(n: usize) -> (Vec<Imprint>, [u8; 65]) {
    let mut m = meter(1_000_000, "PCM-LABEL-01");
    let key = postal_key(&mut m.meter);
    let status = m.meter.run(|tx| tx.status()).unwrap();
    let date = apdu_specs::date::yyyymmdd_from_unix(NOW);
    let out = m
        .meter
        .with_session(|s| {
            s.verify_pin(&m.pin)?;
            (0..n)
                .map(|i| {
                    let piece = MailPiece {
                        rate_class: 1 + (i % 2) as u8,
                        weight_grams: 20,
                        date,
                        origin: postcode("SW1A").unwrap(),
                        destination: postcode(&format!("{:05}", 30_000 + i)).unwrap(),
                    };
                    s.print_indicium(&piece)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    let imprints = out.iter().map(|b| Imprint::new(b, status.currency, status.exponent).unwrap()).collect();
    (imprints, key)
}

#[test]
fn the_imprint_shows_postage_date_origin_meter_and_piece_count() {
    let (imprints, _) = imprints(2);
    let first = &imprints[0];
    assert_eq!(first.postage_text(), "USD 0.73");
    assert_eq!(imprints[1].postage_text(), "USD 1.50");
    let [date, from, meter_line, piece, class] = first.detail_lines();
    assert_eq!(date, format!("DATE {}", today()));
    assert_eq!(from, "FROM SW1A");
    assert_eq!(meter_line, "METER PCM-LABEL-01");
    assert_eq!(piece, "PIECE 1");
    assert_eq!(class, "CLASS 1 RATES V1");

    let rect = layout::Rect { x: 0.0, y: 0.0, w: 281.0, h: 108.0 };
    let shapes = layout::layout(first, rect, false).unwrap();
    let texts: Vec<&str> = shapes
        .iter()
        .filter_map(|s| match s {
            layout::Shape::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["USD 0.73", &date, &from, &meter_line, &piece, &class]);
    // Everything inside the box, the text right of the symbol, inside the border.
    let mut symbol_right = 0.0;
    for s in &shapes {
        match s {
            layout::Shape::Symbol { x, y, module, symbol } => {
                symbol_right = x + module * symbol.size.0 as f32;
                assert!(*x > 0.0 && *y > 0.0 && y + module * symbol.size.1 as f32 <= rect.h);
                assert_eq!(symbol.modules, render::encode(first.indicium()).unwrap().modules);
            }
            layout::Shape::Text { x, baseline, size, bold, text } => {
                assert!(*x >= symbol_right, "{text} overlaps the symbol");
                assert!(x + layout::text_width(text, *size, *bold) <= rect.w, "{text} leaves the box");
                assert!(*baseline <= rect.h && *baseline - size >= 0.0, "{text} leaves the box");
            }
            layout::Shape::Frame { rect: r, .. } => assert!(r.x >= 0.0 && r.x + r.w <= rect.w),
        }
    }
}

#[test]
fn png_label_decodes_to_the_exact_indicium() {
    let (imprints, _) = imprints(1);
    let dir = scratch("png-label");
    let path = dir.join("label.png");
    std::fs::write(&path, raster::label_png(&imprints[0]).unwrap()).unwrap();
    assert_eq!(dmtxread(&path, 1), vec![imprints[0].indicium().to_vec()]);
    // The text is really drawn: ink right of the symbol.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let ink_right = (h / 4..h * 3 / 4)
        .flat_map(|y| (w / 2..w - 20).map(move |x| (x, y)))
        .filter(|(x, y)| buf[y * w + x] == 0)
        .count();
    assert!(ink_right > 500, "no text drawn beside the symbol ({ink_right} dark pixels)");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn svg_label_has_text_elements_and_the_symbol_as_a_path() {
    let (imprints, _) = imprints(1);
    let text = svg::label_svg(&imprints[0]).unwrap();
    for line in std::iter::once(imprints[0].postage_text()).chain(imprints[0].detail_lines()) {
        assert!(text.contains(&format!(">{line}</text>")), "missing text {line}");
    }
    // Rebuild the module grid from the path and compare with the encoder's.
    let d =
        text.split("class=\"datamatrix\"").nth(1).unwrap().split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
    let sym = render::encode(imprints[0].indicium()).unwrap();
    let mut grid = vec![false; sym.modules.len()];
    for run in d.split('M').filter(|r| !r.is_empty()) {
        let nums: Vec<usize> =
            run.split(['h', 'v', 'z', ' ']).filter_map(|n| n.trim_start_matches('-').parse().ok()).collect();
        let (x, y, len) = (nums[0], nums[1], nums[2]);
        for cell in &mut grid[y * sym.size.0 + x..y * sym.size.0 + x + len] {
            *cell = true;
        }
    }
    assert_eq!(grid, sym.modules);
}

#[test]
fn pdf_label_is_vector_and_decodes_after_pdftoppm() {
    let (imprints, _) = imprints(1);
    let dir = scratch("pdf-label");
    let path = dir.join("label.pdf");
    let bytes = pdf::label_pdf(&imprints[0]).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(!bytes.windows(6).any(|w| w == b"/Image"), "the symbol must be vector, not an image");
    assert!(bytes.windows(10).any(|w| w == b"/Helvetica"), "base-14 Helvetica");
    std::fs::write(&path, &bytes).unwrap();
    let pages = decode_sheets(&path, 1, 1);
    assert_eq!(pages, vec![vec![imprints[0].indicium().to_vec()]]);
    let _ = std::fs::remove_dir_all(dir);
}

/// Every symbol on every page of both sheet formats decodes, after
/// `pdftoppm -r 300`, to exactly the indicia placed on that page.
#[test]
fn every_data_matrix_on_sheet_pages_decodes_to_the_exact_indicia() {
    let (imprints, _) = imprints(33);
    let dir = scratch("sheets");
    for sheet in [Sheet::A4, Sheet::Letter] {
        let path = dir.join(format!("{sheet:?}.pdf"));
        std::fs::write(&path, sheet_pdf(&imprints, sheet).unwrap()).unwrap();
        let pages = decode_sheets(&path, imprints.len(), sheet.per_page());
        assert_eq!(pages.len(), imprints.len().div_ceil(sheet.per_page()), "{sheet:?}");
        for (n, (decoded, placed)) in pages.iter().zip(imprints.chunks(sheet.per_page())).enumerate() {
            let mut decoded = decoded.clone();
            let mut placed: Vec<Vec<u8>> = placed.iter().map(|i| i.indicium().to_vec()).collect();
            decoded.sort();
            placed.sort();
            assert_eq!(decoded, placed, "{sheet:?} page {}", n + 1);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_bench_entry_points_make_what_batch_and_print_write() {
    let (imprints, _) = imprints(3);
    let indicia: Vec<Vec<u8>> = imprints.iter().map(|i| i.indicium().to_vec()).collect();
    let pdf = pcmeter::label::bench::pdf(&indicia, *b"USD", 2, Sheet::Letter).unwrap();
    assert_eq!(pdf, sheet_pdf(&imprints, Sheet::Letter).unwrap(), "the batch's sheets, byte for byte");
    let png_bytes: usize = imprints.iter().map(|i| raster::label_png(i).unwrap().len()).sum();
    assert_eq!(pcmeter::label::bench::png(&indicia, *b"USD", 2).unwrap(), png_bytes);
    assert!(pcmeter::label::bench::pdf(&[vec![1, 2, 3]], *b"USD", 2, Sheet::A4).is_err(), "not an indicium");
}
