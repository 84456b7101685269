//! The applet: persistent state, volatile security state, and the dispatcher
//! that checks lifecycle and security from the `apdu-specs` table before any
//! handler runs, then hands the typed command (parsed by its table row) to
//! its handler.

mod change;

pub(crate) use change::StateChange;

use crate::iso::{Handler, IsoLayer, Request};
use crate::platform::{CryptoEngine, Platform, PublicKey, Store, StoreError, WriteSet};
use crate::state::{
    CardState, CertState, Config, Counters, CreditState, Factory, FactoryRecord, OrderState, PinState, Rates,
    ResidentSlot, Secrets, Slot, decode_credit_line, decode_rate_table, records, slot_record,
};
use alloc::vec::Vec;
use apdu_specs::FormatError;
use apdu_specs::certs::SLOT_COUNT;
use apdu_specs::command::{CardCommand, Command, Hash, SelectResponse};
use apdu_specs::commands::{CommandSpec, ResponseLength, Security, ins};
use apdu_specs::credit::CreditLine;
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::perso::CardSerial;
use apdu_specs::signed::Signed;
use apdu_specs::sw::Sw;

/// Why the applet could not start from its store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A record did not decode.
    #[error("record {record:#06x} is malformed: {error}")]
    Record {
        /// Record id.
        record: u16,
        /// Decoding error.
        error: FormatError,
    },
    /// The store holds no manufactured card.
    #[error("the store holds no card: manufacture one first")]
    Blank,
    /// `manufacture` was called on a store that already holds a card.
    #[error("the store already holds a card")]
    AlreadyManufactured,
    /// The issuer key is not a valid P-256 point.
    #[error("invalid issuer key")]
    InvalidIssuerKey,
    /// The random source failed while drawing a card serial (manufacture, or a card made before card serials).
    #[error("random source failed while assigning the card serial")]
    SerialUnavailable,
}

/// The persistent state as last committed, as RAM keeps it: certificates and
/// signed rate-table envelopes are left in the store.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) factory: Factory,
    pub(crate) config: Option<Config>,
    pub(crate) secrets: Option<Secrets>,
    pub(crate) pins: Option<PinState>,
    pub(crate) card: CardState,
    pub(crate) counters: Counters,
    pub(crate) rates: Rates,
    pub(crate) slots: Vec<ResidentSlot>,
    pub(crate) cert: CertState,
    pub(crate) orders: OrderState,
    pub(crate) credit: CreditState,
    /// The installed line of credit, parsed (its envelope stays in the store).
    pub(crate) credit_line: Option<CreditLine>,
}

/// The committed state: readable everywhere, changed only by a committed
/// [`StateChange`] (and wiped by [`Committed::wipe_secrets`] on tamper).
#[derive(Debug)]
pub(crate) struct Committed(State);

impl core::ops::Deref for Committed {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

impl Committed {
    /// Tamper: drops every private key and the PINs from RAM at once,
    /// whatever then happens to the store (they zeroize on drop).
    pub(crate) fn wipe_secrets(&mut self) {
        self.0.secrets = None;
        self.0.pins = None;
        for slot in self.0.slots.iter_mut() {
            slot.secret = None;
        }
    }
}

/// Volatile security state: RAM only, cleared by reset, power-off and deselect.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Volatile {
    pub(crate) selected: bool,
    pub(crate) pin_verified: bool,
    /// The recharge request (S1) last signed, until RECHARGE CREDIT consumes it.
    pub(crate) pending_recharge: Option<PendingRecharge>,
    /// SHA-256 of the last inspection report body, until INSPECTION ACK answers it.
    pub(crate) last_report: Option<[u8; 32]>,
}

/// What RECHARGE CREDIT must match of the request RECHARGE INIT signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingRecharge {
    pub(crate) sequence: u32,
    pub(crate) nonce: [u8; apdu_specs::recharge::NONCE_LEN],
    pub(crate) amount: u64,
}

/// Everything but the transport layer; implements [`Handler`].
pub(crate) struct Core<P: Platform> {
    pub(crate) platform: P,
    pub(crate) state: Committed,
    pub(crate) volatile: Volatile,
    /// The HASH stream: volatile, dropped with the rest of [`Volatile`].
    pub(crate) hash: Option<<P::Crypto as CryptoEngine>::Hasher>,
}

/// The meter applet.
pub struct Applet<P: Platform> {
    iso: IsoLayer,
    core: Core<P>,
}

fn read_record<P: Platform, T>(
    platform: &mut P,
    id: crate::platform::RecordId,
    decode: impl Fn(&[u8]) -> Result<T, FormatError>,
) -> Result<Option<T>, LoadError> {
    match platform.store().read(id)? {
        Some(bytes) if !bytes.is_empty() => {
            decode(&bytes).map(Some).map_err(|error| LoadError::Record { record: id.0, error })
        }
        _ => Ok(None),
    }
}

/// Key slot `n` as RAM keeps it: the record without its certificate, with
/// the certificate's facts.
fn load_key_slot<P: Platform>(platform: &mut P, n: u8) -> Result<ResidentSlot, LoadError> {
    let Some(slot) = read_record(platform, slot_record(n), Slot::decode)? else {
        return Ok(ResidentSlot::default());
    };
    let crypto = platform.crypto();
    Ok(ResidentSlot::of(&slot, |der| crypto.sha256(&[der])))
}

/// Migrates the factory record of a card made before card serials: draws a
/// serial from the card's random source and rewrites the record, in one commit.
fn assign_serial<P: Platform>(platform: &mut P, issuer_key: PublicKey) -> Result<Factory, LoadError> {
    let mut serial = [0u8; CardSerial::LEN];
    platform.crypto().fill_random(&mut serial).map_err(|_| LoadError::SerialUnavailable)?;
    let factory = Factory { issuer_key, serial: CardSerial(serial) };
    let mut set = WriteSet::new();
    set.put(records::FACTORY, factory.encode());
    platform.store().commit(&set)?;
    Ok(factory)
}

impl<P: Platform> Applet<P> {
    /// Writes the factory record (the issuer key that must sign the
    /// personalization profile and the card serial the profile must name)
    /// into an empty store and powers the card on.
    pub fn manufacture(mut platform: P, issuer_key: &PublicKey, serial: CardSerial) -> Result<Self, LoadError> {
        if platform.store().read(records::FACTORY)?.is_some() {
            return Err(LoadError::AlreadyManufactured);
        }
        if !platform.crypto().p256_valid_public(issuer_key) {
            return Err(LoadError::InvalidIssuerKey);
        }
        let mut set = WriteSet::new();
        set.put(records::FACTORY, Factory { issuer_key: *issuer_key, serial }.encode());
        set.put(records::CARD, CardState::default().encode());
        set.put(records::COUNTERS, Counters::default().encode());
        platform.store().commit(&set)?;
        Self::power_on(platform)
    }

    /// Powers the card on from its store. Volatile state starts empty. A
    /// failed register check locks an operational meter; a card made before
    /// card serials is given one.
    pub fn power_on(mut platform: P) -> Result<Self, LoadError> {
        let factory = match read_record(&mut platform, records::FACTORY, Factory::decode)?.ok_or(LoadError::Blank)? {
            FactoryRecord::Current(factory) => factory,
            FactoryRecord::Legacy(issuer_key) => assign_serial(&mut platform, issuer_key)?,
        };
        let state = State {
            factory,
            config: read_record(&mut platform, records::CONFIG, Config::decode)?,
            secrets: read_record(&mut platform, records::SECRETS, Secrets::decode)?,
            pins: read_record(&mut platform, records::PINS, PinState::decode)?,
            card: read_record(&mut platform, records::CARD, CardState::decode)?.unwrap_or_default(),
            counters: read_record(&mut platform, records::COUNTERS, Counters::decode)?.unwrap_or_default(),
            rates: Rates {
                active: read_record(&mut platform, records::RATES_ACTIVE, decode_rate_table)?,
                pending: read_record(&mut platform, records::RATES_PENDING, decode_rate_table)?,
            },
            slots: (0..SLOT_COUNT).map(|i| load_key_slot(&mut platform, i)).collect::<Result<_, _>>()?,
            cert: read_record(&mut platform, records::CERT_STATE, CertState::decode)?.unwrap_or_default(),
            orders: read_record(&mut platform, records::ORDERS, OrderState::decode)?.unwrap_or_default(),
            credit: read_record(&mut platform, records::CREDIT, CreditState::decode)?.unwrap_or_default(),
            credit_line: read_record(&mut platform, records::CREDIT_LINE, decode_credit_line)?,
        };
        let mut core = Core { platform, state: Committed(state), volatile: Volatile::default(), hash: None };
        core.check_registers_at_power_on()?;
        core.finish_tamper_scrub();
        Ok(Self { iso: IsoLayer::default(), core })
    }

    /// The serial set at manufacture.
    pub fn card_serial(&self) -> CardSerial {
        self.core.state.factory.serial
    }

    /// Processes one C-APDU and returns the R-APDU.
    pub fn process(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.iso.process(capdu, &mut self.core)
    }

    /// Card reset (warm or cold): clears every volatile state.
    pub fn reset(&mut self) {
        self.iso.clear();
        self.core.clear_volatile();
    }

    /// The tamper input: zeroizes keys and PINs, records the event, and
    /// moves the card to TERMINATED for good.
    pub fn tamper(&mut self) -> Result<(), StoreError> {
        self.reset();
        self.core.tamper()
    }

    /// Gives the platform back (power-off).
    pub fn into_platform(self) -> P {
        self.core.platform
    }

    /// The platform (tests, simulator controls).
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.core.platform
    }

    /// Test hook: true when nothing volatile survives (no verified PIN,
    /// selection, chain or pending response).
    pub fn volatile_state_is_clear(&self) -> bool {
        self.core.volatile == Volatile::default()
            && self.core.hash.is_none()
            && !self.iso.chain_open()
            && !self.iso.response_pending()
    }

    /// Test hook: true when the card holds no private key or PIN material.
    pub fn secrets_are_zeroized(&self) -> bool {
        self.core.state.secrets.is_none()
            && self.core.state.pins.is_none()
            && self.core.state.slots.iter().all(|s| s.secret.is_none())
    }
}

impl<P: Platform> Core<P> {
    /// Drops every volatile security state: PIN verification, selection, HASH stream.
    pub(crate) fn clear_volatile(&mut self) {
        self.volatile = Volatile::default();
        self.hash = None;
    }

    /// The card time: platform time, refused if it goes below the floor.
    pub(crate) fn now(&self) -> Result<u64, Sw> {
        let t = self.platform.now().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        if t < self.state.counters.time_floor { Err(Sw::CONDITIONS_NOT_SATISFIED) } else { Ok(t) }
    }

    /// Best-effort time for status and audit: never below the floor.
    pub(crate) fn display_time(&self) -> u64 {
        self.platform.now().unwrap_or(0).max(self.state.counters.time_floor)
    }

    /// Parses a signed envelope and checks its signature with `key` under `domain`.
    pub(crate) fn verified_body<'a>(&mut self, bytes: &'a [u8], domain: &[u8], key: &[u8]) -> Result<&'a [u8], Sw> {
        let signed = Signed::parse(bytes).map_err(|_| Sw::BAD_DATA)?;
        let crypto = self.platform.crypto();
        let digest = crypto.sha256(&Signed::signing_input(domain, signed.body));
        if crypto.p256_verify_digest(key, &digest, &signed.signature) {
            Ok(signed.body)
        } else {
            Err(Sw::VERIFICATION_FAILED)
        }
    }

    /// The device key (the certificate communication key), checked before anything is charged.
    pub(crate) fn device_key(&self) -> Result<crate::platform::SecretKey, Sw> {
        self.state.secrets.as_ref().map(|s| s.device.clone()).ok_or(Sw::CONDITIONS_NOT_SATISFIED)
    }

    /// A signed envelope around `body`, signed by the device key under `domain`
    /// (the counterpart of [`Self::verified_body`]). Called after the commit:
    /// an engine failure is `6F00`.
    pub(crate) fn device_signed(
        &mut self,
        device: &crate::platform::SecretKey,
        domain: &[u8],
        body: &[u8],
    ) -> Result<Vec<u8>, Sw> {
        let crypto = self.platform.crypto();
        let digest = crypto.sha256(&Signed::signing_input(domain, body));
        let signature = crypto.p256_sign_digest(device, &digest).map_err(|_| Sw::INTERNAL_ERROR)?;
        Ok(apdu_specs::signed::encode(body, &signature))
    }

    fn check_registers_at_power_on(&mut self) -> Result<(), LoadError> {
        if self.state.card.lifecycle != Lifecycle::Operational || self.state.counters.regs.balanced() {
            return Ok(());
        }
        let flag = apdu_specs::registers::flags::LOCKED_REGISTERS;
        let mut change = self.change(self.display_time());
        let card = change.card_mut();
        card.lifecycle = Lifecycle::Locked;
        card.flags |= flag;
        change.audit(apdu_specs::audit::Event::Locked, 0, &[flag]);
        Ok(self.commit_change(change)?)
    }

    /// Refuses `cmd` in a lifecycle state its P1-P2 do not allow (the
    /// table's states were checked before the data arrived).
    fn admitted<C: CardCommand>(&mut self, cmd: &C) -> Result<&mut Self, Sw> {
        if cmd.states().contains(self.state.card.lifecycle) { Ok(self) } else { Err(Sw::CONDITIONS_NOT_SATISFIED) }
    }

    fn dispatch(&mut self, cmd: Command<'_>) -> Result<Vec<u8>, Sw> {
        match cmd {
            Command::Select(c) => self.admitted(&c)?.select(c.aid, c.response == SelectResponse::Fci),
            // Served by the ISO layer: it never reaches the applet.
            Command::GetResponse(_) => Err(Sw::INS_NOT_SUPPORTED),
            Command::Verify(c) => self.admitted(&c)?.verify(c.0),
            Command::ChangeReferenceData(c) => self.admitted(&c)?.change_reference(c.reference, &c.old, &c.new),
            Command::ResetRetryCounter(c) => self.admitted(&c)?.reset_retry_counter(&c.puk, c.new_pin.as_ref()),
            Command::GetData(c) => self.admitted(&c)?.get_data(c.tag),
            Command::GetAuditRecords(c) => self.admitted(&c)?.get_audit_records(c.first, c.count()),
            Command::StoreData(c) => self.admitted(&c)?.store_data(c.signed_profile),
            Command::Activate(c) => self.admitted(&c)?.activate(),
            Command::PrintIndicium(c) => self.admitted(&c)?.print_indicium(&c.piece),
            Command::UpdateRates(c) => self.admitted(&c)?.update_rates(c.signed_table),
            Command::GenerateKeyPair(c) => self.admitted(&c)?.generate_key_pair(c.slot.number(), c.usage),
            Command::ReadSlot(c) => self.admitted(&c)?.read_slot(c.slot.number()),
            Command::CertificateRequest(c) => self.admitted(&c)?.certificate_request(c.slot.number(), c.challenge),
            Command::InstallCertificate(c) => self.admitted(&c)?.install_certificate(c.slot.number(), c.der),
            Command::Hash(c) => match c {
                Hash::Start => self.admitted(&c)?.hash_start(),
                Hash::Absorb(data) => self.admitted(&c)?.hash_update(data),
            },
            Command::Postmark(c) => self.admitted(&c)?.postmark(c.slot.number(), c.digest, c.nonce),
            Command::ValidatePostmark(c) => self.admitted(&c)?.validate_postmark(c.digest, c.token),
            Command::VerifyCertificate(c) => self.admitted(&c)?.verify_certificate(c.path),
            Command::UpdateCaAnchor(c) => self.admitted(&c)?.update_ca_anchor(c.order),
            Command::AgentIssue(c) => self.admitted(&c)?.agent_issue(c.slot.number(), c.request),
            Command::SignData(c) => self.admitted(&c)?.sign_data(c.slot.number(), &c.input),
            Command::Decrypt(c) => self.admitted(&c)?.decrypt(c.slot.number(), c.blob),
            Command::Revoke(c) => self.admitted(&c)?.revoke(c.order),
            Command::RequestRevocation(c) => self.admitted(&c)?.revocation_request(c.slot.number(), c.reason),
            Command::RechargeInit(c) => self.admitted(&c)?.recharge_init(c.amount),
            Command::RechargeCredit(c) => self.admitted(&c)?.recharge_credit(c.authorization),
            Command::GetRechargeProof(c) => self.admitted(&c)?.recharge_proof(c.sequence),
            Command::SignInspectionReport(c) => self.admitted(&c)?.inspection_report(),
            Command::AcknowledgeInspection(c) => self.admitted(&c)?.inspection_ack(c.ack),
            Command::ApplyLockOrder(c) => self.admitted(&c)?.lock_order(c.order),
            Command::InstallCreditLine(c) => self.admitted(&c)?.install_credit_line(c.line),
            Command::Pay(c) => self.admitted(&c)?.pay(&c.request),
        }
    }
}

impl<P: Platform> Handler for Core<P> {
    fn admit(&mut self, spec: &'static CommandSpec) -> Result<(), Sw> {
        if !self.volatile.selected && spec.ins != ins::SELECT {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        if !spec.states.contains(self.state.card.lifecycle) {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        match spec.security {
            Security::Pin | Security::PinAndAuthoritySignature | Security::PinAndCreditIssuerSignature
                if !self.volatile.pin_verified =>
            {
                Err(Sw::SECURITY_STATUS_NOT_SATISFIED)
            }
            _ => Ok(()),
        }
    }

    fn response_length(&self, spec: &'static CommandSpec) -> ResponseLength {
        spec.response.for_algorithm(self.state.config.as_ref().map(|c| c.algorithm))
    }

    fn handle(&mut self, spec: &'static CommandSpec, req: &Request) -> Result<Vec<u8>, Sw> {
        let cmd = (spec.parse)(&req.apdu())?;
        self.dispatch(cmd)
    }
}
