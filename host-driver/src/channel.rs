//! The APDU channel, one layer for every transport: case encoding, command
//! chaining, `61xx` + GET RESPONSE and `6Cxx` re-issue. APDUs are traced on
//! target [`APDU_TARGET`]. Secrecy is a property of the data's type, taken
//! from the command table: a [`Payload::Secret`] command or response (PIN
//! blocks, profiles, DECRYPT plaintext) is traced as its length only,
//! re-issued or not.
//!
//! A command that spends value ([`CommandSpec::is_value`]) is sent once:
//! it is never re-issued on `6Cxx`, and any failure after it reached the
//! transport is [`MeterError::OutcomeUnknown`], for the caller to read the
//! registers or the audit log back.

use crate::error::{Ambiguity, MeterError, ProtocolError};
use crate::secret::{Payload, SecretBytes};
use crate::transport::{CardTransaction, TransportError};
use apdu_specs::capdu;
use apdu_specs::command::{CardCommand, DataLen, GetResponse};
use apdu_specs::commands::{self, CLA_CHAIN, CommandSpec};
use apdu_specs::sw::Sw;

/// `tracing` target of the APDU trace.
pub const APDU_TARGET: &str = "pcmeter::apdu";

/// Most GET RESPONSE / re-issue rounds for one command.
const MAX_ROUNDS: usize = 512;

/// A command for the channel: its row of the command table (CLA, INS,
/// secrecy, value), P1-P2, the data field and Ne. Built from a typed command
/// ([`CommandApdu::encode`]), or field by field for probes.
#[derive(Clone)]
pub struct CommandApdu {
    /// The command's row of the table.
    pub spec: &'static CommandSpec,
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// Data field: secret when the row says so.
    pub data: Payload,
    /// Ne: 0 when no response data is expected.
    pub ne: usize,
}

impl CommandApdu {
    /// Encodes a typed command. Secret data is written straight into a
    /// buffer of its exact size, so no unwiped copy is left behind.
    pub fn encode<C: CardCommand>(cmd: &C) -> Self {
        let [p1, p2] = cmd.p1p2();
        let data = if C::SPEC.secret_data {
            let mut len = DataLen::default();
            cmd.write_data(&mut len);
            let mut buffer = Vec::with_capacity(len.0);
            cmd.write_data(&mut buffer);
            Payload::Secret(SecretBytes::new(buffer))
        } else {
            Payload::Public(cmd.data())
        };
        Self { spec: C::SPEC, p1, p2, data, ne: cmd.expected() }
    }

    /// A command of `spec` with no data and no response data.
    pub fn new(spec: &'static CommandSpec, p1: u8, p2: u8) -> Self {
        Self { spec, p1, p2, data: Payload::Public(Vec::new()), ne: 0 }
    }

    /// Sets the data, secret when the row says so.
    pub fn data(mut self, data: &[u8]) -> Self {
        self.data = if self.spec.secret_data {
            Payload::Secret(SecretBytes::copy_from(data))
        } else {
            Payload::Public(data.to_vec())
        };
        self
    }

    /// Sets Ne.
    pub fn expect(mut self, ne: usize) -> Self {
        self.ne = ne;
        self
    }

    fn header(&self) -> [u8; 4] {
        [self.spec.cla, self.spec.ins, self.p1, self.p2]
    }

    /// The encoded APDU carrying `part`, as secret as the command's data.
    fn encode_part(&self, header: [u8; 4], part: &[u8], ne: usize) -> Result<Payload, ProtocolError> {
        let apdu = capdu::encode(header, part, ne, false)?;
        Ok(if self.data.is_secret() { Payload::Secret(SecretBytes::new(apdu)) } else { Payload::Public(apdu) })
    }
}

impl std::fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [cla, ins, p1, p2] = self.header();
        write!(f, "CommandApdu({cla:02X} {ins:02X} {p1:02X} {p2:02X}, {} data bytes, Ne {})", self.data.len(), self.ne)
    }
}

/// How the channel frames commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Largest data field per APDU before chaining (255 = short APDUs only).
    pub max_chunk: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self { max_chunk: 255 }
    }
}

/// A response: data and final status word.
#[derive(Debug, Clone)]
pub struct Response {
    /// Data (all parts joined), secret when the command said so.
    pub data: Payload,
    /// Final status word.
    pub sw: Sw,
}

/// Traces a C-APDU; secret data shows as its length only.
fn trace_command(apdu: &Payload) {
    match apdu {
        Payload::Public(bytes) => tracing::debug!(target: APDU_TARGET, "> {}", hex::encode_upper(bytes)),
        Payload::Secret(secret) => {
            let header = secret.get(..4).map(hex::encode_upper).unwrap_or_default();
            tracing::debug!(target: APDU_TARGET, "> {header} <{} bytes redacted>", secret.len().saturating_sub(4));
        }
    }
}

/// Traces an R-APDU; secret data shows as its length only.
fn trace_response(data: &Payload, sw: Sw) {
    match data {
        Payload::Public(bytes) => tracing::debug!(target: APDU_TARGET, "< {}{:04X}", hex::encode_upper(bytes), sw.0),
        Payload::Secret(secret) => {
            tracing::debug!(target: APDU_TARGET, "< <{} bytes redacted> {:04X}", secret.len(), sw.0)
        }
    }
}

/// One C-APDU out, one R-APDU back, checked against `ne`.
fn send<X: CardTransaction + ?Sized>(
    tx: &mut X,
    apdu: &Payload,
    ne: usize,
    secret_response: bool,
) -> Result<Response, MeterError> {
    trace_command(apdu);
    let raw = SecretBytes::new(tx.transmit(apdu.expose())?);
    let Some(split) = raw.len().checked_sub(2) else {
        tracing::debug!(target: APDU_TARGET, "< <{} bytes: no status word>", raw.len());
        return Err(ProtocolError::ShortResponse(raw.len()).into());
    };
    let (bytes, sw) = raw.split_at(split);
    let sw = Sw(u16::from_be_bytes([sw[0], sw[1]]));
    let data =
        if secret_response { Payload::Secret(SecretBytes::copy_from(bytes)) } else { Payload::Public(bytes.to_vec()) };
    trace_response(&data, sw);
    if data.len() > ne {
        return Err(ProtocolError::TooLong { got: data.len(), asked: ne }.into());
    }
    Ok(Response { data, sw })
}

fn ne_of(sw2: u8) -> usize {
    if sw2 == 0 { 256 } else { usize::from(sw2) }
}

/// Sends `cmd` in one transaction: chains long data, follows `61xx`, and
/// re-issues a command that spends no value on `6Cxx`. A refusal is returned
/// as a `Response` with its SW, not as an error; a value command answered
/// `6Cxx`, or failing once its last block reached the transport, is
/// [`MeterError::OutcomeUnknown`] and is not sent again.
pub fn exchange<X: CardTransaction + ?Sized>(
    tx: &mut X,
    cmd: &CommandApdu,
    cfg: &ChannelConfig,
) -> Result<Response, MeterError> {
    let chunk = cfg.max_chunk.clamp(1, capdu::MAX_EXTENDED_DATA);
    let mut parts: Vec<&[u8]> = cmd.data.expose().chunks(chunk).collect();
    let last = parts.pop().unwrap_or(&[]);
    // The card executes nothing before the last block: a failure here is no ambiguity.
    for part in parts {
        let [cla, ins, p1, p2] = cmd.header();
        let apdu = cmd.encode_part([cla | CLA_CHAIN, ins, p1, p2], part, 0)?;
        let r = send(tx, &apdu, 0, false)?;
        if !r.sw.is_ok() {
            return Ok(r);
        }
    }
    let spec = cmd.spec;
    if !spec.is_value() {
        return final_exchange(tx, cmd, last, true, &mut 0);
    }
    let mut answered = 0;
    match final_exchange(tx, cmd, last, false, &mut answered) {
        Ok(r) if r.sw.sw1() == 0x6C => Err(unknown_outcome(spec, Ambiguity::WrongLe(r.sw))),
        Ok(r) => Ok(r),
        // PC/SC refuses to transmit on a handle with a pending reset: the command was not sent.
        Err(e @ MeterError::Transport(TransportError::CardReset)) if answered == 0 => Err(e),
        Err(MeterError::Transport(t)) => Err(unknown_outcome(spec, Ambiguity::Transport(t))),
        Err(MeterError::Protocol(p)) => Err(unknown_outcome(spec, Ambiguity::Protocol(p))),
        Err(other) => Err(other),
    }
}

/// The last (or only) block and the rounds that follow it; `answered`
/// counts the R-APDUs received. Without `may_reissue` a `6Cxx` answer is
/// returned as it is.
fn final_exchange<X: CardTransaction + ?Sized>(
    tx: &mut X,
    cmd: &CommandApdu,
    last: &[u8],
    may_reissue: bool,
    answered: &mut usize,
) -> Result<Response, MeterError> {
    let mut ne = cmd.ne;
    let secret_response = cmd.spec.secret_response;
    let mut response = Response { data: Payload::Public(Vec::new()), sw: Sw::OK };
    if secret_response {
        response.data = Payload::Secret(SecretBytes::default());
    }
    let mut apdu = cmd.encode_part(cmd.header(), last, ne)?;
    let mut reissued = false;
    for _ in 0..MAX_ROUNDS {
        let r = send(tx, &apdu, ne, secret_response)?;
        *answered += 1;
        response.data.extend_from_slice(r.data.expose());
        response.sw = r.sw;
        if response.data.len() > commands::MAX_RESPONSE_DATA {
            break;
        }
        match r.sw.sw1() {
            0x6C if !may_reissue => return Ok(response),
            0x6C if !reissued && response.data.is_empty() => {
                ne = ne_of(r.sw.sw2());
                apdu = cmd.encode_part(cmd.header(), last, ne)?;
                reissued = true;
            }
            0x61 => {
                ne = ne_of(r.sw.sw2());
                let get = GetResponse { ne };
                apdu = Payload::Public(
                    capdu::encode(get.header(), &[], get.expected(), false).map_err(ProtocolError::from)?,
                );
                reissued = true;
            }
            _ => return Ok(response),
        }
    }
    Err(ProtocolError::Runaway.into())
}

/// The error for a value command whose outcome the host cannot know.
fn unknown_outcome(spec: &CommandSpec, cause: Ambiguity) -> MeterError {
    tracing::warn!(command = spec.name, %cause, "outcome unknown: not re-sent; read the registers and the audit log");
    MeterError::OutcomeUnknown { command: spec.name, cause }
}
