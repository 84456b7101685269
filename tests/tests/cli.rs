//! `pcmeter verify` checks an indicium against trust material the user
//! supplies (review item 14): the postal public key or the meter's MAC key,
//! from a file or a flag. ECDSA and HMAC indicia both verify against the
//! right key and fail against any other.

use pcmeter::simulated::{AuthorityKeys, Options, operational};
use std::path::Path;
use std::process::Command;
use testkit::{FIXTURE_TIME, piece};

const MAC_METER: &[u8; 12] = b"PCM-CLI-MAC1";

/// One indicium from a fresh in-process meter (HMAC variant when `hmac`).
fn indicium(seed: &str, hmac: bool) -> (Vec<u8>, AuthorityKeys, Option<[u8; 65]>) {
    let keys = AuthorityKeys::from_seed(seed);
    let mut opts = Options::at(FIXTURE_TIME, 1_000);
    if hmac {
        opts.profile.hmac_variant = true;
        opts.profile.meter_id = String::from_utf8(MAC_METER.to_vec()).unwrap();
    }
    let mut sim = operational(&keys, &opts).unwrap();
    sim.meter.run(|tx| tx.verify_pin(&sim.pin)).unwrap();
    let ind = sim.meter.run(|tx| tx.print_indicium(&piece(1, 20))).unwrap();
    let postal = sim.meter.run(|tx| tx.public_keys()).unwrap().postal;
    (ind, keys, postal)
}

fn verify(pcmeter: &Path, indicium: &[u8], trust: &[&str]) -> (bool, String) {
    let out = Command::new(pcmeter)
        .args(["verify", "--indicium", &hex::encode(indicium)])
        .args(trust)
        .output()
        .expect("pcmeter runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn pcmeter_verify_trusts_only_the_key_the_user_supplies_for_ecdsa_and_hmac_indicia() {
    let pcmeter = testkit::workspace_bin("pcmeter", "pcmeter");
    let dir = testkit::pki::Scratch::new("cli-verify");
    let (ecdsa, _, postal) = indicium("cli-a", false);
    let (_, _, other_postal) = indicium("cli-b", false);
    let (hmac, mac_keys, _) = indicium("cli-c", true);
    let right_postal = dir.write("postal.hex", hex::encode(postal.unwrap()).as_bytes());
    let wrong_postal = dir.write("other-postal.hex", hex::encode(other_postal.unwrap()).as_bytes());
    let right_mac = dir.write("mac.hex", hex::encode(mac_keys.mac_master.diversify(MAC_METER)).as_bytes());
    let wrong_mac = dir.write("other-mac.hex", hex::encode([7u8; 32]).as_bytes());
    let path = |p: &std::path::PathBuf| p.to_str().unwrap().to_owned();

    let (ok, out) = verify(&pcmeter, &ecdsa, &["--postal-key-file", &path(&right_postal)]);
    assert!(ok && out.contains("valid indicium"), "{out}");
    let (ok, out) = verify(&pcmeter, &ecdsa, &["--postal-key", &hex::encode(postal.unwrap())]);
    assert!(ok, "{out}");
    let (ok, out) = verify(&pcmeter, &ecdsa, &["--postal-key-file", &path(&wrong_postal)]);
    assert!(!ok && out.contains("NOT VALID"), "another meter's key must not verify: {out}");

    let (ok, out) = verify(&pcmeter, &hmac, &["--mac-key-file", &path(&right_mac)]);
    assert!(ok && out.contains("valid indicium"), "{out}");
    let (ok, out) = verify(&pcmeter, &hmac, &["--mac-key-file", &path(&wrong_mac)]);
    assert!(!ok && out.contains("NOT VALID"), "a wrong MAC key must not verify: {out}");
    let (ok, out) = verify(&pcmeter, &hmac, &["--postal-key-file", &path(&right_postal)]);
    assert!(!ok && out.contains("NOT VALID"), "a public key cannot check an HMAC indicium: {out}");

    let (ok, out) = verify(&pcmeter, &ecdsa, &[]);
    assert!(!ok && out.contains("--postal-key"), "no trust material, no verdict: {out}");
}
