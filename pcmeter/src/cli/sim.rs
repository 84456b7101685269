//! `pcmeter sim …`: simulated test meters in state files, with a local test
//! authority and CA. `sim create` personalizes and activates a meter,
//! certifies a postmark slot and a signature slot, writes the trust
//! material beside the state file (`ca.pem`, `postal.pem`, `authority.pem`,
//! `issuer.pem`) and the test authority's private material in the sibling
//! directory `<state>.test-authority` (TEST ONLY: anyone holding it can mint
//! credit and certificates for this meter). The other `sim` commands are
//! that test authority's side of the certificate and revocation flows.

use super::error::{CliError, CliResult, Exit};
use super::files;
use super::meter::Selection;
use super::output::{Report, rfc3339};
use apdu_specs::x509::{Certificate, Usage};
use authority::{CertDb, CertificateAuthority, MasterMacKey, SigningKeyPair, certify_slot};
use card_sim::SimClock;
use pcmeter::simulated::{AuthorityKeys, Options, create_state_file_on};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Slot certified for postmarks by `sim create`.
pub const POSTMARK_SLOT: u8 = 0;
/// Slot certified for signatures by `sim create`.
pub const SIGNATURE_SLOT: u8 = 2;
/// The test CA's name.
/// The postal key signs indicia and lives in no certificate slot; the test
/// CA records its certificate under this slot number.
pub const POSTAL_KEY_SLOT: u8 = 0xFF;
/// Validity of the postal certificate `sim create` writes.
const POSTAL_CERT_LIFETIME: u64 = 2 * 365 * 86_400;

const CA_NAME: &str = "PCMeter Test CA (NOT FOR PRODUCTION)";

/// `sim` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Create a personalized, activated test meter in a new state file, with
    /// a test CA that has certified a postmark slot (0) and a signature slot (2).
    Create {
        /// The state file to create (`pcmeter-card --state PATH` serves the same file).
        path: PathBuf,
        /// Test credit, in currency units ("50" or "12.34").
        #[arg(long, default_value = "100")]
        credit: String,
        /// The test meter's PIN (default: $PCMETER_PIN, else 123456).
        #[arg(long)]
        pin: Option<String>,
        /// The meter ID (up to 12 characters).
        #[arg(long, default_value = "PCM-SIM-0001")]
        id: String,
        /// Trust the authority whose key directory (`pcmeter-authority init`) is DIR
        /// instead of a fresh test authority key.
        #[arg(long, value_name = "DIR")]
        authority_keys: Option<PathBuf>,
    },
    /// A fresh single-use challenge from the test CA, for `cert request --challenge`.
    Challenge,
    /// The test CA issues a certificate for a device-signed request (`cert request --envelope`).
    Issue {
        /// The request envelope.
        request: PathBuf,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// The test authority revokes a slot's key and writes the signed order for `pcmeter revoke`.
    RevocationOrder {
        /// The slot whose key is revoked.
        #[arg(long)]
        slot: u8,
        /// CRL reason code (RFC 5280; 1 = key compromise).
        #[arg(long, default_value_t = 1)]
        reason: u8,
        /// Where to write the order.
        #[arg(long)]
        out: PathBuf,
    },
}

/// What the test authority remembers about itself.
#[derive(Debug, Serialize, Deserialize)]
struct AuthorityRecord {
    created_at: u64,
    meter_id: String,
    /// The `pcmeter-authority` key directory whose authority key the meter trusts (`None`: the test authority's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authority_key_dir: Option<PathBuf>,
}

/// The authority key of `pcmeter-authority`'s key directory `dir`.
fn service_authority_key(dir: &Path) -> CliResult<SigningKeyPair> {
    SigningKeyPair::load(&dir.join("authority.key")).map_err(|e| CliError::input(format!("{}: {e}", dir.display())))
}

/// `registration.json` beside the test authority: the body of
/// `pcmeter-authority register --file` and of `POST /v1/admin/meters`.
#[derive(Serialize)]
struct Registration {
    meter_id: String,
    device_key: String,
    account_id: String,
    control_total: u64,
}

/// The test authority beside a state file.
struct TestAuthority {
    dir: PathBuf,
    keys: AuthorityKeys,
    ca: CertificateAuthority,
    record: AuthorityRecord,
}

/// The sibling directory holding the test authority of `state`.
pub fn authority_dir(state: &Path) -> PathBuf {
    let mut name = state.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".test-authority");
    state.with_file_name(name)
}

fn key_err(e: authority::KeyError) -> CliError {
    CliError::new(Exit::Failure, e.to_string())
}

fn now() -> CliResult<u64> {
    SimClock::System.now().ok_or_else(|| CliError::new(Exit::Failure, "the system clock is before 1970"))
}

impl TestAuthority {
    fn create(state: &Path, meter_id: &str, created_at: u64, authority_key_dir: Option<&Path>) -> CliResult<Self> {
        let dir = authority_dir(state);
        if dir.exists() {
            return Err(CliError::input(format!("{}: already exists", dir.display())));
        }
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
        files::write(
            &dir.join("README.txt"),
            b"TEST ONLY. The private keys of a local test authority, issuer and CA for one simulated\n\
              PCMeter meter. Whoever holds them can mint credit and certificates for it.\n\
              Never use them for a real meter.\n",
        )?;
        let mut keys = AuthorityKeys::generate().map_err(key_err)?;
        keys.issuer.save(&dir.join("issuer.key")).map_err(key_err)?;
        match authority_key_dir {
            Some(service) => keys.authority = service_authority_key(service)?,
            None => keys.authority.save(&dir.join("authority.key")).map_err(key_err)?,
        }
        keys.ca.save(&dir.join("ca.key")).map_err(key_err)?;
        keys.mac_master.save(&dir.join("mac-master.key")).map_err(key_err)?;
        let record = AuthorityRecord {
            created_at,
            meter_id: meter_id.to_owned(),
            authority_key_dir: authority_key_dir.map(Path::to_path_buf),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        files::write(&dir.join("authority.json"), &json)?;
        Self::finish(dir, keys, record)
    }

    fn open(state: &Path) -> CliResult<Self> {
        let dir = authority_dir(state);
        let load = |name: &str| SigningKeyPair::load(&dir.join(name)).map_err(|e| CliError::input(e.to_string()));
        let path = dir.join("authority.json");
        let record: AuthorityRecord = serde_json::from_slice(&files::read(&path)?)
            .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        let authority = match &record.authority_key_dir {
            Some(service) => service_authority_key(service)?,
            None => load("authority.key")?,
        };
        let keys = AuthorityKeys {
            issuer: load("issuer.key")?,
            authority,
            ca: load("ca.key")?,
            mac_master: MasterMacKey::load(&dir.join("mac-master.key")).map_err(|e| CliError::input(e.to_string()))?,
        };
        Self::finish(dir, keys, record)
    }

    /// The CA over its database; its root certificate is the same at every
    /// opening (same key, name and time; deterministic signatures).
    fn finish(dir: PathBuf, keys: AuthorityKeys, record: AuthorityRecord) -> CliResult<Self> {
        let db_path = dir.join("ca.sqlite");
        let db = CertDb::open(&db_path).map_err(|e| CliError::input(format!("{}: {e}", db_path.display())))?;
        let ca = CertificateAuthority::new(keys.ca.clone(), CA_NAME, record.created_at, db)?;
        Ok(Self { dir, keys, ca, record })
    }

    fn meter_id(&self) -> CliResult<[u8; 12]> {
        Ok(authority::profile::field12(&self.record.meter_id)?)
    }
}

/// Parses an amount in currency units with up to `exponent` decimals into minor units.
pub fn parse_amount(text: &str, exponent: u8) -> CliResult<u64> {
    let bad = || CliError::input(format!("amount {text:?}: expected units with up to {exponent} decimals"));
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    if units.is_empty()
        || !units.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > usize::from(exponent)
    {
        return Err(bad());
    }
    let scale = 10u64.pow(u32::from(exponent));
    let padded = format!("{fraction:0<width$}", width = usize::from(exponent));
    let units: u64 = units.parse().map_err(|_| bad())?;
    let minor: u64 = if padded.is_empty() { 0 } else { padded.parse().map_err(|_| bad())? };
    units.checked_mul(scale).and_then(|u| u.checked_add(minor)).ok_or_else(bad)
}

/// What `sim create` made.
#[derive(Serialize)]
struct Created {
    state: PathBuf,
    meter_id: String,
    card_serial: String,
    credit: u64,
    currency: String,
    slots: Vec<CertifiedSlot>,
    trust: Trust,
    test_authority: PathBuf,
    registration: PathBuf,
}

#[derive(Serialize)]
struct CertifiedSlot {
    slot: u8,
    usage: &'static str,
    certificate_serial: String,
    not_after: String,
}

#[derive(Serialize)]
struct Trust {
    ca_certificate: PathBuf,
    postal_key: Option<PathBuf>,
    /// The test CA's certificate of the postal key (ECDSA meters).
    postal_certificate: Option<PathBuf>,
    authority_key: PathBuf,
    issuer_key: PathBuf,
}

/// Runs a `sim` subcommand; `selection` names the state file of the commands other than `create`.
pub fn run(command: &SimCommand, selection: &Selection) -> CliResult<Report> {
    match command {
        SimCommand::Create { path, credit, pin, id, authority_keys } => {
            create(path, credit, pin.as_deref(), id, authority_keys.as_deref(), selection.engine)
        }
        SimCommand::Challenge => {
            let mut authority = TestAuthority::open(state(selection)?)?;
            let challenge = hex::encode_upper(authority.ca.challenge(now()?).map_err(issue_err)?);
            Report::new(&serde_json::json!({ "challenge": challenge }), format!("{challenge}\n"))
        }
        SimCommand::Issue { request, out } => {
            let mut authority = TestAuthority::open(state(selection)?)?;
            let envelope = files::read(request)?;
            let der = authority.ca.issue(&envelope, now()?).map_err(issue_err)?;
            files::write_pem(out, "CERTIFICATE", &der)?;
            let cert = Certificate::parse(&der)?;
            let data = serde_json::json!({
                "certificate": out,
                "serial": hex::encode_upper(&cert.serial),
                "not_after": rfc3339(cert.not_after),
            });
            Report::new(&data, format!("issued certificate {} -> {}\n", hex::encode_upper(&cert.serial), out.display()))
        }
        SimCommand::RevocationOrder { slot, reason, out } => {
            let mut authority = TestAuthority::open(state(selection)?)?;
            let meter_id = authority.meter_id()?;
            let key: [u8; 65] = authority
                .ca
                .db()
                .certificates_of(&meter_id)
                .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?
                .into_iter()
                .rev()
                .find(|c| c.slot == *slot)
                .and_then(|c| c.public_key.try_into().ok())
                .ok_or_else(|| CliError::input(format!("the test CA never certified slot {slot}")))?;
            let time = now()?;
            let serials = authority
                .ca
                .revoke_key(&meter_id, *slot, &key, *reason, time)
                .map_err(|e| CliError::input(e.to_string()))?;
            let order =
                authority::orders::revocation_order(&authority.keys.authority, &meter_id, *slot, &key, *reason, time);
            files::write(out, &order)?;
            let serials: Vec<String> = serials.iter().map(hex::encode_upper).collect();
            let data = serde_json::json!({ "order": out, "slot": slot, "revoked_certificates": serials });
            Report::new(&data, format!("revocation order for slot {slot} -> {}\n", out.display()))
        }
    }
}

fn issue_err(e: authority::IssueError) -> CliError {
    CliError::input(format!("the test CA refused: {e}"))
}

fn state(selection: &Selection) -> CliResult<&Path> {
    selection.sim.as_deref().ok_or_else(|| CliError::input("give the simulated meter with --sim PATH"))
}

fn create(
    path: &Path,
    credit: &str,
    pin: Option<&str>,
    id: &str,
    authority_keys: Option<&Path>,
    engine: Option<card_sim::Engine>,
) -> CliResult<Report> {
    let now = now()?;
    let table = authority::default_rate_table(1, now);
    let credit = parse_amount(credit, table.exponent)?;
    let pin = match pin {
        Some(p) => p.to_owned(),
        None => std::env::var(super::meter::PIN_ENV).unwrap_or_else(|_| String::from("123456")),
    };
    authority::profile::field12(id).map_err(|_| CliError::input("--id: up to 12 ASCII characters"))?;
    if path.exists() {
        return Err(CliError::input(format!("{}: already exists", path.display())));
    }
    let mut authority = TestAuthority::create(path, id, now, authority_keys)?;
    let mut opts = Options::at(now, credit);
    opts.clock = SimClock::System;
    opts.profile.meter_id = id.to_owned();
    opts.profile.pin = pin;
    let (mut meter, up) = create_state_file_on(path, &authority.keys, &opts, engine)
        .map_err(|e| CliError::new(Exit::Meter, format!("creating the simulated meter: {e}")))?;
    let fci = meter.fci().cloned().ok_or_else(|| CliError::new(Exit::Failure, "no FCI after SELECT"))?;
    let meter_id = fci.meter_id.ok_or_else(|| CliError::new(Exit::Failure, "the meter has no ID"))?;
    let keys = meter.run(|tx| tx.public_keys())?;
    let control_total = meter.run(|tx| tx.registers())?.control_total;
    let registration = Registration {
        meter_id: hex::encode(meter_id),
        device_key: hex::encode(keys.device),
        account_id: id.to_owned(),
        control_total,
    };
    let registration_file = authority.dir.join("registration.json");
    let json = serde_json::to_vec_pretty(&registration).map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    files::write(&registration_file, &json)?;
    authority
        .ca
        .register_meter(&meter_id, &keys.device, now)
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    let mut slots = Vec::new();
    {
        let mut tx = meter.transaction()?;
        tx.verify_pin(&up.pin)?;
        for (slot, usage) in [(POSTMARK_SLOT, Usage::Postmark), (SIGNATURE_SLOT, Usage::Signature)] {
            let der = certify_slot(&mut tx, &mut authority.ca, slot, usage, now)
                .map_err(|e| CliError::new(Exit::Failure, format!("certifying slot {slot}: {e}")))?;
            let cert = Certificate::parse(&der)?;
            slots.push(CertifiedSlot {
                slot,
                usage: usage.name(),
                certificate_serial: hex::encode_upper(&cert.serial),
                not_after: rfc3339(cert.not_after),
            });
        }
        tx.end_session()?;
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let trust = Trust {
        ca_certificate: dir.join("ca.pem"),
        postal_key: keys.postal.map(|_| dir.join("postal.pem")),
        postal_certificate: keys.postal.map(|_| dir.join("postal-cert.pem")),
        authority_key: dir.join("authority.pem"),
        issuer_key: dir.join("issuer.pem"),
    };
    files::write(&trust.ca_certificate, authority.ca.certificate_pem().as_bytes())?;
    if let (Some(file), Some(key)) = (&trust.postal_key, &keys.postal) {
        files::write_public_key(file, key)?;
    }
    if let (Some(file), Some(key)) = (&trust.postal_certificate, &keys.postal) {
        let not_before = now.saturating_sub(3600);
        let der = authority
            .ca
            .certify(&meter_id, POSTAL_KEY_SLOT, key, Usage::Signature, not_before, now + POSTAL_CERT_LIFETIME)
            .map_err(|e| CliError::new(Exit::Failure, format!("certifying the postal key: {e}")))?;
        files::write_pem(file, "CERTIFICATE", &der)?;
    }
    files::write_public_key(&trust.authority_key, &authority.keys.authority.public())?;
    files::write_public_key(&trust.issuer_key, &authority.keys.issuer.public())?;
    let currency = String::from_utf8_lossy(&table.currency).into_owned();
    let mut text = String::new();
    let _ = writeln!(text, "created simulated meter {id} (card {}) in {}", fci.card_serial, path.display());
    let _ = writeln!(text, "credit          {}", pcmeter::demo::money(credit, &table.currency, table.exponent));
    for s in &slots {
        let _ = writeln!(
            text,
            "slot {}          {} certificate {} (until {})",
            s.slot, s.usage, s.certificate_serial, s.not_after
        );
    }
    let _ = writeln!(text, "trust material  {}", trust.ca_certificate.display());
    let _ = writeln!(text, "TEST authority  {} (private keys: test only)", authority.dir.display());
    let _ = writeln!(text, "registration    {} (pcmeter-authority register --file)", registration_file.display());
    let created = Created {
        state: path.to_path_buf(),
        meter_id: id.to_owned(),
        card_serial: fci.card_serial.to_string(),
        credit,
        currency,
        slots,
        trust,
        test_authority: authority.dir.clone(),
        registration: registration_file,
    };
    Report::new(&created, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_units_with_bounded_decimals() {
        assert_eq!(parse_amount("50", 2).unwrap(), 5_000);
        assert_eq!(parse_amount("12.3", 2).unwrap(), 1_230);
        assert_eq!(parse_amount("0.05", 2).unwrap(), 5);
        for bad in ["", "-1", "1.234", "1e3", ".5", "18446744073709551615"] {
            assert!(parse_amount(bad, 2).is_err(), "{bad}");
        }
    }
}
