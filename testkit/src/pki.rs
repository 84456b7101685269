//! Test support for the certificate services: a CA for a meter's keys,
//! registration, certified slots, a scratch directory and the openssl runner.

use crate::FIXTURE_TIME;
use crate::forge::tlv;
use apdu_specs::oid;
use apdu_specs::registers::Registers;
use apdu_specs::x509::{self, Usage};
use authority::ca::pem;
use authority::certify_slot;
use authority::{CertDb, CertificateAuthority, SigningKeyPair};
use host_driver::transport::Transport;
use host_driver::{Meter, MeterError};
use pcmeter::simulated::AuthorityKeys;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Slot numbers used by the tests.
pub mod slots {
    /// Postmark signer.
    pub const POSTMARK: u8 = 0;
    /// Agent.
    pub const AGENT: u8 = 1;
    /// Signature.
    pub const SIGNATURE: u8 = 2;
    /// Encryption.
    pub const ENCRYPTION: u8 = 3;
}

/// The CA whose key the meter was personalized with, on an in-memory database.
pub fn ca_for(keys: &AuthorityKeys) -> CertificateAuthority {
    ca_with_key(keys.ca.clone(), "PCMeter Test CA")
}

/// A CA with any key (a foreign CA when the key is not the meter's anchor).
pub fn ca_with_key(key: SigningKeyPair, name: &str) -> CertificateAuthority {
    CertificateAuthority::new(key, name, FIXTURE_TIME, CertDb::in_memory().expect("database"))
        .expect("root certificate")
}

/// The meter's ID and device key, as the registry learns them at enrolment.
pub fn identity<T: Transport>(meter: &mut Meter<T>) -> ([u8; 12], [u8; 65]) {
    let id = meter.fci().and_then(|f| f.meter_id).expect("meter id in FCI");
    (id, meter.run(|tx| tx.public_keys()).expect("public keys").device)
}

/// Registers the meter with `ca`.
pub fn register<T: Transport>(ca: &mut CertificateAuthority, meter: &mut Meter<T>) -> [u8; 12] {
    let (id, device) = identity(meter);
    ca.register_meter(&id, &device, FIXTURE_TIME).expect("register");
    id
}

/// A subject Name (for agent requests; the CA sets the subjects of the certificates it issues).
pub fn subject(cn: &str) -> Vec<u8> {
    x509::name(&[(oid::ORGANIZATION, "PCMeter test"), (oid::COMMON_NAME, cn)]).expect("name")
}

/// Certifies `slot` for `usage` (PIN already verified); returns the certificate.
pub fn certified<T: Transport>(
    meter: &mut Meter<T>,
    ca: &mut CertificateAuthority,
    slot: u8,
    usage: Usage,
) -> Result<Vec<u8>, authority::CertifyError> {
    let mut s = meter.transaction()?;
    certify_slot(&mut s, ca, slot, usage, FIXTURE_TIME)
}

/// A CERTIFICATE REQUEST for `slot` answering a fresh challenge of `ca` (PIN already verified).
pub fn request<T: Transport>(meter: &mut Meter<T>, ca: &mut CertificateAuthority, slot: u8) -> Vec<u8> {
    let challenge = ca.challenge(FIXTURE_TIME).expect("challenge");
    meter.run(|tx| tx.certificate_request(slot, &challenge)).expect("certificate request")
}

/// Runs `f` and checks that it charged exactly `fee` to AR_c, once, for `service`.
pub fn charges<T: Transport, R>(
    meter: &mut Meter<T>,
    service: apdu_specs::Service,
    fee: u64,
    f: impl FnOnce(&mut Meter<T>) -> R,
) -> R {
    let before = meter.run(|tx| tx.registers()).expect("registers");
    let out = f(meter);
    let after = meter.run(|tx| tx.registers()).expect("registers");
    assert_eq!(after.ar_certificates, before.ar_certificates + fee, "{service:?}: AR_c");
    assert_eq!(after.descending + fee, before.descending, "{service:?}: DR");
    assert_eq!(after.count(service), before.count(service) + 1, "{service:?}: count");
    assert!(after.balanced());
    out
}

/// Runs a refusal and checks that registers and audit head did not move.
pub fn changes_nothing<T: Transport, R>(
    meter: &mut Meter<T>,
    f: impl FnOnce(&mut Meter<T>) -> Result<R, MeterError>,
) -> MeterError {
    let regs: Registers = meter.run(|tx| tx.registers()).expect("registers");
    let head = meter.run(|tx| tx.audit_head()).expect("audit head");
    let err = match f(meter) {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => e,
    };
    assert_eq!(meter.run(|tx| tx.registers()).expect("registers"), regs, "registers moved on {err:?}");
    assert_eq!(meter.run(|tx| tx.audit_head()).expect("audit head"), head, "audit moved on {err:?}");
    err
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory named after `label`.
    pub fn new(label: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pcmeter-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// Writes a certificate as PEM.
    pub fn cert_pem(&self, name: &str, der: &[u8]) -> PathBuf {
        self.write(name, pem("CERTIFICATE", der).as_bytes())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The result of an openssl run.
#[derive(Debug)]
pub struct Openssl {
    /// Exit success.
    pub ok: bool,
    /// stdout and stderr together.
    pub output: String,
}

/// Runs `openssl` with `args` in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Openssl {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    Openssl {
        ok: out.status.success(),
        output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    }
}

/// An EC private key in SEC1 DER (RFC 5915), for handing a delivered key to openssl.
pub fn ec_private_key_der(secret: &[u8], public: &[u8]) -> Vec<u8> {
    tlv::seq(&[
        &tlv::small_unsigned(1),
        &tlv::octets(secret),
        &tlv::tlv(tlv::explicit(0), &tlv::oid(oid::P256.as_bytes())),
        &tlv::tlv(tlv::explicit(1), &tlv::bits(public)),
    ])
}

/// One extended APDU with Le 65536 (the whole response at once).
pub fn ext_apdu(header: [u8; 4], data: &[u8]) -> Vec<u8> {
    apdu_specs::capdu::encode(header, data, 65_536, true).expect("fits an extended APDU")
}

/// Sends an APDU through `send` and returns the data of a 9000 answer.
fn data_of(send: &mut dyn FnMut(&[u8]) -> Vec<u8>, apdu: &[u8]) -> Vec<u8> {
    let r = send(apdu);
    let (data, sw) = r.split_at(r.len() - 2);
    assert_eq!(sw, [0x90, 0x00], "{}", hex::encode_upper(&apdu[..4]));
    data.to_vec()
}

/// Registers a card reached by raw APDUs (selected) with `ca`; returns its meter ID.
pub fn register_raw(send: &mut dyn FnMut(&[u8]) -> Vec<u8>, ca: &mut CertificateAuthority) -> [u8; 12] {
    let fci = apdu_specs::fci::Fci::parse(&data_of(send, &ext_apdu([0x00, 0xA4, 0x04, 0x00], &apdu_specs::AID)))
        .expect("FCI");
    let meter_id = fci.meter_id.expect("personalized");
    let keys = data_of(send, &[0x00, 0xCA, 0xDF, 0x24, 0x00]);
    let device: [u8; 65] = apdu_specs::tlv::find(&keys, 0x81).expect("device key").try_into().expect("65 bytes");
    ca.register_meter(&meter_id, &device, FIXTURE_TIME).expect("register");
    meter_id
}

/// Generates a key in `slot` by raw APDUs (PIN verified) and has `ca` issue its
/// certificate; returns the public key and the certificate, not yet installed.
pub fn request_raw(
    send: &mut dyn FnMut(&[u8]) -> Vec<u8>,
    ca: &mut CertificateAuthority,
    slot: u8,
    usage: Usage,
) -> ([u8; 65], Vec<u8>) {
    let public = data_of(send, &ext_apdu([0x00, 0x46, 0x00, slot], &[usage as u8])).try_into().expect("65 bytes");
    let challenge = ca.challenge(FIXTURE_TIME).expect("challenge");
    let request = data_of(send, &ext_apdu([0x80, 0x50, 0x00, slot], &challenge));
    (public, ca.issue(&request, FIXTURE_TIME).expect("issued"))
}

/// As [`request_raw`], and installs the certificate.
pub fn certify_raw(
    send: &mut dyn FnMut(&[u8]) -> Vec<u8>,
    ca: &mut CertificateAuthority,
    slot: u8,
    usage: Usage,
) -> Vec<u8> {
    let (_, cert) = request_raw(send, ca, slot, usage);
    data_of(send, &ext_apdu([0x80, 0x52, 0x00, slot], &cert));
    cert
}
