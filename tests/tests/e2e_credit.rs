//! Revocation (Fig. 6) and the line of credit (Figs. 7–9) end to end: the
//! authority service over real loopback HTTP, a card that trusts its keys,
//! and host-driver's `remote` flows between them, with the card in process
//! and again through pcscd + vpcd.
//!
//! Revocation: a request with a bad signature is refused (604/606) and
//! writes nothing; request → order → REVOKE → confirmation recorded; the
//! CRL the service publishes is accepted by `openssl crl` and makes the
//! off-card validation of a postmark by the revoked slot say "revoked"; a
//! forced revocation reaches the card without a request. Credit: a
//! postmarked request → line installed → PAY → the merchant verifies
//! offline and settles → the same serial again is a double spend; a payment
//! beyond the credit remaining (906) changes nothing on the card; a tampered
//! payment certificate is refused by the merchant and by the issuer. On
//! SQLite, and the in-process flows once more on PostgreSQL.

use apdu_specs::certs::SlotState;
use apdu_specs::credit::PaymentRequest;
use apdu_specs::postmark::Verdict;
use apdu_specs::registers::Registers;
use apdu_specs::x509::{Certificate, Usage};
use authority::service::http::{App, router};
use authority::service::pool::StorePool;
use authority::service::{Authority, Policy, clock};
use authority::store::{Location, Tx, transact};
use authority::{CertDb, CertificateAuthority};
use card_sim::{Entropy, SimCard, SimClock, SimPlatform};
use host_driver::authority::{AuthorityClient, ClientError, IdempotencyKey};
use host_driver::certificates::{CrlAt, verify_postmark};
use host_driver::remote::credit::{self, CreditApplication, CreditError};
use host_driver::remote::revocation::{self, RevocationError};
use host_driver::verify::{PaymentError, verify_payment};
use host_driver::{CardStatus, Meter, MeterError, Pin, Transaction, Transport};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use testkit::services::credit_issuer;
use testkit::vector_keys;

const TOKEN: &str = "e2e-admin-token";
/// Certified postmark slot used for the credit request.
const POSTMARK: u8 = 0;
/// Certified postmark slot revoked on the user's request.
const REVOKED_POSTMARK: u8 = 1;
/// Certified signature slot revoked by the authority (forced).
const FORCED: u8 = 2;

/// The service on loopback, trusting nothing but what it registers.
struct Service {
    base: String,
    app: Arc<App>,
    client: AuthorityClient,
}

impl Service {
    /// The service with the vector authority and CA keys and the vector credit issuer: the keys the card trusts.
    fn start(location: &Location) -> Self {
        let keys = vector_keys();
        let ca = CertificateAuthority::new(keys.ca.clone(), "PCMeter E2E CA", testkit::FIXTURE_TIME, {
            CertDb::in_memory().unwrap()
        })
        .unwrap();
        let authority = Authority::new(keys.authority.clone(), credit_issuer(), ca, Policy::default()).unwrap();
        let pool = StorePool::start(location, 2).unwrap();
        let app = Arc::new(App::new(pool, Arc::new(authority), Some(TOKEN)));
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
        let base = format!("http://{addr}");
        let client = AuthorityClient::new(&base, Duration::from_secs(30));
        Self { base, app, client }
    }

    /// An admin POST; panics unless it answers 200.
    fn admin(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut resp = agent
            .post(&format!("{}{path}", self.base))
            .header("Idempotency-Key", IdempotencyKey::generate().unwrap().as_str())
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .content_type("application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        assert_eq!(status, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Rows of `table` in the service's database.
    fn rows(&self, table: &'static str) -> i64 {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(self.app.pool.run(move |b| {
            transact(b, |tx: &mut dyn Tx| {
                Ok(Ok::<_, ()>(tx.query_one(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"), &[])?.int(0)?))
            })
        }))
        .unwrap()
        .unwrap()
        .unwrap()
    }

    fn ca_key(&self) -> [u8; 65] {
        self.app.authority.with_ca(|ca| ca.public_key())
    }
}

/// The vector card (trusting the vector authority, CA and credit issuer) on a fixed clock set to now.
fn card() -> (SimCard<card_sim::MemoryStore>, SimClock) {
    let clock = SimClock::fixed(clock::unix_now());
    let platform = SimPlatform::new(testkit::oracle::operational_store(), Entropy::seeded(21), clock.clone());
    (SimCard::from_platform(platform).unwrap(), clock)
}

fn refusal(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Refused { status, code, .. } => (status, code),
        other => panic!("expected a refusal, got {other}"),
    }
}

/// The meter as the flows see it: its transport, clock and identity.
struct Card<T: Transport> {
    meter: Meter<T>,
    clock: SimClock,
    meter_id: [u8; 12],
}

impl<T: Transport> Card<T> {
    fn new(meter: Meter<T>, clock: SimClock) -> Self {
        let meter_id = meter.fci().and_then(|f| f.meter_id).expect("personalized");
        Self { meter, clock, meter_id }
    }

    /// Runs `f` in one transaction with the PIN verified, the card clock moved up to the service's.
    fn with_pin<R>(&mut self, f: impl FnOnce(&mut Transaction<'_, T>) -> R) -> R {
        self.clock.set(clock::unix_now().max(self.clock.now().unwrap()));
        let mut tx = self.meter.transaction().unwrap();
        tx.verify_pin(&Pin::new("123456").unwrap()).unwrap();
        f(&mut tx)
    }

    fn registers(&mut self) -> Registers {
        self.meter.run(|tx| tx.registers()).unwrap()
    }
}

/// Registers the meter, publishes a rate table in the card's currency and
/// certifies two postmark slots and a signature slot with the service's CA.
fn enrol<T: Transport>(svc: &Service, card: &mut Card<T>) {
    let device = card.meter.run(|tx| tx.public_keys()).unwrap().device;
    let control_total = card.registers().control_total;
    svc.admin(
        "/v1/admin/meters",
        serde_json::json!({"meter_id": hex::encode(card.meter_id), "device_key": hex::encode(device),
            "account_id": "e2e", "control_total": control_total}),
    );
    let table = card.meter.run(|tx| tx.rate_table()).unwrap().table;
    svc.admin(
        "/v1/admin/rate-tables",
        serde_json::json!({"version": table.version + 1, "effective_from": 0,
            "currency": String::from_utf8_lossy(&table.currency), "exponent": table.exponent,
            "classes": [[1, [[28, 73]]]], "fees": [["postmark", 25]]}),
    );
    for (slot, usage) in [(POSTMARK, Usage::Postmark), (REVOKED_POSTMARK, Usage::Postmark), (FORCED, Usage::Signature)]
    {
        card.with_pin(|tx| {
            let now = clock::unix_now();
            svc.app.authority.with_ca(|ca| authority::certify_slot(tx, ca, slot, usage, now)).unwrap();
        });
    }
}

fn slot_state<T: Transport>(card: &mut Card<T>, slot: u8) -> SlotState {
    card.meter.run(|tx| tx.read_slot(slot)).unwrap().state
}

fn certificate_serial<T: Transport>(card: &mut Card<T>, slot: u8) -> Vec<u8> {
    let der = card.meter.run(|tx| tx.read_slot(slot)).unwrap().certificate.expect("certificate kept");
    Certificate::parse(&der).unwrap().serial.to_vec()
}

/// `openssl crl -inform DER -CAfile ca.pem -noout -text`: the CRL verifies and lists `serials`.
fn openssl_accepts_crl(svc: &Service, crl: &[u8], serials: &[Vec<u8>]) {
    let dir = testkit::pki::Scratch::new("e2e-crl");
    let der = dir.write("crl.der", crl);
    let ca = dir.write("ca.pem", svc.app.authority.with_ca(|ca| ca.certificate_pem()).as_bytes());
    let out = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-CAfile")
        .arg(&ca)
        .args(["-noout", "-text"])
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("verify OK"), "openssl crl refused the CRL:\n{text}");
    for serial in serials {
        let hex = hex::encode_upper(serial.strip_prefix(&[0u8][..]).unwrap_or(serial));
        assert!(text.to_uppercase().contains(&hex), "the CRL lists certificate {hex}:\n{text}");
    }
}

fn revocation_flows<T: Transport>(svc: &Service, card: &mut Card<T>) {
    let client = &svc.client;
    let document = b"contract signed before the key was compromised".to_vec();
    let token = card.with_pin(|tx| tx.postmark_message(REVOKED_POSTMARK, &document)).unwrap();
    let crl = client.crl().unwrap();
    let now = clock::unix_now();
    assert_eq!(
        verify_postmark(&token, &document, &svc.ca_key(), Some(CrlAt { der: &crl, now })).unwrap(),
        Verdict::Valid
    );

    // 604/606: a request whose device signature does not verify is refused and records nothing.
    let mut forged = card.with_pin(|tx| tx.revocation_request(REVOKED_POSTMARK, 1)).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let before = svc.rows("revocations");
    assert_eq!(
        refusal(client.revoke(&IdempotencyKey::generate().unwrap(), &forged).unwrap_err()),
        (403, "bad_signature".into())
    );
    assert_eq!(svc.rows("revocations"), before, "a refused request writes nothing");
    assert_eq!(slot_state(card, REVOKED_POSTMARK), SlotState::Certified);

    // 602 → 608 → 610–624: the key is destroyed, the fee paid, the confirmation recorded.
    let regs = card.registers();
    let serial = certificate_serial(card, REVOKED_POSTMARK);
    let done = card.with_pin(|tx| revocation::revoke(tx, client, REVOKED_POSTMARK, 1)).unwrap();
    assert_eq!((done.ordered.slot, done.ordered.reason, done.confirmed.slot), (REVOKED_POSTMARK, 1, REVOKED_POSTMARK));
    assert!(done.confirmed.paid, "DR covers the fee");
    assert_eq!((done.recorded.payment.as_str(), done.recorded.fee), ("paid", done.confirmed.fee));
    assert_eq!(slot_state(card, REVOKED_POSTMARK), SlotState::Revoked);
    let after = card.registers();
    assert!(after.balanced());
    assert_eq!(after.ar_certificates, regs.ar_certificates + u64::from(done.confirmed.fee));
    assert_eq!(after.descending, regs.descending - u64::from(done.confirmed.fee));
    assert!(
        client.get::<host_driver::authority::PendingRevocationOrders>(&pending_path(card)).unwrap().orders.is_empty()
    );

    // The CRL is regenerated: openssl accepts it and the revoked slot's postmark is "revoked".
    let crl = client.crl().unwrap();
    openssl_accepts_crl(svc, &crl, std::slice::from_ref(&serial));
    let now = clock::unix_now();
    assert_eq!(
        verify_postmark(&token, &document, &svc.ca_key(), Some(CrlAt { der: &crl, now })).unwrap(),
        Verdict::Revoked
    );
    // The card refuses to postmark with the revoked slot.
    assert!(matches!(
        card.with_pin(|tx| tx.postmark_message(REVOKED_POSTMARK, b"later")),
        Err(MeterError::Card(CardStatus::KeyRevoked))
    ));

    // Forced revocation: the admin orders it without a request; the host fetches and applies it.
    let forced_key = card.meter.run(|tx| tx.read_slot(FORCED)).unwrap().public_key.unwrap();
    let forced_serial = certificate_serial(card, FORCED);
    svc.admin(
        "/v1/admin/revocations",
        serde_json::json!({"meter_id": hex::encode(card.meter_id), "slot": FORCED,
            "public_key": hex::encode(forced_key), "reason": 4}),
    );
    let pending = client.get::<host_driver::authority::PendingRevocationOrders>(&pending_path(card)).unwrap();
    assert_eq!(pending.orders.len(), 1);
    let meter_id = card.meter_id;
    let applied = card.with_pin(|tx| revocation::apply_pending(tx, client, &meter_id)).unwrap();
    assert_eq!(applied.iter().map(|r| (r.confirmed.slot, r.ordered.reason)).collect::<Vec<_>>(), [(FORCED, 4)]);
    assert_eq!(slot_state(card, FORCED), SlotState::Revoked);
    assert!(
        client.get::<host_driver::authority::PendingRevocationOrders>(&pending_path(card)).unwrap().orders.is_empty()
    );
    assert!(card.with_pin(|tx| revocation::apply_pending(tx, client, &meter_id)).unwrap().is_empty(), "nothing left");
    openssl_accepts_crl(svc, &client.crl().unwrap(), &[serial, forced_serial]);

    // A revoked slot cannot be revoked again: the card refuses the request.
    match card.with_pin(|tx| revocation::revoke(tx, client, FORCED, 1)) {
        Err(RevocationError::Meter(MeterError::Card(CardStatus::KeyRevoked))) => {}
        other => panic!("expected the card to refuse, got {other:?}"),
    }
}

fn pending_path<T: Transport>(card: &Card<T>) -> String {
    format!("/v1/meters/{}/revocation-orders", hex::encode(card.meter_id))
}

/// What a refused PAY must leave unchanged.
fn card_snapshot<T: Transport>(card: &mut Card<T>) -> (Registers, apdu_specs::credit::CreditStatus, u32) {
    let regs = card.registers();
    let status = card.meter.run(|tx| tx.credit_status()).unwrap();
    let head = card.meter.run(|tx| tx.audit_head()).unwrap();
    (regs, status, head.records)
}

fn credit_flows<T: Transport>(svc: &Service, card: &mut Card<T>, with_cli: bool) {
    let client = &svc.client;
    let issuer = credit_issuer().public();
    let meter_id = card.meter_id;

    // 806: the issuer declines a line above its maximum; the card installs nothing.
    let too_much = CreditApplication { holder: "E2E Mail Room".into(), amount: 10_000_000, postmark_slot: POSTMARK };
    let lines_before = svc.rows("credit_lines");
    match card.with_pin(|tx| credit::request_credit(tx, client, &meter_id, &too_much)) {
        Err(CreditError::Declined { reason }) => assert!(reason.contains("maximum"), "{reason}"),
        other => panic!("expected a decline, got {other:?}"),
    }
    assert_eq!(svc.rows("credit_lines"), lines_before);

    // 802 → 804 → 808 → 812.
    let application = CreditApplication { holder: "E2E Mail Room".into(), amount: 50_000, postmark_slot: POSTMARK };
    let installed = card.with_pin(|tx| credit::request_credit(tx, client, &meter_id, &application)).unwrap();
    let table = card.meter.run(|tx| tx.rate_table()).unwrap().table;
    assert_eq!((installed.line.currency, installed.line.exponent), (table.currency, table.exponent));
    assert_eq!((installed.line.line, installed.line.holder.as_str()), (50_000, "E2E Mail Room"));
    assert_eq!((installed.status.line, installed.status.remaining), (50_000, 50_000));
    assert_eq!(card.meter.run(|tx| tx.credit_line()).unwrap(), installed.envelope);
    let line = installed.envelope;

    // 902–910: PAY subtracts the credit and returns a certificate the merchant verifies offline.
    let first_serial = card.meter.run(|tx| tx.credit_status()).unwrap().payment_serial + 1;
    let pay = |amount: u64, reference: &str| PaymentRequest {
        amount,
        merchant: "Stationer".into(),
        reference: reference.into(),
    };
    let regs = card.registers();
    let payment = card.with_pin(|tx| credit::pay(tx, &pay(12_000, "INV-1"))).unwrap();
    assert_eq!(
        (payment.certificate.serial, payment.certificate.amount, payment.certificate.credit_remaining),
        (first_serial, 12_000, 38_000)
    );
    let after = card.registers();
    assert!(after.balanced());
    assert_eq!(after.control_total, regs.control_total, "credit is not money of the registers");
    let verified = verify_payment(&payment.envelope, &line, &issuer).unwrap();
    assert_eq!(verified.certificate, payment.certificate);

    // 906: more than the credit remaining is refused and changes nothing.
    let before = card_snapshot(card);
    match card.with_pin(|tx| credit::pay(tx, &pay(38_001, "INV-2"))) {
        Err(CreditError::Meter(MeterError::Card(CardStatus::InsufficientCredit))) => {}
        other => panic!("expected 906, got {other:?}"),
    }
    assert_eq!(card_snapshot(card), before, "a refused payment changes nothing");

    // Settlement: once per serial; the same certificate again is a double spend.
    let (_, settled) = credit::settle(client, &issuer, &payment.envelope, &line).unwrap();
    assert_eq!((settled.serial, settled.amount, settled.settled_total), (first_serial, 12_000, 12_000));
    match credit::settle(client, &issuer, &payment.envelope, &line) {
        Err(CreditError::Authority(e)) => assert_eq!(refusal(e), (409, "double_spend".into())),
        other => panic!("expected a double spend, got {other:?}"),
    }

    // A tampered certificate: the merchant's offline check refuses it, and so does the issuer.
    let mut tampered = payment.envelope.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x40;
    assert!(matches!(credit::settle(client, &issuer, &tampered, &line), Err(CreditError::Payment(_))));
    assert!(matches!(
        verify_payment(&tampered, &line, &issuer),
        Err(PaymentError::CertificateSignature(_) | PaymentError::Format(_))
    ));
    let settled_rows = svc.rows("settled_payments");
    let (status, _) = refusal(client.settle(&IdempotencyKey::generate().unwrap(), &line, &tampered).unwrap_err());
    assert!(status == 400 || status == 403, "the issuer refuses a tampered certificate ({status})");
    assert_eq!(svc.rows("settled_payments"), settled_rows);

    // The rest of the line, then nothing is left.
    let second = card.with_pin(|tx| credit::pay(tx, &pay(38_000, "INV-3"))).unwrap();
    assert_eq!((second.certificate.serial, second.certificate.credit_remaining), (first_serial + 1, 0));
    if with_cli {
        merchant_cli(svc, &line, &payment.envelope, &tampered, &second.envelope);
    } else {
        let (_, settled) = credit::settle(client, &issuer, &second.envelope, &line).unwrap();
        assert_eq!(settled.settled_total, 50_000);
    }
    assert!(matches!(
        card.with_pin(|tx| credit::pay(tx, &pay(1, "INV-4"))),
        Err(CreditError::Meter(MeterError::Card(CardStatus::InsufficientCredit)))
    ));
}

/// `pcmeter verify-payment` and `pcmeter settle`, the merchant's commands,
/// on the certificates the card made: `--json` output, exit 7 for a
/// tampered certificate, exit 5 for a double spend.
fn merchant_cli(svc: &Service, line: &[u8], first: &[u8], tampered: &[u8], second: &[u8]) {
    let pcmeter = testkit::workspace_bin("pcmeter", "pcmeter");
    let dir = testkit::pki::Scratch::new("e2e-merchant");
    let path = |name: &str, bytes: &[u8]| dir.write(name, bytes).to_str().unwrap().to_owned();
    let line = path("line.bin", line);
    let issuer = path("issuer.der", &apdu_specs::x509::spki(&credit_issuer().public()).unwrap());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&pcmeter)
            .env("PCMETER_CONFIG", dir.write("config.toml", b""))
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code(), json)
    };
    let (code, json) = run(&["verify-payment", &path("first.pay", first), &line, "--issuer-key", &issuer]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        (json["valid"].as_bool(), json["amount"].as_u64(), json["remaining"].as_u64()),
        (Some(true), Some(12_000), Some(38_000))
    );
    let (code, json) = run(&["verify-payment", &path("tampered.pay", tampered), &line, "--issuer-key", &issuer]);
    assert_eq!((code, json["error"]["kind"].as_str()), (Some(7), Some("invalid")), "{json}");
    let second = path("second.pay", second);
    let settle = ["settle", &second, &line, "--issuer-key", &issuer, "--authority", &svc.base];
    let (code, json) = run(&settle);
    assert_eq!((code, json["settled_total"].as_u64()), (Some(0), Some(50_000)), "{json}");
    let (code, json) = run(&settle);
    assert_eq!(code, Some(5), "{json}");
    assert!(json["error"]["message"].as_str().unwrap().contains("double_spend"), "{json}");
}

fn in_process(location: &Location, with_cli: bool) {
    let svc = Service::start(location);
    let (sim, clock) = card();
    let shared = card_sim::SharedCard::new(sim);
    let meter = Meter::connect(card_sim::InProcessTransport::new(shared)).unwrap();
    let mut card = Card::new(meter, clock);
    enrol(&svc, &mut card);
    revocation_flows(&svc, &mut card);
    credit_flows(&svc, &mut card, with_cli);
    assert!(card.registers().balanced());
}

fn sqlite(label: &str) -> (Location, PathBuf) {
    let dir = std::env::temp_dir().join(format!("pcmeter-e2e-credit-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (Location::Sqlite(dir.join("authority.db")), dir)
}

#[test]
fn revocation_and_credit_end_to_end_on_sqlite_with_the_in_process_card() {
    let (location, dir) = sqlite("inproc");
    in_process(&location, true);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn revocation_and_credit_end_to_end_on_postgresql_with_the_in_process_card() {
    let Some(pg) = testkit::postgres::TempPostgres::start_or_skip("e2e-credit") else { return };
    in_process(&Location::Postgres(pg.url().to_string()), false);
}

#[test]
fn revocation_and_credit_end_to_end_through_pcscd() {
    let _slot = testkit::pcsc_rig::slot();
    let mut rig = testkit::pcsc_rig::PcscRig::start();
    let (location, dir) = sqlite("pcsc");
    let svc = Service::start(&location);
    let (sim, clock) = card();
    rig.plug(sim);
    let meter = Meter::connect(rig.transport()).unwrap();
    let mut card = Card::new(meter, clock);
    enrol(&svc, &mut card);
    revocation_flows(&svc, &mut card);
    credit_flows(&svc, &mut card, false);
    assert!(card.registers().balanced());
    drop(card);
    rig.unplug();
    std::fs::remove_dir_all(dir).ok();
}
