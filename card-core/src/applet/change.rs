//! The card's one state transaction. A command stages copies of the records
//! it changes in a [`StateChange`], appends its audit records, and hands it
//! to [`Core::commit`], which writes everything in one store commit and only
//! then swaps the new records into RAM. Nothing in RAM changes unless the
//! commit succeeded, and no handler can write the committed state by hand:
//! [`super::Committed`] is read-only outside this module.

use super::{Core, State};
use crate::platform::{CryptoEngine, Platform, Store, StoreError, WriteSet};
use crate::state::{
    CardState, CertState, Config, Counters, CreditState, OrderState, PinState, ResidentSlot, Secrets, Slot, audit_cell,
    receipt_cell, records, slot_record,
};
use alloc::vec::Vec;
use apdu_specs::audit::{Event, Record};
use apdu_specs::credit::CreditLine;
use apdu_specs::rates::RateTable;
use apdu_specs::sw::Sw;

/// An audit record waiting for its place in the chain (sequence number and
/// previous hash are set at commit).
struct PendingAudit {
    event: Event,
    amount: u64,
    detail: [u8; 16],
}

/// A record the change replaces; `Some(None)` erases it.
type Replacement<T> = Option<Option<T>>;

/// One command's staged change to the persistent state.
pub(crate) struct StateChange {
    time: u64,
    card: CardState,
    card_changed: bool,
    counters: Counters,
    counters_changed: bool,
    audit: Vec<PendingAudit>,
    config: Option<Config>,
    secrets: Replacement<Secrets>,
    pins: Replacement<PinState>,
    active_table: Option<(RateTable, Vec<u8>)>,
    pending_table: Replacement<(RateTable, Vec<u8>)>,
    cert: Option<CertState>,
    slots: Vec<(u8, Slot)>,
    receipt: Option<(u32, Vec<u8>)>,
    orders: Option<OrderState>,
    credit: Option<CreditState>,
    credit_line: Option<(CreditLine, Vec<u8>)>,
    last_indicium: Option<Vec<u8>>,
}

impl StateChange {
    /// A change made at card time `time` (the time of its audit records),
    /// starting from the committed `state`.
    pub(crate) fn new(state: &State, time: u64) -> Self {
        Self {
            time,
            card: state.card,
            card_changed: false,
            counters: state.counters,
            counters_changed: false,
            audit: Vec::new(),
            config: None,
            secrets: None,
            pins: None,
            active_table: None,
            pending_table: None,
            cert: None,
            slots: Vec::new(),
            receipt: None,
            orders: None,
            credit: None,
            credit_line: None,
            last_indicium: None,
        }
    }

    /// The card time of the change.
    pub(crate) fn time(&self) -> u64 {
        self.time
    }

    /// The lifecycle record, to change.
    pub(crate) fn card_mut(&mut self) -> &mut CardState {
        self.card_changed = true;
        &mut self.card
    }

    /// The counters as staged.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters, to change.
    pub(crate) fn counters_mut(&mut self) -> &mut Counters {
        self.counters_changed = true;
        &mut self.counters
    }

    /// Raises the clock floor to `time` (the floor never goes down).
    pub(crate) fn raise_time_floor(&mut self, time: u64) {
        let counters = self.counters_mut();
        counters.time_floor = counters.time_floor.max(time);
    }

    /// Appends an audit record at the change's time; `detail` is cut or
    /// zero-padded to 16 bytes. It is chained and written at commit.
    pub(crate) fn audit(&mut self, event: Event, amount: u64, detail: &[u8]) {
        let mut d = [0u8; 16];
        for (o, b) in d.iter_mut().zip(detail) {
            *o = *b;
        }
        self.counters_changed = true;
        self.audit.push(PendingAudit { event, amount, detail: d });
    }

    /// Stages the personalization records.
    pub(crate) fn personalize(&mut self, config: Config, secrets: Secrets, pins: PinState) {
        self.config = Some(config);
        self.secrets = Some(Some(secrets));
        self.pins = Some(Some(pins));
    }

    /// Stages the PIN record.
    pub(crate) fn put_pins(&mut self, pins: PinState) {
        self.pins = Some(Some(pins));
    }

    /// Erases the private keys and the PIN record (tamper).
    pub(crate) fn erase_secrets(&mut self) {
        self.secrets = Some(None);
        self.pins = Some(None);
    }

    /// Stages `table` as the table in force, with its signed envelope.
    pub(crate) fn put_active_table(&mut self, table: RateTable, envelope: Vec<u8>) {
        self.active_table = Some((table, envelope));
    }

    /// Stages `table` as the table waiting for its effective date.
    pub(crate) fn put_pending_table(&mut self, table: RateTable, envelope: Vec<u8>) {
        self.pending_table = Some(Some((table, envelope)));
    }

    /// Drops the pending table.
    pub(crate) fn clear_pending_table(&mut self) {
        self.pending_table = Some(None);
    }

    /// The table this change puts in force, if it does.
    pub(crate) fn staged_active_table(&self) -> Option<&RateTable> {
        self.active_table.as_ref().map(|(t, _)| t)
    }

    /// Stages the certificate-state record.
    pub(crate) fn put_cert_state(&mut self, cert: CertState) {
        self.cert = Some(cert);
    }

    /// Stages the signed receipt (S3) of recharge `sequence`.
    pub(crate) fn put_receipt(&mut self, sequence: u32, envelope: Vec<u8>) {
        self.receipt = Some((sequence, envelope));
    }

    /// Stages the authority-order record.
    pub(crate) fn put_orders(&mut self, orders: OrderState) {
        self.orders = Some(orders);
    }

    /// Stages the credit record.
    pub(crate) fn put_credit(&mut self, credit: CreditState) {
        self.credit = Some(credit);
    }

    /// Stages a new line of credit with its signed envelope.
    pub(crate) fn put_credit_line(&mut self, line: CreditLine, envelope: Vec<u8>) {
        self.credit_line = Some((line, envelope));
    }

    /// Stages the full record of key slot `n` (its certificate goes to the store only).
    pub(crate) fn put_slot(&mut self, n: u8, slot: Slot) {
        match self.slots.iter_mut().find(|(i, _)| *i == n) {
            Some(staged) => staged.1 = slot,
            None => self.slots.push((n, slot)),
        }
    }

    /// Stages the whole indicium this change pays for (GET DATA `DF28`).
    pub(crate) fn put_last_indicium(&mut self, indicium: Vec<u8>) {
        self.last_indicium = Some(indicium);
    }
}

impl<P: Platform> Core<P> {
    /// A change at card time `time` over the committed state.
    pub(crate) fn change(&self, time: u64) -> StateChange {
        StateChange::new(&self.state, time)
    }

    /// Commits `change` in one store transaction, then swaps it into RAM.
    /// A store failure is `6581` and leaves RAM as it was.
    pub(crate) fn commit(&mut self, change: StateChange) -> Result<(), Sw> {
        self.commit_change(change).map_err(|_| Sw::MEMORY_FAILURE)
    }

    /// As [`Self::commit`], with the store's error (power-on and tamper).
    pub(crate) fn commit_change(&mut self, mut change: StateChange) -> Result<(), StoreError> {
        let mut set = WriteSet::new();
        for pending in change.audit.drain(..) {
            let counters = &mut change.counters;
            let record = Record {
                seq: counters.audit_records,
                time: change.time,
                event: pending.event,
                amount: pending.amount,
                detail: pending.detail,
                prev_hash: counters.audit_head,
            };
            let encoded = record.encode();
            counters.audit_head = self.platform.crypto().sha256(&[&encoded]);
            counters.audit_records = counters.audit_records.wrapping_add(1);
            set.put(audit_cell(record.seq), encoded.to_vec());
        }
        if let Some(config) = &change.config {
            set.put(records::CONFIG, config.encode());
        }
        if let Some(secrets) = &change.secrets {
            set.put(records::SECRETS, secrets.as_ref().map(|s| s.encode().to_vec()).unwrap_or_default());
        }
        if let Some(pins) = &change.pins {
            set.put(records::PINS, pins.as_ref().map(|p| p.encode().to_vec()).unwrap_or_default());
        }
        if let Some((_, envelope)) = &mut change.active_table {
            set.put(records::RATES_ACTIVE, core::mem::take(envelope));
        }
        if let Some(pending) = &mut change.pending_table {
            set.put(records::RATES_PENDING, pending.as_mut().map(|(_, e)| core::mem::take(e)).unwrap_or_default());
        }
        if let Some(cert) = &change.cert {
            set.put(records::CERT_STATE, cert.encode());
        }
        for (n, slot) in &change.slots {
            set.put(slot_record(*n), slot.encode().to_vec());
        }
        if let Some((sequence, envelope)) = &mut change.receipt {
            set.put(receipt_cell(*sequence), core::mem::take(envelope));
        }
        if let Some(orders) = &change.orders {
            set.put(records::ORDERS, orders.encode());
        }
        if let Some(credit) = &change.credit {
            set.put(records::CREDIT, credit.encode());
        }
        if let Some((_, envelope)) = &mut change.credit_line {
            set.put(records::CREDIT_LINE, core::mem::take(envelope));
        }
        if let Some(indicium) = &mut change.last_indicium {
            set.put(records::LAST_INDICIUM, core::mem::take(indicium));
        }
        if change.card_changed {
            set.put(records::CARD, change.card.encode());
        }
        if change.counters_changed {
            set.put(records::COUNTERS, change.counters.encode());
        }
        self.platform.store().commit(&set)?;
        let crypto = self.platform.crypto();
        self.state.swap_in(change, |der| crypto.sha256(&[der]));
        Ok(())
    }
}

impl super::Committed {
    /// Moves a committed change into RAM (certificates and rate-table
    /// envelopes stay in the store).
    /// A slot's certificate facts are derived again, its digest by `sha256`.
    fn swap_in(&mut self, change: StateChange, sha256: impl Fn(&[u8]) -> [u8; 32]) {
        let StateChange {
            time: _,
            card,
            card_changed,
            counters,
            counters_changed,
            audit: _,
            config,
            secrets,
            pins,
            active_table,
            pending_table,
            cert,
            slots,
            receipt: _,
            orders,
            credit,
            credit_line,
            last_indicium: _,
        } = change;
        let state = &mut self.0;
        if card_changed {
            state.card = card;
        }
        if counters_changed {
            state.counters = counters;
        }
        if let Some(config) = config {
            state.config = Some(config);
        }
        if let Some(secrets) = secrets {
            state.secrets = secrets;
        }
        if let Some(pins) = pins {
            state.pins = pins;
        }
        if let Some((table, _)) = active_table {
            state.rates.active = Some(table);
        }
        if let Some(pending) = pending_table {
            state.rates.pending = pending.map(|(table, _)| table);
        }
        if let Some(cert) = cert {
            state.cert = cert;
        }
        for (n, slot) in &slots {
            if let Some(key_slot) = state.slots.get_mut(usize::from(*n)) {
                *key_slot = ResidentSlot::of(slot, &sha256);
            }
        }
        if let Some(orders) = orders {
            state.orders = orders;
        }
        if let Some(credit) = credit {
            state.credit = credit;
        }
        if let Some((line, _)) = credit_line {
            state.credit_line = Some(line);
        }
    }
}

#[cfg(all(test, feature = "soft-engine"))]
mod tests {
    use super::*;
    use crate::applet::{Committed, Volatile};
    use crate::handlers::Ascending;
    use crate::platform::RecordId;
    use crate::soft_engine::{NoEntropy, SoftEngine, verifier};
    use crate::state::{Factory, Rates, ResidentSlot};
    use alloc::collections::BTreeMap;
    use apdu_specs::certs::{SLOT_COUNT, SlotState};
    use apdu_specs::perso::CardSerial;
    use apdu_specs::service::Service;
    use apdu_specs::x509::Usage;

    /// A store whose next commit can be made to fail.
    #[derive(Default)]
    struct TestStore {
        records: BTreeMap<RecordId, Vec<u8>>,
        fail_next: bool,
    }

    impl Store for TestStore {
        fn read(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.records.get(&id).cloned())
        }

        fn commit(&mut self, set: &WriteSet) -> Result<(), StoreError> {
            if core::mem::take(&mut self.fail_next) {
                return Err(StoreError::Io);
            }
            for (id, value) in set.writes() {
                self.records.insert(*id, value.clone());
            }
            Ok(())
        }
    }

    struct TestPlatform {
        crypto: SoftEngine<NoEntropy>,
        store: TestStore,
    }

    impl Platform for TestPlatform {
        type Crypto = SoftEngine<NoEntropy>;
        type Store = TestStore;

        fn crypto(&mut self) -> &mut Self::Crypto {
            &mut self.crypto
        }

        fn store(&mut self) -> &mut Self::Store {
            &mut self.store
        }

        fn now(&self) -> Option<u64> {
            Some(1_000)
        }
    }

    fn core() -> Core<TestPlatform> {
        let state = State {
            factory: Factory { issuer_key: [4; 65], serial: CardSerial([1; CardSerial::LEN]) },
            config: None,
            secrets: None,
            pins: None,
            card: CardState::default(),
            counters: Counters::default(),
            rates: Rates::default(),
            slots: (0..SLOT_COUNT).map(|_| ResidentSlot::default()).collect(),
            cert: CertState::default(),
            orders: OrderState::default(),
            credit: CreditState::default(),
            credit_line: None,
        };
        let platform = TestPlatform { crypto: verifier(), store: TestStore::default() };
        Core { platform, state: Committed(state), volatile: Volatile::default(), hash: None }
    }

    fn certified_slot() -> Slot {
        Slot {
            state: SlotState::Certified,
            usage: Some(Usage::Signature),
            secret: Some(crate::platform::SecretKey([9; 32])),
            public: Some([4; 65]),
            certificate: Some(alloc::vec![0x30, 0x03, 1, 2, 3]),
            verified_under: Some(0),
        }
    }

    fn staged(core: &Core<TestPlatform>) -> StateChange {
        let mut change = core.change(1_000);
        change.counters_mut().regs.descending = 500;
        change.counters_mut().regs.control_total = 500;
        change.audit(Event::Personalized, 500, b"meter");
        change.put_cert_state(CertState { anchor_version: 2, ca_key: None, agent_serial: 7 });
        change.put_slot(3, certified_slot());
        change
    }

    #[test]
    fn a_failed_commit_changes_nothing_in_ram_or_store() {
        let mut core = core();
        core.platform.store.fail_next = true;
        let change = staged(&core);
        assert_eq!(core.commit(change), Err(Sw::MEMORY_FAILURE));
        assert_eq!(core.state.counters, Counters::default());
        assert_eq!(core.state.cert, CertState::default());
        assert_eq!(core.state.slots[3].state, SlotState::Empty);
        assert!(core.platform.store.records.is_empty());
    }

    #[test]
    fn a_commit_writes_the_store_then_swaps_ram_and_chains_the_audit_record() {
        let mut core = core();
        let change = staged(&core);
        assert_eq!(core.commit(change), Ok(()));
        let counters = core.state.counters;
        assert_eq!((counters.regs.descending, counters.audit_records), (500, 1));
        let stored = |id| core.platform.store.records.get(&id).cloned().unwrap_or_default();
        assert_eq!(Counters::decode(&stored(records::COUNTERS)), Ok(counters));
        let audit = stored(audit_cell(0));
        let record = Record::parse(&audit).unwrap();
        assert_eq!((record.seq, record.event, record.amount, record.time), (0, Event::Personalized, 500, 1_000));
        assert_eq!(record.prev_hash, apdu_specs::audit::GENESIS);
        assert_eq!(counters.audit_head, verifier().sha256(&[&audit]));
        assert_eq!(core.state.cert.agent_serial, 7);
        // RAM keeps the key slot; its certificate is only in the store.
        assert_eq!(core.state.slots[3].state, SlotState::Certified);
        let slot = Slot::decode(&stored(slot_record(3))).unwrap();
        assert_eq!(slot.certificate, certified_slot().certificate);
        // Only what the change staged was written.
        let written: Vec<RecordId> = core.platform.store.records.keys().copied().collect();
        assert_eq!(written, [records::COUNTERS, records::CERT_STATE, audit_cell(0), slot_record(3)]);
    }

    #[test]
    fn a_change_without_audit_writes_no_counters() {
        let mut core = core();
        let mut change = core.change(1_000);
        change.put_cert_state(CertState { anchor_version: 1, ca_key: None, agent_serial: 0 });
        assert_eq!(core.commit(change), Ok(()));
        let written: Vec<RecordId> = core.platform.store.records.keys().copied().collect();
        assert_eq!(written, [records::CERT_STATE]);
    }

    #[test]
    fn the_debit_collects_the_debt_first_and_refuses_what_dr_cannot_cover() {
        let core = core();
        let mut change = core.change(1_000);
        let regs = &mut change.counters_mut().regs;
        (regs.descending, regs.control_total, regs.debt) = (100, 100, 30);
        assert_eq!(change.debit(Service::Postage, 71, Ascending::Postage), Err(Sw::INSUFFICIENT_FUNDS));
        assert_eq!(change.counters().regs.descending, 100, "a refusal moves nothing");
        assert_eq!(change.debit(Service::Postage, 70, Ascending::Postage), Ok(1));
        let regs = change.counters().regs;
        assert_eq!((regs.descending, regs.ar_postage, regs.ar_certificates, regs.debt), (0, 70, 30, 0));
        assert!(regs.balanced());
        assert_eq!(change.audit.len(), 1, "the debt collection is audited");
        assert_eq!(change.audit[0].event, Event::DebtCollected);
    }
}
