//! A software meter for exercising the authority without a card: it signs
//! S1, S3, inspection reports and revocation requests with the apdu-specs
//! layouts under its own deterministic device key, and keeps the recharge
//! registers the way the card does (S2 verified before anything changes).
//! Shared by the authority's tests and the authority load benchmark.

use apdu_specs::audit::Head;
use apdu_specs::certs::{DOMAIN_REVOCATION_REQUEST, RevocationRequest};
use apdu_specs::inspection::{DOMAIN_INSPECTION_REPORT, InspectionReport};
use apdu_specs::lifecycle::Lifecycle;
use apdu_specs::recharge::{
    DOMAIN_RECHARGE_AUTHORIZATION, DOMAIN_RECHARGE_RECEIPT, DOMAIN_RECHARGE_REQUEST, MoneyRegisters,
    RechargeAuthorization, RechargeReceipt, RechargeRequest,
};
use apdu_specs::registers::Registers;
use apdu_specs::signed::{self, Signed};
use authority::SigningKeyPair;
use host_driver::signature::P256Verifier;

/// The time every software-meter message carries.
pub const NOW: u64 = 1_800_000_000;

/// A software meter: the card's recharge registers and its device key.
#[derive(Debug, Clone)]
pub struct SoftMeter {
    /// Meter ID (`PCM-TEST` + the meter number, big-endian).
    pub id: [u8; 12],
    /// Device key.
    pub key: SigningKeyPair,
    /// AR_p, AR_c, DR, CT.
    pub regs: MoneyRegisters,
    /// Recharges credited (NT).
    pub nt: u32,
    /// The nonce of the last S1 not yet credited.
    pub pending_nonce: Option<[u8; 16]>,
    nonce_counter: u64,
    /// Every S3 made, in order.
    pub receipts: Vec<Vec<u8>>,
}

impl SoftMeter {
    /// Meter number `n`: DR = CT = 1000, NT = 0, key from a seed naming `n`.
    pub fn new(n: u32) -> Self {
        let mut id = *b"PCM-TEST-000";
        id[8..12].copy_from_slice(&n.to_be_bytes());
        Self {
            id,
            key: SigningKeyPair::from_seed(&format!("soft meter {n}")),
            regs: MoneyRegisters { ar_postage: 0, ar_certificates: 0, descending: 1000, control_total: 1000 },
            nt: 0,
            pending_nonce: None,
            nonce_counter: 0,
            receipts: Vec::new(),
        }
    }

    /// `body` signed under `domain` by the device key, in a signed envelope.
    pub fn sign(&self, domain: &[u8], body: &[u8]) -> Vec<u8> {
        signed::encode(body, &self.key.sign_message(domain, body))
    }

    /// RECHARGE INIT: a fresh nonce each time.
    pub fn s1(&mut self, amount: u64) -> Vec<u8> {
        self.nonce_counter += 1;
        let mut nonce = [0u8; 16];
        nonce[..12].copy_from_slice(&self.id);
        nonce[12..].copy_from_slice(&(self.nonce_counter as u32).to_be_bytes());
        self.pending_nonce = Some(nonce);
        let body = RechargeRequest {
            meter_id: self.id,
            sequence: self.nt + 1,
            nonce,
            registers: self.regs,
            amount,
            time: NOW,
        }
        .encode();
        self.sign(DOMAIN_RECHARGE_REQUEST, &body)
    }

    /// RECHARGE CREDIT: verifies S2 like the card, credits, returns S3.
    pub fn credit(&mut self, s2: &[u8], authority_key: &[u8; 65]) -> Result<Vec<u8>, &'static str> {
        let signed = Signed::parse(s2).map_err(|_| "malformed")?;
        let v = P256Verifier;
        if !v.verify_digest(
            authority_key,
            &v.sha256(&Signed::signing_input(DOMAIN_RECHARGE_AUTHORIZATION, signed.body)),
            &signed.signature,
        ) {
            return Err("signature");
        }
        let a = RechargeAuthorization::parse(signed.body).map_err(|_| "malformed")?;
        if a.meter_id != self.id || a.sequence != self.nt + 1 || Some(a.nonce) != self.pending_nonce {
            return Err("replayed or foreign S2");
        }
        if a.new_control_total != self.regs.control_total + a.amount {
            return Err("CT");
        }
        self.regs.descending += a.amount;
        self.regs.control_total += a.amount;
        self.nt += 1;
        self.pending_nonce = None;
        let body =
            RechargeReceipt { meter_id: self.id, sequence: self.nt, registers: self.regs, amount: a.amount, time: NOW }
                .encode();
        let s3 = self.sign(DOMAIN_RECHARGE_RECEIPT, &body);
        self.receipts.push(s3.clone());
        Ok(s3)
    }

    /// Postage spent: DR down, AR_p up.
    pub fn spend(&mut self, amount: u64) {
        self.regs.descending -= amount;
        self.regs.ar_postage += amount;
    }

    /// A device-signed inspection report of the current registers.
    pub fn report(&self, nonce: u8) -> Vec<u8> {
        let registers = Registers {
            ar_postage: self.regs.ar_postage,
            ar_certificates: self.regs.ar_certificates,
            descending: self.regs.descending,
            control_total: self.regs.control_total,
            recharge_seq: self.nt,
            ..Registers::default()
        };
        let body = InspectionReport {
            meter_id: self.id,
            nonce: [nonce; 16],
            time: NOW,
            lifecycle: Lifecycle::Operational,
            flags: 0,
            deadline: NOW + 10,
            registers,
            audit_head: Head { records: 1, hash: [0; 32], oldest: 0 },
        }
        .encode();
        self.sign(DOMAIN_INSPECTION_REPORT, &body)
    }

    /// A device-signed revocation request (Fig. 6, 602).
    pub fn revocation_request(&self, slot: u8, public_key: [u8; 65], reason: u8) -> Vec<u8> {
        let body = RevocationRequest { meter_id: self.id, slot, reason, time: NOW, public_key }.encode();
        self.sign(DOMAIN_REVOCATION_REQUEST, &body)
    }
}
