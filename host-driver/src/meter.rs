//! The typed meter API: one method per service. Each call on [`Meter`] runs
//! in its own transaction; [`Meter::transaction`] groups calls (for example
//! VERIFY and several indicia) so no other client interleaves.
//!
//! After a card reset the meter reconnects and re-selects, then reports
//! [`MeterError::PinStateLost`]: the PIN is never re-sent and nothing that
//! spends value is retried. After an ambiguous failure of a value command
//! ([`MeterError::OutcomeUnknown`]), read the registers to learn what
//! happened.
//!
//! A verified PIN belongs to one host session: [`Meter::with_session`] and
//! [`Session::end_session`] end it (the transport logs out and resets the
//! card) before their transaction ends, and [`Meter::end_session`] ends it
//! between calls.

use crate::channel::{ChannelConfig, Command, exchange};
use crate::error::MeterError;
use crate::pin::Pin;
use crate::secret::{Payload, SecretBytes};
use crate::transport::{Transaction, Transport, TransportError};
use apdu_specs::audit::{Head, Record};
use apdu_specs::certs::{AgentRequest, CHALLENGE_LEN, CertificateVerdict, SlotInfo};
use apdu_specs::commands::{AID, CLA_ISO, CLA_PROPRIETARY, MAX_COMMAND_DATA, ins, reference};
use apdu_specs::fci::Fci;
use apdu_specs::mailpiece::MailPiece;
use apdu_specs::postmark::{self, SignedParts, Verdict};
use apdu_specs::rates::RateTable;
use apdu_specs::registers::{Registers, Status};
use apdu_specs::signed::Signed;
use apdu_specs::sw::Sw;
use apdu_specs::x509::Usage;
use apdu_specs::{FormatError, tags, tlv};

/// Short-APDU maximum Ne.
const NE_SHORT: usize = 256;
/// Ne for responses that may exceed 256 bytes: a short Le of 256, the rest
/// is served through `61xx` and GET RESPONSE, which every reader supports.
const NE_EXTENDED: usize = NE_SHORT;

/// Most audit records asked for in one exchange (the card's ring size).
pub const AUDIT_BATCH: u16 = 64;

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

/// A transaction on the meter: every call inside it is exclusive.
pub struct Session<'a, T: Transport + 'a> {
    tx: T::Transaction<'a>,
    config: ChannelConfig,
}

fn key65(bytes: &[u8], what: &'static str) -> Result<[u8; 65], FormatError> {
    bytes.try_into().map_err(|_| FormatError::Invalid(what))
}

impl<'a, T: Transport + 'a> Session<'a, T> {
    /// Sends a command with a public response; a non-9000 answer becomes a
    /// typed error. A command marked with a secret response is refused
    /// ([`MeterError::SecretResponse`]): use [`Session::call_secret`].
    pub fn call(&mut self, cmd: Command) -> Result<Vec<u8>, MeterError> {
        let (data, sw) = self.call_raw(cmd)?;
        if sw.is_ok() { Ok(data) } else { Err(MeterError::from_sw(sw)) }
    }

    /// Sends a command whose response data is secret, and returns it as such.
    pub fn call_secret(&mut self, cmd: Command) -> Result<SecretBytes, MeterError> {
        let r = exchange(&mut self.tx, &cmd.secret_response(), &self.config)?;
        match r.data {
            _ if !r.sw.is_ok() => Err(MeterError::from_sw(r.sw)),
            Payload::Secret(data) => Ok(data),
            Payload::Public(data) => Ok(SecretBytes::new(data)),
        }
    }

    /// Sends a command with a public response and returns the raw response
    /// and SW, whatever it is.
    pub fn call_raw(&mut self, cmd: Command) -> Result<(Vec<u8>, Sw), MeterError> {
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
        let data = self.call(Command::new(CLA_ISO, ins::SELECT, 0x04, 0x00).data(&AID).expect(NE_SHORT))?;
        Ok(Fci::parse(&data)?)
    }

    /// VERIFY the PIN.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<(), MeterError> {
        let block = SecretBytes::copy_from(pin.block().as_bytes());
        self.call(Command::new(CLA_ISO, ins::VERIFY, 0x00, reference::PIN).secret_data(block)).map(drop)
    }

    /// Whether the PIN is verified, and the tries left.
    pub fn pin_status(&mut self) -> Result<PinStatus, MeterError> {
        match self.call(Command::new(CLA_ISO, ins::VERIFY, 0x00, reference::PIN)) {
            Ok(_) => Ok(PinStatus::Verified),
            Err(MeterError::WrongPin { tries_left, .. }) => Ok(PinStatus::NotVerified(tries_left)),
            Err(MeterError::PinBlocked { .. }) => Ok(PinStatus::Blocked),
            Err(e) => Err(e),
        }
    }

    /// Drops the PIN verification.
    pub fn logout(&mut self) -> Result<(), MeterError> {
        self.call(Command::new(CLA_ISO, ins::VERIFY, 0xFF, reference::PIN)).map(drop)
    }

    fn change(&mut self, p2: u8, old: &Pin, new: &Pin) -> Result<(), MeterError> {
        let mut data = SecretBytes::copy_from(old.block().as_bytes());
        data.extend_from_slice(new.block().as_bytes());
        self.call(Command::new(CLA_ISO, ins::CHANGE_REFERENCE_DATA, 0x00, p2).secret_data(data)).map(drop)
    }

    /// CHANGE REFERENCE DATA for the PIN.
    pub fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), MeterError> {
        self.change(reference::PIN, old, new)
    }

    /// CHANGE REFERENCE DATA for the PUK.
    pub fn change_puk(&mut self, old: &Pin, new: &Pin) -> Result<(), MeterError> {
        self.change(reference::PUK, old, new)
    }

    /// RESET RETRY COUNTER with the PUK, optionally setting a new PIN.
    pub fn unblock_pin(&mut self, puk: &Pin, new_pin: Option<&Pin>) -> Result<(), MeterError> {
        let mut data = SecretBytes::copy_from(puk.block().as_bytes());
        let p1 = match new_pin {
            Some(p) => {
                data.extend_from_slice(p.block().as_bytes());
                0x00
            }
            None => 0x01,
        };
        self.call(Command::new(CLA_ISO, ins::RESET_RETRY_COUNTER, p1, reference::PIN).secret_data(data)).map(drop)
    }

    /// GET DATA of a tag.
    pub fn get_data(&mut self, tag: u16) -> Result<Vec<u8>, MeterError> {
        let [p1, p2] = tag.to_be_bytes();
        self.call(Command::new(CLA_ISO, ins::GET_DATA, p1, p2).expect(NE_SHORT))
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
        let [p1, p2] = tags::AUDIT_RECORD.to_be_bytes();
        let data =
            self.call(Command::new(CLA_ISO, ins::GET_DATA_ODD, p1, p2).data(&seq.to_be_bytes()).expect(NE_SHORT))?;
        Ok(Record::parse(&data)?)
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
        let profile = SecretBytes::copy_from(signed_profile);
        self.call(Command::new(CLA_PROPRIETARY, ins::STORE_DATA, 0, 0).secret_data(profile)).map(drop)
    }

    /// ACTIVATE (irreversible).
    pub fn activate(&mut self) -> Result<(), MeterError> {
        self.call(Command::new(CLA_ISO, ins::ACTIVATE, 0, 0)).map(drop)
    }

    /// PRINT INDICIUM: the card prices, debits, commits, then signs.
    pub fn print_indicium(&mut self, piece: &MailPiece) -> Result<Vec<u8>, MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::PRINT_INDICIUM, 0, 0).data(&piece.encode()).expect(NE_SHORT))
    }

    /// UPDATE RATES with an authority-signed table.
    pub fn update_rates(&mut self, signed_table: &[u8]) -> Result<(), MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::UPDATE_RATES, 0, 0).data(signed_table)).map(drop)
    }

    /// Up to `count` consecutive audit records from `first`, in one exchange.
    pub fn audit_records(&mut self, first: u32, count: u16) -> Result<Vec<Record>, MeterError> {
        let [p1, p2] = tags::AUDIT_RECORD.to_be_bytes();
        let mut req = first.to_be_bytes().to_vec();
        req.extend_from_slice(&count.to_be_bytes());
        let ne = usize::from(count) * apdu_specs::audit::RECORD_LEN;
        let data = self.call(Command::new(CLA_ISO, ins::GET_DATA_ODD, p1, p2).data(&req).expect(ne.max(1)))?;
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
        let data =
            self.call(Command::new(CLA_ISO, ins::GENERATE_KEY_PAIR, 0, slot).data(&[usage as u8]).expect(NE_SHORT))?;
        Ok(key65(&data, "public key")?)
    }

    /// READ SLOT.
    pub fn read_slot(&mut self, slot: u8) -> Result<SlotInfo, MeterError> {
        let data = self.call(Command::new(CLA_PROPRIETARY, ins::READ_SLOT, 0, slot).expect(NE_EXTENDED))?;
        Ok(SlotInfo::parse(&data)?)
    }

    /// CERTIFICATE REQUEST answering the CA's `challenge`: the device-signed envelope around the slot's PKCS#10 request.
    pub fn certificate_request(&mut self, slot: u8, challenge: &[u8; CHALLENGE_LEN]) -> Result<Vec<u8>, MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::CERTIFICATE_REQUEST, 0, slot).data(challenge).expect(NE_EXTENDED))
    }

    /// INSTALL CERTIFICATE into `slot`.
    pub fn install_certificate(&mut self, slot: u8, der: &[u8]) -> Result<(), MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::INSTALL_CERTIFICATE, 0, slot).data(der)).map(drop)
    }

    /// Streams `message` into the card's SHA-256 (HASH start, then absorb in chunks).
    pub fn hash_message(&mut self, message: &[u8]) -> Result<(), MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::HASH, 0, 0))?;
        for chunk in message.chunks(MAX_COMMAND_DATA) {
            self.call(Command::new(CLA_PROPRIETARY, ins::HASH, 1, 0).data(chunk))?;
        }
        Ok(())
    }

    /// POSTMARK with a digest (`Some`) or the HASH stream (`None`); returns the card's signed parts.
    pub fn postmark_parts(&mut self, slot: u8, digest: Option<&[u8; 32]>) -> Result<Vec<u8>, MeterError> {
        let cmd = match digest {
            Some(d) => Command::new(CLA_PROPRIETARY, ins::POSTMARK, 0, slot).data(d),
            None => Command::new(CLA_PROPRIETARY, ins::POSTMARK, 1, slot),
        };
        self.call(cmd.expect(NE_EXTENDED))
    }

    /// A cryptographic postmark of a digest: the card's parts wrapped with the slot certificate into an RFC 3161 token.
    pub fn postmark_digest(&mut self, slot: u8, digest: &[u8; 32]) -> Result<Vec<u8>, MeterError> {
        let parts = self.postmark_parts(slot, Some(digest))?;
        self.wrap_postmark(slot, &parts)
    }

    /// A cryptographic postmark of a message hashed on the card.
    pub fn postmark_message(&mut self, slot: u8, message: &[u8]) -> Result<Vec<u8>, MeterError> {
        self.hash_message(message)?;
        let parts = self.postmark_parts(slot, None)?;
        self.wrap_postmark(slot, &parts)
    }

    fn wrap_postmark(&mut self, slot: u8, parts: &[u8]) -> Result<Vec<u8>, MeterError> {
        let certificate = self.read_slot(slot)?.certificate.ok_or(FormatError::Missing("slot certificate"))?;
        Ok(postmark::wrap_token(&SignedParts::parse(parts)?, &certificate)?)
    }

    /// VALIDATE POSTMARK on the card for a message digest.
    pub fn validate_postmark(&mut self, digest: &[u8; 32], token: &[u8]) -> Result<Verdict, MeterError> {
        let data = [&digest[..], token].concat();
        let out =
            self.call(Command::new(CLA_PROPRIETARY, ins::VALIDATE_POSTMARK, 0, 0).data(&data).expect(NE_SHORT))?;
        Ok(Verdict::from_byte(single(&out)?)?)
    }

    /// VERIFY CERTIFICATE against the card's CA anchor: one DER certificate,
    /// or a path of concatenated certificates, anchor side first (CA → agent → certificate).
    pub fn verify_certificate(&mut self, der: &[u8]) -> Result<CertificateVerdict, MeterError> {
        let out = self.call(Command::new(CLA_PROPRIETARY, ins::VERIFY_CERTIFICATE, 0, 0).data(der).expect(NE_SHORT))?;
        Ok(CertificateVerdict::from_byte(single(&out)?)?)
    }

    /// UPDATE CA ANCHOR with an authority-signed order.
    pub fn update_ca_anchor(&mut self, order: &[u8]) -> Result<(), MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::UPDATE_CA_ANCHOR, 0, 0).data(order)).map(drop)
    }

    /// AGENT ISSUE: the receiver's certificate and its private key encrypted to the delivery key.
    pub fn agent_issue(&mut self, slot: u8, request: &AgentRequest<'_>) -> Result<AgentIssued, MeterError> {
        let out = self.call(
            Command::new(CLA_PROPRIETARY, ins::AGENT_ISSUE, 0, slot).data(&request.encode()).expect(NE_EXTENDED),
        )?;
        let issued = apdu_specs::certs::AgentResponse::parse(&out)?;
        Ok(AgentIssued { certificate: issued.certificate.to_vec(), encrypted_key: issued.encrypted_key.to_vec() })
    }

    /// SIGN DATA with a signature slot; returns an ECDSA-Sig-Value (DER).
    pub fn sign_data(&mut self, slot: u8, data: &[u8]) -> Result<Vec<u8>, MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::SIGN_DATA, 0, slot).data(data).expect(NE_SHORT))
    }

    /// SIGN DATA over a SHA-256 digest.
    pub fn sign_digest(&mut self, slot: u8, digest: &[u8; 32]) -> Result<Vec<u8>, MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::SIGN_DATA, 1, slot).data(digest).expect(NE_SHORT))
    }

    /// DECRYPT an ECIES blob with an encryption slot; the plaintext is secret.
    pub fn decrypt(&mut self, slot: u8, blob: &[u8]) -> Result<SecretBytes, MeterError> {
        self.call_secret(Command::new(CLA_PROPRIETARY, ins::DECRYPT, 0, slot).data(blob).expect(NE_EXTENDED))
    }

    /// REVOKE with an authority order; returns the card's signed confirmation.
    pub fn revoke(&mut self, order: &[u8]) -> Result<Vec<u8>, MeterError> {
        self.call(Command::new(CLA_PROPRIETARY, ins::REVOKE, 0, 0).data(order).expect(NE_SHORT))
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

macro_rules! one_shot {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident : $ty:ty),*) -> $ret:ty; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret, MeterError> {
                let result = match self.transaction() {
                    Ok(mut s) => s.$name($($arg),*),
                    Err(e) => Err(e),
                };
                self.settle(result)
            }
        )*
    };
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

    /// Starts a transaction grouping several calls.
    pub fn transaction(&mut self) -> Result<Session<'_, T>, MeterError> {
        let config = self.config;
        Ok(Session { tx: self.transport.begin()?, config })
    }

    /// Runs `f` in one transaction that ends the host session: whatever `f`
    /// returns, the session ends (logout, reset) before the transaction
    /// ends. `f`'s error comes first; then the session end's.
    pub fn with_session<R>(
        &mut self,
        f: impl FnOnce(&mut Session<'_, T>) -> Result<R, MeterError>,
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
        let result = self.transaction().and_then(Session::end_session);
        match result {
            Err(MeterError::Transport(e)) if crate::transport::session_state_is_gone(&e) => Ok(()),
            other => other,
        }
    }

    /// SELECT, remembering the FCI.
    pub fn select(&mut self) -> Result<Fci, MeterError> {
        let result = match self.transaction() {
            Ok(mut s) => s.select(),
            Err(e) => Err(e),
        };
        let fci = self.settle(result)?;
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

    one_shot! {
        /// VERIFY the PIN.
        fn verify_pin(pin: &Pin) -> ();
        /// PIN verification status.
        fn pin_status() -> PinStatus;
        /// Drops the PIN verification.
        fn logout() -> ();
        /// Changes the PIN.
        fn change_pin(old: &Pin, new: &Pin) -> ();
        /// Changes the PUK.
        fn change_puk(old: &Pin, new: &Pin) -> ();
        /// Unblocks the PIN with the PUK.
        fn unblock_pin(puk: &Pin, new_pin: Option<&Pin>) -> ();
        /// Registers.
        fn registers() -> Registers;
        /// Status.
        fn status() -> Status;
        /// Rate table in force.
        fn rate_table() -> SignedRateTable;
        /// Audit head.
        fn audit_head() -> Head;
        /// One audit record.
        fn audit_record(seq: u32) -> Record;
        /// Consecutive audit records.
        fn audit_records(first: u32, count: u16) -> Vec<Record>;
        /// All held audit records.
        fn audit_log() -> (Head, Vec<Record>);
        /// Public keys.
        fn public_keys() -> PublicKeys;
        /// Personalization.
        fn personalize(signed_profile: &[u8]) -> ();
        /// Activation.
        fn activate() -> ();
        /// An indicium.
        fn print_indicium(piece: &MailPiece) -> Vec<u8>;
        /// A rate-table update.
        fn update_rates(signed_table: &[u8]) -> ();
        /// A key pair in a slot.
        fn generate_key_pair(slot: u8, usage: Usage) -> [u8; 65];
        /// A slot's state, key and certificate.
        fn read_slot(slot: u8) -> SlotInfo;
        /// A device-signed certificate request.
        fn certificate_request(slot: u8, challenge: &[u8; CHALLENGE_LEN]) -> Vec<u8>;
        /// A certificate installation.
        fn install_certificate(slot: u8, der: &[u8]) -> ();
        /// The card's signed postmark parts (digest, or the HASH stream when `None`).
        fn postmark_parts(slot: u8, digest: Option<&[u8; 32]>) -> Vec<u8>;
        /// A postmark of a digest (RFC 3161 token).
        fn postmark_digest(slot: u8, digest: &[u8; 32]) -> Vec<u8>;
        /// A postmark of a message hashed on the card (RFC 3161 token).
        fn postmark_message(slot: u8, message: &[u8]) -> Vec<u8>;
        /// An on-card postmark validation.
        fn validate_postmark(digest: &[u8; 32], token: &[u8]) -> Verdict;
        /// An on-card certificate verification.
        fn verify_certificate(der: &[u8]) -> CertificateVerdict;
        /// A CA anchor update.
        fn update_ca_anchor(order: &[u8]) -> ();
        /// An agent issuance.
        fn agent_issue(slot: u8, request: &AgentRequest<'_>) -> AgentIssued;
        /// A signature on data.
        fn sign_data(slot: u8, data: &[u8]) -> Vec<u8>;
        /// A signature on a digest.
        fn sign_digest(slot: u8, digest: &[u8; 32]) -> Vec<u8>;
        /// A decryption.
        fn decrypt(slot: u8, blob: &[u8]) -> SecretBytes;
        /// A revocation order.
        fn revoke(order: &[u8]) -> Vec<u8>;
    }
}
