//! APDU transcript vectors: hex C-APDUs with the expected R-APDU or a matcher.
//! The card-core tests replay them on the applet directly and the host-driver
//! tests replay them through a transport, so both sides test one contract.
//!
//! File format (`vectors/*.apdu`):
//!
//! ```text
//! # comment
//! ! anchor <hex>            issuer public key the fixture card is manufactured with
//! ! serial <16 hex digits>  card serial the fixture card is manufactured with
//! ! time <unix seconds>     fixture card clock
//! @ name [from other]       a transcript; `from other` = replay `other` on a fresh card, then power-cycle
//! > <C-APDU hex>
//! < [data] <SW>             data: omitted = none, `HEX` exact, `HEX*` prefix, `*` any, `*N` any N bytes;
//!                           SW: four hex digits, `x` matches any nibble (e.g. `63Cx`, `61xx`)
//! ```

use crate::codec::FormatError;
use crate::perso::CardSerial;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// What the response data must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPattern {
    /// Exactly these bytes (empty = no data).
    Exact(Vec<u8>),
    /// Starts with these bytes.
    Prefix(Vec<u8>),
    /// Anything.
    Any,
    /// Any bytes of this length.
    AnyOfLen(usize),
}

/// Expected R-APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// Data pattern.
    pub data: DataPattern,
    /// SW with `None` for wildcard nibbles.
    pub sw: [Option<u8>; 4],
}

impl Matcher {
    /// True when `rapdu` (data then SW) matches.
    pub fn matches(&self, rapdu: &[u8]) -> bool {
        let Some(split) = rapdu.len().checked_sub(2) else { return false };
        let (data, sw) = rapdu.split_at(split);
        let nibbles = sw.iter().flat_map(|b| [b >> 4, b & 0x0F]);
        let sw_ok = self.sw.iter().zip(nibbles).all(|(want, got)| want.is_none_or(|w| w == got));
        let data_ok = match &self.data {
            DataPattern::Exact(d) => d.as_slice() == data,
            DataPattern::Prefix(p) => data.starts_with(p),
            DataPattern::Any => true,
            DataPattern::AnyOfLen(n) => data.len() == *n,
        };
        sw_ok && data_ok
    }

    /// The SW when fully specified.
    pub fn exact_sw(&self) -> Option<u16> {
        let mut v = 0u16;
        for n in self.sw {
            v = (v << 4) | u16::from(n?);
        }
        Some(v)
    }
}

/// One exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Command.
    pub capdu: Vec<u8>,
    /// Expected response.
    pub expect: Matcher,
    /// Line of the `>` in the file.
    pub line: usize,
}

/// A named transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// Name.
    pub name: String,
    /// Transcript replayed first (then the card is power-cycled).
    pub from: Option<String>,
    /// Exchanges.
    pub steps: Vec<Step>,
}

/// A parsed vector file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorFile {
    /// Issuer key of the fixture card.
    pub anchor: Vec<u8>,
    /// Serial of the fixture card.
    pub serial: CardSerial,
    /// Fixture clock.
    pub time: u64,
    /// Transcripts in file order.
    pub transcripts: Vec<Transcript>,
}

/// A parse error with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vector file line {line}: {what}")]
pub struct VectorError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

fn err(line: usize, what: &str) -> VectorError {
    VectorError { line, what: what.to_string() }
}

fn parse_hex(text: &str, line: usize) -> Result<Vec<u8>, VectorError> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).map_err(|_| err(line, "bad hex"))
}

fn parse_matcher(text: &str, line: usize) -> Result<Matcher, VectorError> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let (sw_tok, data_toks) = tokens.split_last().ok_or_else(|| err(line, "missing SW"))?;
    if sw_tok.len() != 4 {
        return Err(err(line, "SW must be 4 hex digits"));
    }
    let mut sw = [None; 4];
    for (slot, c) in sw.iter_mut().zip(sw_tok.chars()) {
        *slot = match c {
            'x' | 'X' => None,
            _ => Some(c.to_digit(16).ok_or_else(|| err(line, "bad SW digit"))? as u8),
        };
    }
    let data_text: String = data_toks.concat();
    let data = if data_text.is_empty() {
        DataPattern::Exact(Vec::new())
    } else if data_text == "*" {
        DataPattern::Any
    } else if let Some(n) = data_text.strip_prefix('*') {
        DataPattern::AnyOfLen(n.parse().map_err(|_| err(line, "bad length"))?)
    } else if let Some(p) = data_text.strip_suffix('*') {
        DataPattern::Prefix(parse_hex(p, line)?)
    } else {
        DataPattern::Exact(parse_hex(&data_text, line)?)
    };
    Ok(Matcher { data, sw })
}

impl VectorFile {
    /// Parses a vector file.
    pub fn parse(text: &str) -> Result<Self, VectorError> {
        let mut anchor = None;
        let mut serial = None;
        let mut time = None;
        let mut transcripts: Vec<Transcript> = Vec::new();
        let mut pending: Option<(Vec<u8>, usize)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (kind, rest) = l.split_at(1);
            let rest = rest.trim();
            match kind {
                "!" => {
                    let (key, value) = rest.split_once(' ').ok_or_else(|| err(line, "fixture needs a value"))?;
                    match key {
                        "anchor" => anchor = Some(parse_hex(value, line)?),
                        "serial" => serial = Some(CardSerial::from_hex(value).map_err(|_| err(line, "bad serial"))?),
                        "time" => time = Some(value.trim().parse().map_err(|_| err(line, "bad time"))?),
                        _ => return Err(err(line, "unknown fixture")),
                    }
                }
                "@" => {
                    if pending.is_some() {
                        return Err(err(line, "C-APDU without response"));
                    }
                    let mut words = rest.split_whitespace();
                    let name = words.next().ok_or_else(|| err(line, "transcript needs a name"))?.to_string();
                    let from = match (words.next(), words.next()) {
                        (None, _) => None,
                        (Some("from"), Some(f)) => Some(f.to_string()),
                        _ => return Err(err(line, "expected `from NAME`")),
                    };
                    if let Some(f) = &from
                        && !transcripts.iter().any(|t| &t.name == f)
                    {
                        return Err(err(line, "`from` names an earlier transcript"));
                    }
                    transcripts.push(Transcript { name, from, steps: Vec::new() });
                }
                ">" => {
                    if pending.is_some() {
                        return Err(err(line, "two C-APDUs in a row"));
                    }
                    pending = Some((parse_hex(rest, line)?, line));
                }
                "<" => {
                    let (capdu, at) = pending.take().ok_or_else(|| err(line, "response without command"))?;
                    let expect = parse_matcher(rest, line)?;
                    let t = transcripts.last_mut().ok_or_else(|| err(line, "step outside a transcript"))?;
                    t.steps.push(Step { capdu, expect, line: at });
                }
                _ => return Err(err(line, "unknown line")),
            }
        }
        if pending.is_some() {
            return Err(err(text.lines().count(), "C-APDU without response at end"));
        }
        Ok(Self {
            anchor: anchor.ok_or_else(|| err(0, "missing `! anchor`"))?,
            serial: serial.ok_or_else(|| err(0, "missing `! serial`"))?,
            time: time.ok_or_else(|| err(0, "missing `! time`"))?,
            transcripts,
        })
    }

    /// A transcript by name.
    pub fn transcript(&self, name: &str) -> Option<&Transcript> {
        self.transcripts.iter().find(|t| t.name == name)
    }

    /// The chain of transcripts to replay for `name`, oldest first.
    pub fn lineage(&self, name: &str) -> Vec<&Transcript> {
        let mut chain = Vec::new();
        let mut cur = self.transcript(name);
        while let Some(t) = cur {
            chain.push(t);
            cur = t.from.as_deref().and_then(|f| self.transcript(f));
        }
        chain.reverse();
        chain
    }
}

impl From<FormatError> for VectorError {
    fn from(e: FormatError) -> Self {
        VectorError { line: 0, what: e.to_string() }
    }
}

/// The vector files kept in this crate.
pub mod files {
    /// The foundation transcripts.
    pub const FOUNDATION: &str = include_str!("../vectors/foundation.apdu");
    /// The authority protocols (generated by the `tests` crate's `vectors` test).
    pub const AUTHORITY: &str = include_str!("../vectors/authority.apdu");
}
