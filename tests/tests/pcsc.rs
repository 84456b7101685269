//! Through the real PC/SC stack: pcscd + vsmartcard's vpcd driver + the
//! simulated card. The typed-API suite runs again here, the transcript
//! vectors replay through a real reader, and clients nobody here wrote
//! (opensc-tool, scriptor) talk to the meter. Tests hold the slot lock:
//! only one virtual card fits the reader.

use apdu_specs::Service;
use host_driver::transport::{CardTransaction, Transport};
use host_driver::{Meter, Pin};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::pcsc_rig::{PcscRig, READER, slot};
use testkit::suite;

fn with_rig(f: impl FnOnce(&mut PcscRig)) {
    let _slot = slot();
    let mut rig = PcscRig::start();
    f(&mut rig);
}

// The whole typed-API suite, a second time, through pcscd + vpcd.
testkit::suite_tests!(PcscRig, with_rig);

#[test]
fn transcript_vectors_pass_through_a_real_reader() {
    with_rig(|rig| {
        let vf = testkit::foundation_vectors();
        for t in &vf.transcripts {
            rig.plug(testkit::vector_card(&vf));
            let mut transport = rig.transport();
            let lineage = vf.lineage(&t.name);
            for (i, tr) in lineage.iter().enumerate() {
                if i > 0 {
                    rig.remove_card_and_reinsert();
                    transport.reconnect().unwrap();
                }
                for step in &tr.steps {
                    let r = transport.begin().unwrap().transmit(&step.capdu).unwrap();
                    assert!(step.expect.matches(&r), "{} line {}: got {}", tr.name, step.line, hex::encode_upper(&r));
                }
            }
        }
    });
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd} is installed: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd} {args:?} failed:\n{text}");
    text
}

#[test]
fn opensc_tool_reads_the_atr_and_the_status() {
    with_rig(|rig| {
        let vf = testkit::foundation_vectors();
        rig.plug(testkit::vector_card(&vf));
        let atr = run("opensc-tool", &["-r", "0", "-a"]);
        let expected: Vec<String> = card_sim::sim::atr().iter().map(|b| format!("{b:02x}")).collect();
        assert!(atr.contains(&expected.join(":")), "ATR: {atr}");
        let select = hex::encode_upper(testkit::select_apdu());
        let out = run("opensc-tool", &["-r", "0", "-s", &select, "-s", "00CADF2100"]);
        assert_eq!(out.matches("SW1=0x90, SW2=0x00").count(), 2, "{out}");
        // The documented status layout: lifecycle 03 (PERSONALIZATION) first.
        assert!(out.contains("Received (SW1=0x90, SW2=0x00):\n03 00 00 00 00"), "{out}");
    });
}

/// The scriptor script kept in apdu-specs, generated from the vectors.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../apdu-specs/vectors/scriptor/blank-card.script");

/// The script and its expected SWs: the opening steps of the `personalize`
/// transcript, up to the first STORE DATA.
fn script_from_vectors() -> (String, Vec<String>) {
    let vf = testkit::foundation_vectors();
    let t = vf.transcript("personalize").unwrap();
    let mut text = String::from(
        "# Generated from apdu-specs/vectors/foundation.apdu (transcript `personalize`).\n# Run: scriptor -r \"Virtual PCD 00 00\" blank-card.script\n",
    );
    let mut sws = Vec::new();
    for step in t.steps.iter().take_while(|s| s.capdu.get(1) != Some(&0xE2)) {
        let hexed: Vec<String> = step.capdu.iter().map(|b| format!("{b:02X}")).collect();
        text.push_str(&hexed.join(" "));
        text.push('\n');
        sws.push(format!("{:04X}", step.expect.exact_sw().unwrap()));
    }
    (text, sws)
}

#[test]
fn scriptor_runs_the_kept_script_with_the_expected_status_words() {
    let (text, sws) = script_from_vectors();
    if std::env::var_os("PCMETER_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(SCRIPT).parent().unwrap()).unwrap();
        std::fs::write(SCRIPT, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(SCRIPT).unwrap(),
        text,
        "script is stale: PCMETER_WRITE_VECTORS=1 cargo test -p tests --test pcsc scriptor"
    );
    with_rig(|rig| {
        let vf = testkit::foundation_vectors();
        rig.plug(testkit::vector_card(&vf));
        let out = run("scriptor", &["-r", READER, SCRIPT]);
        // A response may span lines; its status word ends the line that carries " : meaning".
        let got: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(" : "))
            .map(|l| {
                let bytes: Vec<&str> =
                    l.split(" : ").next().unwrap().trim_start_matches("< ").split_whitespace().collect();
                bytes[bytes.len() - 2..].concat()
            })
            .collect();
        assert_eq!(got, sws, "scriptor output:\n{out}");
    });
}

#[test]
fn a_round_trip_through_pcscd_takes_less_than_5_ms() {
    with_rig(|rig| {
        let vf = testkit::foundation_vectors();
        rig.plug(testkit::vector_card(&vf));
        let mut transport = rig.transport();
        let mut tx = transport.begin().unwrap();
        tx.transmit(&testkit::select_apdu()).unwrap();
        let mut times = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let r = tx.transmit(&[0x00, 0xCA, 0xDF, 0x21, 0x00]).unwrap();
            times.push(t.elapsed());
            assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
        }
        times.sort();
        let median = times[times.len() / 2];
        println!("median GET DATA round trip through pcscd: {median:?}");
        assert!(median < Duration::from_millis(5), "median round trip {median:?}: is TCP_QUICKACK re-armed?");
    });
}

#[test]
fn two_clients_in_transactions_never_interleave_and_every_indicium_counts_once() {
    with_rig(|rig| {
        let up = suite::up(rig, 1_000_000, |_| {});
        let pin_digits = "123456";
        drop(up.meter);
        let per_client = 10;
        // A client that ends its session resets the card: both finish before either ends.
        let finished = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let finished = std::sync::Arc::clone(&finished);
                std::thread::spawn(move || {
                    let mut meter =
                        Meter::connect(host_driver::transport::pcsc::PcscTransport::connect(READER, false).unwrap())
                            .unwrap();
                    let pin = Pin::new(pin_digits).unwrap();
                    let mut printed = 0u32;
                    for _ in 0..per_client {
                        let mut s = meter.transaction().unwrap();
                        s.verify_pin(&pin).unwrap();
                        let before = s.registers().unwrap().count(Service::Postage);
                        for _ in 0..3 {
                            s.print_indicium(&testkit::piece(1, 20)).unwrap();
                            printed += 1;
                        }
                        let after = s.registers().unwrap().count(Service::Postage);
                        assert_eq!(after - before, 3, "another client's APDUs interleaved inside a transaction");
                        s.logout().unwrap();
                    }
                    finished.wait();
                    printed
                })
            })
            .collect();
        let total: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let mut meter = Meter::connect(rig.transport()).unwrap();
        let regs = meter.run(|tx| tx.registers()).unwrap();
        assert_eq!(regs.count(Service::Postage), total);
        assert_eq!(regs.ar_postage, u64::from(total) * 73);
        assert!(regs.balanced());
    });
}

#[test]
fn the_cli_lists_readers_and_prints_through_a_reader() {
    let pcmeter = testkit::workspace_bin("pcmeter", "pcmeter");
    with_rig(|rig| {
        let up = suite::up(rig, 10_000, |o| o.profile.meter_id = String::from("PCM-CLI-0001"));
        drop(up.meter);
        let out = run(pcmeter.to_str().unwrap(), &["readers"]);
        assert!(out.contains("Virtual PCD 00 00: meter PCM-CLI-0001 (OPERATIONAL)"), "{out}");
        let out = run(pcmeter.to_str().unwrap(), &["--reader", READER, "status"]);
        assert!(out.contains("lifecycle        OPERATIONAL"), "{out}");
        let dir = std::env::temp_dir().join(format!("pcmeter-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("label.png");
        let out = Command::new(&pcmeter)
            .args([
                "--meter-id",
                "PCM-CLI-0001",
                "print",
                "--class",
                "1",
                "--weight",
                "20",
                "--from",
                "10001",
                "--to",
                "94105",
            ])
            .args(["--date", &testkit::FIXTURE_DATE.to_string(), "--out"])
            .arg(&png)
            .env("PCMETER_PIN", "123456")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed = hex::decode(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
        assert_eq!(printed.len(), 124);
        let decoded = Command::new("dmtxread").arg(&png).output().unwrap();
        assert_eq!(decoded.stdout, printed);
        let out = run(pcmeter.to_str().unwrap(), &["--reader", READER, "status"]);
        let ar_p = out.lines().find(|l| l.contains("AR_p")).unwrap_or_default();
        assert!(ar_p.contains("USD 0.73") && out.contains("AR_p + AR_c + DR == CT: holds"), "{out}");
        std::fs::remove_dir_all(&dir).ok();
    });
}
