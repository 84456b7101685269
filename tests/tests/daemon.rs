//! The real `pcmeter-card` process under pcscd: personalized over PC/SC, it
//! keeps its state across a clean SIGTERM restart, keeps the image at mode
//! 0600, reconnects when pcscd restarts, and refuses bad state paths clearly.

use apdu_specs::{Lifecycle, Service};
use host_driver::Meter;
use pcmeter::simulated::{AuthorityKeys, Options, bring_up};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::pcsc_rig::{PcscRig, slot};

fn daemon_bin() -> PathBuf {
    testkit::workspace_bin("card-sim", "pcmeter-card")
}

fn start(state: &Path, issuer: Option<&[u8; 65]>) -> Child {
    let mut cmd = Command::new(daemon_bin());
    cmd.arg("--state").arg(state).args(["--fixed-time", &testkit::FIXTURE_TIME.to_string(), "--log", "warn"]);
    if let Some(k) = issuer {
        cmd.args(["--issuer-key", &hex::encode(k)]);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn terminate(mut child: Child) {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "pcmeter-card exited with {status}");
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "pcmeter-card did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_daemon_keeps_its_state_across_restarts_and_pcscd_restarts() {
    let _slot = slot();
    let dir = std::env::temp_dir().join(format!("pcmeter-daemon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("card.img");
    let keys = AuthorityKeys::from_seed("daemon");
    let opts = Options::at(testkit::FIXTURE_TIME, 10_000);

    let mut rig = PcscRig::start();
    let daemon = start(&state, Some(&keys.issuer.public()));
    rig.wait_card(true);
    let mut meter = Meter::connect(rig.transport()).unwrap();
    let up = bring_up(&mut meter, &keys, &opts).unwrap();
    meter.run(|tx| tx.verify_pin(&up.pin)).unwrap();
    meter.run(|tx| tx.print_indicium(&testkit::piece(1, 20))).unwrap();
    meter.run(|tx| tx.print_indicium(&testkit::piece(2, 20))).unwrap();
    drop(meter);
    terminate(daemon);
    rig.wait_card(false);
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);

    // Restart from the state file: same meter, same money.
    let daemon = start(&state, None);
    rig.wait_card(true);
    let mut meter = Meter::connect(rig.transport()).unwrap();
    let regs = meter.run(|tx| tx.registers()).unwrap();
    assert_eq!((regs.count(Service::Postage), regs.ar_postage), (2, 73 + 150));
    assert_eq!(meter.run(|tx| tx.status()).unwrap().lifecycle, Lifecycle::Operational);
    drop(meter);

    // pcscd restarts: the card reconnects by itself.
    rig.restart_pcscd();
    rig.wait_card(true);
    let mut meter = Meter::connect(rig.transport()).unwrap();
    assert!(meter.run(|tx| tx.registers()).unwrap().balanced());
    drop(meter);
    terminate(daemon);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_state_paths_are_refused_with_the_path_named() {
    let dir = std::env::temp_dir().join(format!("pcmeter-badstate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.img");
    std::fs::write(&corrupt, vec![0x5Au8; 200]).unwrap();
    let old = dir.join("future.img");
    let mut future = b"PCMJRNL1".to_vec();
    future.extend_from_slice(&99u16.to_be_bytes());
    future.extend_from_slice(&[0u8; 8]);
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&future);
    future.extend_from_slice(&digest);
    future.resize(128, 0);
    std::fs::write(&old, future).unwrap();
    let truncated = dir.join("truncated.img");
    std::fs::write(&truncated, b"PCMJRNL1\x00\x01").unwrap();
    for (path, needle) in [
        (dir.join("missing/card.img"), "directory does not exist"),
        (corrupt.clone(), "not a PCMeter card journal"),
        (old.clone(), "unsupported journal format version 99"),
        (truncated.clone(), "truncated journal header"),
    ] {
        let out = Command::new(daemon_bin())
            .arg("--state")
            .arg(&path)
            .args(["--issuer-key", &"04".repeat(65)])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(&path.display().to_string()) && err.contains(needle), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Sends one raw APDU to the card in the virtual reader over a fresh PC/SC connection.
fn transmit_once(apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    let reader = std::ffi::CString::new(testkit::pcsc_rig::READER).expect("reader name");
    let card = ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let answer = card.transmit(apdu, &mut buf).map(<[u8]>::to_vec);
    let _ = card.disconnect(pcsc::Disposition::LeaveCard);
    answer
}

/// Attack (robustness): an APDU longer than a vpcd frame (65,535 bytes) makes
/// pcscd's vpcd driver drop the card's connection while pcscd keeps running.
/// The card must be back in the reader, answering SELECT, within one second.
#[test]
fn an_apdu_too_long_for_vpcd_does_not_knock_the_card_out() {
    let _slot = slot();
    let dir = std::env::temp_dir().join(format!("pcmeter-oversize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = AuthorityKeys::from_seed("oversize");
    let rig = PcscRig::start();
    let daemon = KillOnDrop(Some(start(&dir.join("card.pcmj"), Some(&keys.issuer.public()))));
    rig.wait_card(true);
    assert!(transmit_once(&testkit::select_apdu()).unwrap().ends_with(&[0x90, 0x00]));

    // Extended case 3 with 65,535 data bytes: 65,542 bytes, more than a vpcd frame holds.
    let mut oversize = vec![0x00, 0xDA, 0x00, 0x00, 0x00, 0xFF, 0xFF];
    oversize.resize(7 + 0xFFFF, 0x5A);
    assert!(transmit_once(&oversize).is_err(), "vpcd cannot carry this APDU");
    let refused = Instant::now();
    let mut last: String;
    loop {
        match transmit_once(&testkit::select_apdu()) {
            Ok(r) if r.ends_with(&[0x90, 0x00]) => break,
            Ok(r) => last = hex::encode_upper(r),
            Err(e) => last = e.to_string(),
        }
        assert!(refused.elapsed() < Duration::from_secs(1), "no card answering SELECT after 1 s: {last}");
        std::thread::sleep(Duration::from_millis(20));
    }
    terminate(daemon.take());
    std::fs::remove_dir_all(&dir).ok();
}

/// Kills the daemon if a test fails before stopping it, so that no card is left serving vpcd.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn take(mut self) -> Child {
        self.0.take().expect("the daemon is still owned")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Attack (or operator error): a second daemon on the state file a running
/// daemon owns would fork the card (two cards spending one set of
/// registers). It is refused, with the path named; once the owner stops,
/// the file can be served again. No pcscd is needed: both daemons point at a
/// dead vpcd port.
#[test]
fn second_daemon_on_one_state_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("pcmeter-twice-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("card.pcmj");
    let keys = AuthorityKeys::from_seed("twice");
    let spawn = |issuer: bool| {
        let mut cmd = Command::new(daemon_bin());
        cmd.arg("--state").arg(&state).args(["--vpcd", "127.0.0.1:9", "--log", "warn"]);
        if issuer {
            cmd.args(["--issuer-key", &hex::encode(keys.issuer.public())]);
        }
        KillOnDrop(Some(cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()))
    };
    let first = spawn(true);
    let start = Instant::now();
    while !state.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "the first daemon creates the state file");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut second = spawn(true);
    let start = Instant::now();
    while second.0.as_mut().unwrap().try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(5), "the second daemon serves the same file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = second.take().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&state.display().to_string()) && err.contains("in use by another process"), "{err}");

    terminate(first.take());
    let again = spawn(false);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = again.take();
    assert!(again.try_wait().unwrap().is_none(), "once the owner stopped, the file is served again");
    terminate(again);
    std::fs::remove_dir_all(&dir).ok();
}
