//! The applet's persistent state, split into records so that a command
//! rewrites only what it changes (an indicium writes the counters record and
//! one cell of the audit ring). Each record starts with a format byte.
//!
//! RAM keeps what commands need often ([`ResidentSlot`], parsed [`Rates`]); the
//! large records (certificates, the signed rate-table envelopes) stay in the
//! store and are read when a command needs them.

use crate::platform::{MacKey, PublicKey, RecordId, SecretKey};
use alloc::vec::Vec;
use apdu_specs::FormatError;
use apdu_specs::certs::SlotState;
use apdu_specs::codec::{Reader, Writer};
use apdu_specs::indicium::IndiciumAlgorithm;
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::perso::CardSerial;
use apdu_specs::rates::RateTable;
use apdu_specs::registers::Registers;
use apdu_specs::service::SERVICE_COUNT;
use apdu_specs::x509::{Certificate, Usage};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Record identifiers.
pub mod records {
    use super::RecordId;
    /// Issuer key and card serial installed at manufacture ([`super::Factory`]).
    pub const FACTORY: RecordId = RecordId(0x0001);
    /// Static personalization data.
    pub const CONFIG: RecordId = RecordId(0x0002);
    /// Private keys.
    pub const SECRETS: RecordId = RecordId(0x0003);
    /// PIN, PUK and retry counters.
    pub const PINS: RecordId = RecordId(0x0004);
    /// Lifecycle, flags, inspection deadline.
    pub const CARD: RecordId = RecordId(0x0005);
    /// Registers, audit head, clock floor.
    pub const COUNTERS: RecordId = RecordId(0x0006);
    /// Rate table in force (signed envelope).
    pub const RATES_ACTIVE: RecordId = RecordId(0x0007);
    /// Rate table waiting for its effective date (empty = none).
    pub const RATES_PENDING: RecordId = RecordId(0x0008);
    /// CA anchor override and agent serial counter.
    pub const CERT_STATE: RecordId = RecordId(0x0009);
    /// Last authority lock order applied ([`super::OrderState`]).
    pub const ORDERS: RecordId = RecordId(0x000A);
    /// Payment serial and credit remaining ([`super::CreditState`]).
    pub const CREDIT: RecordId = RecordId(0x000B);
    /// The installed line of credit (signed envelope; absent or empty = none).
    pub const CREDIT_LINE: RecordId = RecordId(0x000C);
    /// First cell of the recharge receipt ring; receipt NT is in `RECEIPT_BASE + NT % RECEIPTS_KEPT`.
    pub const RECEIPT_BASE: u16 = 0x0300;
    /// The last indicium issued, whole; written in the commit of its debit.
    pub const LAST_INDICIUM: RecordId = RecordId(0x000D);
    /// First cell of the audit ring; cell `i` is `AUDIT_BASE + i`.
    pub const AUDIT_BASE: u16 = 0x0100;
    /// First key slot; slot `i` is `SLOT_BASE + i`.
    pub const SLOT_BASE: u16 = 0x0200;
}

/// The record holding key slot `slot`.
pub fn slot_record(slot: u8) -> RecordId {
    RecordId(records::SLOT_BASE + u16::from(slot))
}

pub use apdu_specs::audit::AUDIT_CAPACITY;

/// Recharge receipts (S3) the card keeps for GET RECHARGE PROOF.
pub const RECEIPTS_KEPT: u32 = 8;

/// The ring cell (a store record) holding the receipt of recharge `sequence`.
pub fn receipt_cell(sequence: u32) -> RecordId {
    RecordId(records::RECEIPT_BASE + (sequence % RECEIPTS_KEPT) as u16)
}

/// The audit ring cell (a store record) holding audit record `seq`.
pub fn audit_cell(seq: u32) -> RecordId {
    RecordId(records::AUDIT_BASE + (seq % AUDIT_CAPACITY) as u16)
}

const FORMAT: u8 = 1;

fn start() -> Vec<u8> {
    let mut v = Vec::new();
    v.put_u8(FORMAT);
    v
}

fn open(bytes: &[u8]) -> Result<Reader<'_>, FormatError> {
    let mut r = Reader::new(bytes);
    if r.u8("record format")? != FORMAT {
        return Err(FormatError::Invalid("record format"));
    }
    Ok(r)
}

/// What manufacture installs: the key that must sign the personalization
/// profile, and the card serial the profile must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factory {
    /// Issuer key.
    pub issuer_key: PublicKey,
    /// Card serial.
    pub serial: CardSerial,
}

/// A factory record as found in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactoryRecord {
    /// The current format.
    Current(Factory),
    /// The format before card serials: the bare issuer key, without a format
    /// byte. Power-on migrates it by giving the card a serial.
    Legacy(PublicKey),
}

impl Factory {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = start();
        v.put(&self.issuer_key);
        v.put(&self.serial.0);
        v
    }

    /// Decodes the record in either format.
    pub fn decode(bytes: &[u8]) -> Result<FactoryRecord, FormatError> {
        if let Ok(legacy) = PublicKey::try_from(bytes) {
            return Ok(FactoryRecord::Legacy(legacy));
        }
        let mut r = open(bytes)?;
        let f = Self { issuer_key: r.array("issuer key")?, serial: CardSerial(r.array("card serial")?) };
        r.finish()?;
        Ok(FactoryRecord::Current(f))
    }
}

/// Static personalization data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Meter ID.
    pub meter_id: [u8; 12],
    /// Authority key.
    pub authority_key: PublicKey,
    /// CA key.
    pub ca_key: PublicKey,
    /// Credit-issuer keys.
    pub credit_issuer_keys: Vec<PublicKey>,
    /// Seconds between inspections.
    pub inspection_period: u32,
    /// Indicium algorithm.
    pub algorithm: IndiciumAlgorithm,
    /// Postal certificate serial.
    pub postal_cert_serial: u32,
    /// Software ID.
    pub software_id: [u8; 12],
    /// Currency.
    pub currency: [u8; 3],
    /// Exponent.
    pub exponent: u8,
}

impl Config {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = start();
        v.put(&self.meter_id);
        v.put(&self.authority_key);
        v.put(&self.ca_key);
        v.put_u8(self.credit_issuer_keys.len() as u8);
        for k in &self.credit_issuer_keys {
            v.put(k);
        }
        v.put_u32(self.inspection_period);
        v.put_u8(self.algorithm as u8);
        v.put_u32(self.postal_cert_serial);
        v.put(&self.software_id);
        v.put(&self.currency);
        v.put_u8(self.exponent);
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let meter_id = r.array("meter id")?;
        let authority_key = r.array("authority key")?;
        let ca_key = r.array("ca key")?;
        let n = r.u8("issuers")?;
        let mut credit_issuer_keys = Vec::new();
        for _ in 0..n {
            credit_issuer_keys.push(r.array("issuer")?);
        }
        let c = Self {
            meter_id,
            authority_key,
            ca_key,
            credit_issuer_keys,
            inspection_period: r.u32("inspection period")?,
            algorithm: IndiciumAlgorithm::from_byte(r.u8("algorithm")?)?,
            postal_cert_serial: r.u32("postal cert serial")?,
            software_id: r.array("software id")?,
            currency: r.array("currency")?,
            exponent: r.u8("exponent")?,
        };
        r.finish()?;
        Ok(c)
    }
}

/// Private key material. Wiped on drop and on tamper.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    /// Device key ("certificate communication key").
    pub device: SecretKey,
    /// Device public key.
    #[zeroize(skip)]
    pub device_public: PublicKey,
    /// Postal key (ECDSA indicia).
    pub postal: Option<SecretKey>,
    /// Postal public key.
    #[zeroize(skip)]
    pub postal_public: Option<PublicKey>,
    /// Diversified indicium MAC key (HMAC indicia).
    pub mac_key: Option<MacKey>,
}

impl core::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Secrets {
    /// Encodes the record.
    pub fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = zeroize::Zeroizing::new(start());
        v.put(&self.device.0);
        v.put(&self.device_public);
        match (&self.postal, &self.postal_public) {
            (Some(k), Some(p)) => {
                v.put_u8(1);
                v.put(&k.0);
                v.put(p);
            }
            _ => v.put_u8(0),
        }
        match &self.mac_key {
            Some(k) => {
                v.put_u8(1);
                v.put(k.expose());
            }
            None => v.put_u8(0),
        }
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let device = SecretKey(r.array("device key")?);
        let device_public = r.array("device public")?;
        let (postal, postal_public) = match r.u8("postal flag")? {
            0 => (None, None),
            1 => (Some(SecretKey(r.array("postal key")?)), Some(r.array("postal public")?)),
            _ => return Err(FormatError::Invalid("postal flag")),
        };
        let mac_key = match r.u8("mac flag")? {
            0 => None,
            1 => Some(MacKey::take_from(&mut zeroize::Zeroizing::new(r.array("mac key")?))),
            _ => return Err(FormatError::Invalid("mac flag")),
        };
        r.finish()?;
        Ok(Self { device, device_public, postal, postal_public, mac_key })
    }
}

/// PIN and PUK with their counters.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PinState {
    /// PIN block.
    pub pin: [u8; 8],
    /// PUK block.
    pub puk: [u8; 8],
    /// PIN tries left.
    pub pin_tries: u8,
    /// PIN retry limit.
    pub pin_limit: u8,
    /// PUK tries left.
    pub puk_tries: u8,
    /// PUK retry limit.
    pub puk_limit: u8,
}

impl core::fmt::Debug for PinState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PinState")
            .field("pin_tries", &self.pin_tries)
            .field("puk_tries", &self.puk_tries)
            .finish_non_exhaustive()
    }
}

impl PinState {
    /// Encodes the record.
    pub fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = zeroize::Zeroizing::new(start());
        v.put(&self.pin);
        v.put(&self.puk);
        v.put(&[self.pin_tries, self.pin_limit, self.puk_tries, self.puk_limit]);
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let s = Self {
            pin: r.array("pin")?,
            puk: r.array("puk")?,
            pin_tries: r.u8("pin tries")?,
            pin_limit: r.u8("pin limit")?,
            puk_tries: r.u8("puk tries")?,
            puk_limit: r.u8("puk limit")?,
        };
        r.finish()?;
        if s.pin_tries > s.pin_limit || s.puk_tries > s.puk_limit {
            return Err(FormatError::Invalid("retry counters"));
        }
        Ok(s)
    }
}

/// Lifecycle record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardState {
    /// Lifecycle.
    pub lifecycle: Lifecycle,
    /// Status flags (`apdu_specs::registers::flags`, without `PIN_VERIFIED`).
    pub flags: u8,
    /// Inspection deadline (0 before activation).
    pub inspection_deadline: u64,
}

impl Default for CardState {
    fn default() -> Self {
        Self { lifecycle: Lifecycle::Personalization, flags: 0, inspection_deadline: 0 }
    }
}

impl CardState {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = start();
        v.put_u8(self.lifecycle.byte());
        v.put_u8(self.flags);
        v.put_u64(self.inspection_deadline);
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let s = Self {
            lifecycle: Lifecycle::from_byte(r.u8("lifecycle")?)?,
            flags: r.u8("flags")?,
            inspection_deadline: r.u64("deadline")?,
        };
        r.finish()?;
        Ok(s)
    }
}

/// Registers and everything that moves with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Money registers and counts.
    pub regs: Registers,
    /// Audit records written.
    pub audit_records: u32,
    /// Hash of the last audit record.
    pub audit_head: [u8; 32],
    /// Highest time the card has accepted (monotonic clock floor).
    pub time_floor: u64,
    /// Highest rate-table version ever accepted.
    pub rate_version_seen: u32,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            regs: Registers::default(),
            audit_records: 0,
            audit_head: apdu_specs::audit::GENESIS,
            time_floor: 0,
            rate_version_seen: 0,
        }
    }
}

/// Format of the counters record since the registers carry the debt; format 1
/// (saved card images) has the registers without it.
const COUNTERS_FORMAT: u8 = 2;

impl Counters {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_u8(COUNTERS_FORMAT);
        v.put(&self.regs.encode());
        v.put_u32(self.audit_records);
        v.put(&self.audit_head);
        v.put_u64(self.time_floor);
        v.put_u32(self.rate_version_seen);
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        use apdu_specs::registers::{REGISTERS_LEN, REGISTERS_V1_LEN};
        let mut r = Reader::new(bytes);
        let regs = match r.u8("record format")? {
            FORMAT => Registers::parse_v1(r.take(REGISTERS_V1_LEN, "registers")?)?,
            COUNTERS_FORMAT => Registers::parse(r.take(REGISTERS_LEN, "registers")?)?,
            _ => return Err(FormatError::Invalid("record format")),
        };
        let c = Self {
            regs,
            audit_records: r.u32("audit records")?,
            audit_head: r.array("audit head")?,
            time_floor: r.u64("time floor")?,
            rate_version_seen: r.u32("rate version")?,
        };
        r.finish()?;
        Ok(c)
    }
}

/// Active and pending rate tables, parsed. Their signed envelopes stay in
/// the store ([`records::RATES_ACTIVE`], [`records::RATES_PENDING`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rates {
    /// In force.
    pub active: Option<RateTable>,
    /// Waiting for its effective date.
    pub pending: Option<RateTable>,
}

impl Rates {
    /// The table in force at `now` and the record holding its signed envelope.
    pub fn current(&self, now: u64) -> Option<(&RateTable, RecordId)> {
        match &self.pending {
            Some(p) if p.effective_from <= now => Some((p, records::RATES_PENDING)),
            _ => self.active.as_ref().map(|a| (a, records::RATES_ACTIVE)),
        }
    }

    /// The pending table, when it is due at `now`.
    pub fn due(&self, now: u64) -> Option<&RateTable> {
        self.pending.as_ref().filter(|p| p.effective_from <= now)
    }
}

/// Decodes a signed rate-table envelope as stored (the signature was checked on entry).
pub fn decode_rate_table(bytes: &[u8]) -> Result<RateTable, FormatError> {
    RateTable::parse_body(apdu_specs::signed::Signed::parse(bytes)?.body)
}

/// Piece-count array length, re-exported for handlers.
pub const COUNTS: usize = SERVICE_COUNT;

/// A key slot. The private key is wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Slot {
    /// State.
    #[zeroize(skip)]
    pub state: SlotState,
    /// Usage fixed at key generation.
    #[zeroize(skip)]
    pub usage: Option<Usage>,
    /// Private key (none when empty or revoked).
    pub secret: Option<SecretKey>,
    /// Public key.
    #[zeroize(skip)]
    pub public: Option<PublicKey>,
    /// Installed certificate (kept after revocation, for the record).
    #[zeroize(skip)]
    pub certificate: Option<Vec<u8>>,
    /// The CA anchor version whose key verified the certificate at install
    /// (none in records written before it was kept: checked again at use).
    #[zeroize(skip)]
    pub verified_under: Option<u32>,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            state: SlotState::Empty,
            usage: None,
            secret: None,
            public: None,
            certificate: None,
            verified_under: None,
        }
    }
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slot").field("state", &self.state).field("usage", &self.usage).finish_non_exhaustive()
    }
}

impl Slot {
    /// Encodes the record: state, usage, optional secret, public, certificate
    /// and, when known, the anchor version that verified the certificate.
    pub fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = zeroize::Zeroizing::new(start());
        v.put_u8(self.state as u8);
        v.put_u8(self.usage.map_or(0, |u| u as u8));
        match &self.secret {
            Some(k) => {
                v.put_u8(1);
                v.put(&k.0);
            }
            None => v.put_u8(0),
        }
        match &self.public {
            Some(p) => {
                v.put_u8(1);
                v.put(p);
            }
            None => v.put_u8(0),
        }
        let cert = self.certificate.as_deref().unwrap_or(&[]);
        v.put_u16(cert.len() as u16);
        v.put(cert);
        if let Some(version) = self.verified_under {
            v.put_u32(version);
        }
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let state = SlotState::from_byte(r.u8("slot state")?)?;
        let usage = match r.u8("usage")? {
            0 => None,
            b => Some(Usage::from_byte(b)?),
        };
        let secret = match r.u8("secret flag")? {
            0 => None,
            1 => Some(SecretKey(r.array("slot secret")?)),
            _ => return Err(FormatError::Invalid("secret flag")),
        };
        let public = match r.u8("public flag")? {
            0 => None,
            1 => Some(r.array("slot public")?),
            _ => return Err(FormatError::Invalid("public flag")),
        };
        let n = usize::from(r.u16("certificate length")?);
        let cert = r.take(n, "certificate")?;
        let verified_under = if r.remaining().is_empty() { None } else { Some(r.u32("verified anchor")?) };
        r.finish()?;
        Ok(Self {
            state,
            usage,
            secret,
            public,
            certificate: (!cert.is_empty()).then(|| cert.to_vec()),
            verified_under,
        })
    }
}

/// What RAM keeps of a key slot between commands: the slot record without
/// its certificate, which stays in the store until a command reads it, and
/// the facts the at-use check needs from that certificate. The private key
/// is wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ResidentSlot {
    /// State.
    #[zeroize(skip)]
    pub state: SlotState,
    /// Usage fixed at key generation.
    #[zeroize(skip)]
    pub usage: Option<Usage>,
    /// Private key (none when empty or revoked).
    pub secret: Option<SecretKey>,
    /// Public key.
    #[zeroize(skip)]
    pub public: Option<PublicKey>,
    /// The CA anchor version whose key verified the certificate at install.
    #[zeroize(skip)]
    pub verified_under: Option<u32>,
    /// What the installed certificate says, read once when the record entered
    /// RAM (none without a certificate, or when it does not parse: then the
    /// at-use check parses the stored certificate and refuses).
    #[zeroize(skip)]
    pub certificate: Option<CertificateFacts>,
}

/// The facts of a slot's installed certificate that a certified service
/// checks or uses at each use, so that a POSTMARK neither reads nor parses
/// the certificate. Derived from the slot record only: a commit that
/// changes the record derives them again.
#[derive(Clone, Debug)]
pub struct CertificateFacts {
    /// Subject Name, as encoded (a postmark's TSA name).
    pub subject: Vec<u8>,
    /// notBefore, Unix seconds.
    pub not_before: u64,
    /// notAfter, Unix seconds.
    pub not_after: u64,
    /// True when the extensions allow the slot's usage.
    pub usage_allowed: bool,
    /// SHA-256 of the whole certificate (ESSCertIDv2 of a postmark).
    pub digest: [u8; 32],
}

impl CertificateFacts {
    /// The facts of `der` for a key of `usage`, hashed by `sha256`; none when it does not parse.
    pub fn read(der: &[u8], usage: Usage, sha256: impl FnOnce(&[u8]) -> [u8; 32]) -> Option<Self> {
        Certificate::parse(der).ok().map(|cert| Self::of(cert, usage, sha256))
    }

    /// The facts of a parsed certificate for a key of `usage`, its DER hashed by `sha256`.
    pub fn of(cert: Certificate<'_>, usage: Usage, sha256: impl FnOnce(&[u8]) -> [u8; 32]) -> Self {
        Self {
            usage_allowed: usage.allowed_by(&cert.extensions),
            not_before: cert.not_before,
            not_after: cert.not_after,
            digest: sha256(cert.der),
            subject: cert.subject,
        }
    }

    /// True when `time` is within the validity period (both ends included).
    pub fn valid_at(&self, time: u64) -> bool {
        (self.not_before..=self.not_after).contains(&time)
    }
}

impl Default for ResidentSlot {
    fn default() -> Self {
        Self {
            state: SlotState::Empty,
            usage: None,
            secret: None,
            public: None,
            verified_under: None,
            certificate: None,
        }
    }
}

impl core::fmt::Debug for ResidentSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResidentSlot").field("state", &self.state).field("usage", &self.usage).finish_non_exhaustive()
    }
}

impl ResidentSlot {
    /// What RAM keeps of `slot`: its fields, and its certificate's facts
    /// (hashed by `sha256`).
    pub fn of(slot: &Slot, sha256: impl FnOnce(&[u8]) -> [u8; 32]) -> Self {
        let certificate = match (&slot.certificate, slot.usage) {
            (Some(der), Some(usage)) => CertificateFacts::read(der, usage, sha256),
            _ => None,
        };
        Self {
            state: slot.state,
            usage: slot.usage,
            secret: slot.secret.clone(),
            public: slot.public,
            verified_under: slot.verified_under,
            certificate,
        }
    }

    /// The full slot record: this slot with `certificate`.
    pub fn with_certificate(&self, certificate: Option<Vec<u8>>) -> Slot {
        Slot {
            state: self.state,
            usage: self.usage,
            secret: self.secret.clone(),
            public: self.public,
            certificate,
            verified_under: self.verified_under,
        }
    }
}

/// CA anchor override and the agent serial counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CertState {
    /// Version of the anchor in force (0: the personalized CA key).
    pub anchor_version: u32,
    /// CA key set by an anchor update.
    pub ca_key: Option<PublicKey>,
    /// Certificates issued as an agent.
    pub agent_serial: u64,
}

impl CertState {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = start();
        v.put_u32(self.anchor_version);
        match &self.ca_key {
            Some(k) => {
                v.put_u8(1);
                v.put(k);
            }
            None => v.put_u8(0),
        }
        v.put_u64(self.agent_serial);
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let anchor_version = r.u32("anchor version")?;
        let ca_key = match r.u8("ca key flag")? {
            0 => None,
            1 => Some(r.array("ca key")?),
            _ => return Err(FormatError::Invalid("ca key flag")),
        };
        let s = Self { anchor_version, ca_key, agent_serial: r.u64("agent serial")? };
        r.finish()?;
        Ok(s)
    }
}

/// Authority orders applied: the sequence of the last LOCK or UNLOCK order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderState {
    /// Sequence of the last lock order applied (0: none).
    pub lock_sequence: u32,
}

impl OrderState {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = start();
        v.put_u32(self.lock_sequence);
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let s = Self { lock_sequence: r.u32("lock sequence")? };
        r.finish()?;
        Ok(s)
    }
}

/// What a PAY changes of the installed line of credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledLine {
    /// Credit remaining (812, 908).
    pub remaining: u64,
    /// SHA-256 of the signed line-of-credit envelope (730).
    pub digest: [u8; 32],
}

/// The payment serial and the state of the installed line of credit. The
/// line itself is in [`records::CREDIT_LINE`], written only by an install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditState {
    /// The last payment serial issued; it never goes back, whatever line is installed.
    pub payment_serial: u32,
    /// The installed line, if any.
    pub installed: Option<InstalledLine>,
}

impl CreditState {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = start();
        v.put_u32(self.payment_serial);
        match &self.installed {
            Some(line) => {
                v.put_u8(1);
                v.put_u64(line.remaining);
                v.put(&line.digest);
            }
            None => v.put_u8(0),
        }
        v
    }

    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = open(bytes)?;
        let payment_serial = r.u32("payment serial")?;
        let installed = match r.u8("line flag")? {
            0 => None,
            1 => Some(InstalledLine { remaining: r.u64("credit remaining")?, digest: r.array("line digest")? }),
            _ => return Err(FormatError::Invalid("line flag")),
        };
        r.finish()?;
        Ok(Self { payment_serial, installed })
    }
}

/// Decodes a signed line-of-credit envelope as stored (the signature was checked on entry).
pub fn decode_credit_line(bytes: &[u8]) -> Result<apdu_specs::credit::CreditLine, FormatError> {
    apdu_specs::credit::CreditLine::parse(apdu_specs::signed::Signed::parse(bytes)?.body)
}
