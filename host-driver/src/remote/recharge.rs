//! Remote recharge (claims 15, 30; DESIGN §5), the host's half:
//! RECHARGE INIT → S1 → authority → S2 → RECHARGE CREDIT → S3 → authority.
//!
//! RECHARGE CREDIT is sent once per S2. After an ambiguous outcome (lost
//! answer, reset, removal) the flow reads NT back: when it moved, the credit
//! happened and GET RECHARGE PROOF gives S3 again; when it did not, the flow
//! starts over with a new INIT (the authority re-signs S2 for the same
//! sequence without a second debit). Every run starts by [`reconcile`]:
//! receipts the card holds but the authority never got (a process that died
//! after the credit) are delivered first.

use super::{Authority, RemoteError, Retry, ambiguous, call_authority, in_session, meter_id, read_card, unhex};
use crate::authority::IdempotencyKey;
use crate::error::MeterError;
use crate::meter::Meter;
use crate::pin::Pin;
use crate::transport::Transport;
use apdu_specs::recharge::RechargeReceipt;
use apdu_specs::registers::Registers;
use apdu_specs::signed::Signed;

/// Most RECHARGE INITs one run makes (a new one only follows an ambiguous
/// outcome that did not credit).
pub const MAX_STARTS: u32 = 8;

/// A completed recharge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recharged {
    /// Recharge sequence (the card's NT after the credit).
    pub sequence: u32,
    /// Amount credited, minor units.
    pub amount: u64,
    /// The card's registers after the credit.
    pub registers: Registers,
    /// The receipt S3.
    pub receipt: Vec<u8>,
    /// True when the authority accepted S3 (otherwise the next run delivers it).
    pub settled: bool,
    /// Sequences of earlier recharges whose receipts this run delivered first.
    pub delivered_earlier: Vec<u32>,
    /// RECHARGE INITs made after an ambiguous outcome that did not credit.
    pub restarts: u32,
}

/// What one INIT → S2 → CREDIT exchange came to.
enum Exchange {
    /// The card credited and answered S3.
    Credited(Vec<u8>),
    /// The card may or may not have credited `sequence` (or never got that far).
    Unknown { sequence: u32, cause: String },
}

/// Recharges the meter with `amount` minor units from its provider account.
pub fn recharge<T: Transport, A: Authority + ?Sized>(
    meter: &mut Meter<T>,
    pin: &Pin,
    authority: &A,
    amount: u64,
    retry: &Retry,
) -> Result<Recharged, RemoteError> {
    if amount == 0 {
        return Err(RemoteError::BadAnswer("a recharge of 0 is refused before anything is sent".into()));
    }
    let delivered_earlier = reconcile(meter, authority, retry)?;
    let mut last = String::new();
    for start in 0..MAX_STARTS {
        match exchange(meter, pin, authority, amount, retry)? {
            Exchange::Credited(s3) => {
                let registers = read_card(meter, retry, "registers", |tx| tx.registers())?;
                return finish(authority, retry, s3, amount, registers, delivered_earlier, start);
            }
            Exchange::Unknown { sequence, cause } => {
                tracing::warn!(sequence, %cause, "recharge outcome unknown: reading the card back");
                if let Err(e) = meter.recover() {
                    tracing::debug!(error = %e, "reconnect failed");
                }
                let registers = read_card(meter, retry, "registers", |tx| tx.registers())?;
                if registers.recharge_seq >= sequence {
                    let s3 = read_card(meter, retry, "recharge proof", |tx| tx.recharge_proof(sequence))?;
                    return finish(authority, retry, s3, amount, registers, delivered_earlier, start);
                }
                tracing::info!(sequence, "the card did not credit: starting over with a new request");
                last = cause;
            }
        }
    }
    Err(RemoteError::GaveUp { step: "recharge", attempts: MAX_STARTS, last })
}

/// Checks S3 against what was asked and delivers it.
fn finish<A: Authority + ?Sized>(
    authority: &A,
    retry: &Retry,
    s3: Vec<u8>,
    amount: u64,
    registers: Registers,
    delivered_earlier: Vec<u32>,
    restarts: u32,
) -> Result<Recharged, RemoteError> {
    let receipt = parse_receipt(&s3)?;
    if receipt.amount != amount {
        return Err(RemoteError::Inconsistent(format!(
            "recharge {} credited {} where {amount} was asked",
            receipt.sequence, receipt.amount
        )));
    }
    let settled = match deliver(authority, retry, &s3) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(sequence = receipt.sequence, error = %e, "receipt not delivered: the next run delivers it");
            false
        }
    };
    Ok(Recharged { sequence: receipt.sequence, amount, registers, receipt: s3, settled, delivered_earlier, restarts })
}

/// One session: INIT, S1 to the authority, CREDIT with its S2. Card
/// refusals and authority refusals are final; the rest is [`Exchange::Unknown`].
fn exchange<T: Transport, A: Authority + ?Sized>(
    meter: &mut Meter<T>,
    pin: &Pin,
    authority: &A,
    amount: u64,
    retry: &Retry,
) -> Result<Exchange, RemoteError> {
    let unknown = |sequence: u32, e: &dyn std::fmt::Display| Exchange::Unknown { sequence, cause: e.to_string() };
    let sequence = read_card(meter, retry, "registers", |tx| tx.registers())?.recharge_seq.wrapping_add(1);
    let session = in_session(meter, pin, |tx| -> Result<Exchange, RemoteError> {
        let s1 = match tx.recharge_init(amount) {
            Ok(s1) => s1,
            Err(e) if ambiguous(&e) => return Ok(unknown(sequence, &e)),
            Err(e) => return Err(e.into()),
        };
        let key = IdempotencyKey::generate()?;
        let answer = call_authority("recharge authorization", retry, &key, |k| authority.recharge(k, &s1))?;
        if answer.sequence != sequence || answer.amount != amount {
            return Err(RemoteError::BadAnswer(format!(
                "S2 is for sequence {} and amount {}, the card asked sequence {sequence} and {amount}",
                answer.sequence, answer.amount
            )));
        }
        let s2 = unhex("s2", &answer.s2)?;
        match tx.recharge_credit(&s2) {
            Ok(s3) => Ok(Exchange::Credited(s3)),
            Err(e) if ambiguous(&e) => Ok(unknown(sequence, &e)),
            Err(e) => Err(e.into()),
        }
    });
    match session {
        Ok(result) => result,
        Err(e) if ambiguous(&e) => Ok(unknown(sequence, &e)),
        Err(e) => Err(e.into()),
    }
}

fn parse_receipt(s3: &[u8]) -> Result<RechargeReceipt, RemoteError> {
    Signed::parse(s3)
        .and_then(|s| RechargeReceipt::parse(s.body))
        .map_err(|e| RemoteError::Meter(MeterError::Format(e)))
}

/// Delivers S3 under one idempotency key until the authority answers.
fn deliver<A: Authority + ?Sized>(authority: &A, retry: &Retry, s3: &[u8]) -> Result<(), RemoteError> {
    let key = IdempotencyKey::generate()?;
    call_authority("recharge receipt", retry, &key, |k| authority.receipt(k, s3)).map(drop)
}

/// Delivers the receipts of recharges the card credited but the authority
/// never saw settled; returns their sequences. Refuses to go on when the card
/// is ahead of every authorization or no longer holds a receipt.
pub fn reconcile<T: Transport, A: Authority + ?Sized>(
    meter: &mut Meter<T>,
    authority: &A,
    retry: &Retry,
) -> Result<Vec<u32>, RemoteError> {
    let id = meter_id(meter)?;
    let card_nt = read_card(meter, retry, "registers", |tx| tx.registers())?.recharge_seq;
    let unused = IdempotencyKey::new("get");
    let state = call_authority("meter state", retry, &unused, |_| authority.meter_state(&id))?;
    if card_nt > state.authorized_sequence {
        return Err(RemoteError::Inconsistent(format!(
            "the card's NT {card_nt} is ahead of the {} recharges the authority authorized",
            state.authorized_sequence
        )));
    }
    let mut delivered = Vec::new();
    for &sequence in state.unsettled_sequences.iter().filter(|s| **s <= card_nt) {
        let s3 = match read_card(meter, retry, "recharge proof", |tx| tx.recharge_proof(sequence)) {
            Ok(s3) => s3,
            Err(RemoteError::Meter(MeterError::Card(status))) => {
                return Err(RemoteError::Inconsistent(format!(
                    "recharge {sequence} was credited but the card no longer holds its receipt ({status})"
                )));
            }
            Err(e) => return Err(e),
        };
        deliver(authority, retry, &s3)?;
        tracing::info!(sequence, "delivered a receipt an earlier run never delivered");
        delivered.push(sequence);
    }
    Ok(delivered)
}
