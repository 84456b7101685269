//! Which crypto engine the suite runs: every simulated card runs the engine
//! that `PCMETER_ENGINE` names (soft when unset), whichever way it was built,
//! and a name that is unknown or not compiled in fails instead of falling
//! back. `scripts/test.sh` runs the card suite once per engine.

use card_sim::{Engine, Entropy, MemoryStore, SimClock, SimPlatform};
use pcmeter::simulated::{AuthorityKeys, Options, operational};
use std::process::Command;

#[test]
fn every_simulated_card_runs_the_engine_named_by_the_environment() {
    let wanted = testkit::engine();
    eprintln!("crypto engine under test: {wanted}");
    let platform = SimPlatform::new(MemoryStore::new(), Entropy::seeded(1), SimClock::fixed(testkit::FIXTURE_TIME));
    assert_eq!(platform.engine(), wanted, "SimPlatform::new");
    let mut direct = testkit::DirectCard::operational();
    assert_eq!(direct.card.engine(), Some(wanted), "testkit::DirectCard");
    let (_, sw) = direct.send(&testkit::verify_apdu("123456"));
    assert_eq!(sw, 0x9000);
    let (indicium, sw) = direct.send(&testkit::indicium_apdu(1, 20));
    assert_eq!((sw, indicium.len()), (0x9000, 124), "the card signs an indicium on {wanted}");
    let keys = AuthorityKeys::from_seed("engine");
    let sim = operational(&keys, &Options::at(testkit::FIXTURE_TIME, 1_000)).unwrap();
    let engine = sim.card.lock().unwrap().card().engine();
    assert_eq!(engine, Some(wanted), "pcmeter::simulated");
}

#[test]
fn the_daemon_refuses_an_engine_it_does_not_have() {
    let daemon = testkit::workspace_bin("card-sim", "pcmeter-card");
    let dir = std::env::temp_dir().join(format!("pcmeter-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("card.pcmj");
    let out = Command::new(&daemon).args(["--engine", "rsa", "--state"]).arg(&state).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown crypto engine `rsa` (known: soft, aws-lc)"), "{stderr}");
    let out = Command::new(&daemon).env(Engine::ENV, "rsa").arg("--state").arg(&state).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PCMETER_ENGINE: unknown crypto engine `rsa`"), "{stderr}");
    assert!(!state.exists(), "a refused engine touches no card state");
    if !Engine::compiled().iter().any(|e| e.name() == "aws-lc") {
        let out = Command::new(&daemon).args(["--engine", "aws-lc", "--state"]).arg(&state).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("not compiled in"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
