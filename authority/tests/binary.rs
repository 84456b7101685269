//! The real `pcmeter-authority` binary, end to end on SQLite: `init` (keys
//! 0600, CA certificate, database) → `register` → `credit` → `publish-rates`
//! → `serve` on 127.0.0.1:0 (address printed; listen address and admin token
//! from the environment over the TOML file) → health, OpenAPI, a recharge and
//! a credit line over HTTP → `report` → `revoke` → `crl` accepted by
//! `openssl crl` → `settle` once, the duplicate refused → SIGTERM stops it.

mod common;

use apdu_specs::credit::{DOMAIN_PAYMENT_CERTIFICATE, PaymentCertificate};
use common::SoftMeter;
use common::service::{ADMIN_TOKEN, Site, openssl};
use host_driver::authority::{AuthorityClient, ClientError, CreditRequest, IdempotencyKey};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_binary_runs_the_operator_commands_and_serves_the_api() {
    let site = Site::new("binary", None);
    let init = site.ok(&["init"]);
    assert!(init.contains("initialized"), "{init}");
    let keys = site.config().key_dir;
    for name in ["authority.key", "issuer.key", "ca.key"] {
        let mode = std::fs::metadata(keys.join(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    let again = site.run(&["init"]);
    assert_eq!(again.status.code(), Some(1), "init never replaces keys");
    assert!(String::from_utf8_lossy(&again.stderr).contains("never replaces keys"));
    openssl(&["x509", "-in", "keys/ca.pem", "-noout", "-subject"], &site.dir);

    let mut m = SoftMeter::new(21);
    let meter_id = hex::encode(m.id);
    let registered = json(&site.ok(&[
        "register",
        "--meter-id",
        &meter_id,
        "--device-key",
        &hex::encode(m.key.public()),
        "--account",
        "acme",
        "--control-total",
        &m.regs.control_total.to_string(),
    ]));
    assert_eq!(registered["meter_id"], meter_id);
    assert_eq!(json(&site.ok(&["credit", "--account", "acme", "--amount", "50000"])), 50_000);
    let unknown = site.run(&["credit", "--account", "acme", "--amount", "0"]);
    assert_eq!(unknown.status.code(), Some(1), "a zero credit is refused");

    let rates = site.dir.join("rates.json");
    let spec = serde_json::json!({"version": 3, "effective_from": 0, "currency": "EUR", "exponent": 2,
        "classes": [[1, [[20, 95], [100, 155]]]], "fees": [["postmark", 30]]});
    std::fs::write(&rates, spec.to_string()).unwrap();
    let published = json(&site.ok(&["publish-rates", "--file", rates.to_str().unwrap()]));
    assert_eq!(published["version"], 3);

    let mut server = site.serve();
    let client = AuthorityClient::new(&server.base, Duration::from_secs(30));
    let health = client.health().unwrap();
    assert_eq!((health.status.as_str(), health.storage.as_str()), ("ok", "sqlite"));
    let doc: serde_json::Value = client.get("/v1/openapi.json").unwrap();
    assert!(doc["paths"]["/v1/settlements"]["post"].is_object(), "{doc}");
    assert_eq!(client.latest_rates().unwrap().version, 3, "the table published offline is served");

    // The admin token comes from the environment: the right one works, no other does.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let credit = |token: &str, key: &str| {
        agent
            .post(format!("{}/v1/admin/accounts/credit", server.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Idempotency-Key", key)
            .content_type("application/json")
            .send(r#"{"account_id": "acme", "amount": 1000}"#)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(credit("not-the-token", "k1"), 401);
    assert_eq!(credit(ADMIN_TOKEN, "k2"), 200);

    // A recharge over HTTP, S2 checked under the key `init` wrote, S3 settled.
    let s2 = client.recharge(&IdempotencyKey::generate().unwrap(), &m.s1(7_000)).unwrap();
    let s3 = m.credit(&hex::decode(&s2.s2).unwrap(), &site.authority_key()).unwrap();
    assert_eq!(client.receipt(&IdempotencyKey::generate().unwrap(), &s3).unwrap().state, "settled");

    // `report` reads the same database while the server runs.
    let report = json(&site.ok(&["report"]));
    let row = &report["meters"][0];
    assert_eq!(
        (row["nt"].as_u64(), row["control_total"].as_u64(), row["recharges"].as_u64(), row["settled"].as_u64()),
        (Some(1), Some(8_000), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(row["balance"].as_u64(), Some(50_000 + 1_000 - 7_000), "{report}");

    // A slot certificate from the CA files, revoked by the operator, listed by `crl`.
    let config = site.config();
    let mut ca = config.certificate_authority().unwrap();
    let now = authority::service::clock::unix_now();
    let slot_key = authority::SigningKeyPair::from_seed("binary slot 2");
    let cert =
        ca.certify(&m.id, 2, &slot_key.public(), apdu_specs::x509::Usage::Signature, now - 10, now + 86_400).unwrap();
    let order = json(&site.ok(&[
        "revoke",
        "--meter-id",
        &meter_id,
        "--slot",
        "2",
        "--public-key",
        &hex::encode(slot_key.public()),
        "--reason",
        "1",
    ]));
    assert_eq!(order["reason"], 1, "{order}");
    site.ok(&["crl", "--out", "crl.der"]);
    let text =
        openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "keys/ca.pem", "-noout", "-text"], &site.dir);
    assert!(text.contains("verify OK"), "{text}");
    let serial = apdu_specs::x509::Certificate::parse(&cert).unwrap().serial.to_vec();
    assert!(text.to_uppercase().contains(&hex::encode_upper(&serial[1..])), "the CRL lists the certificate:\n{text}");

    let served = client.crl().unwrap();
    std::fs::write(site.dir.join("served.der"), &served).unwrap();
    let text = openssl(
        &["crl", "-inform", "DER", "-in", "served.der", "-CAfile", "keys/ca.pem", "-noout", "-text"],
        &site.dir,
    );
    assert!(
        text.to_uppercase().contains(&hex::encode_upper(&serial[1..])),
        "the running server serves the revocation the operator wrote:\n{text}"
    );

    // A line of credit over HTTP (postmark by a key the CA certified for the meter).
    let tsa = testkit::forge::TestTsa::new(&mut ca, &m.id);
    let message = b"credit request: Acme".to_vec();
    let token = tsa.token(tsa.tst_info(&testkit::forge::sha256(&message))).signed_by(&tsa.key);
    let request = CreditRequest {
        meter_id: meter_id.clone(),
        holder: "Acme".into(),
        amount: 900,
        postmark: hex::encode(&token),
        message: hex::encode(&message),
    };
    let decision = client.request_credit(&IdempotencyKey::generate().unwrap(), &request).unwrap();
    assert!(decision.granted, "{decision:?}");
    let line = decision.credit_line.unwrap();
    let body = PaymentCertificate {
        serial: 1,
        holder: "Acme".into(),
        meter_id: m.id,
        credit_line_digest: host_driver::signature::P256Verifier.sha256(&[&hex::decode(&line).unwrap()]),
        amount: 400,
        credit_remaining: 500,
        currency: *b"EUR",
        exponent: 2,
        time: now,
        merchant: "Shop".into(),
        reference: "INV-1".into(),
    }
    .encode();
    let payment = hex::encode(m.sign(DOMAIN_PAYMENT_CERTIFICATE, &body));

    // `settle` settles each serial once.
    let settled = json(&site.ok(&["settle", "--credit-line", &line, "--payment", &payment]));
    assert_eq!((settled["serial"].as_u64(), settled["settled_total"].as_u64()), (Some(1), Some(400)), "{settled}");
    let twice = site.run(&["settle", "--credit-line", &line, "--payment", &payment]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already settled"), "{twice:?}");
    match client.settle(
        &IdempotencyKey::generate().unwrap(),
        &hex::decode(&line).unwrap(),
        &hex::decode(&payment).unwrap(),
    ) {
        Err(ClientError::Refused { status: 409, code, .. }) => assert_eq!(code, "double_spend"),
        other => panic!("the server sees the operator's settlement: {other:?}"),
    }

    assert!(server.terminate().success(), "SIGTERM stops the server cleanly");
}

#[test]
fn configuration_errors_are_refused_with_the_reason() {
    let site = Site::new("config", None);
    site.ok(&["init"]);
    let bad_env = site.command(&["report"]).env("PCMETER_AUTHORITY_STORE_THREADS", "many").output().unwrap();
    assert_eq!(bad_env.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_env.stderr).contains("PCMETER_AUTHORITY_STORE_THREADS"));
    let remote = site.command(&["serve"]).env("PCMETER_AUTHORITY_LISTEN", "0.0.0.0:0").output().unwrap();
    assert_eq!(remote.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&remote.stderr).contains("loopback"), "{remote:?}");
    std::fs::write(&site.config, "listen = \"127.0.0.1:0\"\nunknown_field = 1\n").unwrap();
    let typo = site.run(&["report"]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("unknown_field"), "{typo:?}");
    let usage = site.run(&["register"]);
    assert_eq!(usage.status.code(), Some(2), "a usage error exits 2");
}
