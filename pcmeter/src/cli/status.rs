//! Read-only commands: `readers`, `status`, `audit-log`, `rates show`, `keys`.

use super::error::{CliError, CliResult};
use super::meter::{AnyTransport, CliMeter, session};
use super::output::{Report, rfc3339};
use apdu_specs::audit::Event;
use apdu_specs::certs::{SLOT_COUNT, SlotInfo, SlotState};
use apdu_specs::registers::flags;
use apdu_specs::service::Service;
use apdu_specs::x509::Certificate;
use host_driver::transport::pcsc::survey;
use host_driver::verify::verify_audit_chain;
use host_driver::{MeterError, Transaction, Transport as _};
use pcmeter::demo::money;
use serde::Serialize;
use std::fmt::Write as _;

/// One slot as `status` and `keys` show it.
#[derive(Serialize)]
pub struct SlotView {
    slot: u8,
    state: &'static str,
    usage: Option<&'static str>,
    public_key: Option<String>,
    certificate: Option<CertificateView>,
}

#[derive(Serialize)]
struct CertificateView {
    serial: String,
    not_before: String,
    not_after: String,
}

fn state_name(s: SlotState) -> &'static str {
    match s {
        SlotState::Empty => "empty",
        SlotState::Key => "key",
        SlotState::Certified => "certified",
        SlotState::Revoked => "revoked",
    }
}

impl SlotView {
    fn of(info: &SlotInfo) -> Self {
        let certificate =
            info.certificate.as_deref().and_then(|der| Certificate::parse(der).ok()).map(|c| CertificateView {
                serial: hex::encode_upper(&c.serial),
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
            });
        Self {
            slot: info.slot,
            state: state_name(info.state),
            usage: info.usage.map(|u| u.name()),
            public_key: info.public_key.map(hex::encode_upper),
            certificate,
        }
    }

    fn line(&self) -> String {
        let cert = self
            .certificate
            .as_ref()
            .map(|c| format!("certificate {} until {}", c.serial, c.not_after))
            .unwrap_or_default();
        format!("  {:<4} {:<10} {:<12} {cert}\n", self.slot, self.state, self.usage.unwrap_or("-"))
    }
}

/// Reads every slot.
pub fn read_slots(tx: &mut Transaction<'_, AnyTransport>) -> Result<Vec<SlotInfo>, MeterError> {
    (0..SLOT_COUNT).map(|slot| tx.read_slot(slot)).collect()
}

/// `readers`.
pub fn readers() -> CliResult<Report> {
    #[derive(Serialize)]
    struct Reader {
        reader: String,
        meter_id: Option<String>,
        lifecycle: Option<&'static str>,
        error: Option<String>,
    }
    let all: Vec<Reader> = survey()
        .map_err(MeterError::from)?
        .into_iter()
        .map(|r| Reader {
            meter_id: r.meter.as_ref().and_then(|f| f.meter_id).map(|id| text(&id)),
            lifecycle: r.meter.as_ref().map(|f| f.lifecycle.name()),
            error: r.error,
            reader: r.reader,
        })
        .collect();
    let mut t = String::new();
    if all.is_empty() {
        t.push_str("no readers\n");
    }
    for r in &all {
        let _ = match (&r.meter_id, r.lifecycle, &r.error) {
            (Some(id), Some(l), _) => writeln!(t, "{}: meter {id} ({l})", r.reader),
            (None, Some(l), _) => writeln!(t, "{}: meter not personalized ({l})", r.reader),
            (_, _, Some(e)) => writeln!(t, "{}: {e}", r.reader),
            _ => writeln!(t, "{}: no meter", r.reader),
        };
    }
    Report::new(&serde_json::json!({ "readers": all }), t)
}

fn text(id: &[u8]) -> String {
    String::from_utf8_lossy(id).trim_end().to_owned()
}

/// `status`: registers as a table, lifecycle, deadline, slots and certificates, rate-table version.
pub fn status(meter: &mut CliMeter) -> CliResult<Report> {
    let (status, regs, slots) = session(meter, |tx| Ok((tx.status()?, tx.registers()?, read_slots(tx)?)))?;
    let fci = meter.fci().cloned().ok_or_else(|| CliError::new(super::error::Exit::Failure, "no FCI"))?;
    let (cur, exp) = (&status.currency, status.exponent);
    let m = |v: u64| money(v, cur, exp);
    let slots: Vec<SlotView> = slots.iter().map(SlotView::of).collect();
    let flag_names: Vec<&str> = [
        (flags::TAMPERED, "tampered"),
        (flags::LOCKED_INSPECTION, "locked-inspection"),
        (flags::LOCKED_REGISTERS, "locked-registers"),
        (flags::LOCKED_AUTHORITY, "locked-authority"),
    ]
    .into_iter()
    .filter(|(bit, _)| status.flags & bit != 0)
    .map(|(_, name)| name)
    .collect();
    let counts: serde_json::Map<String, serde_json::Value> =
        Service::ALL.iter().map(|s| (s.name().to_owned(), regs.count(*s).into())).collect();
    let data = serde_json::json!({
        "meter_id": fci.meter_id.map(|id| text(&id)),
        "card_serial": fci.card_serial.to_string(),
        "reader": meter.transport_mut().reader_name(),
        "lifecycle": status.lifecycle.name(),
        "flags": flag_names,
        "pin_tries": status.pin_tries,
        "puk_tries": status.puk_tries,
        "card_time": rfc3339(status.time),
        "inspection_deadline": rfc3339(status.inspection_deadline),
        "rate_table_version": status.rate_table_version,
        "currency": String::from_utf8_lossy(cur),
        "exponent": exp,
        "registers": {
            "ar_postage": regs.ar_postage,
            "ar_certificates": regs.ar_certificates,
            "descending": regs.descending,
            "control_total": regs.control_total,
            "debt": regs.debt,
            "recharges": regs.recharge_seq,
            "postmark_serial": regs.postmark_serial,
            "balanced": regs.balanced(),
        },
        "counts": counts,
        "audit_records": status.audit_records,
        "slots": slots,
    });
    let mut t = String::new();
    let _ = writeln!(t, "meter            {}", fci.meter_id.map(|id| text(&id)).unwrap_or_default());
    let _ = writeln!(t, "card serial      {}", fci.card_serial);
    let _ = writeln!(t, "lifecycle        {}{}", status.lifecycle.name(), flag_suffix(&flag_names));
    let _ = writeln!(t, "PIN tries left   {} (PUK {})", status.pin_tries, status.puk_tries);
    let _ = writeln!(t, "card time        {}", rfc3339(status.time));
    let _ = writeln!(t, "next inspection  {}", rfc3339(status.inspection_deadline));
    let _ = writeln!(t, "rate table       v{} ({})", status.rate_table_version, String::from_utf8_lossy(cur));
    let rule = format!("+{}+{}+\n", "-".repeat(39), "-".repeat(16));
    let row = |t: &mut String, name: &str, v: String| {
        let _ = writeln!(t, "| {name:<37} | {v:>14} |");
    };
    t.push_str(&rule);
    row(&mut t, "AR_p   postage ascending register", m(regs.ar_postage));
    row(&mut t, "AR_c   certificate services register", m(regs.ar_certificates));
    row(&mut t, "DR     descending register (funds)", m(regs.descending));
    row(&mut t, "CT     control total", m(regs.control_total));
    row(&mut t, "debt   revocation fees owed", m(regs.debt));
    row(&mut t, "postage pieces", regs.count(Service::Postage).to_string());
    row(&mut t, "postmarks", regs.count(Service::Postmark).to_string());
    row(&mut t, "recharges (NT)", regs.recharge_seq.to_string());
    t.push_str(&rule);
    let _ = writeln!(t, "AR_p + AR_c + DR == CT: {}", if regs.balanced() { "holds" } else { "VIOLATED" });
    let _ = writeln!(t, "slots");
    for s in slots.iter().filter(|s| s.state != "empty") {
        t.push_str(&s.line());
    }
    Report::new(&data, t)
}

fn flag_suffix(names: &[&str]) -> String {
    if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) }
}

/// `audit-log`: every record, and the chain verified against the head.
pub fn audit_log(meter: &mut CliMeter) -> CliResult<Report> {
    let (head, records) = session(meter, |tx| tx.audit_log())?;
    verify_audit_chain(&head, &records).map_err(|e| CliError::invalid(format!("audit log: {e}")))?;
    let mut t = String::new();
    let rows: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let _ = writeln!(
                t,
                "#{:<5} {} {:<24} amount {:>8}  detail {}",
                r.seq,
                rfc3339(r.time),
                format!("{:?}", r.event),
                r.amount,
                hex::encode(r.detail)
            );
            let service = (r.event == Event::ServiceCharged)
                .then(|| Service::from_code(r.detail[0]).ok().map(Service::name))
                .flatten();
            serde_json::json!({
                "seq": r.seq,
                "time": rfc3339(r.time),
                "event": format!("{:?}", r.event),
                "service": service,
                "amount": r.amount,
                "detail": hex::encode_upper(r.detail),
            })
        })
        .collect();
    let _ = writeln!(t, "{} records, chain verified, head {}", head.records, hex::encode(head.hash));
    let data = serde_json::json!({
        "records": rows,
        "head": { "records": head.records, "oldest": head.oldest, "hash": hex::encode_upper(head.hash) },
        "chain_verified": true,
    });
    Report::new(&data, t)
}

/// `rates show`: the rate table in force.
pub fn rates_show(meter: &mut CliMeter) -> CliResult<Report> {
    let table = session(meter, |tx| tx.rate_table())?.table;
    let m = |v: u32| money(u64::from(v), &table.currency, table.exponent);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "rate table v{} ({}), effective {}",
        table.version,
        String::from_utf8_lossy(&table.currency),
        rfc3339(table.effective_from)
    );
    let classes: Vec<serde_json::Value> = table
        .classes
        .iter()
        .map(|c| {
            let _ = writeln!(t, "class {}", c.id);
            let breaks: Vec<serde_json::Value> = c
                .breaks
                .iter()
                .map(|b| {
                    let _ = writeln!(t, "  up to {:>5} g  {:>12}", b.max_grams, m(b.price));
                    serde_json::json!({ "max_grams": b.max_grams, "price": b.price })
                })
                .collect();
            serde_json::json!({ "class": c.id, "breaks": breaks })
        })
        .collect();
    let _ = writeln!(t, "service fees");
    let fees: serde_json::Map<String, serde_json::Value> = Service::fee_services()
        .map(|s| {
            let _ = writeln!(t, "  {:<26} {:>12}", s.name(), m(table.fee(s)));
            (s.name().to_owned(), table.fee(s).into())
        })
        .collect();
    let data = serde_json::json!({
        "version": table.version,
        "effective_from": rfc3339(table.effective_from),
        "currency": String::from_utf8_lossy(&table.currency),
        "exponent": table.exponent,
        "classes": classes,
        "fees": fees,
    });
    Report::new(&data, t)
}

/// `keys`: every slot.
pub fn keys(meter: &mut CliMeter) -> CliResult<Report> {
    let slots: Vec<SlotView> = session(meter, read_slots)?.iter().map(SlotView::of).collect();
    let mut t = String::from("  slot state      usage\n");
    for s in &slots {
        t.push_str(&s.line());
    }
    Report::new(&serde_json::json!({ "slots": slots }), t)
}
