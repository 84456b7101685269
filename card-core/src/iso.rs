//! The ISO/IEC 7816-4 transport layer, written once: APDU cases 1–4 in short
//! and extended form, CLA checks, command chaining (CLA bit `10`), long
//! responses through `61xx` + GET RESPONSE, and `6Cxx` for a wrong Le.
//!
//! Rules kept here and nowhere else:
//! - a value command's Le is checked against the command table's response
//!   length before the handler runs (`6Cxx` or `6700`, nothing executed), and
//!   after it has run the card never answers `6Cxx`;
//! - a chain keeps CLA, INS, P1 and P2; anything else answers `6883` and drops it;
//! - the chain buffer is dropped on *every* error, including overflow (`6A84`);
//! - any command but GET RESPONSE drops a pending response;
//! - `6100` (not `61FF`) announces 256 or more remaining bytes.

use alloc::vec::Vec;
use apdu_specs::command::{Apdu, GetResponse};
use apdu_specs::commands::{self, CLA_CHAIN, CommandSpec, Lookup, MAX_COMMAND_DATA, ResponseLength, ins};
use apdu_specs::sw::Sw;
use iso7816::command::{CommandView, FromSliceError};
use zeroize::Zeroizing;

/// A complete (de-chained) command handed to the applet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// CLA without the chaining bit.
    pub cla: u8,
    /// INS.
    pub ins: u8,
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// Assembled data field (wiped on drop: it may carry PINs and keys).
    pub data: Zeroizing<Vec<u8>>,
    /// Ne: the most response bytes the host accepts in this exchange.
    pub ne: usize,
    /// Extended-length APDU.
    pub extended: bool,
}

impl Request {
    /// P1-P2 as one word.
    pub fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }

    /// What a typed command is parsed from (the data borrowed, not copied).
    pub fn apdu(&self) -> Apdu<'_> {
        Apdu { p1: self.p1, p2: self.p2, data: &self.data, ne: self.ne }
    }

    /// True when Le is absent or `00`: the host takes whatever the card sends.
    fn is_max_le(&self) -> bool {
        self.ne == 0 || (self.ne == 256 && !self.extended) || self.ne == 65_536
    }
}

/// What the layer asks of the applet.
pub trait Handler {
    /// Checks selection, lifecycle and security for `spec` (called for every block of a chain).
    fn admit(&mut self, spec: &'static CommandSpec) -> Result<(), Sw>;
    /// The response length of `spec` on this card (the table's column, with
    /// the indicium length of the card's algorithm).
    fn response_length(&self, spec: &'static CommandSpec) -> ResponseLength;
    /// Runs a complete command.
    fn handle(&mut self, spec: &'static CommandSpec, req: &Request) -> Result<Vec<u8>, Sw>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Chain {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    /// Reserved at its full size when the chain opens, so it never
    /// reallocates and leaves no unwiped copy behind.
    data: Zeroizing<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pending {
    data: Vec<u8>,
    offset: usize,
}

/// Volatile transport state: the open chain and the pending response.
#[derive(Debug, Default)]
pub struct IsoLayer {
    chain: Option<Chain>,
    pending: Option<Pending>,
}

fn sw_only(sw: Sw) -> Vec<u8> {
    sw.to_bytes().to_vec()
}

fn with_sw(mut data: Vec<u8>, sw: Sw) -> Vec<u8> {
    data.extend_from_slice(&sw.to_bytes());
    data
}

/// Validates CLA: logical channel 0, no secure messaging, known class.
fn check_cla(cla: u8) -> Result<(), Sw> {
    let base = cla & !CLA_CHAIN;
    match cla >> 5 {
        0b000 => {
            if cla & 0x0C != 0 {
                Err(Sw::SECURE_MESSAGING_NOT_SUPPORTED)
            } else if cla & 0x03 != 0 {
                Err(Sw::LOGICAL_CHANNEL_NOT_SUPPORTED)
            } else {
                Ok(())
            }
        }
        0b010 | 0b011 => Err(Sw::LOGICAL_CHANNEL_NOT_SUPPORTED),
        _ if base == commands::CLA_PROPRIETARY => Ok(()),
        _ => Err(Sw::CLA_NOT_SUPPORTED),
    }
}

impl IsoLayer {
    /// Drops the chain and any pending response (reset, power-off, deselect).
    pub fn clear(&mut self) {
        self.chain = None;
        self.pending = None;
    }

    /// True when a chain is open (for tests).
    pub fn chain_open(&self) -> bool {
        self.chain.is_some()
    }

    /// True when a response is pending (for tests).
    pub fn response_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Processes one C-APDU and returns the R-APDU (data followed by SW).
    pub fn process<H: Handler>(&mut self, capdu: &[u8], handler: &mut H) -> Vec<u8> {
        match self.process_inner(capdu, handler) {
            Ok(r) => r,
            Err(sw) => {
                self.chain = None;
                sw_only(sw)
            }
        }
    }

    fn process_inner<H: Handler>(&mut self, capdu: &[u8], handler: &mut H) -> Result<Vec<u8>, Sw> {
        let view = match CommandView::try_from(capdu) {
            Ok(v) => v,
            Err(FromSliceError::InvalidClass) => {
                self.pending = None;
                return Err(Sw::CLA_NOT_SUPPORTED);
            }
            Err(_) => {
                self.pending = None;
                return Err(Sw::WRONG_LENGTH);
            }
        };
        let cla = view.class().into_inner();
        let ins_byte = u8::from(view.instruction());
        let chained = cla & CLA_CHAIN != 0;
        if let Err(sw) = check_cla(cla) {
            self.pending = None;
            return Err(sw);
        }

        let spec = match commands::lookup(cla, ins_byte) {
            Lookup::Found(spec) => spec,
            Lookup::WrongClass => {
                self.pending = None;
                return Err(Sw::CLA_NOT_SUPPORTED);
            }
            Lookup::UnknownIns => {
                self.pending = None;
                return Err(Sw::INS_NOT_SUPPORTED);
            }
        };

        if ins_byte == ins::GET_RESPONSE {
            return self.get_response(&view, chained);
        }
        self.pending = None;

        if let Some(open) = &self.chain
            && (open.cla != cla & !CLA_CHAIN || open.ins != ins_byte || open.p1 != view.p1 || open.p2 != view.p2)
        {
            return Err(Sw::LAST_COMMAND_OF_CHAIN_EXPECTED);
        }
        if chained && !spec.chaining {
            return Err(Sw::CHAINING_NOT_SUPPORTED);
        }
        handler.admit(spec)?;

        let mut data = match self.chain.take() {
            Some(open) => open.data,
            None if chained => Zeroizing::new(Vec::with_capacity(MAX_COMMAND_DATA)),
            None => Zeroizing::new(Vec::with_capacity(view.data().len())),
        };
        if data.len().saturating_add(view.data().len()) > MAX_COMMAND_DATA {
            return Err(Sw::NOT_ENOUGH_MEMORY);
        }
        data.extend_from_slice(view.data());
        if chained {
            self.chain = Some(Chain { cla: cla & !CLA_CHAIN, ins: ins_byte, p1: view.p1, p2: view.p2, data });
            return Ok(sw_only(Sw::OK));
        }

        let req = Request {
            cla: cla & !CLA_CHAIN,
            ins: ins_byte,
            p1: view.p1,
            p2: view.p2,
            data,
            ne: view.expected(),
            extended: view.extended,
        };
        if spec.is_value()
            && !req.is_max_le()
            && let Some(sw) = handler.response_length(spec).refuse_le(req.ne)
        {
            return Err(sw);
        }
        let body = handler.handle(spec, &req)?;
        Ok(self.respond(body, &req, !spec.is_value()))
    }

    /// Frames a response for Ne: whole, or first part + `61xx`, or `6Cxx`
    /// when `may_refuse` (the command executed nothing that a re-send would
    /// repeat; never for a value command).
    fn respond(&mut self, body: Vec<u8>, req: &Request, may_refuse: bool) -> Vec<u8> {
        let limit = match req.ne {
            0 if req.extended => 65_536,
            0 => 256,
            n => n,
        };
        if body.len() <= limit {
            return with_sw(body, Sw::OK);
        }
        if may_refuse && !req.is_max_le() && body.len() <= 256 {
            return sw_only(Sw::wrong_le(body.len()));
        }
        self.start_pending(body, limit)
    }

    fn start_pending(&mut self, body: Vec<u8>, first: usize) -> Vec<u8> {
        let mut pending = Pending { data: body, offset: 0 };
        let out = Self::take_part(&mut pending, first);
        self.pending = Some(pending);
        out
    }

    fn take_part(pending: &mut Pending, n: usize) -> Vec<u8> {
        let end = pending.offset.saturating_add(n).min(pending.data.len());
        let part = pending.data.get(pending.offset..end).unwrap_or(&[]).to_vec();
        pending.offset = end;
        let remaining = pending.data.len().saturating_sub(end);
        let sw = if remaining == 0 { Sw::OK } else { Sw::more_available(remaining) };
        with_sw(part, sw)
    }

    fn get_response(&mut self, view: &CommandView<'_>, chained: bool) -> Result<Vec<u8>, Sw> {
        if self.chain.is_some() {
            self.pending = None;
            return Err(Sw::LAST_COMMAND_OF_CHAIN_EXPECTED);
        }
        if chained {
            self.pending = None;
            return Err(Sw::CHAINING_NOT_SUPPORTED);
        }
        let apdu = Apdu { p1: view.p1, p2: view.p2, data: view.data(), ne: view.expected() };
        let get = GetResponse::try_from(&apdu).inspect_err(|_| self.pending = None)?;
        let mut pending = self.pending.take().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let n = match get.ne {
            0 if view.extended => 65_536,
            0 => 256,
            n => n,
        };
        let out = Self::take_part(&mut pending, n);
        if pending.offset < pending.data.len() {
            self.pending = Some(pending);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A handler that echoes P2 × 100 bytes for UPDATE RATES-like chained input,
    /// returns `len` bytes for GET DATA with P1P2 = len, and P2 bytes for
    /// SIGN DATA and GENERATE KEY PAIR (value commands); it counts what ran.
    #[derive(Default)]
    struct Echo {
        admitted: usize,
        ran: usize,
        /// A response length other than the table's (a handler that lies).
        length: Option<ResponseLength>,
    }

    impl Handler for Echo {
        fn admit(&mut self, _spec: &'static CommandSpec) -> Result<(), Sw> {
            self.admitted += 1;
            Ok(())
        }
        fn response_length(&self, spec: &'static CommandSpec) -> ResponseLength {
            self.length.unwrap_or(spec.response)
        }
        fn handle(&mut self, _spec: &'static CommandSpec, req: &Request) -> Result<Vec<u8>, Sw> {
            self.ran += 1;
            match req.ins {
                ins::GET_DATA => Ok((0..usize::from(req.p1p2())).map(|i| i as u8).collect()),
                ins::UPDATE_RATES => Ok(req.data.to_vec()),
                ins::SIGN_DATA | ins::GENERATE_KEY_PAIR => Ok(vec![0x5A; usize::from(req.p2)]),
                _ => Err(Sw::BAD_DATA),
            }
        }
    }

    fn run(layer: &mut IsoLayer, capdu: &[u8]) -> Vec<u8> {
        layer.process(capdu, &mut Echo::default())
    }

    #[test]
    fn a_short_le_on_a_value_command_executes_nothing() {
        let mut l = IsoLayer::default();
        let mut h = Echo::default();
        // GENERATE KEY PAIR: fixed 65 bytes in the table; Le 64 gets 6C41.
        assert_eq!(l.process(&[0x00, 0x46, 0x00, 0x41, 0x01, 0x02, 0x40], &mut h), vec![0x6C, 0x41]);
        // SIGN DATA: up to 72 bytes; Le 71 gets 6700.
        assert_eq!(l.process(&[0x80, 0x64, 0x01, 0x10, 0x01, 0x00, 0x47], &mut h), vec![0x67, 0x00]);
        assert_eq!(h.ran, 0, "nothing executed");
        // Le 00, or one that holds the largest response, runs it once.
        let r = l.process(&[0x80, 0x64, 0x01, 0x10, 0x01, 0x00, 0x48], &mut h);
        assert_eq!((r.len(), &r[16..]), (18, &[0x90, 0x00][..]));
        let r = l.process(&[0x00, 0x46, 0x00, 0x41, 0x01, 0x02, 0x00], &mut h);
        assert_eq!((r.len(), &r[65..]), (67, &[0x90, 0x00][..]));
        assert_eq!(h.ran, 2);
    }

    #[test]
    fn a_value_command_never_yields_6cxx_after_running() {
        let mut l = IsoLayer::default();
        // The handler says 4 bytes, so Le 5 passes the check, then answers 20.
        let mut h = Echo { length: Some(ResponseLength::Fixed(4)), ..Echo::default() };
        let r = l.process(&[0x80, 0x64, 0x01, 0x14, 0x01, 0x00, 0x05], &mut h);
        assert_eq!(h.ran, 1);
        assert_eq!(r.len(), 7);
        assert_eq!(&r[5..], &[0x61, 0x0F], "the rest follows with 61xx, never 6Cxx");
        let r = l.process(&[0x00, 0xC0, 0x00, 0x00, 0x0F], &mut h);
        assert_eq!((r.len(), &r[15..]), (17, &[0x90, 0x00][..]));
        assert_eq!(h.ran, 1, "GET RESPONSE runs nothing again");
        // A command that executed nothing may still answer 6Cxx.
        assert_eq!(l.process(&[0x00, 0xCA, 0x00, 0x20, 0x10], &mut h), vec![0x6C, 0x20]);
    }

    #[test]
    fn long_response_uses_6100_then_exact_remainder() {
        let mut l = IsoLayer::default();
        // 600 bytes with Le = 00 (256).
        let r = run(&mut l, &[0x00, 0xCA, 0x02, 0x58, 0x00]);
        assert_eq!(r.len(), 258);
        assert_eq!(&r[256..], &[0x61, 0x00]); // 344 left: 6100
        let r = run(&mut l, &[0x00, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!(&r[256..], &[0x61, 0x58]); // 88 left
        let r = run(&mut l, &[0x00, 0xC0, 0x00, 0x00, 0x58]);
        assert_eq!(r.len(), 90);
        assert_eq!(&r[88..], &[0x90, 0x00]);
        assert!(!l.response_pending());
    }

    #[test]
    fn wrong_le_gets_6cxx() {
        let mut l = IsoLayer::default();
        let r = run(&mut l, &[0x00, 0xCA, 0x00, 0x20, 0x10]);
        assert_eq!(r, vec![0x6C, 0x20]);
    }

    #[test]
    fn other_command_drops_pending_response() {
        let mut l = IsoLayer::default();
        run(&mut l, &[0x00, 0xCA, 0x02, 0x00, 0x00]);
        assert!(l.response_pending());
        run(&mut l, &[0x00, 0xCA, 0x00, 0x01, 0x00]);
        assert!(!l.response_pending());
        assert_eq!(run(&mut l, &[0x00, 0xC0, 0x00, 0x00, 0x00]), vec![0x69, 0x85]);
    }

    #[test]
    fn chain_assembles_and_rejects_interleaving() {
        let mut l = IsoLayer::default();
        assert_eq!(run(&mut l, &[0x90, 0x62, 0, 0, 2, 1, 2]), vec![0x90, 0x00]);
        assert_eq!(run(&mut l, &[0x80, 0x62, 0, 0, 1, 3, 0]), vec![1, 2, 3, 0x90, 0x00]);
        assert_eq!(run(&mut l, &[0x90, 0x62, 0, 0, 1, 9]), vec![0x90, 0x00]);
        assert_eq!(run(&mut l, &[0x00, 0xCA, 0, 1, 0]), vec![0x68, 0x83]);
        assert!(!l.chain_open());
        // P1 change mid-chain.
        run(&mut l, &[0x90, 0x62, 0, 0, 1, 9]);
        assert_eq!(run(&mut l, &[0x80, 0x62, 1, 0, 1, 9]), vec![0x68, 0x83]);
        assert!(!l.chain_open());
    }

    #[test]
    fn chain_overflow_clears_buffer() {
        let mut l = IsoLayer::default();
        let mut big = vec![0x90, 0x62, 0, 0, 0, 0x10, 0x00];
        big.extend(core::iter::repeat_n(0xAA, 4096));
        assert_eq!(run(&mut l, &big), vec![0x90, 0x00]);
        assert_eq!(run(&mut l, &big), vec![0x90, 0x00]);
        assert_eq!(run(&mut l, &[0x90, 0x62, 0, 0, 1, 1]), vec![0x6A, 0x84]);
        assert!(!l.chain_open());
        // A fresh command afterwards sees none of the old bytes.
        assert_eq!(run(&mut l, &[0x80, 0x62, 0, 0, 1, 7, 0]), vec![7, 0x90, 0x00]);
    }

    #[test]
    fn cla_checks() {
        let mut l = IsoLayer::default();
        assert_eq!(run(&mut l, &[0x01, 0xCA, 0, 1, 0]), vec![0x68, 0x81]);
        assert_eq!(run(&mut l, &[0x0C, 0xCA, 0, 1, 0]), vec![0x68, 0x82]);
        assert_eq!(run(&mut l, &[0xFF, 0xCA, 0, 1, 0]), vec![0x6E, 0x00]);
        assert_eq!(run(&mut l, &[0x80, 0xCA, 0, 1, 0]), vec![0x6E, 0x00]);
        assert_eq!(run(&mut l, &[0x00, 0x01, 0, 1, 0]), vec![0x6D, 0x00]);
        assert_eq!(run(&mut l, &[0x00, 0xCA, 0]), vec![0x67, 0x00]);
        assert_eq!(run(&mut l, &[0x90, 0xCA, 0, 1, 0]), vec![0x6E, 0x00]);
        assert_eq!(run(&mut l, &[0x10, 0xCA, 0, 1, 0]), vec![0x68, 0x84]);
    }

    #[test]
    fn extended_length_round_trip() {
        let mut l = IsoLayer::default();
        let mut apdu = vec![0x80, 0x62, 0, 0, 0, 0x01, 0x2C];
        apdu.extend(core::iter::repeat_n(0x55, 300));
        apdu.extend([0x00, 0x00]);
        let r = run(&mut l, &apdu);
        assert_eq!(r.len(), 302);
        assert_eq!(&r[300..], &[0x90, 0x00]);
    }
}
