//! `pcmeter demo`: personalize a fresh simulated meter, activate it, print
//! three indicia as meter imprints (the Data Matrix beside the postage,
//! date, origin, meter ID and piece count) to PNG and SVG, and the three on
//! one A4 label sheet as a PDF; verify them offline, show the registers.

use crate::label::sheet::{Sheet, sheet_pdf};
use crate::label::{Imprint, LabelError, raster, svg};
use crate::simulated::{AuthorityKeys, FixtureError, Options, operational};
use apdu_specs::date::yyyymmdd_from_unix;
use apdu_specs::indicium::IndiciumBody;
use apdu_specs::mailpiece::{MailPiece, postcode};
use apdu_specs::registers::Registers;
use apdu_specs::service::Service;
use card_sim::SimClock;
use host_driver::MeterError;
use host_driver::verify::{IndiciumKey, VerifyError, verify_audit_chain, verify_indicium};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One printed indicium.
#[derive(Debug, Clone)]
pub struct Printed {
    /// Raw indicium bytes.
    pub bytes: Vec<u8>,
    /// Verified fields.
    pub body: IndiciumBody,
    /// The imprint label as PNG.
    pub png: PathBuf,
    /// The imprint label as SVG.
    pub svg: PathBuf,
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Indicia printed and verified.
    pub printed: Vec<Printed>,
    /// The three imprints on one A4 label sheet (vector PDF).
    pub pdf: PathBuf,
    /// Registers at the end.
    pub registers: Registers,
    /// Human-readable transcript.
    pub text: String,
}

/// Demo failures.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Building the meter failed.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    /// A meter call failed.
    #[error(transparent)]
    Meter(#[from] MeterError),
    /// Keys could not be generated.
    #[error(transparent)]
    Keys(#[from] authority::KeyError),
    /// Offline verification failed.
    #[error("offline verification failed: {0}")]
    Verify(#[from] VerifyError),
    /// Rendering a label failed.
    #[error(transparent)]
    Label(#[from] LabelError),
    /// Output files.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Formats minor units with the currency exponent.
pub fn money(amount: u64, currency: &[u8; 3], exponent: u8) -> String {
    let cur = String::from_utf8_lossy(currency);
    if exponent == 0 {
        return format!("{cur} {amount}");
    }
    let div = 10u64.pow(u32::from(exponent));
    format!("{cur} {}.{:0width$}", amount / div, amount % div, width = usize::from(exponent))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    std::fs::write(path, bytes).map_err(|e| DemoError::Io(path.to_path_buf(), e))
}

/// Runs the demo, writing images into `out`.
pub fn run(out: &Path, hmac_variant: bool) -> Result<Report, DemoError> {
    std::fs::create_dir_all(out).map_err(|e| DemoError::Io(out.to_path_buf(), e))?;
    let mut t = String::new();
    let now = SimClock::System.now().unwrap_or(0);
    let keys = AuthorityKeys::generate()?;
    let mut opts = Options::at(now, 5_000);
    opts.profile.meter_id = String::from("PCM-DEMO-001");
    opts.profile.hmac_variant = hmac_variant;
    opts.clock = SimClock::System;

    let _ = writeln!(t, "PCMeter demo: a postage meter on a simulated smart card\n");
    let _ = writeln!(t, "1. Authority    generated issuer, authority and CA keys (ECDSA P-256)");
    let _ = writeln!(
        t,
        "                signed rate table v1: 3 postage classes, a fee for each of 11 certificate services"
    );
    let mut sim = operational(&keys, &opts)?;
    let m = &mut sim.meter;
    let fci = m.fci().cloned();
    let status = m.run(|tx| tx.status())?;
    let (cur, exp) = (status.currency, status.exponent);
    let serial = fci.as_ref().map(|f| f.card_serial.to_string()).unwrap_or_default();
    let _ =
        writeln!(t, "2. Card         manufactured with the issuer key and serial {serial}; SELECT answered the FCI");
    let _ = writeln!(
        t,
        "3. Personalize  meter {} loaded by STORE DATA (profile signed for card {serial} only, valid {} days); \
PIN set; test credit {}",
        fci.as_ref().and_then(|f| f.meter_id).map(|id| String::from_utf8_lossy(&id).into_owned()).unwrap_or_default(),
        opts.profile.valid_for / 86_400,
        money(opts.profile.initial_credit, &cur, exp)
    );
    let _ = writeln!(
        t,
        "4. Activate     PIN verified, ACTIVATE: lifecycle {}; indicia signed with {}",
        status.lifecycle.name(),
        if hmac_variant { "HMAC-SHA-256 (claim 21 variant)" } else { "ECDSA P-256" }
    );

    m.run(|tx| tx.verify_pin(&sim.pin))?;
    let keys_on_card = m.run(|tx| tx.public_keys())?;
    let mac_key = keys.mac_master.diversify(&fci.and_then(|f| f.meter_id).unwrap_or([b' '; 12]));
    let date = yyyymmdd_from_unix(now);
    let pieces = [
        (1u8, 20u32, "letter", "10001", "94105"),
        (2, 90, "large envelope", "10001", "60601"),
        (3, 400, "parcel", "10001", "73301"),
    ];
    let _ = writeln!(t, "5. Indicia      each priced by the card, debited and committed before it was signed");
    let mut printed = Vec::new();
    let mut imprints = Vec::new();
    for (i, (class, grams, label, from, to)) in pieces.into_iter().enumerate() {
        let piece = MailPiece {
            rate_class: class,
            weight_grams: grams,
            date,
            origin: postcode(from).unwrap_or([b' '; 5]),
            destination: postcode(to).unwrap_or([b' '; 5]),
        };
        let bytes = m.run(|tx| tx.print_indicium(&piece))?;
        let key = match &keys_on_card.postal {
            Some(k) => IndiciumKey::Ecdsa(k),
            None => IndiciumKey::Mac(&mac_key),
        };
        let body = verify_indicium(&bytes, key)?;
        let imprint = Imprint::new(&bytes, cur, exp)?;
        let png = out.join(format!("imprint-{}.png", i + 1));
        let svg_file = out.join(format!("imprint-{}.svg", i + 1));
        write(&png, &raster::label_png(&imprint)?)?;
        write(&svg_file, svg::label_svg(&imprint)?.as_bytes())?;
        imprints.push(imprint);
        let _ = writeln!(
            t,
            "   #{}  class {} {:<15} {:>5} g  {:>10}  piece {}  -> {}  verified offline",
            i + 1,
            class,
            label,
            grams,
            money(u64::from(body.postage), &cur, exp),
            body.piece_count,
            png.display()
        );
        printed.push(Printed { bytes, body, png, svg: svg_file });
    }
    let pdf = out.join("imprints.pdf");
    write(&pdf, &sheet_pdf(&imprints, Sheet::A4)?)?;
    let _ = writeln!(t, "   the three imprints on an A4 label sheet -> {} (vector Data Matrix)", pdf.display());
    let regs = m.run(|tx| tx.registers())?;
    let _ = writeln!(t, "6. Registers");
    let row = |name: &str, v: String| format!("   | {name:<37} | {v:>14} |\n");
    let rule = format!("   +{}+{}+\n", "-".repeat(39), "-".repeat(16));
    t.push_str(&rule);
    t.push_str(&row("AR_p   postage ascending register", money(regs.ar_postage, &cur, exp)));
    t.push_str(&row("AR_c   certificate services register", money(regs.ar_certificates, &cur, exp)));
    t.push_str(&row("DR     descending register (funds)", money(regs.descending, &cur, exp)));
    t.push_str(&row("CT     control total", money(regs.control_total, &cur, exp)));
    t.push_str(&row("debt   revocation fees owed", money(regs.debt, &cur, exp)));
    t.push_str(&row("postage pieces", regs.count(Service::Postage).to_string()));
    t.push_str(&row("recharges (NT)", regs.recharge_seq.to_string()));
    t.push_str(&rule);
    let _ = writeln!(t, "   AR_p + AR_c + DR == CT: {}", if regs.balanced() { "holds" } else { "VIOLATED" });
    let (head, records) = m.run(|tx| tx.audit_log())?;
    verify_audit_chain(&head, &records)?;
    let _ = writeln!(
        t,
        "   audit log: {} hash-chained records, chain verified, head {}",
        head.records,
        hex::encode(&head.hash[..8])
    );
    Ok(Report { printed, pdf, registers: regs, text: t })
}
