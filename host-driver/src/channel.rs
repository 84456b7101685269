//! The APDU channel, one layer for every transport: case encoding, command
//! chaining, `61xx` + GET RESPONSE and `6Cxx` re-issue. APDUs are traced on
//! target [`APDU_TARGET`]; data of commands marked secret in `apdu-specs`
//! (PIN, PUK, personalization) is never traced, only its length.

use crate::error::{MeterError, ProtocolError};
use crate::transport::Transaction;
use apdu_specs::capdu;
use apdu_specs::commands::{self, CLA_CHAIN, ins};
use apdu_specs::sw::Sw;
use zeroize::Zeroizing;

/// `tracing` target of the APDU trace.
pub const APDU_TARGET: &str = "pcmeter::apdu";

/// Most GET RESPONSE / re-issue rounds for one command.
const MAX_ROUNDS: usize = 512;

/// A command before encoding.
#[derive(Clone)]
pub struct Command {
    /// CLA (without chaining bit).
    pub cla: u8,
    /// INS.
    pub ins: u8,
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// Data field (wiped on drop: it may hold a PIN).
    pub data: Zeroizing<Vec<u8>>,
    /// Ne: 0 when no response data is expected.
    pub ne: usize,
}

impl Command {
    /// A command with no data and no response data.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self { cla, ins, p1, p2, data: Zeroizing::new(Vec::new()), ne: 0 }
    }

    /// Sets the data field.
    pub fn data(mut self, data: &[u8]) -> Self {
        self.data = Zeroizing::new(data.to_vec());
        self
    }

    /// Sets Ne.
    pub fn expect(mut self, ne: usize) -> Self {
        self.ne = ne;
        self
    }

    fn secret(&self) -> bool {
        commands::by_ins(self.ins).is_some_and(|s| s.secret_data)
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}, {} data bytes, Ne {})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.ne
        )
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Data (all parts joined).
    pub data: Vec<u8>,
    /// Final status word.
    pub sw: Sw,
}

fn trace_command(apdu: &[u8], secret: bool) {
    if secret {
        let header = apdu.get(..4).unwrap_or(apdu);
        tracing::debug!(target: APDU_TARGET, "> {} <{} bytes redacted>", hex::encode_upper(header), apdu.len().saturating_sub(4));
    } else {
        tracing::debug!(target: APDU_TARGET, "> {}", hex::encode_upper(apdu));
    }
}

fn send<X: Transaction + ?Sized>(tx: &mut X, apdu: &[u8], secret: bool, ne: usize) -> Result<Response, MeterError> {
    trace_command(apdu, secret);
    let raw = tx.transmit(apdu)?;
    tracing::debug!(target: APDU_TARGET, "< {}", hex::encode_upper(&raw));
    let split = raw.len().checked_sub(2).ok_or(ProtocolError::ShortResponse(raw.len()))?;
    let (data, sw) = raw.split_at(split);
    let allowed = if ne == 0 { 0 } else { ne };
    if data.len() > allowed {
        return Err(ProtocolError::TooLong { got: data.len(), asked: ne }.into());
    }
    Ok(Response { data: data.to_vec(), sw: Sw(u16::from_be_bytes([sw[0], sw[1]])) })
}

fn ne_of(sw2: u8) -> usize {
    if sw2 == 0 { 256 } else { usize::from(sw2) }
}

/// Sends `cmd` in one transaction: chains long data, follows `61xx` and `6Cxx`.
/// A refusal is returned as a `Response` with its SW, not as an error.
pub fn exchange<X: Transaction + ?Sized>(
    tx: &mut X,
    cmd: &Command,
    cfg: &ChannelConfig,
) -> Result<Response, MeterError> {
    let secret = cmd.secret();
    let chunk = cfg.max_chunk.clamp(1, capdu::MAX_EXTENDED_DATA);
    let mut parts: Vec<&[u8]> = cmd.data.chunks(chunk).collect();
    let last = parts.pop().unwrap_or(&[]);
    for part in parts {
        let apdu = Zeroizing::new(
            capdu::encode([cmd.cla | CLA_CHAIN, cmd.ins, cmd.p1, cmd.p2], part, 0, false)
                .map_err(ProtocolError::from)?,
        );
        let r = send(tx, &apdu, secret, 0)?;
        if !r.sw.is_ok() {
            return Ok(r);
        }
    }
    let header = [cmd.cla, cmd.ins, cmd.p1, cmd.p2];
    let mut ne = cmd.ne;
    let mut response = Response { data: Vec::new(), sw: Sw::OK };
    let mut rounds = 0;
    let mut apdu = Zeroizing::new(capdu::encode(header, last, ne, false).map_err(ProtocolError::from)?);
    let mut reissued = false;
    loop {
        rounds += 1;
        if rounds > MAX_ROUNDS || response.data.len() > commands::MAX_RESPONSE_DATA {
            return Err(ProtocolError::Runaway.into());
        }
        let r = send(tx, &apdu, secret && !reissued && rounds == 1, ne)?;
        response.data.extend_from_slice(&r.data);
        response.sw = r.sw;
        match r.sw.sw1() {
            0x6C if !reissued && response.data.is_empty() => {
                ne = ne_of(r.sw.sw2());
                apdu = Zeroizing::new(capdu::encode(header, last, ne, false).map_err(ProtocolError::from)?);
                reissued = true;
            }
            0x61 => {
                ne = ne_of(r.sw.sw2());
                apdu = Zeroizing::new(
                    capdu::encode([0x00, ins::GET_RESPONSE, 0, 0], &[], ne, false).map_err(ProtocolError::from)?,
                );
                reissued = true;
            }
            _ => return Ok(response),
        }
    }
}
