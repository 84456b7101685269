//! The service over real loopback HTTP with the typed client and a software
//! meter: recharge with replays and idempotency refusals, bad input that
//! writes nothing, inspection, lock orders, rates, revocation → CRL checked
//! by openssl, credit line → settlement → duplicate refused.

mod common;

use apdu_specs::credit::{DOMAIN_PAYMENT_CERTIFICATE, PaymentCertificate};
use apdu_specs::signed::Signed;
use authority::service::http::{App, router};
use authority::service::pool::StorePool;
use authority::store::Location;
use common::{SoftMeter, authority};
use host_driver::authority::{AuthorityClient, ClientError, CreditRequest, IdempotencyKey};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "admin-secret";

fn start(location: Location) -> (String, Arc<App>) {
    let pool = StorePool::start(&location, 2).unwrap();
    let app = Arc::new(App::new(pool, Arc::new(authority(None)), Some(TOKEN)));
    let (tx, rx) = std::sync::mpsc::channel();
    let served = Arc::clone(&app);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, router(served)).await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    (format!("http://{addr}"), app)
}

fn raw(url: &str, key: Option<&str>, token: Option<&str>, body: &[u8]) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.post(url).content_type("application/json");
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

fn admin(base: &str, path: &str, key: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, answer) = raw(&format!("{base}{path}"), Some(key), Some(TOKEN), body.to_string().as_bytes());
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

fn refused(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Refused { status, code, .. } => (status, code),
        other => panic!("expected a refusal, got {other}"),
    }
}

fn ledger_rows(app: &App) -> i64 {
    let pool = app.pool.clone();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(pool.run(|b| {
        authority::store::transact(b, |tx: &mut dyn authority::store::Tx| {
            Ok(Ok::<_, ()>(tx.query_one("SELECT CAST(COUNT(*) AS BIGINT) FROM recharges", &[])?.int(0)?))
        })
    }))
    .unwrap()
    .unwrap()
    .unwrap()
}

fn flows(location: Location) {
    let (base, app) = start(location);
    let client = AuthorityClient::new(&base, Duration::from_secs(30));
    assert_eq!(client.health().unwrap().status, "ok");
    let doc: serde_json::Value = client.get("/v1/openapi.json").unwrap();
    assert!(doc["paths"]["/v1/recharges"]["post"].is_object(), "the generated document lists the recharge endpoint");

    let mut m = SoftMeter::new(7);
    let register = serde_json::json!({
        "meter_id": hex::encode(m.id), "device_key": hex::encode(m.key.public()),
        "account_id": "acme", "control_total": m.regs.control_total,
    });
    let (status, body) =
        raw(&format!("{base}/v1/admin/meters"), Some("r0"), Some("wrong"), register.to_string().as_bytes());
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    admin(&base, "/v1/admin/meters", "r1", register);
    admin(&base, "/v1/admin/accounts/credit", "c1", serde_json::json!({"account_id": "acme", "amount": 50_000}));

    // Recharge: S1 → S2 → card credit → S3 settled; replays return the stored S2.
    let key = IdempotencyKey::generate().unwrap();
    let s1 = m.s1(10_000);
    let s2 = client.recharge(&key, &s1).unwrap();
    assert_eq!(client.recharge(&key, &s1).unwrap(), s2, "same key, same answer");
    assert_eq!(client.recharge(&IdempotencyKey::generate().unwrap(), &s1).unwrap().s2, s2.s2, "same (meter, NT)");
    let other = m.clone().s1(10_000);
    assert_eq!(refused(client.recharge(&key, &other).unwrap_err()), (422, "idempotency_key_reused".into()));
    let s3 = m.credit(&hex::decode(&s2.s2).unwrap(), &app.authority.key.public()).unwrap();
    assert_eq!(client.receipt(&IdempotencyKey::generate().unwrap(), &s3).unwrap().state, "settled");
    assert_eq!(m.regs.control_total, 11_000);

    // Bad input: 4xx with a reason, nothing written.
    let rows = ledger_rows(&app);
    let url = format!("{base}/v1/recharges");
    let good = serde_json::json!({"s1": hex::encode(m.clone().s1(5))}).to_string();
    assert_eq!(raw(&url, None, None, good.as_bytes()).0, 400, "missing key");
    let (status, body) = raw(&url, Some("bad-json"), None, b"{\"s1\": ");
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("malformed")));
    assert_eq!(raw(&url, Some("big"), None, &vec![b' '; 100_000]).0, 413);
    let mut altered = m.clone().s1(5);
    altered[20] ^= 1;
    assert_eq!(refused(client.recharge(&IdempotencyKey::generate().unwrap(), &altered).unwrap_err()).0, 403);
    let stranger = SoftMeter::new(99).s1(5);
    assert_eq!(
        refused(client.recharge(&IdempotencyKey::generate().unwrap(), &stranger).unwrap_err()),
        (404, "unknown_meter".into())
    );
    assert_eq!(
        refused(client.recharge(&IdempotencyKey::generate().unwrap(), &m.clone().s1(0)).unwrap_err()).1,
        "zero_amount"
    );
    assert_eq!(
        refused(client.recharge(&IdempotencyKey::generate().unwrap(), &m.clone().s1(u64::MAX)).unwrap_err()).0,
        422
    );
    assert_eq!(ledger_rows(&app), rows, "no refusal wrote a ledger row");

    // Inspection: a clean report is acknowledged with the next deadline.
    m.spend(300);
    let result = client.inspect(&IdempotencyKey::generate().unwrap(), &m.report(1)).unwrap();
    assert!(result.discrepancies.is_empty(), "{:?}", result.discrepancies);
    let ack = hex::decode(result.ack.unwrap()).unwrap();
    let ack_body = apdu_specs::inspection::InspectionAck::parse(Signed::parse(&ack).unwrap().body).unwrap();
    assert_eq!(Some(ack_body.next_deadline), result.next_deadline);
    let mut liar = m.clone();
    liar.regs.control_total += 5;
    liar.regs.descending += 5;
    let flagged = client.inspect(&IdempotencyKey::generate().unwrap(), &liar.report(2)).unwrap();
    assert!(flagged.ack.is_none() && !flagged.discrepancies.is_empty());

    // Lock orders: created by the operator, fetched by the meter in order.
    admin(
        &base,
        "/v1/admin/lock-orders",
        "l1",
        serde_json::json!({"meter_id": hex::encode(m.id), "action": "lock", "reason": 3}),
    );
    admin(
        &base,
        "/v1/admin/lock-orders",
        "l2",
        serde_json::json!({"meter_id": hex::encode(m.id), "action": "unlock", "reason": 0}),
    );
    let pending = client.lock_orders(&m.id, 0).unwrap();
    assert_eq!(
        pending.orders.iter().map(|o| (o.sequence, o.action.as_str())).collect::<Vec<_>>(),
        [(1, "lock"), (2, "unlock")]
    );
    assert_eq!(client.lock_orders(&m.id, 1).unwrap().orders.len(), 1);

    // Rates: versions only go up; the latest is served signed.
    let table = serde_json::json!({"version": 2, "effective_from": 0, "currency": "USD", "exponent": 2,
        "classes": [[1, [[28, 73]]]], "fees": [["postmark", 25]]});
    admin(&base, "/v1/admin/rate-tables", "t1", table.clone());
    let (status, body) =
        raw(&format!("{base}/v1/admin/rate-tables"), Some("t2"), Some(TOKEN), table.to_string().as_bytes());
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("stale_version")));
    assert_eq!(client.latest_rates().unwrap().version, 2);

    // Revocation: request → order → CRL that openssl accepts and that lists the certificate.
    let slot_key = authority::SigningKeyPair::from_seed("slot 3");
    let cert = app
        .authority
        .with_ca(|ca| {
            ca.certify(
                &m.id,
                3,
                &slot_key.public(),
                apdu_specs::x509::Usage::Signature,
                common::NOW - 10,
                common::NOW + 86_400 * 700,
            )
        })
        .unwrap();
    let mut forged = m.revocation_request(3, slot_key.public(), 1);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(refused(client.revoke(&IdempotencyKey::generate().unwrap(), &forged).unwrap_err()).1, "bad_signature");
    let order =
        client.revoke(&IdempotencyKey::generate().unwrap(), &m.revocation_request(3, slot_key.public(), 1)).unwrap();
    assert_eq!(order.reason, 1);
    let crl = client.crl().unwrap();
    let dir = std::env::temp_dir().join(format!("pcmeter-http-crl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crl.der"), &crl).unwrap();
    std::fs::write(dir.join("ca.pem"), app.authority.with_ca(|ca| ca.certificate_pem())).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-in"])
        .arg(dir.join("crl.der"))
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .args(["-noout", "-text"])
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("verify OK"), "{text}");
    let serial = apdu_specs::x509::Certificate::parse(&cert).unwrap().serial.to_vec();
    assert!(
        text.to_uppercase().contains(&hex::encode_upper(&serial[1..])),
        "the CRL lists the revoked certificate:\n{text}"
    );
    std::fs::remove_dir_all(&dir).ok();

    // Credit: postmark-backed request → line; payment settled once; duplicates refused.
    let tsa = app.authority.with_ca(|ca| testkit::forge::TestTsa::new(ca, &m.id));
    let message = b"credit request: Acme Mail Room".to_vec();
    let token = tsa.token(tsa.tst_info(&testkit::forge::sha256(&message))).signed_by(&tsa.key);
    let request = CreditRequest {
        meter_id: hex::encode(m.id),
        holder: "Acme Mail Room".into(),
        amount: 1_000,
        postmark: hex::encode(&token),
        message: hex::encode(&message),
    };
    let decision = client.request_credit(&IdempotencyKey::generate().unwrap(), &request).unwrap();
    assert!(decision.granted, "{decision:?}");
    let line = hex::decode(decision.credit_line.unwrap()).unwrap();
    let digest = host_driver::signature::P256Verifier.sha256(&[&line]);
    let payment = |serial: u32, amount: u64| {
        let body = PaymentCertificate {
            serial,
            holder: "Acme Mail Room".into(),
            meter_id: m.id,
            credit_line_digest: digest,
            amount,
            credit_remaining: 0,
            currency: *b"USD",
            exponent: 2,
            time: common::NOW,
            merchant: "Shop".into(),
            reference: "INV".into(),
        }
        .encode();
        m.sign(DOMAIN_PAYMENT_CERTIFICATE, &body)
    };
    let first = payment(1, 600);
    let key = IdempotencyKey::generate().unwrap();
    assert_eq!(client.settle(&key, &line, &first).unwrap().settled_total, 600);
    assert_eq!(client.settle(&key, &line, &first).unwrap().settled_total, 600, "a replay of the same request");
    assert_eq!(
        refused(client.settle(&IdempotencyKey::generate().unwrap(), &line, &first).unwrap_err()),
        (409, "double_spend".into())
    );
    assert_eq!(
        refused(client.settle(&IdempotencyKey::generate().unwrap(), &line, &payment(2, 500)).unwrap_err()).1,
        "double_spend"
    );
    assert_eq!(
        client.settle(&IdempotencyKey::generate().unwrap(), &line, &payment(2, 400)).unwrap().settled_total,
        1_000
    );
}

#[test]
fn http_flows_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("pcmeter-http-sqlite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    flows(Location::Sqlite(dir.join("authority.db")));
}

#[test]
fn http_flows_on_postgresql() {
    let Some(pg) = testkit::postgres::TempPostgres::start_or_skip("http") else { return };
    flows(Location::Postgres(pg.url().to_string()));
}
