//! `pcmeter verify` checks an indicium against trust material the user
//! supplies (review item 14): the postal public key or the meter's MAC key,
//! from a file or a flag. ECDSA and HMAC indicia both verify against the
//! right key and fail against any other.
//!
//! The scripted session of issue 13: a `--sim` meter made by `pcmeter sim
//! create`, then status, postmark + verify-postmark (+ `openssl ts
//! -verify`), the certificate flow, sign, decrypt, revoke and audit-log,
//! each step's exit code and `--json` output checked against its schema in
//! docs/schemas/; bad input gets its documented exit code and charges
//! nothing. The same session runs through pcscd, with `pcmeter-card --state`
//! serving the file `sim create` made.

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

// ------------------------------------------------------------ the scripted CLI session (issue 13)

use serde_json::Value;
use std::path::PathBuf;
use testkit::pcsc_rig::{PcscRig, READER, slot};
use testkit::pki::{Scratch, openssl};

const PIN: &str = "246810";

/// A strict validator for the JSON Schema subset docs/schemas/ uses: a
/// keyword it does not know fails the test, so no part of a schema goes unchecked.
mod schema {
    use serde_json::Value;

    fn workspace() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// The schema docs/schemas/NAME.json.
    pub fn load(name: &str) -> Value {
        let path = workspace().join("docs/schemas").join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap()
    }

    /// Checks `value` against schema NAME; panics with the path of the first violation.
    pub fn check(name: &str, value: &Value) {
        let root = load(name);
        if let Err(e) = validate(&root, &root, value, "$") {
            panic!("{name}.json: {e}\n{value:#}");
        }
    }

    fn type_matches(t: &str, v: &Value) -> bool {
        match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            other => panic!("unknown type {other}"),
        }
    }

    fn format_ok(f: &str, s: &str) -> bool {
        match f {
            "hex" => s.bytes().all(|b| b.is_ascii_hexdigit()) && s.len().is_multiple_of(2),
            "date-time" => {
                let b = s.as_bytes();
                b.len() == 20
                    && b[19] == b'Z'
                    && [4, 7].iter().all(|&i| b[i] == b'-')
                    && b[10] == b'T'
                    && [13, 16].iter().all(|&i| b[i] == b':')
                    && b.iter().enumerate().all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
            }
            other => panic!("unknown format {other}"),
        }
    }

    pub fn validate(root: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let s = schema.as_object().ok_or_else(|| format!("{at}: schema is not an object"))?;
        for (key, rule) in s {
            match key.as_str() {
                "$schema" | "$id" | "title" | "description" | "$defs" => {}
                "$ref" => {
                    let name = rule.as_str().and_then(|r| r.strip_prefix("#/$defs/")).expect("local $ref");
                    validate(root, &root["$defs"][name], v, at)?;
                }
                "type" => {
                    let types: Vec<&str> = match rule {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                        _ => panic!("type"),
                    };
                    if !types.iter().any(|t| type_matches(t, v)) {
                        return Err(format!("{at}: {v} is not {types:?}"));
                    }
                }
                "properties" | "required" | "additionalProperties" => {
                    let Some(o) = v.as_object() else { continue };
                    match key.as_str() {
                        "properties" => {
                            for (name, sub) in rule.as_object().unwrap() {
                                if let Some(x) = o.get(name) {
                                    validate(root, sub, x, &format!("{at}.{name}"))?;
                                }
                            }
                        }
                        "required" => {
                            for name in rule.as_array().unwrap() {
                                let name = name.as_str().unwrap();
                                if !o.contains_key(name) {
                                    return Err(format!("{at}: missing {name}"));
                                }
                            }
                        }
                        _ => {
                            let known = s.get("properties").and_then(Value::as_object);
                            for (name, x) in o {
                                if known.is_some_and(|k| k.contains_key(name)) {
                                    continue;
                                }
                                match rule {
                                    Value::Bool(false) => return Err(format!("{at}: unexpected property {name}")),
                                    Value::Bool(true) => {}
                                    sub => validate(root, sub, x, &format!("{at}.{name}"))?,
                                }
                            }
                        }
                    }
                }
                "items" => {
                    for (i, x) in v.as_array().into_iter().flatten().enumerate() {
                        validate(root, rule, x, &format!("{at}[{i}]"))?;
                    }
                }
                "enum" => {
                    if !rule.as_array().unwrap().contains(v) {
                        return Err(format!("{at}: {v} not in {rule}"));
                    }
                }
                "const" => {
                    if rule != v {
                        return Err(format!("{at}: {v} is not {rule}"));
                    }
                }
                "minimum" => {
                    if v.as_f64().is_some_and(|x| x < rule.as_f64().unwrap()) {
                        return Err(format!("{at}: {v} below {rule}"));
                    }
                }
                "format" => {
                    if let Some(text) = v.as_str()
                        && !format_ok(rule.as_str().unwrap(), text)
                    {
                        return Err(format!("{at}: {text:?} is not {rule}"));
                    }
                }
                "oneOf" => {
                    let n = rule.as_array().unwrap().iter().filter(|sub| validate(root, sub, v, at).is_ok()).count();
                    if n != 1 {
                        return Err(format!("{at}: {v} matches {n} of oneOf"));
                    }
                }
                other => panic!("the validator does not know keyword {other}: add it before using it"),
            }
        }
        Ok(())
    }

    #[test]
    fn the_validator_refuses_what_the_schemas_forbid() {
        let s = load("sign");
        let good = serde_json::json!({ "slot": 2, "sha256": "AB", "signature": "x.sig" });
        assert!(validate(&s, &s, &good, "$").is_ok());
        for bad in [
            serde_json::json!({ "slot": 2, "sha256": "AB" }),
            serde_json::json!({ "slot": 2, "sha256": "AB", "signature": "x.sig", "extra": 1 }),
            serde_json::json!({ "slot": -1, "sha256": "AB", "signature": "x.sig" }),
            serde_json::json!({ "slot": 2, "sha256": "XYZ", "signature": "x.sig" }),
            serde_json::json!({ "slot": "2", "sha256": "AB", "signature": "x.sig" }),
        ] {
            assert!(validate(&s, &s, &bad, "$").is_err(), "{bad}");
        }
    }
}

/// One run of the CLI.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    /// Asserts success and checks the JSON output against schema `name`.
    fn ok(self, name: &str) -> Value {
        assert_eq!(self.code, 0, "{name}: {}{}", self.stdout, self.stderr);
        let v = self.json();
        schema::check(name, &v);
        v
    }

    /// Asserts the documented exit code and a JSON error naming `needle`.
    fn fails(self, code: i32, needle: &str) -> Value {
        assert_eq!(self.code, code, "{}{}", self.stdout, self.stderr);
        assert!(self.stderr.contains(needle), "expected {needle:?} in: {}", self.stderr);
        let v = self.json();
        schema::check("error", &v);
        v
    }
}

/// The CLI with a given meter selection, PIN in the environment, config file pointed at nothing.
#[derive(Clone)]
struct Cli {
    bin: PathBuf,
    dir: PathBuf,
    select: Vec<String>,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Run {
        self.run_pin(args, PIN)
    }

    fn run_pin(&self, args: &[&str], pin: &str) -> Run {
        self.run_config(args, pin, &self.dir.join("no-config.toml"))
    }

    /// A run with the configuration file `config`.
    fn run_config(&self, args: &[&str], pin: &str, config: &Path) -> Run {
        let out = Command::new(&self.bin)
            .args(&self.select)
            .args(args)
            .current_dir(&self.dir)
            .env("PCMETER_PIN", pin)
            .env("PCMETER_CONFIG", config)
            .output()
            .expect("pcmeter runs");
        Run {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn registers(&self) -> Value {
        self.run(&["--json", "status"]).ok("status")["registers"].clone()
    }
}

/// Creates a simulated meter `name` in `dir` with `credit`.
fn sim_create(bin: &Path, dir: &Path, name: &str, credit: &str) -> (Cli, Value) {
    let cli = Cli { bin: bin.to_path_buf(), dir: dir.to_path_buf(), select: vec![] };
    let created = cli.run(&["--json", "sim", "create", name, "--credit", credit, "--pin", PIN]).ok("sim-create");
    (Cli { select: vec!["--sim".into(), name.into()], ..cli }, created)
}

/// The session every path runs (in process with --sim, and through pcscd): status, postmark and
/// verify-postmark (and openssl ts -verify), keys, sign (and openssl dgst -verify), audit-log,
/// bad input that charges nothing, print as PNG, SVG and PDF with verify-indicium on the printed
/// PDF page, a 500-piece batch, and the TSA with openssl and curl.
fn scripted_session(cli: &Cli, dir: &Path) {
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let status = cli.run(&["--json", "status"]).ok("status");
    assert_eq!(status["lifecycle"], "OPERATIONAL");
    let certified: Vec<(u64, String)> = status["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "certified")
        .map(|s| (s["slot"].as_u64().unwrap(), s["usage"].as_str().unwrap().to_owned()))
        .collect();
    assert!(
        certified.contains(&(0, "postmark".into())) && certified.contains(&(2, "signature".into())),
        "{certified:?}"
    );
    let text = cli.run(&["status"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("| DR     descending register (funds)"), "{}", text.stdout);
    assert!(text.stdout.contains("AR_p + AR_c + DR == CT: holds"), "{}", text.stdout);

    // Postmark: charged 25 once; the reply verifies here and with openssl.
    std::fs::write(dir.join("contract.txt"), b"the contract, as agreed").unwrap();
    let before = cli.registers();
    let pm = cli.run(&["--json", "postmark", &file("contract.txt")]).ok("postmark");
    let after = cli.registers();
    assert_eq!(after["descending"].as_u64().unwrap() + 25, before["descending"].as_u64().unwrap());
    assert_eq!(after["postmark_serial"], pm["serial"]);
    assert!(after["balanced"].as_bool().unwrap());
    let tsr = file("contract.txt.tsr");
    assert_eq!(pm["reply"], tsr.as_str());
    let ca = file("ca.pem");
    let v = cli.run(&["--json", "verify-postmark", &file("contract.txt"), &tsr, "--ca", &ca]).ok("verify-postmark");
    assert_eq!(v["verdict"], "valid");
    let o = openssl(dir, &["ts", "-verify", "-in", &tsr, "-data", &file("contract.txt"), "-CAfile", &ca]);
    assert!(o.ok && o.output.contains("Verification: OK"), "{}", o.output);

    // A tampered token, another file, a malformed reply: exit 7, nothing charged (verification is off the card).
    let mut reply = std::fs::read(&tsr).unwrap();
    let n = reply.len();
    reply[n - 20] ^= 0x01;
    std::fs::write(dir.join("tampered.tsr"), &reply).unwrap();
    cli.run(&["--json", "verify-postmark", &file("contract.txt"), &file("tampered.tsr"), "--ca", &ca])
        .fails(7, "NOT VALID");
    let o =
        openssl(dir, &["ts", "-verify", "-in", &file("tampered.tsr"), "-data", &file("contract.txt"), "-CAfile", &ca]);
    assert!(!o.ok, "openssl must refuse the tampered token too: {}", o.output);
    std::fs::write(dir.join("other.txt"), b"another contract").unwrap();
    let e = cli.run(&["--json", "verify-postmark", &file("other.txt"), &tsr, "--ca", &ca]).fails(7, "digest-mismatch");
    assert_eq!(e["error"]["kind"], "invalid");
    std::fs::write(dir.join("junk.tsr"), b"not a token").unwrap();
    cli.run(&["--json", "verify-postmark", &file("contract.txt"), &file("junk.tsr"), "--ca", &ca])
        .fails(7, "malformed postmark token");
    cli.run(&["--json", "verify-postmark", &file("contract.txt"), &file("missing.tsr"), "--ca", &ca])
        .fails(3, "missing.tsr");
    assert_eq!(cli.registers(), after, "verification charges nothing");

    // Sign: the signature verifies with openssl under the slot certificate's key.
    let sig = cli.run(&["--json", "sign", &file("contract.txt"), "--out", &file("contract.sig")]).ok("sign");
    assert_eq!(sig["slot"], 2);
    let keys = cli.run(&["--json", "keys"]).ok("keys");
    let slot2 = &keys["slots"][2];
    assert_eq!(slot2["state"], "certified");
    let public = hex::decode(slot2["public_key"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("signer.pub"), authority::ca::pem("PUBLIC KEY", &apdu_specs::x509::spki(&public).unwrap()))
        .unwrap();
    let o = openssl(
        dir,
        &[
            "dgst",
            "-sha256",
            "-verify",
            &file("signer.pub"),
            "-signature",
            &file("contract.sig"),
            &file("contract.txt"),
        ],
    );
    assert!(o.ok && o.output.contains("Verified OK"), "{}", o.output);

    // Bad input charges nothing: a wrong PIN (5), a malformed certificate (3), a missing file (3).
    let regs = cli.registers();
    let e = cli.run_pin(&["--json", "postmark", &file("contract.txt"), "--out", &file("x.tsr")], "999999");
    let e = e.fails(5, "wrong PIN");
    assert!(e["error"]["status_word"].as_str().unwrap().starts_with("63C"), "{e}");
    std::fs::write(dir.join("garbage.pem"), b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    cli.run(&["--json", "cert", "install", "--slot", "3", &file("garbage.pem")]).fails(3, "garbage.pem");
    cli.run(&["--json", "sign", &file("nothing.txt"), "--out", &file("n.sig")]).fails(3, "nothing.txt");
    assert_eq!(cli.registers(), regs, "refusals charge nothing");

    // The audit log: every record, chain verified.
    let log = cli.run(&["--json", "audit-log"]).ok("audit-log");
    assert_eq!(log["records"].as_array().unwrap().len() as u64, log["head"]["records"].as_u64().unwrap());
    assert!(
        log["records"].as_array().unwrap().iter().any(|r| r["event"] == "ServiceCharged" && r["service"] == "postmark"),
        "{log}"
    );
    cli.run(&["--json", "rates", "show"]).ok("rates-show");

    imprints_and_batch(cli, dir);
    timestamp_authority(cli, dir);
}

/// Today's date (UTC: the sim meter's and pcmeter-card's clock) as YYYY-MM-DD.
fn today() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let d = apdu_specs::date::yyyymmdd_from_unix(now);
    format!("{:04}-{:02}-{:02}", d / 10_000, d / 100 % 100, d % 100)
}

/// Session steps: one imprint as PNG, SVG and PDF (verify-indicium on the printed PDF page and
/// on the PNG), then a 500-piece batch whose summary matches the registers.
fn imprints_and_batch(cli: &Cli, dir: &Path) {
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let before = cli.registers();
    let mut indicia = Vec::new();
    for (out, magic) in [("session.png", &b"\x89PNG"[..]), ("session.svg", b"<svg"), ("session.pdf", b"%PDF-")] {
        let p = cli.run(&print_args(&["--out", out, "--postal-key-file", "postal.pem"])).ok("print");
        assert_eq!((p["out"].as_str(), p["verified"].as_bool()), (Some(out), Some(true)), "{p}");
        let head = std::fs::read(dir.join(out)).unwrap();
        let at = head.windows(magic.len()).position(|w| w == magic);
        assert!(at.is_some_and(|i| i < 64), "{out} is a {:?} file", String::from_utf8_lossy(magic));
        indicia.push(p["indicium"].as_str().unwrap().to_owned());
    }
    let svg = std::fs::read_to_string(dir.join("session.svg")).unwrap();
    assert!(svg.contains("10001"), "the imprint shows the origin postcode");
    let after = cli.registers();
    assert_eq!(before["descending"].as_u64().unwrap() - after["descending"].as_u64().unwrap(), 3 * 73, "3 × 0.73");
    for (image, indicium) in [("session.pdf", &indicia[2]), ("session.png", &indicia[0])] {
        let v = cli.run(&["--json", "verify-indicium", &file(image), "--postal-key-file", "postal.pem"]);
        let v = v.ok("verify-indicium");
        let found = &v["indicia"].as_array().unwrap()[..];
        assert_eq!(found.len(), 1, "{image}: {v}");
        let bytes = hex::decode(indicium).unwrap();
        let printed = apdu_specs::indicium::Indicium::parse(&bytes).unwrap();
        assert_eq!(found[0]["piece_count"], printed.body.piece_count, "{image} decodes to its own indicium");
        assert_eq!(found[0]["postage"], 73);
    }
    assert_eq!(cli.registers(), after, "verification charges nothing");

    // A 500-piece batch on A4 sheets: the summary, the journal and the registers agree.
    let date = today();
    let mut csv = String::from("class,weight,origin,destination,date\n");
    let mut postage = 0u64;
    for i in 0..500u64 {
        let (class, grams) = (1 + i % 2, 10 + i % 18);
        postage += if class == 1 { 73 } else { 150 };
        csv.push_str(&format!("{class},{grams},{:05},{:05},{date}\n", 10_000 + i % 7, 20_000 + i));
    }
    std::fs::write(dir.join("mailing.csv"), &csv).unwrap();
    let b = cli.run(&["--json", "batch", &file("mailing.csv"), "--out", &file("labels.pdf")]).ok("batch");
    assert_eq!((b["pieces"].as_u64(), b["printed_now"].as_u64()), (Some(500), Some(500)), "{b}");
    assert_eq!(b["pages"], 36, "500 labels at 14 per A4 page");
    assert_eq!(b["total_postage"], postage);
    assert!(b["stopped"].is_null() && b["not_printed"].as_array().unwrap().is_empty(), "{b}");
    let regs = cli.registers();
    assert_eq!(after["descending"].as_u64().unwrap() - regs["descending"].as_u64().unwrap(), postage);
    assert_eq!(b["funds_left"], regs["descending"]);
    assert_eq!(regs["control_total"], after["control_total"], "printing moves no money in or out");
    let pdf = std::fs::read(dir.join("labels.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    // Run again: every row is paid, nothing is charged twice.
    let again = cli.run(&["--json", "batch", &file("mailing.csv"), "--out", &file("labels.pdf")]).ok("batch");
    assert_eq!((again["pieces"].as_u64(), again["printed_now"].as_u64()), (Some(500), Some(0)), "{again}");
    assert_eq!(cli.registers(), regs, "a re-run charges nothing");
}

/// Session steps: `pcmeter tsa` on loopback answers `openssl ts -query | curl`, the reply
/// verifies with `openssl ts -verify` (nonce included), a malformed query is HTTP 400, and only
/// the one token is charged.
fn timestamp_authority(cli: &Cli, dir: &Path) {
    use std::io::BufRead;
    let before = cli.registers();
    let mut child = Command::new(&cli.bin)
        .args(&cli.select)
        .args(["tsa", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("PCMETER_PIN", PIN)
        .env("PCMETER_CONFIG", dir.join("no-config.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("pcmeter tsa starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-H", "Content-Type: application/timestamp-query"])
            .args(args)
            .arg(&url)
            .current_dir(dir)
            .output()
            .expect("curl runs");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    std::fs::write(dir.join("tsa-doc.txt"), b"stamped through the meter's TSA\n").unwrap();
    let q = openssl(dir, &["ts", "-query", "-data", "tsa-doc.txt", "-sha256", "-cert", "-out", "tsa.tsq"]);
    let posted = curl(&["--fail", "--data-binary", "@tsa.tsq", "-o", "tsa.tsr"]);
    std::fs::write(dir.join("junk.tsq"), b"\x30\x03\x02\x01").unwrap();
    let malformed = curl(&["--data-binary", "@junk.tsq", "-o", "/dev/null", "-w", "%{http_code}"]);
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    assert!(q.ok, "{}", q.output);
    assert!(posted.0, "curl: {}", posted.1);
    assert_eq!(malformed.1, "400", "a malformed query is HTTP 400");
    let v = openssl(dir, &["ts", "-verify", "-in", "tsa.tsr", "-data", "tsa-doc.txt", "-CAfile", "ca.pem"]);
    assert!(v.ok && v.output.contains("Verification: OK"), "{}", v.output);
    let v = openssl(dir, &["ts", "-verify", "-in", "tsa.tsr", "-queryfile", "tsa.tsq", "-CAfile", "ca.pem"]);
    assert!(v.ok && v.output.contains("Verification: OK"), "the nonce and digest match the query: {}", v.output);
    let after = cli.registers();
    assert_eq!(before["descending"].as_u64().unwrap() - after["descending"].as_u64().unwrap(), 25, "one postmark");
}

#[test]
fn a_scripted_session_on_a_sim_meter_checks_every_output_and_exit_code() {
    let bin = testkit::workspace_bin("pcmeter", "pcmeter");
    let dir = Scratch::new("cli-session");
    let (cli, created) = sim_create(&bin, &dir.0, "meter.pcmj", "600");
    assert_eq!(created["credit"], 60_000);
    for name in ["ca.pem", "postal.pem", "authority.pem", "issuer.pem", "meter.pcmj.test-authority/README.txt"] {
        assert!(dir.0.join(name).is_file(), "{name} written");
    }
    let o = openssl(&dir.0, &["x509", "-in", "ca.pem", "-noout", "-subject"]);
    assert!(o.ok && o.output.contains("Test CA"), "{}", o.output);
    let o = openssl(&dir.0, &["pkey", "-pubin", "-in", "postal.pem", "-noout"]);
    assert!(o.ok, "{}", o.output);
    // Two slots certified at creation: 2 × (key 0.50 + request 2.00 + install 1.00).
    assert_eq!(cli.registers()["descending"], 60_000 - 700);

    scripted_session(&cli, &dir.0);

    // The certificate flow for a new encryption slot, then DECRYPT of a message sent to it.
    let file = |name: &str| dir.0.join(name).to_str().unwrap().to_owned();
    cli.run(&["--json", "keys", "generate", "--slot", "3", "--usage", "encryption"]).ok("keys-generate");
    let challenge =
        cli.run(&["--json", "sim", "challenge"]).ok("sim-challenge")["challenge"].as_str().unwrap().to_owned();
    let req = cli
        .run(&["--json", "cert", "request", "--slot", "3", "--challenge", &challenge, "--out", &file("enc.csr")])
        .ok("cert-request");
    assert_eq!(req["usage"], "encryption");
    let o = openssl(&dir.0, &["req", "-in", "enc.csr", "-noout", "-verify"]);
    assert!(o.ok && o.output.contains("verify OK"), "{}", o.output);
    cli.run(&["--json", "sim", "issue", &file("enc.csr.envelope"), "--out", &file("enc.pem")]).ok("sim-issue");
    // The same challenge cannot be used twice (the CA consumed it).
    cli.run(&["--json", "sim", "issue", &file("enc.csr.envelope"), "--out", &file("again.pem")]).fails(3, "refused");
    cli.run(&["--json", "cert", "install", "--slot", "3", &file("enc.pem")]).ok("cert-install");
    let public: [u8; 65] =
        hex::decode(cli.run(&["--json", "keys"]).ok("keys")["slots"][3]["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
    let blob = host_driver::certificates::encrypt_to(&public, b"for the meter's eyes only").unwrap();
    std::fs::write(dir.0.join("secret.bin"), blob).unwrap();
    cli.run(&["--json", "decrypt", &file("secret.bin"), "--out", &file("secret.txt")]).ok("decrypt");
    assert_eq!(std::fs::read(dir.0.join("secret.txt")).unwrap(), b"for the meter's eyes only");

    // Revocation with an authority order: the slot is revoked and the fee paid.
    cli.run(&["--json", "sim", "revocation-order", "--slot", "3", "--out", &file("rev.order")])
        .ok("sim-revocation-order");
    let r = cli.run(&["--json", "revoke", "--order", &file("rev.order"), "--out", &file("rev.conf")]).ok("revoke");
    assert_eq!((r["slot"].as_u64(), r["paid"].as_bool()), (Some(3), Some(true)));
    assert_eq!(cli.run(&["--json", "keys"]).ok("keys")["slots"][3]["state"], "revoked");
    cli.run(&["--json", "revoke", "--order", &file("rev.order"), "--out", &file("rev2.conf")]).fails(5, "SW");
}

#[test]
fn insufficient_funds_is_exit_6_and_charges_nothing() {
    let bin = testkit::workspace_bin("pcmeter", "pcmeter");
    let dir = Scratch::new("cli-funds");
    // 7.00 pays exactly for the two certified slots: nothing is left.
    let (cli, _) = sim_create(&bin, &dir.0, "poor.pcmj", "7");
    let regs = cli.registers();
    assert_eq!(regs["descending"], 0);
    std::fs::write(dir.0.join("f.txt"), b"x").unwrap();
    let e = cli.run(&["--json", "postmark", "f.txt"]).fails(6, "insufficient funds");
    assert_eq!(e["error"]["status_word"], "9401");
    assert!(!dir.0.join("f.txt.tsr").exists());
    assert_eq!(cli.registers(), regs);
    // No meter there: exit 4; a second sim create on the same file: exit 3.
    Cli { select: vec!["--sim".into(), "absent.pcmj".into()], ..cli }
        .run(&["--json", "status"])
        .fails(4, "no simulated meter");
    let again = Cli { bin: bin.clone(), dir: dir.0.clone(), select: vec![] };
    again.run(&["--json", "sim", "create", "poor.pcmj"]).fails(3, "already exists");
}

/// The real `pcmeter-card` daemon serving a state file, stopped with SIGTERM when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_same_session_through_pcscd_on_the_file_sim_create_made() {
    let bin = testkit::workspace_bin("pcmeter", "pcmeter");
    let card = testkit::workspace_bin("card-sim", "pcmeter-card");
    let _slot = slot();
    let dir = Scratch::new("cli-pcsc");
    let (_, created) = sim_create(&bin, &dir.0, "served.pcmj", "600");
    let rig = PcscRig::start();
    let daemon = Daemon(
        Command::new(card)
            .arg("--state")
            .arg(dir.0.join("served.pcmj"))
            .args(["--log", "warn"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("pcmeter-card starts"),
    );
    rig.wait_card(true);
    let cli = Cli { bin: bin.clone(), dir: dir.0.clone(), select: vec!["--reader".into(), READER.into()] };
    let status = cli.run(&["--json", "status"]).ok("status");
    assert_eq!(status["meter_id"], created["meter_id"]);
    assert_eq!(status["card_serial"], created["card_serial"]);
    assert_eq!(status["reader"], READER);
    scripted_session(&cli, &dir.0);
    // The meter found by its ID too.
    let by_id = Cli { select: vec!["--meter-id".into(), created["meter_id"].as_str().unwrap().into()], ..cli };
    by_id.run(&["--json", "keys"]).ok("keys");
    drop(daemon);
    rig.wait_card(false);
}

// ------------------------------------------------------------ demo, label formats, engines, postal certificate

const PIECE: [&str; 8] = ["--class", "1", "--weight", "20", "--from", "10001", "--to", "94105"];

/// `print` with the fixed piece and `extra` arguments.
fn print_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--json", "print"];
    args.extend_from_slice(&PIECE);
    args.extend_from_slice(extra);
    args
}

#[test]
fn the_demo_writes_imprint_labels_as_png_svg_and_a_pdf_sheet_that_decode_to_its_indicia() {
    let bin = testkit::workspace_bin("pcmeter", "pcmeter");
    let dir = Scratch::new("cli-demo");
    let cli = Cli { bin, dir: dir.0.clone(), select: vec![] };
    let demo = cli.run(&["--json", "demo", "--out", "out"]).ok("demo");
    let printed = demo["printed"].as_array().unwrap();
    assert_eq!(printed.len(), 3);
    let mut indicia = Vec::new();
    for p in printed {
        let ind = hex::decode(p["indicium"].as_str().unwrap()).unwrap();
        let png = dir.0.join(p["png"].as_str().unwrap());
        let got = pcmeter::scan::decode_png(&png, pcmeter::scan::Limit::Count(1)).expect("dmtxread reads the label");
        assert_eq!(got, vec![ind.clone()], "{}", png.display());
        // An imprint, not a bare symbol: the human-readable fields are on the label.
        let svg = std::fs::read_to_string(dir.0.join(p["svg"].as_str().unwrap())).unwrap();
        let body = apdu_specs::indicium::Indicium::parse(&ind).unwrap().body;
        for needle in ["METER PCM-DEMO-001", &format!("PIECE {}", body.piece_count), "FROM 10001", "USD "] {
            assert!(svg.contains(needle), "{needle} on the label: {svg}");
        }
        indicia.push(ind);
    }
    let pdf = dir.0.join(demo["pdf"].as_str().unwrap());
    let mut got = pcmeter::scan::decode_pdf_pages(&pdf, 300, |_| pcmeter::scan::Limit::Count(3)).unwrap().concat();
    got.sort();
    indicia.sort();
    assert_eq!(got, indicia, "the PDF sheet holds the three indicia");
}

#[test]
fn print_takes_its_format_from_the_flag_then_the_extension_then_the_configured_label_format() {
    let bin = testkit::workspace_bin("pcmeter", "pcmeter");
    let dir = Scratch::new("cli-format");
    let (cli, _) = sim_create(&bin, &dir.0, "meter.pcmj", "50");
    let config = dir.0.join("config.toml");
    std::fs::write(&config, "label_format = \"svg\"\n").unwrap();
    let magic = |name: &str| std::fs::read(dir.0.join(name)).unwrap()[..5].to_vec();

    // No extension: the configuration decides and its extension is added.
    let p = cli.run_config(&print_args(&["--out", "plain"]), PIN, &config).ok("print");
    assert_eq!(p["out"], "plain.svg");
    assert!(std::fs::read_to_string(dir.0.join("plain.svg")).unwrap().contains("<svg"));
    // The flag overrides the configuration; so does an extension.
    let p = cli.run_config(&print_args(&["--out", "flagged", "--format", "pdf"]), PIN, &config).ok("print");
    assert_eq!(p["out"], "flagged.pdf");
    assert_eq!(magic("flagged.pdf"), b"%PDF-");
    let p = cli.run_config(&print_args(&["--out", "named.png"]), PIN, &config).ok("print");
    assert_eq!(p["out"], "named.png");
    assert_eq!(magic("named.png"), b"\x89PNG\r");
    // Without a configuration, PNG.
    let p = cli.run(&print_args(&["--out", "default"])).ok("print");
    assert_eq!(p["out"], "default.png");
    assert_eq!(magic("default.png"), b"\x89PNG\r");
    // A flag that contradicts the extension is refused before anything is charged.
    let regs = cli.registers();
    cli.run_config(&print_args(&["--out", "x.svg", "--format", "pdf"]), PIN, &config).fails(3, "names another format");
    cli.run_config(&print_args(&["--out", "x.txt"]), PIN, &config).fails(3, ".png, .svg or .pdf");
    assert_eq!(cli.registers(), regs, "nothing charged");
    assert!(!dir.0.join("x.svg").exists() && !dir.0.join("x.txt").exists());
}

#[test]
fn the_engine_of_a_sim_meter_is_chosen_at_start_and_one_not_compiled_in_is_refused() {
    let bin = testkit::workspace_bin("pcmeter", "pcmeter");
    let dir = Scratch::new("cli-engine");
    let base = Cli { bin: bin.clone(), dir: dir.0.clone(), select: vec![] };
    let created = base
        .run(&["--engine", "soft", "--json", "sim", "create", "m.pcmj", "--credit", "50", "--pin", PIN])
        .ok("sim-create");
    let soft = Cli { select: vec!["--sim".into(), "m.pcmj".into(), "--engine".into(), "soft".into()], ..base };
    let p = soft.run(&print_args(&["--out", "soft.png", "--postal-key-file", "postal.pem"])).ok("print");
    assert_eq!(p["verified"], true);

    let aws = Cli { select: vec!["--sim".into(), "m.pcmj".into(), "--engine".into(), "aws-lc".into()], ..soft };
    let regs = aws.registers_or_refusal();
    // workspace_bin builds pcmeter with card-sim's aws-lc feature exactly when the suite runs on aws-lc.
    if testkit::engine().cargo_feature().is_some() {
        // The same state file on the aws-lc engine: its indicia verify under the same postal key.
        let regs = regs.expect("aws-lc is compiled in");
        let p = aws.run(&print_args(&["--out", "aws.png", "--postal-key-file", "postal.pem"])).ok("print");
        assert_eq!(p["verified"], true);
        assert!(aws.registers()["descending"].as_u64().unwrap() < regs["descending"].as_u64().unwrap());
    } else {
        let refusal = regs.expect_err("aws-lc is not compiled in: refused");
        assert_eq!(refusal.code, 2, "{}", refusal.stderr);
        assert!(
            refusal.stderr.contains("not compiled into this pcmeter") && refusal.stderr.contains("--features aws-lc"),
            "{}",
            refusal.stderr
        );
    }
    let plain = Cli { select: vec!["--sim".into(), "m.pcmj".into()], ..aws.clone() };
    let unknown = plain.run(&["--engine", "quantum", "status"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("unknown crypto engine `quantum`"), "{}", unknown.stderr);
    // A meter in a reader has its own engine.
    let reader = Cli { select: vec!["--reader".into(), "nothing".into(), "--engine".into(), "soft".into()], ..aws };
    reader.run(&["--json", "status"]).fails(3, "--engine chooses the crypto engine of a simulated meter");
    assert_eq!(created["meter_id"], "PCM-SIM-0001");
}

impl Cli {
    /// The registers, or the run that failed to read them.
    fn registers_or_refusal(&self) -> Result<Value, Run> {
        let run = self.run(&["--json", "status"]);
        if run.code == 0 { Ok(run.ok("status")["registers"].clone()) } else { Err(run) }
    }
}

#[test]
fn verify_indicium_checks_labels_against_the_postal_certificate_and_charges_nothing() {
    let bin = testkit::workspace_bin("pcmeter", "pcmeter");
    let (a_dir, b_dir) = (Scratch::new("cli-postal-a"), Scratch::new("cli-postal-b"));
    let (a, created) = sim_create(&bin, &a_dir.0, "a.pcmj", "50");
    assert_eq!(created["trust"]["postal_certificate"], "./postal-cert.pem");
    let o = openssl(&a_dir.0, &["verify", "-CAfile", "ca.pem", "postal-cert.pem"]);
    assert!(o.ok && o.output.contains("OK"), "openssl accepts the postal certificate: {}", o.output);
    let b = Cli { bin: bin.clone(), dir: b_dir.0.clone(), select: vec![] };
    b.run(&["--json", "sim", "create", "b.pcmj", "--credit", "50", "--pin", PIN, "--id", "PCM-SIM-0002"])
        .ok("sim-create");
    let b = Cli { select: vec!["--sim".into(), "b.pcmj".into()], ..b };

    let printed = a.run(&print_args(&["--out", "label.pdf"])).ok("print");
    let ind = printed["indicium"].as_str().unwrap().to_owned();
    b.run(&print_args(&["--out", "other.png"])).ok("print");
    let a_file = |n: &str| a_dir.0.join(n).to_str().unwrap().to_owned();
    let (cert, ca) = (a_file("postal-cert.pem"), a_file("ca.pem"));
    let regs = a.registers();

    // A good label: exit 0, with --ca and with the sim's ca.pem by default.
    let ok = a.run(&["--json", "verify-indicium", &a_file("label.pdf"), "--postal-cert", &cert, "--ca", &ca]);
    let v = ok.ok("verify-indicium");
    assert_eq!(v["indicia"][0]["meter_id"], "PCM-SIM-0001");
    assert_eq!(v["indicia"].as_array().unwrap().len(), 1);
    a.run(&["--json", "verify-indicium", &ind, "--postal-cert", &cert]).ok("verify-indicium");

    // A label from another meter (22), a tampered indicium (23), an unreadable image (20).
    let other = b_dir.0.join("other.png");
    a.run(&["--json", "verify-indicium", other.to_str().unwrap(), "--postal-cert", &cert, "--ca", &ca])
        .fails(22, "label from another meter");
    let mut tampered = hex::decode(&ind).unwrap();
    tampered[25] ^= 1; // postage
    a.run(&["--json", "verify-indicium", &hex::encode(tampered), "--postal-cert", &cert, "--ca", &ca])
        .fails(23, "tampered");
    std::fs::write(a_dir.0.join("junk.png"), b"\x89PNG\r\n\x1a\nnot an image").unwrap();
    a.run(&["--json", "verify-indicium", &a_file("junk.png"), "--postal-cert", &cert, "--ca", &ca])
        .fails(20, "junk.png");
    // Another meter's postal certificate does not chain to this CA (7); a certificate that is no certificate (3).
    let b_cert = b_dir.0.join("postal-cert.pem");
    a.run(&["--json", "verify-indicium", &ind, "--postal-cert", b_cert.to_str().unwrap(), "--ca", &ca])
        .fails(7, "does not chain");
    a.run(&["--json", "verify-indicium", &ind, "--postal-cert", &a_file("postal.pem"), "--ca", &ca])
        .fails(3, "postal.pem");
    assert_eq!(a.registers(), regs, "verification charges nothing");
}
