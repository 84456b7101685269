//! A verified PIN never outlives the host session that verified it (review
//! item 3). Through pcscd with the real `pcmeter-card` daemon: after the real
//! `pcmeter print` CLI exits, successfully or with an error, another PC/SC
//! client that sends PRINT INDICIUM or SIGN DATA, with or without SELECT, is
//! refused (6985 without SELECT, 6982 with it) and nothing is charged. A
//! client SIGKILLed while it holds its verified transaction leaves nothing
//! either: pcscd resets the card for a client that dies holding it.

use apdu_specs::Service;
use apdu_specs::commands::{CLA_PROPRIETARY, ins};
use apdu_specs::sw::Sw;
use apdu_specs::x509::Usage;
use host_driver::Meter;
use pcmeter::simulated::{AuthorityKeys, Options, bring_up};
use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use testkit::pcsc_rig::{PcscRig, READER, slot};
use testkit::pki::{self, slots};

const METER_ID: &str = "PCM-SESSN-01";
const PIN: &str = "123456";

/// The real `pcmeter-card` daemon, stopped with SIGTERM when dropped (a failing test included).
struct Daemon(Child);

impl Daemon {
    fn start(state: &Path, issuer: &[u8; 65]) -> Self {
        let child = Command::new(testkit::workspace_bin("card-sim", "pcmeter-card"))
            .arg("--state")
            .arg(state)
            .args(["--fixed-time", &testkit::FIXTURE_TIME.to_string(), "--log", "warn"])
            .args(["--issuer-key", &hex::encode(issuer)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pcmeter-card starts");
        Self(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// A child process killed with SIGKILL when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `pcmeter print` for a class-`class` piece with the PIN in the environment.
fn cli_print(pcmeter: &Path, out: &Path, class: u8, extra: &[&str]) -> Output {
    Command::new(pcmeter)
        .args(["--reader", READER, "print", "--class", &class.to_string(), "--weight", "20"])
        .args(["--from", "10001", "--to", "94105", "--date", &testkit::FIXTURE_DATE.to_string(), "--out"])
        .arg(out)
        .args(extra)
        .env("PCMETER_PIN", PIN)
        .output()
        .expect("pcmeter runs")
}

/// A second PC/SC client, written against pcsc directly: the attacker.
struct OtherClient {
    card: pcsc::Card,
}

impl OtherClient {
    fn connect() -> Self {
        let ctx = Context::establish(Scope::User).expect("context");
        let reader = std::ffi::CString::new(READER).expect("reader name");
        Self { card: ctx.connect(&reader, ShareMode::Shared, Protocols::ANY).expect("second client connects") }
    }

    fn send(&self, apdu: &[u8]) -> Sw {
        let mut buf = [0u8; 1024];
        let r = self.card.transmit(apdu, &mut buf).expect("transmit");
        Sw::from_response(r).expect("status word")
    }

    /// Leaves the card as it is, so the next probe sees what this one saw.
    fn leave(self) {
        self.card.disconnect(Disposition::LeaveCard).map_err(|(_, e)| e).expect("disconnect");
    }
}

fn sign_data_apdu() -> Vec<u8> {
    let mut a = vec![CLA_PROPRIETARY, ins::SIGN_DATA, 0x00, slots::SIGNATURE, 4];
    a.extend_from_slice(b"evil");
    a.push(0);
    a
}

/// The attack: value commands from another client, first without SELECT
/// (SELECT itself clears the verified state), then with it.
fn another_client_gets_nothing_for_free() {
    let attacker = OtherClient::connect();
    assert_eq!(attacker.send(&testkit::indicium_apdu(1, 20)), Sw::CONDITIONS_NOT_SATISFIED, "PRINT without SELECT");
    assert_eq!(attacker.send(&sign_data_apdu()), Sw::CONDITIONS_NOT_SATISFIED, "SIGN DATA without SELECT");
    assert_eq!(attacker.send(&testkit::select_apdu()), Sw::OK);
    assert_eq!(attacker.send(&testkit::indicium_apdu(1, 20)), Sw::SECURITY_STATUS_NOT_SATISFIED, "PRINT after SELECT");
    assert_eq!(attacker.send(&sign_data_apdu()), Sw::SECURITY_STATUS_NOT_SATISFIED, "SIGN DATA after SELECT");
    attacker.leave();
}

struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[test]
fn a_verified_pin_does_not_outlive_the_cli_session() {
    let pcmeter = testkit::workspace_bin("pcmeter", "pcmeter");
    let _slot = slot();
    let dir = Scratch(std::env::temp_dir().join(format!("pcmeter-session-end-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let keys = AuthorityKeys::from_seed("session-end");
    let mut opts = Options::at(testkit::FIXTURE_TIME, 100_000);
    opts.profile.meter_id = String::from(METER_ID);
    opts.profile.pin = String::from(PIN);

    let rig = PcscRig::start();
    let daemon = Daemon::start(&dir.0.join("card.pcmj"), &keys.issuer.public());
    rig.wait_card(true);

    // Set up: an operational meter with a certified signature slot, then logged out.
    let mut meter = Meter::connect(rig.transport()).unwrap();
    let up = bring_up(&mut meter, &keys, &opts).unwrap();
    let mut ca = pki::ca_for(&keys);
    pki::register(&mut ca, &mut meter);
    meter.run(|tx| tx.verify_pin(&up.pin)).unwrap();
    pki::certified(&mut meter, &mut ca, slots::SIGNATURE, Usage::Signature).unwrap();
    meter.run(|tx| tx.logout()).unwrap();
    let postal = meter.run(|tx| tx.public_keys()).unwrap().postal.unwrap();
    let start = meter.run(|tx| tx.registers()).unwrap();
    let start_head = meter.run(|tx| tx.audit_head()).unwrap();
    drop(meter);

    // 1. A successful print, checked against the postal key the user trusts.
    let key_file = dir.0.join("postal.hex");
    std::fs::write(&key_file, hex::encode(postal)).unwrap();
    let ok = cli_print(&pcmeter, &dir.0.join("a.png"), 1, &["--postal-key-file", key_file.to_str().unwrap()]);
    assert!(ok.status.success(), "pcmeter print: {}", String::from_utf8_lossy(&ok.stderr));
    another_client_gets_nothing_for_free();

    // 2. A print that fails after VERIFY (no such rate class).
    let failed = cli_print(&pcmeter, &dir.0.join("b.png"), 7, &[]);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    another_client_gets_nothing_for_free();

    // 3. A client killed (SIGKILL) while it holds its verified session: pcscd
    // resets the card for it, because it held the transaction.
    let mut holder = KillOnDrop(
        Command::new(testkit::workspace_bin("testkit", "pcsc-session-holder"))
            .env("PCMETER_PIN", PIN)
            .stdout(Stdio::piped())
            .spawn()
            .expect("holder starts"),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.0.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "verified");
    drop(holder);
    another_client_gets_nothing_for_free();

    // Exactly the one CLI piece was charged: the attacks changed nothing.
    let mut meter = Meter::connect(rig.transport()).unwrap();
    let end = meter.run(|tx| tx.registers()).unwrap();
    assert_eq!(end.count(Service::Postage), start.count(Service::Postage) + 1);
    assert_eq!(end.ar_postage, start.ar_postage + 73);
    assert_eq!((end.ar_certificates, end.count(Service::SignData)), (start.ar_certificates, 0));
    assert_eq!(end.descending + 73, start.descending);
    assert!(end.balanced());
    assert_eq!(meter.run(|tx| tx.audit_head()).unwrap().records, start_head.records + 1);
    drop(meter);
    drop(daemon);
    rig.wait_card(false);
}

/// Review item 14: `pcmeter print` checks the indicium against the key the
/// user trusts, never against a key read from the same card, and checks HMAC
/// indicia too. An indicium that does not verify is charged (the card has
/// committed) but no label is written, and the error says so.
#[test]
fn pcmeter_print_checks_the_indicium_against_the_key_the_user_trusts() {
    let pcmeter = testkit::workspace_bin("pcmeter", "pcmeter");
    let _slot = slot();
    let dir = Scratch(std::env::temp_dir().join(format!("pcmeter-print-trust-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut rig = PcscRig::start();

    // An ECDSA meter, and a postal key that is not this meter's.
    let up = testkit::suite::up(&mut rig, 10_000, |o| o.profile.pin = String::from(PIN));
    drop(up.meter);
    let foreign = {
        let mut sim = pcmeter::simulated::operational(
            &AuthorityKeys::from_seed("someone else"),
            &Options::at(testkit::FIXTURE_TIME, 0),
        )
        .unwrap();
        sim.meter.run(|tx| tx.public_keys()).unwrap().postal.unwrap()
    };
    let foreign_file = dir.0.join("foreign.hex");
    std::fs::write(&foreign_file, hex::encode(foreign)).unwrap();
    let label = dir.0.join("forged.png");
    let out = cli_print(&pcmeter, &label, 1, &["--postal-key-file", foreign_file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("does not verify") && err.contains("charged"), "{err}");
    assert!(!label.exists(), "no label for an indicium that does not verify");

    // An HMAC meter: its indicium is checked with the MAC key the user holds.
    let up = testkit::suite::up(&mut rig, 10_000, |o| {
        o.profile.pin = String::from(PIN);
        o.profile.hmac_variant = true;
        o.profile.meter_id = String::from("PCM-HMAC-CLI");
    });
    let mac = up.keys.mac_master.diversify(b"PCM-HMAC-CLI");
    drop(up.meter);
    let mac_file = dir.0.join("mac.hex");
    std::fs::write(&mac_file, hex::encode(mac)).unwrap();
    let label = dir.0.join("hmac.png");
    let out = cli_print(&pcmeter, &label, 1, &["--mac-key-file", mac_file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("verified against the key you gave"), "{err}");
    assert!(label.exists());
    let wrong_file = dir.0.join("wrong-mac.hex");
    std::fs::write(&wrong_file, hex::encode([9u8; 32])).unwrap();
    let out = cli_print(&pcmeter, &dir.0.join("wrong.png"), 1, &["--mac-key-file", wrong_file.to_str().unwrap()]);
    assert!(!out.status.success(), "a wrong MAC key must fail: {}", String::from_utf8_lossy(&out.stderr));
}
