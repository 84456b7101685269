//! `pcmeter verify-indicium` on what people receive: a PNG label, a PDF, hex;
//! each failure has its documented exit code.

mod common;

use common::*;
use pcmeter::label::{Imprint, pdf, raster};
use std::process::Command;

fn verify(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pcmeter")).arg("verify-indicium").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn labels_verify_and_each_failure_has_its_exit_code() {
    let mut m = meter(10_000, "PCM-VERIFY-1");
    let key = hex::encode(postal_key(&mut m.meter));
    let rows = pcmeter::batch::csv::parse(&mailing(1), &m.meter.run(|tx| tx.rate_table()).unwrap().table, NOW).unwrap();
    let pin = m.pin.clone();
    let ind = m
        .meter
        .with_session(|s| {
            s.verify_pin(&pin)?;
            s.print_indicium(&rows[0].piece)
        })
        .unwrap();
    let imprint = Imprint::new(&ind, *b"USD", 2).unwrap();
    let dir = scratch("verify-indicium");
    let (png, pdf_path, junk) = (dir.join("l.png"), dir.join("l.pdf"), dir.join("junk.png"));
    std::fs::write(&png, raster::label_png(&imprint).unwrap()).unwrap();
    std::fs::write(&pdf_path, pdf::label_pdf(&imprint).unwrap()).unwrap();
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    let (code, text) = verify(&[&s(&png), "--postal-key", &key]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("valid indicium: meter PCM-VERIFY-1 piece 1"), "{text}");
    let (code, text) = verify(&[&s(&pdf_path), "--postal-key", &key, "--meter-id", "PCM-VERIFY-1"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(verify(&[&hex::encode(&ind), "--postal-key", &key]).0, 0);

    let (code, text) = verify(&[&s(&png), "--postal-key", &key, "--meter-id", "PCM-OTHER-99"]);
    assert_eq!(code, 22, "{text}");
    assert!(text.contains("label from another meter"), "{text}");
    let mut tampered = ind.clone();
    tampered[25] ^= 1; // postage
    let (code, text) = verify(&[&hex::encode(&tampered), "--postal-key", &key]);
    assert_eq!(code, 23, "{text}");
    assert!(text.contains("tampered"), "{text}");
    let (code, text) = verify(&[&s(&junk), "--postal-key", &key]);
    assert_eq!(code, 20, "{text}");
    assert_eq!(verify(&["not-a-file-and-not-hex", "--postal-key", &key]).0, 20);
    // A readable PNG with no symbol in it.
    let white = dir.join("white.png");
    let mut enc_out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut enc_out, 200, 200);
        enc.set_color(png::ColorType::Grayscale);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[255u8; 200 * 200]).unwrap();
    }
    std::fs::write(&white, enc_out).unwrap();
    let (code, text) = verify(&[&s(&white), "--postal-key", &key]);
    assert_eq!(code, 21, "{text}");
    let _ = std::fs::remove_dir_all(dir);
}
