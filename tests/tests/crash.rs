//! SIGKILL the real card process at random moments while a host prints
//! indicia through pcscd, 50 times, restarting it each time. Afterwards the
//! piece count equals the indicia the host received plus at most one per
//! kill that committed but never arrived; the registers balance; every
//! received indicium verifies and has its own piece number.

use apdu_specs::Service;
use host_driver::Meter;
use host_driver::verify::{IndiciumKey, verify_indicium};
use pcmeter::simulated::{AuthorityKeys, Options, bring_up};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testkit::pcsc_rig::{PcscRig, READER, slot};

const KILLS: usize = 50;

fn start(state: &Path, issuer: Option<&[u8; 65]>) -> Child {
    let mut cmd = Command::new(testkit::workspace_bin("card-sim", "pcmeter-card"));
    cmd.arg("--state").arg(state).args(["--fixed-time", &testkit::FIXTURE_TIME.to_string(), "--log", "error"]);
    if let Some(k) = issuer {
        cmd.args(["--issuer-key", &hex::encode(k)]);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

/// xorshift64*: reproducible with the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn connect(rig: &PcscRig, pin: &host_driver::Pin) -> Meter<host_driver::transport::pcsc::PcscTransport> {
    rig.wait_card(true);
    let mut meter =
        Meter::connect(host_driver::transport::pcsc::PcscTransport::connect(READER, false).unwrap()).unwrap();
    meter.run(|tx| tx.verify_pin(pin)).unwrap();
    meter
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_creates_nothing() {
    let _slot = slot();
    let seed = std::env::var("PCMETER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    println!("crash test seed {seed} (PCMETER_CRASH_SEED={seed} reproduces the kill delays)");
    let mut rng = Rng(seed);
    let dir = std::env::temp_dir().join(format!("pcmeter-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("card.pcmj");
    let keys = AuthorityKeys::from_seed("crash");
    let opts = Options::at(testkit::FIXTURE_TIME, 1_000_000_000);

    let rig = PcscRig::start();
    let mut daemon = start(&state, Some(&keys.issuer.public()));
    rig.wait_card(true);
    let mut meter = Meter::connect(rig.transport()).unwrap();
    let up = bring_up(&mut meter, &keys, &opts).unwrap();
    let postal = meter.run(|tx| tx.public_keys()).unwrap().postal.unwrap();
    drop(meter);

    let mut received: Vec<Vec<u8>> = Vec::new();
    let mut unreceived = 0u32;
    for kill in 0..KILLS {
        let mut meter = connect(&rig, &up.pin);
        let count_start = meter.run(|tx| tx.registers()).unwrap().count(Service::Postage);
        let delay = Duration::from_millis(5 + rng.next() % 60);
        let pid = daemon.id();
        let fired = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&fired);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
            f.store(true, Ordering::SeqCst);
        });
        let mut this_cycle = 0u32;
        loop {
            match meter.run(|tx| tx.print_indicium(&testkit::piece(1, 1))) {
                Ok(ind) => {
                    received.push(ind);
                    this_cycle += 1;
                }
                Err(_) if fired.load(Ordering::SeqCst) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        killer.join().unwrap();
        drop(meter);
        let status = daemon.wait().unwrap();
        assert!(!status.success(), "cycle {kill}: the daemon was killed");
        rig.wait_card(false);
        daemon = start(&state, None);
        let mut meter = connect(&rig, &up.pin);
        let regs = meter.run(|tx| tx.registers()).unwrap();
        let committed = regs.count(Service::Postage) - count_start;
        assert!(
            committed == this_cycle || committed == this_cycle + 1,
            "cycle {kill}: {committed} committed, {this_cycle} received"
        );
        unreceived += committed - this_cycle;
        assert!(regs.balanced(), "cycle {kill}: AR_p + AR_c + DR != CT");
    }

    let mut meter = connect(&rig, &up.pin);
    let regs = meter.run(|tx| tx.registers()).unwrap();
    let total = regs.count(Service::Postage);
    println!(
        "crash test: {KILLS} kills, {} indicia received, {unreceived} committed but never received, piece count {total}",
        received.len()
    );
    assert_eq!(total, received.len() as u32 + unreceived);
    assert!(regs.balanced());
    assert_eq!(regs.ar_postage, u64::from(total) * 73);
    let mut pieces = BTreeSet::new();
    for ind in &received {
        let body = verify_indicium(ind, IndiciumKey::Ecdsa(&postal)).expect("every received indicium verifies");
        assert!(pieces.insert(body.piece_count), "piece number {} printed twice", body.piece_count);
    }
    drop(meter);
    let _ = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    let _ = daemon.wait();
    std::fs::remove_dir_all(&dir).ok();
}
