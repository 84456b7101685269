//! Recharge, inspection, lockout, LOCK/UNLOCK orders and rate updates end to
//! end: the host flows of `host_driver::remote` between a card and the
//! authority service over real HTTP on loopback. The same scenario runs on
//! the in-process card over SQLite and over PostgreSQL, and through pcscd
//! (vpcd); the real `pcmeter-authority` binary (init, register, credit,
//! publish-rates, serve) is driven by the `pcmeter` CLI on a `sim create`d meter,
//! over plain HTTP on loopback and over HTTPS with a test CA.

mod remote_common;
#[path = "../../authority/tests/common/tls.rs"]
mod tls;

use apdu_specs::indicium::Indicium;
use apdu_specs::recharge::RechargeReceipt;
use apdu_specs::signed::Signed;
use authority::store::Location;
use card_sim::SimClock;
use host_driver::authority::IdempotencyKey;
use host_driver::remote::{self, Retry};
use host_driver::{CardStatus, Meter, MeterError, Transport};
use remote_common::{Scratch, Service, keys, letter, options, pin, read, with_pin};

/// One hour: the card's first inspection deadline in the scenario.
const FIRST_PERIOD: u32 = 3_600;

fn refused<T: std::fmt::Debug>(r: Result<T, MeterError>) -> CardStatus {
    match r {
        Err(MeterError::Card(status)) => status,
        other => panic!("expected a card refusal, got {other:?}"),
    }
}

fn retry() -> Retry {
    Retry { attempts: 3, pause: std::time::Duration::from_millis(50) }
}

/// The whole scenario on a meter that trusts `service` and whose clock is `clock`.
fn scenario<T: Transport>(meter: &mut Meter<T>, clock: &SimClock, service: &mut Service) {
    let client = service.client();
    let id = service.register(meter);
    service.credit_account(100_000);
    let pin = pin();

    // Lockout past the deadline: value services refuse 9409 until an inspection.
    with_pin(meter, |tx| tx.print_indicium(&letter(clock, 20))).unwrap();
    clock.advance(u64::from(FIRST_PERIOD) + 60);
    assert_eq!(refused(with_pin(meter, |tx| tx.print_indicium(&letter(clock, 20)))), CardStatus::InspectionOverdue);
    let inspected = remote::inspect(meter, &pin, &client, &retry()).unwrap();
    assert!(inspected.discrepancies.is_empty(), "{:?}", inspected.discrepancies);
    let deadline = inspected.next_deadline.expect("acknowledged");
    assert_eq!(inspected.status.inspection_deadline, deadline, "the card installed the acknowledgement");
    assert!(deadline > clock.now().unwrap());
    with_pin(meter, |tx| tx.print_indicium(&letter(clock, 20))).unwrap();

    // Recharge: DR and CT credited once, the provider account debited once, the ledger settled.
    let before = read(meter, |tx| tx.registers());
    let done = remote::recharge(meter, &pin, &client, 5_000, &retry()).unwrap();
    assert!(done.settled && done.delivered_earlier.is_empty() && done.restarts == 0, "{done:?}");
    assert_eq!(done.sequence, before.recharge_seq + 1);
    assert_eq!(done.registers.descending, before.descending + 5_000);
    assert_eq!(done.registers.control_total, before.control_total + 5_000);
    assert_eq!(read(meter, |tx| tx.registers()), done.registers);
    assert_eq!(service.balance(), 95_000);
    assert_eq!(service.ledger(&id), (1, 1, 5_000));
    assert_eq!(service.recorded_ct(&id), Some(done.registers.control_total));

    // A receipt never delivered (the host died after the credit) is delivered by the next run.
    let (sequence, s3) = {
        let key = IdempotencyKey::generate().unwrap();
        let s3 = with_pin(meter, |tx| {
            let s1 = tx.recharge_init(700)?;
            let s2 = client.recharge(&key, &s1).unwrap();
            tx.recharge_credit(&hex::decode(&s2.s2).unwrap())
        })
        .unwrap();
        let receipt = RechargeReceipt::parse(Signed::parse(&s3).unwrap().body).unwrap();
        (receipt.sequence, s3)
    };
    assert_eq!(client.meter_state(&id).unwrap().unsettled_sequences, vec![sequence]);
    let next = remote::recharge(meter, &pin, &client, 300, &retry()).unwrap();
    assert_eq!(next.delivered_earlier, vec![sequence], "the lost receipt went first");
    assert_eq!(next.sequence, sequence + 1);
    let state = client.meter_state(&id).unwrap();
    assert_eq!((state.settled_sequence, state.unsettled_sequences.len()), (sequence + 1, 0));
    assert_eq!(service.ledger(&id), (3, 3, 6_000));
    assert_eq!(read(meter, |tx| tx.recharge_proof(sequence)), s3);
    assert_eq!(service.recorded_ct(&id), Some(read(meter, |tx| tx.registers()).control_total));

    // LOCK order: applied by the next inspection run, value services refused, then UNLOCK.
    assert_eq!(service.order(&id, "lock"), 1);
    let locked = remote::inspect(meter, &pin, &client, &retry()).unwrap();
    assert_eq!(locked.orders.iter().map(|o| (o.sequence, o.action.as_str())).collect::<Vec<_>>(), vec![(1, "lock")]);
    assert_eq!(locked.status.lifecycle, apdu_specs::lifecycle::Lifecycle::Locked);
    assert_eq!(
        refused(with_pin(meter, |tx| tx.print_indicium(&letter(clock, 20)))),
        CardStatus::ConditionsNotSatisfied
    );
    match remote::recharge(meter, &pin, &client, 100, &retry()) {
        Err(remote::RemoteError::Meter(MeterError::Card(CardStatus::ConditionsNotSatisfied))) => {}
        other => panic!("a meter locked by order is not recharged: {other:?}"),
    }
    assert_eq!(service.ledger(&id), (3, 3, 6_000), "nothing recorded for the locked meter");
    assert_eq!(service.order(&id, "unlock"), 2);
    let unlocked = remote::inspect(meter, &pin, &client, &retry()).unwrap();
    assert_eq!(unlocked.orders.iter().map(|o| o.sequence).collect::<Vec<_>>(), vec![2], "order 1 is not re-applied");
    assert_eq!(unlocked.status.lifecycle, apdu_specs::lifecycle::Lifecycle::Operational);
    with_pin(meter, |tx| tx.print_indicium(&letter(clock, 20))).unwrap();

    // Rate update: the newer table is installed and prices the next print.
    let current = read(meter, |tx| tx.rate_table()).table;
    let mut table = current.clone();
    table.version += 1;
    table.effective_from = clock.now().unwrap() - 60;
    table.classes[0].breaks[0].price = 99;
    assert_ne!(current.classes[0].breaks[0].price, 99);
    service.publish(&table);
    let update = remote::update_rates(meter, &pin, &client, &retry()).unwrap();
    assert!(update.installed && update.published_version == table.version, "{update:?}");
    assert_eq!(read(meter, |tx| tx.status()).rate_table_version, table.version);
    let printed = with_pin(meter, |tx| tx.print_indicium(&letter(clock, 20))).unwrap();
    assert_eq!(Indicium::parse(&printed).unwrap().body.postage, 99, "the new table priced the print");
    let again = remote::update_rates(meter, &pin, &client, &retry()).unwrap();
    assert!(!again.installed, "the card's table is current: nothing sent");

    let regs = read(meter, |tx| tx.registers());
    assert!(regs.balanced());
}

fn in_process(location: Location, scratch: &Scratch, label: &str) {
    let keys = keys(label);
    let mut service = Service::start(location, &keys, &scratch.0.join("ca.sqlite"));
    let opts = options("PCM-E2E-0001", 2_000, FIRST_PERIOD);
    let mut m = pcmeter::simulated::operational(&keys, &opts).unwrap();
    scenario(&mut m.meter, &m.clock, &mut service);
}

#[test]
fn recharge_inspection_lockout_orders_and_rates_on_the_in_process_card_over_sqlite() {
    let scratch = Scratch::new("e2e-sqlite");
    in_process(Location::Sqlite(scratch.0.join("authority.sqlite")), &scratch, "sqlite");
}

#[test]
fn recharge_inspection_lockout_orders_and_rates_on_the_in_process_card_over_postgresql() {
    let Some(pg) = testkit::postgres::TempPostgres::start_or_skip("e2e_recharge") else { return };
    let scratch = Scratch::new("e2e-pg");
    in_process(Location::Postgres(pg.url().to_string()), &scratch, "postgres");
}

#[test]
fn recharge_inspection_lockout_orders_and_rates_through_pcscd() {
    use pcmeter::simulated::bring_up;
    let _slot = testkit::pcsc_rig::slot();
    let scratch = Scratch::new("e2e-pcsc");
    let keys = keys("pcsc");
    let mut service =
        Service::start(Location::Sqlite(scratch.0.join("authority.sqlite")), &keys, &scratch.0.join("ca.sqlite"));
    let opts = options("PCM-E2E-PCSC", 2_000, FIRST_PERIOD);
    let mut rig = testkit::pcsc_rig::PcscRig::start();
    let serial = card_sim::draw_serial(&mut card_sim::Entropy::Os).unwrap();
    let card = card_sim::SimCard::manufacture_in_memory(
        &keys.issuer.public(),
        serial,
        opts.entropy.clone(),
        opts.clock.clone(),
    )
    .unwrap();
    rig.plug(card);
    let mut meter = Meter::connect(rig.transport()).unwrap();
    bring_up(&mut meter, &keys, &opts).unwrap();
    scenario(&mut meter, &opts.clock, &mut service);
}

/// A child process killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_ok(cmd: &mut std::process::Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmd:?}: {}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null)
}

/// The real `pcmeter-authority` binary, initialised in a scratch directory
/// (TLS when `tls` is given), with a `pcmeter sim create` meter registered
/// and its provider account credited with 1,000.00.
struct OperatedAuthority {
    authority_bin: std::path::PathBuf,
    pcmeter: std::path::PathBuf,
    config: std::path::PathBuf,
    state: std::path::PathBuf,
}

impl OperatedAuthority {
    fn start(dir: &std::path::Path, meter_id: &str, tls: Option<&tls::TestPki>) -> Self {
        let config = dir.join("authority.toml");
        let mut text = format!(
            "listen = \"127.0.0.1:0\"\ndatabase = {:?}\nca_database = {:?}\nkey_dir = {:?}\nadmin_token = \"t\"\n",
            dir.join("authority.sqlite").display().to_string(),
            dir.join("ca.sqlite").display().to_string(),
            dir.join("keys").display().to_string(),
        );
        if let Some(pki) = tls {
            text.push_str(&format!(
                "tls_cert = {:?}\ntls_key = {:?}\n",
                pki.cert.display().to_string(),
                pki.key.display().to_string()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let this = Self {
            authority_bin: testkit::workspace_bin("authority", "pcmeter-authority"),
            pcmeter: testkit::workspace_bin("pcmeter", "pcmeter"),
            config,
            state: dir.join("meter.pcmj"),
        };
        run_ok(&mut this.operator(&["init"]));
        // The meter trusts this authority and leaves its registration for the operator.
        let created = run_ok(
            std::process::Command::new(&this.pcmeter)
                .args(["--json", "sim", "create"])
                .arg(&this.state)
                .args(["--credit", "10", "--id", meter_id, "--authority-keys"])
                .arg(dir.join("keys"))
                .env("PCMETER_PIN", "123456"),
        );
        run_ok(&mut this.operator(&["register", "--file", created["registration"].as_str().unwrap()]));
        run_ok(&mut this.operator(&["credit", "--account", meter_id, "--amount", "100000"]));
        this
    }

    /// An operator command on this authority's configuration.
    fn operator(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(&self.authority_bin);
        c.arg("--config").arg(&self.config).args(args);
        c
    }

    /// `serve`, and the URL its banner names.
    fn serve(&self) -> (Child, String) {
        use std::io::BufRead;
        let mut server = Child(
            self.operator(&["serve"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        std::io::BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("the serve banner").to_string();
        (server, url)
    }
}

#[test]
fn the_pcmeter_cli_recharges_inspects_and_updates_rates_against_the_real_authority_binary() {
    use std::process::Command;
    let scratch = Scratch::new("e2e-binary");
    let dir = &scratch.0;
    let operated = OperatedAuthority::start(dir, "PCM-E2E-BIN1", None);
    let (pcmeter, state) = (operated.pcmeter.clone(), operated.state.clone());
    let operator = |args: &[&str]| operated.operator(args);
    let mut table = authority::default_rate_table(2, authority::service::clock::unix_now() - 60);
    table.classes[0].breaks[0].price = 88;
    let rates = dir.join("rates.json");
    std::fs::write(&rates, serde_json::to_vec(&remote_common::spec_of(&table)).unwrap()).unwrap();
    run_ok(operator(&["publish-rates", "--file"]).arg(&rates));

    let (server, url) = operated.serve();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let cli = |args: &[&str]| {
        let mut c = Command::new(&pcmeter);
        c.arg("--sim").arg(&state).arg("--json").args(args).args(["--authority", &url]).env("PCMETER_PIN", "123456");
        c
    };
    let recharged = run_ok(&mut cli(&["recharge", "25.50"]));
    assert_eq!(recharged["amount"], 2_550);
    assert_eq!(recharged["sequence"], 1);
    assert_eq!(recharged["control_total"], 1_000 + 2_550, "CT: the test credit plus the recharge");
    assert_eq!(recharged["settled"], true);
    let updated = run_ok(&mut cli(&["rates", "update"]));
    assert_eq!((updated["installed"].as_bool(), updated["published_version"].as_u64()), (Some(true), Some(2)));
    let inspected = run_ok(&mut cli(&["inspect"]));
    assert_eq!(inspected["acknowledged"], true, "{inspected}");
    assert_eq!(inspected["lifecycle"], "OPERATIONAL");

    // Without an authority URL nothing reaches the card: exit 3.
    let out = Command::new(&pcmeter)
        .arg("--sim")
        .arg(&state)
        .args(["recharge", "1"])
        .env("PCMETER_PIN", "123456")
        .env("PCMETER_CONFIG", dir.join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));

    drop(server);
    let report = run_ok(&mut operator(&["report"]));
    let meter = &report["meters"][0];
    assert_eq!((meter["recharges"].as_u64(), meter["settled"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(meter["recharged_total"], 2_550);
    assert_eq!(meter["balance"], 100_000 - 2_550);
}

#[test]
fn the_pcmeter_cli_recharges_over_https_only_with_the_authority_root() {
    use std::process::Command;
    let scratch = Scratch::new("e2e-https");
    let dir = &scratch.0;
    let pki = tls::TestPki::create(&dir.join("tls"), "e2e");
    let operated = OperatedAuthority::start(dir, "PCM-E2E-TLS1", Some(&pki));
    let (pcmeter, state) = (operated.pcmeter.clone(), operated.state.clone());
    let operator = |args: &[&str]| operated.operator(args);
    let (server, url) = operated.serve();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let cli = |args: &[&str]| {
        let mut c = Command::new(&pcmeter);
        c.arg("--sim")
            .arg(&state)
            .arg("--json")
            .args(args)
            .args(["--authority", &url])
            .env("PCMETER_PIN", "123456")
            .env("PCMETER_CONFIG", dir.join("none.toml"));
        c
    };
    // Without the root the handshake fails: no recharge anywhere.
    let refused = cli(&["recharge", "25.50"]).output().unwrap();
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(stderr.contains("certificate") || stderr.contains("unknownissuer"), "{stderr}");
    // With the root (flag) it goes through; sequence 1 and CT = test credit + amount show the refused try left nothing.
    let recharged = run_ok(cli(&["recharge", "25.50"]).arg("--authority-ca").arg(&pki.ca));
    assert_eq!((recharged["sequence"].as_u64(), recharged["settled"].as_bool()), (Some(1), Some(true)), "{recharged}");
    assert_eq!(recharged["control_total"], 1_000 + 2_550);
    // The configuration key works like the flag.
    let user_config = dir.join("pcmeter.toml");
    std::fs::write(&user_config, format!("authority_ca = {:?}\n", pki.ca.display().to_string())).unwrap();
    let inspected = run_ok(cli(&["inspect"]).env("PCMETER_CONFIG", &user_config));
    assert_eq!(inspected["acknowledged"], true, "{inspected}");

    drop(server);
    let report = run_ok(&mut operator(&["report"]));
    let meter = &report["meters"][0];
    assert_eq!((meter["recharges"].as_u64(), meter["settled"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(meter["balance"], 100_000 - 2_550, "debited once");
}
