//! The typed meter API: one method per service, on [`Transaction`]. Every
//! call encodes a typed command of `apdu-specs`. [`Meter::run`] runs calls in
//! one transaction (for example VERIFY and several indicia, so no other
//! client interleaves).
//!
//! After a card reset the meter reconnects and re-selects, then reports
//! [`MeterError::PinStateLost`]: the PIN is never re-sent and nothing that
//! spends value is retried. After an ambiguous failure of a value command
//! ([`MeterError::OutcomeUnknown`]), read the registers to learn what
//! happened.
//!
//! A verified PIN belongs to one host session: [`Meter::with_session`] and
//! [`Transaction::end_session`] end it (the transport logs out and resets the
//! card) before their transaction ends, and [`Meter::end_session`] ends it
//! between calls.

use crate::channel::{ChannelConfig, CommandApdu, exchange};
use crate::error::{CardStatus, MeterError};
use crate::pin::Pin;
use crate::secret::{Payload, SecretBytes};
use crate::transport::{CardTransaction, Transport, TransportError};
use apdu_specs::audit::{AUDIT_CAPACITY, Head, Record};
use apdu_specs::certs::{AgentRequest, CHALLENGE_LEN, CertificateVerdict, SlotInfo};
use apdu_specs::command::{
    AcknowledgeInspection, Activate, AgentIssue, ApplyLockOrder, CardCommand, CertificateRequest, ChangeReferenceData,
    Decrypt, GenerateKeyPair, GetAuditRecords, GetData, GetRechargeProof, Hash, InstallCertificate, InstallCreditLine,
    KeySlot, Pay, Postmark, PrintIndicium, ReadSlot, RechargeCredit, RechargeInit, Reference, RequestRevocation,
    ResetRetryCounter, Revoke, Select, SignData, SignInput, SignInspectionReport, StoreData, UpdateCaAnchor,
    UpdateRates, ValidatePostmark, Verify, VerifyCertificate, VerifyOp,
};
use apdu_specs::commands::MAX_COMMAND_DATA;
use apdu_specs::credit::{CreditStatus, PaymentRequest};
use apdu_specs::fci::Fci;
use apdu_specs::mailpiece::MailPiece;
use apdu_specs::postmark::{self, Nonce, SignedParts, Verdict};
use apdu_specs::rates::RateTable;
use apdu_specs::registers::{Registers, Status};
use apdu_specs::signed::Signed;
use apdu_specs::sw::Sw;
use apdu_specs::x509::Usage;
use apdu_specs::{FormatError, tags, tlv};

/// Most audit records asked for in one exchange (the card's ring size).
pub const AUDIT_BATCH: u16 = AUDIT_CAPACITY as u16;

/// Whether the PIN is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    /// Verified in this session.
    Verified,
    /// Not verified; tries left.
    NotVerified(u8),
    /// Blocked.
    Blocked,
}

/// The card's public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeys {
    /// Device key.
    pub device: [u8; 65],
    /// Postal key (ECDSA variant only).
    pub postal: Option<[u8; 65]>,
}

/// A rate table read from the card, with its signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRateTable {
    /// Decoded table.
    pub table: RateTable,
    /// Envelope as stored on the card.
    pub signed: Vec<u8>,
}

/// A meter behind a transport.
pub struct Meter<T: Transport> {
    transport: T,
    config: ChannelConfig,
    fci: Option<Fci>,
}

/// A transaction on the meter: every call inside it is exclusive. Each
/// service is one method here.
pub struct Transaction<'a, T: Transport + 'a> {
    tx: T::CardTransaction<'a>,
    config: ChannelConfig,
}

fn key65(bytes: &[u8], what: &'static str) -> Result<[u8; 65], FormatError> {
    bytes.try_into().map_err(|_| FormatError::Invalid(what))
}

/// A slot number as the card reads it; out of range is refused before anything is sent.
fn key_slot(n: u8) -> Result<KeySlot, MeterError> {
    KeySlot::new(n).map_err(|_| FormatError::Invalid("slot number").into())
}

impl<'a, T: Transport + 'a> Transaction<'a, T> {
    /// Sends a typed command with a public response; a refusal becomes [`MeterError::Card`].
    pub fn send<C: CardCommand>(&mut self, cmd: &C) -> Result<Vec<u8>, MeterError> {
        self.call(CommandApdu::encode(cmd))
    }

    /// Sends a command with a public response; a non-9000 answer becomes a
    /// typed error. A command whose row marks its response secret is refused
    /// ([`MeterError::SecretResponse`]): use [`Transaction::call_secret`].
    pub fn call(&mut self, cmd: CommandApdu) -> Result<Vec<u8>, MeterError> {
        let (data, sw) = self.call_raw(cmd)?;
        if sw.is_ok() { Ok(data) } else { Err(MeterError::from_sw(sw)) }
    }

    /// Sends a command whose response data is secret, and returns it as such.
    pub fn call_secret(&mut self, cmd: CommandApdu) -> Result<SecretBytes, MeterError> {
        let r = exchange(&mut self.tx, &cmd, &self.config)?;
        match r.data {
            _ if !r.sw.is_ok() => Err(MeterError::from_sw(r.sw)),
            Payload::Secret(data) => Ok(data),
            Payload::Public(data) => Ok(SecretBytes::new(data)),
        }
    }

    /// Sends a command with a public response and returns the raw response
    /// and SW, whatever it is.
    pub fn call_raw(&mut self, cmd: CommandApdu) -> Result<(Vec<u8>, Sw), MeterError> {
        let r = exchange(&mut self.tx, &cmd, &self.config)?;
        match r.data {
            Payload::Public(data) => Ok((data, r.sw)),
            Payload::Secret(_) => Err(MeterError::SecretResponse),
        }
    }

    /// Ends the host session before this transaction ends (the transport
    /// logs out and resets the card), so no other client finds it verified.
    pub fn end_session(self) -> Result<(), MeterError> {
        Ok(self.tx.end_session()?)
    }

    /// SELECT the meter application.
    pub fn select(&mut self) -> Result<Fci, MeterError> {
        Ok(Fci::parse(&self.send(&Select::METER)?)?)
    }

    /// VERIFY the PIN.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<(), MeterError> {
        self.send(&Verify(VerifyOp::Check(pin.block().clone()))).map(drop)
    }

    /// Whether the PIN is verified, and the tries left.
    pub fn pin_status(&mut self) -> Result<PinStatus, MeterError> {
        match self.send(&Verify(VerifyOp::Status)) {
            Ok(_) => Ok(PinStatus::Verified),
            Err(MeterError::Card(CardStatus::WrongPin { tries_left })) => Ok(PinStatus::NotVerified(tries_left)),
            Err(MeterError::Card(CardStatus::PinBlocked)) => Ok(PinStatus::Blocked),
            Err(e) => Err(e),
        }
    }

    /// Drops the PIN verification.
    pub fn logout(&mut self) -> Result<(), MeterError> {
        self.send(&Verify(VerifyOp::Logout)).map(drop)
    }

    fn change(&mut self, reference: Reference, old: &Pin, new: &Pin) -> Result<(), MeterError> {
        self.send(&ChangeReferenceData { reference, old: old.block().clone(), new: new.block().clone() }).map(drop)
    }

    /// CHANGE REFERENCE DATA for the PIN.
    pub fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), MeterError> {
        self.change(Reference::Pin, old, new)
    }

    /// CHANGE REFERENCE DATA for the PUK.
    pub fn change_puk(&mut self, old: &Pin, new: &Pin) -> Result<(), MeterError> {
        self.change(Reference::Puk, old, new)
    }

    /// RESET RETRY COUNTER with the PUK, optionally setting a new PIN.
    pub fn unblock_pin(&mut self, puk: &Pin, new_pin: Option<&Pin>) -> Result<(), MeterError> {
        let cmd = ResetRetryCounter { puk: puk.block().clone(), new_pin: new_pin.map(|p| p.block().clone()) };
        self.send(&cmd).map(drop)
    }

    /// GET DATA of a tag.
    pub fn get_data(&mut self, tag: u16) -> Result<Vec<u8>, MeterError> {
        self.send(&GetData { tag })
    }

    /// The money registers and counts.
    pub fn registers(&mut self) -> Result<Registers, MeterError> {
        Ok(Registers::parse(&self.get_data(tags::REGISTERS)?)?)
    }

    /// Card status.
    pub fn status(&mut self) -> Result<Status, MeterError> {
        Ok(Status::parse(&self.get_data(tags::STATUS)?)?)
    }

    /// The rate table in force.
    pub fn rate_table(&mut self) -> Result<SignedRateTable, MeterError> {
        let signed = self.get_data(tags::RATE_TABLE)?;
        let table = RateTable::parse_body(Signed::parse(&signed)?.body)?;
        Ok(SignedRateTable { table, signed })
    }

    /// The audit-log head.
    pub fn audit_head(&mut self) -> Result<Head, MeterError> {
        Ok(Head::parse(&self.get_data(tags::AUDIT_HEAD)?)?)
    }

    /// One audit record.
    pub fn audit_record(&mut self, seq: u32) -> Result<Record, MeterError> {
        Ok(Record::parse(&self.send(&GetAuditRecords { first: seq, count: None })?)?)
    }

    /// The device and postal public keys.
    pub fn public_keys(&mut self) -> Result<PublicKeys, MeterError> {
        let data = self.get_data(tags::PUBLIC_KEYS)?;
        let device =
            key65(tlv::find(&data, tags::DEVICE_KEY).ok_or(FormatError::Missing("device key"))?, "device key")?;
        let postal = tlv::find(&data, tags::POSTAL_KEY).map(|k| key65(k, "postal key")).transpose()?;
        Ok(PublicKeys { device, postal })
    }

    /// STORE DATA: loads a signed personalization profile (PIN, PUK and keys: secret).
    pub fn personalize(&mut self, signed_profile: &[u8]) -> Result<(), MeterError> {
        self.send(&StoreData { signed_profile }).map(drop)
    }

    /// ACTIVATE (irreversible).
    pub fn activate(&mut self) -> Result<(), MeterError> {
        self.send(&Activate).map(drop)
    }

    /// PRINT INDICIUM: the card prices, debits, commits, then signs.
    pub fn print_indicium(&mut self, piece: &MailPiece) -> Result<Vec<u8>, MeterError> {
        self.send(&PrintIndicium { piece: *piece })
    }

    /// UPDATE RATES with an authority-signed table.
    pub fn update_rates(&mut self, signed_table: &[u8]) -> Result<(), MeterError> {
        self.send(&UpdateRates { signed_table }).map(drop)
    }

    /// Up to `count` consecutive audit records from `first`, in one exchange.
    pub fn audit_records(&mut self, first: u32, count: u16) -> Result<Vec<Record>, MeterError> {
        let data = self.send(&GetAuditRecords { first, count: Some(count) })?;
        data.chunks(apdu_specs::audit::RECORD_LEN).map(|c| Record::parse(c).map_err(MeterError::from)).collect()
    }

    /// Every audit record the card still holds, oldest first, read in
    /// exchanges of at most [`AUDIT_BATCH`] records. A card that returns
    /// records other than the ones asked for is a malformed response.
    pub fn audit_log(&mut self) -> Result<(Head, Vec<Record>), MeterError> {
        let head = self.audit_head()?;
        let mut records = Vec::new();
        let mut next = head.oldest;
        while next < head.records {
            let count = (head.records - next).min(u32::from(AUDIT_BATCH)) as u16;
            let batch = self.audit_records(next, count)?;
            if batch.len() != usize::from(count) || batch.iter().zip(next..).any(|(r, seq)| r.seq != seq) {
                return Err(FormatError::Invalid("audit records do not match the request").into());
            }
            next += u32::from(count);
            records.extend(batch);
        }
        Ok((head, records))
    }

    /// GENERATE KEY PAIR in `slot` for `usage`; returns the public key.
    pub fn generate_key_pair(&mut self, slot: u8, usage: Usage) -> Result<[u8; 65], MeterError> {
        let data = self.send(&GenerateKeyPair { slot: key_slot(slot)?, usage })?;
        Ok(key65(&data, "public key")?)
    }

    /// READ SLOT.
    pub fn read_slot(&mut self, slot: u8) -> Result<SlotInfo, MeterError> {
        Ok(SlotInfo::parse(&self.send(&ReadSlot { slot: key_slot(slot)? })?)?)
    }

    /// CERTIFICATE REQUEST answering the CA's `challenge`: the device-signed envelope around the slot's PKCS#10 request.
    pub fn certificate_request(&mut self, slot: u8, challenge: &[u8; CHALLENGE_LEN]) -> Result<Vec<u8>, MeterError> {
        self.send(&CertificateRequest { slot: key_slot(slot)?, challenge: *challenge })
    }

    /// INSTALL CERTIFICATE into `slot`.
    pub fn install_certificate(&mut self, slot: u8, der: &[u8]) -> Result<(), MeterError> {
        self.send(&InstallCertificate { slot: key_slot(slot)?, der }).map(drop)
    }

    /// Streams `message` into the card's SHA-256 (HASH start, then absorb in chunks).
    pub fn hash_message(&mut self, message: &[u8]) -> Result<(), MeterError> {
        self.send(&Hash::Start)?;
        for chunk in message.chunks(MAX_COMMAND_DATA) {
            self.send(&Hash::Absorb(chunk))?;
        }
        Ok(())
    }

    /// POSTMARK with a digest (`Some`) or the HASH stream (`None`), and an
    /// RFC 3161 nonce for TSTInfo if any; returns the card's signed parts.
    pub fn postmark_parts(
        &mut self,
        slot: u8,
        digest: Option<&[u8; 32]>,
        nonce: Option<&Nonce>,
    ) -> Result<Vec<u8>, MeterError> {
        self.send(&Postmark { slot: key_slot(slot)?, digest: digest.copied(), nonce: nonce.copied() })
    }

    /// A cryptographic postmark of a digest: the card's parts wrapped with the slot certificate into an RFC 3161 token.
    pub fn postmark_digest(&mut self, slot: u8, digest: &[u8; 32]) -> Result<Vec<u8>, MeterError> {
        let parts = self.postmark_parts(slot, Some(digest), None)?;
        self.wrap_postmark(slot, &parts)
    }

    /// A cryptographic postmark of a message hashed on the card.
    pub fn postmark_message(&mut self, slot: u8, message: &[u8]) -> Result<Vec<u8>, MeterError> {
        self.hash_message(message)?;
        let parts = self.postmark_parts(slot, None, None)?;
        self.wrap_postmark(slot, &parts)
    }

    fn wrap_postmark(&mut self, slot: u8, parts: &[u8]) -> Result<Vec<u8>, MeterError> {
        let certificate = self.read_slot(slot)?.certificate.ok_or(FormatError::Missing("slot certificate"))?;
        Ok(postmark::wrap_token(&SignedParts::parse(parts)?, &certificate)?)
    }

    /// VALIDATE POSTMARK on the card for a message digest.
    pub fn validate_postmark(&mut self, digest: &[u8; 32], token: &[u8]) -> Result<Verdict, MeterError> {
        let out = self.send(&ValidatePostmark { digest: Some(*digest), token })?;
        Ok(Verdict::from_byte(single(&out)?)?)
    }

    /// VERIFY CERTIFICATE against the card's CA anchor: one DER certificate,
    /// or a path of concatenated certificates, anchor side first (CA → agent → certificate).
    pub fn verify_certificate(&mut self, der: &[u8]) -> Result<CertificateVerdict, MeterError> {
        let out = self.send(&VerifyCertificate { path: der })?;
        Ok(CertificateVerdict::from_byte(single(&out)?)?)
    }

    /// UPDATE CA ANCHOR with an authority-signed order.
    pub fn update_ca_anchor(&mut self, order: &[u8]) -> Result<(), MeterError> {
        self.send(&UpdateCaAnchor { order }).map(drop)
    }

    /// AGENT ISSUE: the receiver's certificate and its private key encrypted to the delivery key.
    pub fn agent_issue(&mut self, slot: u8, request: &AgentRequest<'_>) -> Result<AgentIssued, MeterError> {
        let out = self.send(&AgentIssue { slot: key_slot(slot)?, request: &request.encode() })?;
        let issued = apdu_specs::certs::AgentResponse::parse(&out)?;
        Ok(AgentIssued { certificate: issued.certificate.to_vec(), encrypted_key: issued.encrypted_key.to_vec() })
    }

    /// SIGN DATA with a signature slot; returns an ECDSA-Sig-Value (DER).
    pub fn sign_data(&mut self, slot: u8, data: &[u8]) -> Result<Vec<u8>, MeterError> {
        self.send(&SignData { slot: key_slot(slot)?, input: SignInput::Data(data) })
    }

    /// SIGN DATA over a SHA-256 digest.
    pub fn sign_digest(&mut self, slot: u8, digest: &[u8; 32]) -> Result<Vec<u8>, MeterError> {
        self.send(&SignData { slot: key_slot(slot)?, input: SignInput::Digest(*digest) })
    }

    /// DECRYPT an ECIES blob with an encryption slot; the plaintext is secret.
    pub fn decrypt(&mut self, slot: u8, blob: &[u8]) -> Result<SecretBytes, MeterError> {
        self.call_secret(CommandApdu::encode(&Decrypt { slot: key_slot(slot)?, blob }))
    }

    /// REVOKE with an authority order; returns the card's signed confirmation.
    pub fn revoke(&mut self, order: &[u8]) -> Result<Vec<u8>, MeterError> {
        self.send(&Revoke { order })
    }

    /// REVOCATION REQUEST for the key of `slot` with a CRL `reason`: the
    /// device-signed request (Fig. 6, 602) to send to the authority.
    pub fn revocation_request(&mut self, slot: u8, reason: u8) -> Result<Vec<u8>, MeterError> {
        if !apdu_specs::command::crl_reason_defined(reason) {
            return Err(FormatError::Invalid("CRL reason code").into());
        }
        self.send(&RequestRevocation { slot: key_slot(slot)?, reason })
    }

    /// RECHARGE INIT for `amount`: the device-signed S1 to send to the authority.
    pub fn recharge_init(&mut self, amount: u64) -> Result<Vec<u8>, MeterError> {
        if amount == 0 {
            return Err(FormatError::Invalid("recharge amount 0").into());
        }
        self.send(&RechargeInit { amount })
    }

    /// RECHARGE CREDIT with the authority's S2; returns the signed receipt S3.
    /// Sent once: after an ambiguous failure, fetch the receipt with
    /// [`Self::recharge_proof`] (NT + 1) or read the registers.
    pub fn recharge_credit(&mut self, authorization: &[u8]) -> Result<Vec<u8>, MeterError> {
        self.send(&RechargeCredit { authorization })
    }

    /// GET RECHARGE PROOF: the stored receipt S3 of recharge `sequence`.
    pub fn recharge_proof(&mut self, sequence: u32) -> Result<Vec<u8>, MeterError> {
        self.send(&GetRechargeProof { sequence })
    }

    /// INSPECTION REPORT: the device-signed report to send to the authority.
    pub fn inspection_report(&mut self) -> Result<Vec<u8>, MeterError> {
        self.send(&SignInspectionReport)
    }

    /// INSPECTION ACK with the authority's acknowledgement of the last report.
    pub fn inspection_ack(&mut self, ack: &[u8]) -> Result<(), MeterError> {
        self.send(&AcknowledgeInspection { ack }).map(drop)
    }

    /// LOCK ORDER with an authority-signed LOCK or UNLOCK order.
    pub fn lock_order(&mut self, order: &[u8]) -> Result<(), MeterError> {
        self.send(&ApplyLockOrder { order }).map(drop)
    }

    /// INSTALL CREDIT LINE with a credit-issuer-signed line of credit.
    pub fn install_credit_line(&mut self, line: &[u8]) -> Result<(), MeterError> {
        self.send(&InstallCreditLine { line }).map(drop)
    }

    /// PAY under the line of credit; returns the meter-signed payment certificate.
    pub fn pay(&mut self, request: &PaymentRequest) -> Result<Vec<u8>, MeterError> {
        self.send(&Pay { request: request.clone() })
    }

    /// The installed line of credit (`DF26`).
    pub fn credit_status(&mut self) -> Result<CreditStatus, MeterError> {
        Ok(CreditStatus::parse(&self.get_data(tags::CREDIT_STATUS)?)?)
    }

    /// The installed line of credit as its signed envelope (`DF27`), for merchants.
    pub fn credit_line(&mut self) -> Result<Vec<u8>, MeterError> {
        self.get_data(tags::CREDIT_LINE)
    }
}

fn single(out: &[u8]) -> Result<u8, MeterError> {
    match out {
        [b] => Ok(*b),
        _ => Err(FormatError::Invalid("verdict length").into()),
    }
}

/// What AGENT ISSUE returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIssued {
    /// The receiver's certificate (DER), signed by the agent.
    pub certificate: Vec<u8>,
    /// The receiver's private key, ECIES-encrypted to the delivery key with the certificate's SHA-256 as AAD.
    pub encrypted_key: Vec<u8>,
}

impl<T: Transport> Meter<T> {
    /// Wraps a transport (nothing is sent).
    pub fn new(transport: T) -> Self {
        Self { transport, config: ChannelConfig::default(), fci: None }
    }

    /// Wraps a transport and selects the meter.
    pub fn connect(transport: T) -> Result<Self, MeterError> {
        let mut m = Self::new(transport);
        m.select()?;
        Ok(m)
    }

    /// Sets how commands are framed.
    pub fn with_config(mut self, config: ChannelConfig) -> Self {
        self.config = config;
        self
    }

    /// The FCI from the last SELECT.
    pub fn fci(&self) -> Option<&Fci> {
        self.fci.as_ref()
    }

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Starts a transaction grouping several calls (without the reset
    /// handling of [`Meter::run`]).
    pub fn transaction(&mut self) -> Result<Transaction<'_, T>, MeterError> {
        let config = self.config;
        Ok(Transaction { tx: self.transport.begin()?, config })
    }

    /// Runs `f` in one transaction: `meter.run(|tx| tx.print_indicium(&piece))`.
    /// A card reset seen during it reconnects, re-selects and is reported as
    /// [`MeterError::PinStateLost`]; nothing is retried.
    pub fn run<R>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_, T>) -> Result<R, MeterError>,
    ) -> Result<R, MeterError> {
        let result = self.transaction().and_then(|mut tx| f(&mut tx));
        self.settle(result)
    }

    /// Runs `f` in one transaction that ends the host session: whatever `f`
    /// returns, the session ends (logout, reset) before the transaction
    /// ends. `f`'s error comes first; then the session end's.
    pub fn with_session<R>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_, T>) -> Result<R, MeterError>,
    ) -> Result<R, MeterError> {
        let result = match self.transaction() {
            Ok(mut s) => {
                let result = f(&mut s);
                let ended = s.end_session();
                result.and_then(|r| ended.map(|()| r))
            }
            Err(e) => Err(e),
        };
        self.settle(result)
    }

    /// Ends the host session between calls, inside a transaction of its own.
    pub fn end_session(mut self) -> Result<(), MeterError> {
        let result = self.transaction().and_then(Transaction::end_session);
        match result {
            Err(MeterError::Transport(e)) if crate::transport::session_state_is_gone(&e) => Ok(()),
            other => other,
        }
    }

    /// SELECT, remembering the FCI.
    pub fn select(&mut self) -> Result<Fci, MeterError> {
        let fci = self.run(|tx| tx.select())?;
        self.fci = Some(fci.clone());
        Ok(fci)
    }

    /// Reconnects and re-selects after a reset or re-insertion.
    pub fn recover(&mut self) -> Result<(), MeterError> {
        self.transport.reconnect()?;
        let fci = self.transaction()?.select()?;
        self.fci = Some(fci);
        Ok(())
    }

    /// Turns a reset seen during a call into a recovered connection and `PinStateLost`.
    fn settle<R>(&mut self, result: Result<R, MeterError>) -> Result<R, MeterError> {
        match result {
            Err(MeterError::Transport(TransportError::CardReset)) => {
                tracing::warn!("card reset detected: reconnecting; the PIN must be verified again");
                self.recover()?;
                Err(MeterError::PinStateLost)
            }
            other => other,
        }
    }
}
