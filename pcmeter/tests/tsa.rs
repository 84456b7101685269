//! The meter as an RFC 3161 TSA, end to end: queries made by `openssl ts
//! -query`, posted by `curl` to a server on 127.0.0.1 backed by a simulated
//! meter, replies checked by `openssl ts -verify` and `-reply -text`, and the
//! card's registers read between requests.
//!
//! Malformed queries are answered HTTP 400 with a `badDataFormat` rejection;
//! unsupported hashes and policies HTTP 200 with a `badAlg` /
//! `unacceptedPolicy` rejection; nothing is charged for any of them.

use apdu_specs::Service;
use apdu_specs::audit::Head;
use apdu_specs::registers::Registers;
use authority::ca::pem;
use card_sim::InProcessTransport;
use pcmeter::simulated::AuthorityKeys;
use pcmeter::tsa::sim::{POSTMARK_SLOT, certified_sim_meter};
use pcmeter::tsa::{Limits, Stamper, TsaServer};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pcmeter-tsa-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a tool in `dir`; returns success and stdout + stderr.
fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    run(dir, "openssl", args)
}

/// A server on a simulated meter with a certified postmark slot, and the trust files.
struct Rig {
    server: TsaServer<InProcessTransport>,
    dir: Scratch,
    fee: u64,
}

impl Rig {
    fn new(label: &str, credit: u64) -> Self {
        let keys = AuthorityKeys::from_seed(&format!("tsa test {label}"));
        let up = certified_sim_meter(&keys, credit).expect("certified simulated meter");
        let dir = Scratch::new(label);
        dir.write("ca.pem", up.ca.certificate_pem().as_bytes());
        dir.write("signer.pem", pem("CERTIFICATE", &up.certificate).as_bytes());
        dir.write("document.txt", b"Contract between A and B, timestamped by the meter.\n");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let limits = Limits { max_body: 4096, timeout: Duration::from_secs(20), queue_depth: 8 };
        let stamper = Stamper::new(up.meter.pin.clone(), POSTMARK_SLOT);
        let server = TsaServer::start(listener, up.meter.meter, stamper, limits).expect("server");
        let fee = server
            .queue()
            .call(|m| m.run(|tx| tx.select().and_then(|_| tx.rate_table())))
            .unwrap()
            .unwrap()
            .table
            .fee(Service::Postmark)
            .into();
        assert!(fee > 0, "the postmark has a fee");
        Self { server, dir, fee }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Registers and audit head, read through the server's meter queue
    /// (each stamp ends its session with a card reset, so select first).
    fn state(&self) -> (Registers, Head) {
        let read = |tx: &mut host_driver::Transaction<'_, InProcessTransport>| {
            tx.select()?;
            Ok((tx.registers()?, tx.audit_head()?))
        };
        self.server.queue().call(move |m| m.run(read)).unwrap().unwrap()
    }

    fn openssl(&self, args: &[&str]) -> (bool, String) {
        openssl(&self.dir.0, args)
    }

    /// `openssl ts -query` with `args` into `name`.
    fn query(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = self.dir.path(name);
        let mut all = vec!["ts", "-query", "-data", "document.txt"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-out", out.to_str().unwrap()]);
        let (ok, text) = self.openssl(&all);
        assert!(ok, "openssl ts -query: {text}");
        out
    }

    /// Posts `body` with `curl`; returns the HTTP status and writes the body to `reply`.
    fn post(&self, body: &Path, content_type: &str, reply: &str) -> u16 {
        self.curl(&["-X", "POST", "-H", &format!("Content-Type: {content_type}"), "--data-binary"], body, reply)
    }

    fn curl(&self, args: &[&str], body: &Path, reply: &str) -> u16 {
        let url = format!("http://{}/", self.addr());
        let data = format!("@{}", body.display());
        let mut all = vec!["-sS", "--max-time", "30", "-o", reply, "-w", "%{http_code}"];
        all.extend_from_slice(args);
        if !args.is_empty() {
            all.push(&data);
        }
        all.push(&url);
        let (ok, text) = run(&self.dir.0, "curl", &all);
        assert!(ok, "curl: {text}");
        text.trim().parse().unwrap_or_else(|_| panic!("HTTP status from curl: {text}"))
    }

    fn reply_text(&self, reply: &str) -> String {
        let (ok, text) = self.openssl(&["ts", "-reply", "-in", reply, "-text"]);
        assert!(ok, "openssl ts -reply -text: {text}");
        text
    }

    /// The certificates a reply's token carries, as `openssl pkcs7 -print_certs` lists them.
    fn carried_certificates(&self, reply: &str) -> String {
        let token = format!("{reply}.token");
        let (ok, text) = self.openssl(&["ts", "-reply", "-in", reply, "-token_out", "-out", &token]);
        assert!(ok, "{text}");
        let (ok, text) = self.openssl(&["pkcs7", "-inform", "DER", "-in", &token, "-print_certs", "-noout"]);
        assert!(ok, "{text}");
        text
    }

    fn verify(&self, reply: &str, extra: &[&str]) -> (bool, String) {
        let mut args = vec!["ts", "-verify", "-in", reply, "-data", "document.txt", "-CAfile", "ca.pem"];
        args.extend_from_slice(extra);
        self.openssl(&args)
    }
}

/// The `Nonce:` line of `openssl ts … -text`.
fn nonce_line(text: &str) -> String {
    text.lines().find(|l| l.trim_start().starts_with("Nonce:")).unwrap_or_else(|| panic!("no nonce in {text}")).into()
}

/// Asserts that `f` changed neither the registers nor the audit log.
fn charges_nothing(rig: &Rig, what: &str, f: impl FnOnce()) {
    let before = rig.state();
    f();
    assert_eq!(rig.state(), before, "{what}: nothing is charged or logged");
}

/// Asserts that `f` charged exactly one postmark fee.
fn charges_one_postmark<R>(rig: &Rig, f: impl FnOnce() -> R) -> R {
    let (before, _) = rig.state();
    let out = f();
    let (after, _) = rig.state();
    assert_eq!(after.ar_certificates, before.ar_certificates + rig.fee, "AR_c up by one fee");
    assert_eq!(after.descending + rig.fee, before.descending, "DR down by one fee");
    assert_eq!(after.count(Service::Postmark), before.count(Service::Postmark) + 1, "one postmark");
    assert_eq!(after.postmark_serial, before.postmark_serial + 1);
    assert_eq!(after.ar_postage, before.ar_postage);
    assert!(after.balanced());
    out
}

#[test]
fn openssl_queries_get_verifiable_tokens_with_their_nonce_each_charged_once() {
    let rig = Rig::new("granted", 100_000);
    // certReq: the token carries the signer certificate; the CA alone verifies it.
    let query = rig.query("cert.tsq", &["-sha256", "-cert"]);
    let status = charges_one_postmark(&rig, || rig.post(&query, "application/timestamp-query", "cert.tsr"));
    assert_eq!(status, 200);
    let text = rig.reply_text("cert.tsr");
    assert!(text.contains("Status: Granted."), "{text}");
    let (ok, out) = rig.verify("cert.tsr", &[]);
    assert!(ok && out.contains("Verification: OK"), "{out}");
    let (_, query_text) = rig.openssl(&["ts", "-query", "-in", "cert.tsq", "-text"]);
    assert_eq!(nonce_line(&text), nonce_line(&query_text), "the nonce is echoed");
    // The query file check compares imprint and nonce too.
    let (ok, out) = rig.openssl(&["ts", "-verify", "-queryfile", "cert.tsq", "-in", "cert.tsr", "-CAfile", "ca.pem"]);
    assert!(ok && out.contains("Verification: OK"), "{out}");
    assert!(rig.carried_certificates("cert.tsr").contains("subject="), "the certificate is carried");

    // Without certReq: no certificate in the token; verifying needs the signer certificate.
    let query = rig.query("bare.tsq", &["-sha256"]);
    let status = charges_one_postmark(&rig, || rig.post(&query, "application/timestamp-query", "bare.tsr"));
    assert_eq!(status, 200);
    assert!(!rig.carried_certificates("bare.tsr").contains("subject="), "no certificate is carried");
    let (ok, out) = rig.verify("bare.tsr", &[]);
    assert!(!ok, "without the signer certificate the token cannot verify: {out}");
    let (ok, out) = rig.verify("bare.tsr", &["-untrusted", "signer.pem"]);
    assert!(ok && out.contains("Verification: OK"), "{out}");
    let (_, query_text) = rig.openssl(&["ts", "-query", "-in", "bare.tsq", "-text"]);
    assert_eq!(nonce_line(&rig.reply_text("bare.tsr")), nonce_line(&query_text));

    // No nonce asked, none given; a changed document does not verify.
    let query = rig.query("plain.tsq", &["-sha256", "-cert", "-no_nonce"]);
    charges_one_postmark(&rig, || assert_eq!(rig.post(&query, "application/timestamp-query", "plain.tsr"), 200));
    let text = rig.reply_text("plain.tsr");
    assert!(text.contains("Nonce: unspecified"), "{text}");
    rig.dir.write("document.txt", b"Contract between A and B, changed after the stamp.\n");
    let (ok, out) = rig.verify("plain.tsr", &[]);
    assert!(!ok, "a changed document must fail: {out}");
    // Three tokens, three serials.
    assert_eq!(rig.state().0.postmark_serial, 3);
}

#[test]
fn unsupported_hashes_policies_and_malformed_queries_are_rejected_and_charge_nothing() {
    let rig = Rig::new("rejected", 100_000);
    for hash in ["-sha1", "-sha512"] {
        let query = rig.query(&format!("{hash}.tsq"), &[hash, "-cert"]);
        let reply = format!("{hash}.tsr");
        charges_nothing(&rig, hash, || assert_eq!(rig.post(&query, "application/timestamp-query", &reply), 200));
        let text = rig.reply_text(&reply);
        assert!(text.contains("Status: Rejected."), "{hash}: {text}");
        assert!(text.contains("unrecognized or unsupported algorithm identifier"), "{hash}: badAlg: {text}");
        assert!(text.contains("only SHA-256"), "{hash}: the reason is given: {text}");
    }

    let query = rig.query("policy.tsq", &["-sha256", "-tspolicy", "1.2.3.4.5"]);
    charges_nothing(&rig, "policy", || assert_eq!(rig.post(&query, "application/timestamp-query", "policy.tsr"), 200));
    let text = rig.reply_text("policy.tsr");
    assert!(text.contains("Status: Rejected."), "{text}");
    assert!(text.contains("the requested TSA policy is not supported by the TSA"), "unacceptedPolicy: {text}");

    // Garbage, and a valid query with one byte cut: HTTP 400 with a badDataFormat rejection.
    let good = std::fs::read(rig.query("good.tsq", &["-sha256"])).unwrap();
    for (name, body) in
        [("garbage", b"this is not a timestamp query".to_vec()), ("cut", good[..good.len() - 1].to_vec())]
    {
        let path = rig.dir.write(&format!("{name}.tsq"), &body);
        let reply = format!("{name}.tsr");
        charges_nothing(&rig, name, || assert_eq!(rig.post(&path, "application/timestamp-query", &reply), 400));
        let text = rig.reply_text(&reply);
        assert!(text.contains("Status: Rejected."), "{name}: {text}");
        assert!(text.contains("the data submitted has the wrong format"), "{name}: badDataFormat: {text}");
    }
}

#[test]
fn wrong_method_type_or_size_is_refused_at_the_http_level() {
    let rig = Rig::new("http", 100_000);
    let query = rig.query("q.tsq", &["-sha256", "-cert"]);
    charges_nothing(&rig, "HTTP refusals", || {
        assert_eq!(rig.post(&query, "application/octet-stream", "415.out"), 415);
        assert_eq!(rig.curl(&[], &query, "405.out"), 405, "GET");
        assert_eq!(rig.curl(&["-X", "PUT", "--data-binary"], &query, "405b.out"), 405, "PUT");
        let big = rig.dir.write("big.tsq", &vec![0x30; 5000]);
        assert_eq!(rig.post(&big, "application/timestamp-query", "413.out"), 413);
    });
    // The media type may carry parameters.
    charges_one_postmark(&rig, || {
        assert_eq!(rig.post(&query, "Application/Timestamp-Query; charset=binary", "ok.tsr"), 200)
    });
    let (ok, out) = rig.verify("ok.tsr", &[]);
    assert!(ok, "{out}");
}

#[test]
fn insufficient_funds_is_a_system_failure_rejection_that_charges_nothing() {
    // Certifying the postmark key is charged too: learn its cost on a probe meter.
    let probe = Rig::new("funds-probe", 100_000);
    let (fee, setup) = (probe.fee, 100_000 - probe.state().0.descending);
    drop(probe);
    // Funds for one postmark and a half once the slot is certified.
    let rig = Rig::new("funds", setup + fee + fee / 2);
    assert_eq!(rig.state().0.descending, fee + fee / 2);
    let query = rig.query("q.tsq", &["-sha256", "-cert"]);
    charges_one_postmark(&rig, || assert_eq!(rig.post(&query, "application/timestamp-query", "one.tsr"), 200));
    charges_nothing(&rig, "no funds", || assert_eq!(rig.post(&query, "application/timestamp-query", "two.tsr"), 200));
    let text = rig.reply_text("two.tsr");
    assert!(text.contains("Status: Rejected."), "{text}");
    assert!(text.contains("the request cannot be handled due to system failure"), "systemFailure: {text}");
    assert!(text.to_lowercase().contains("insufficient funds"), "the reason names the funds: {text}");
}

#[test]
fn the_cli_serves_loopback_only_unless_told() {
    let dir = Scratch::new("cli");
    let state = dir.path("meter.pcmj");
    let state = state.to_str().unwrap();
    let pcmeter = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pcmeter"));
        c.env("PCMETER_PIN", "123456").env("PCMETER_CONFIG", dir.path("no-config.toml"));
        c
    };
    let created = pcmeter().args(["sim", "create", state, "--credit", "100"]).output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let out = pcmeter().args(["--sim", state, "tsa", "--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "refused as bad input");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address") && err.contains("--allow-remote"), "{err}");

    let mut child = pcmeter()
        .args(["--sim", state, "tsa", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    std::fs::write(dir.path("document.txt"), b"served by the CLI\n").unwrap();
    let (ok, text) = openssl(&dir.0, &["ts", "-query", "-data", "document.txt", "-sha256", "-cert", "-out", "q.tsq"]);
    assert!(ok, "{text}");
    let (ok, text) = run(
        &dir.0,
        "curl",
        &[
            "-sS",
            "--fail",
            "--max-time",
            "30",
            "-H",
            "Content-Type: application/timestamp-query",
            "--data-binary",
            "@q.tsq",
            "-o",
            "r.tsr",
            &url,
        ],
    );
    let verified = openssl(&dir.0, &["ts", "-verify", "-in", "r.tsr", "-data", "document.txt", "-CAfile", "ca.pem"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ok, "curl: {text}");
    assert!(verified.0 && verified.1.contains("Verification: OK"), "{}", verified.1);
}
