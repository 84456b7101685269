//! HTTPS: the service with a certificate speaks TLS (rustls, aws-lc-rs);
//! a client that trusts the CA root recharges end to end; a client without
//! that root (or with another root, or speaking plain HTTP) is refused at the
//! handshake and nothing is written; without a certificate the binary refuses
//! any address but loopback, and half a TLS configuration or a key that does
//! not match the certificate is a startup error.

mod common;

use authority::service::http::{App, LoopbackServer, RegisterMeter};
use authority::service::pool::StorePool;
use authority::service::tls::server_config;
use authority::service::{meters, recharge};
use authority::store::{AnyBackend, Location, Tx, transact};
use common::service::Site;
use common::tls::TestPki;
use common::{SoftMeter, authority};
use host_driver::authority::{AuthorityClient, ClientError, IdempotencyKey};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pcmeter-https-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `(recharges recorded, settled, total)` and the account balance, read straight from the database.
fn books(location: &Location, meter: &[u8; 12], account: &str) -> ((u64, u64, u64), u64) {
    let mut backend = AnyBackend::open(location).unwrap();
    transact(&mut backend, |tx: &mut dyn Tx| {
        Ok(Ok::<_, ()>((recharge::ledger_totals(tx, meter)?, meters::balance(tx, account)?.unwrap_or(0))))
    })
    .unwrap()
    .unwrap()
}

fn tls_refusal(result: Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::Ambiguous { message, .. }) => message,
        other => panic!("expected a connection-level (TLS) failure, got {other:?}"),
    }
}

#[test]
fn recharge_over_https_with_the_root_and_refusals_without_it() {
    let dir = scratch("loopback");
    let pki = TestPki::create(&dir, "authority");
    let stranger = TestPki::create(&dir.join("other"), "stranger");
    let location = Location::Sqlite(dir.join("authority.sqlite"));
    let service = Arc::new(authority(None));
    let authority_key = service.key.public();

    let mut m = SoftMeter::new(41);
    {
        let now = authority::service::clock::unix_now();
        let mut backend = AnyBackend::open(&location).unwrap();
        let request = RegisterMeter {
            meter_id: hex::encode(m.id),
            device_key: hex::encode(m.key.public()),
            account_id: "tls".into(),
            control_total: Some(m.regs.control_total),
        };
        transact(&mut backend, |tx: &mut dyn Tx| authority::service::http::register(tx, &service, &request, now))
            .unwrap()
            .unwrap();
        transact(&mut backend, |tx: &mut dyn Tx| meters::credit_account(tx, "tls", 50_000, now)).unwrap().unwrap();
    }

    let app = Arc::new(App::new(StorePool::start(&location, 1).unwrap(), Arc::clone(&service), None));
    let server = LoopbackServer::start_tls(app, server_config(&pki.cert, &pki.key).unwrap()).unwrap();
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // No root, another CA's root, plain HTTP: refused before any request is read; nothing written.
    let s1 = m.clone().s1(10_000);
    let untrusting = AuthorityClient::new(&url, TIMEOUT);
    let message = tls_refusal(untrusting.recharge(&IdempotencyKey::generate().unwrap(), &s1));
    assert!(message.to_lowercase().contains("certificate") || message.contains("UnknownIssuer"), "{message}");
    let wrong_root = AuthorityClient::with_ca_pem(&url, TIMEOUT, &stranger.ca_pem()).unwrap();
    tls_refusal(wrong_root.recharge(&IdempotencyKey::generate().unwrap(), &s1));
    let plain = AuthorityClient::new(&url.replacen("https://", "http://", 1), TIMEOUT);
    assert!(plain.recharge(&IdempotencyKey::generate().unwrap(), &s1).is_err(), "plain HTTP to the TLS port");
    assert_eq!(books(&location, &m.id, "tls"), ((0, 0, 0), 50_000), "nothing written");

    // With the root: S1 → S2 → credit → S3 settled, over TLS.
    let client = AuthorityClient::with_ca_pem(&url, TIMEOUT, &pki.ca_pem()).unwrap();
    assert_eq!(client.health().unwrap().status, "ok");
    let s1 = m.s1(10_000);
    let key = IdempotencyKey::generate().unwrap();
    let s2 = client.recharge(&key, &s1).unwrap();
    assert_eq!(client.recharge(&key, &s1).unwrap(), s2, "a replay over TLS returns the stored answer");
    let s3 = m.credit(&hex::decode(&s2.s2).unwrap(), &authority_key).unwrap();
    assert_eq!(client.receipt(&IdempotencyKey::generate().unwrap(), &s3).unwrap().state, "settled");
    assert_eq!(m.regs.control_total, 11_000);
    assert_eq!(books(&location, &m.id, "tls"), ((1, 1, 10_000), 40_000), "debited once, settled");

    // The untrusting client still gets nothing, also for a GET.
    tls_refusal(untrusting.health());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_ca_file_is_refused_by_the_client() {
    let refused = AuthorityClient::with_ca_pem("https://127.0.0.1:9", TIMEOUT, b"not a certificate");
    assert!(refused.unwrap_err().to_string().contains("no CERTIFICATE"));
}

#[test]
fn the_binary_serves_https_with_a_certificate_and_refuses_unsafe_listening() {
    let site = Site::new("https", None);
    site.ok(&["init"]);
    let pki = TestPki::create(&site.dir.join("tls"), "site");

    // Without a certificate: loopback only, refused before anything is bound.
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let out = site.command(&["serve"]).env("PCMETER_AUTHORITY_LISTEN", addr).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{addr}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("refusing plain HTTP") && stderr.contains("loopback"), "{addr}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing listened: {out:?}");
    }
    // Half a TLS configuration, a key that is not the certificate's, a missing file.
    let only_cert = site.command(&["serve"]).env("PCMETER_AUTHORITY_TLS_CERT", &pki.cert).output().unwrap();
    assert_eq!(only_cert.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&only_cert.stderr).contains("go together"), "{only_cert:?}");
    let other = TestPki::create(&site.dir.join("other"), "other");
    let mismatch = site
        .command(&["serve"])
        .env("PCMETER_AUTHORITY_TLS_CERT", &pki.cert)
        .env("PCMETER_AUTHORITY_TLS_KEY", &other.key)
        .output()
        .unwrap();
    assert_eq!(mismatch.status.code(), Some(1), "{mismatch:?}");
    assert!(String::from_utf8_lossy(&mismatch.stderr).contains("TLS certificate"), "{mismatch:?}");
    let missing = site
        .command(&["serve"])
        .env("PCMETER_AUTHORITY_TLS_CERT", site.dir.join("absent.pem"))
        .env("PCMETER_AUTHORITY_TLS_KEY", &pki.key)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("absent.pem"), "{missing:?}");

    // With both: HTTPS; the root is needed.
    let mut server = site.serve_with(&[
        ("PCMETER_AUTHORITY_TLS_CERT", pki.cert.as_os_str()),
        ("PCMETER_AUTHORITY_TLS_KEY", pki.key.as_os_str()),
    ]);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let client = AuthorityClient::with_ca_pem(&server.base, TIMEOUT, &pki.ca_pem()).unwrap();
    assert_eq!(client.health().unwrap().status, "ok");
    tls_refusal(AuthorityClient::new(&server.base, TIMEOUT).health());
    assert!(server.terminate().success(), "SIGTERM stops the HTTPS server cleanly");
}
