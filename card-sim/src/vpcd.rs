//! The card side of vsmartcard's vpcd protocol: the card connects to the
//! vpcd driver inside pcscd (TCP, default 127.0.0.1:35963) and answers its
//! frames, so any PC/SC application sees it as a card in "Virtual PCD 00 00".
//!
//! A frame is a 2-byte big-endian length and a payload. A 1-byte payload is
//! a control code: `00` power off, `01` power on, `02` reset (no reply), `04`
//! send the ATR. Anything else is a C-APDU, answered with the R-APDU.
//!
//! vpcd writes length and payload as two segments without TCP_NODELAY; a
//! card that does not re-arm TCP_QUICKACK before every read delays each ACK
//! and each APDU costs about 44 ms. [`serve`] re-arms it before every read.

use crate::sim::{SimCard, atr};
use card_core::platform::Store;
use socket2::SockRef;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The default vpcd address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";
/// Poll interval while waiting for a frame (bounds shutdown latency).
const POLL: Duration = Duration::from_millis(100);
/// Longest wait for the rest of a frame once it has started.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// What a card behind vpcd must do.
pub trait VirtualCard {
    /// Power on (cold reset).
    fn power_on(&mut self);
    /// Power off.
    fn power_off(&mut self);
    /// Warm reset.
    fn reset(&mut self);
    /// The ATR.
    fn atr(&self) -> Vec<u8>;
    /// Answers one C-APDU.
    fn apdu(&mut self, capdu: &[u8]) -> Vec<u8>;
}

impl<S: Store> VirtualCard for SimCard<S> {
    fn power_on(&mut self) {
        if let Err(e) = SimCard::power_on(self) {
            tracing::error!(error = %e, "card failed to power on");
        }
    }
    fn power_off(&mut self) {
        SimCard::power_off(self);
    }
    fn reset(&mut self) {
        if !self.is_powered() {
            VirtualCard::power_on(self);
        }
        let _ = SimCard::reset(self);
    }
    fn atr(&self) -> Vec<u8> {
        atr()
    }
    fn apdu(&mut self, capdu: &[u8]) -> Vec<u8> {
        // A card without power does not answer; vpcd needs a frame, so send "no precise diagnosis".
        self.transmit(capdu).unwrap_or_else(|_| vec![0x6F, 0x00])
    }
}

/// The baseline card for benchmarks: answers every APDU with Ne zero bytes
/// (Le `00` = 256, extended `0000` = 65536) and `9000`, with no logic at all.
#[derive(Debug, Default)]
pub struct EchoCard;

impl VirtualCard for EchoCard {
    fn power_on(&mut self) {}
    fn power_off(&mut self) {}
    fn reset(&mut self) {}
    fn atr(&self) -> Vec<u8> {
        atr()
    }
    fn apdu(&mut self, capdu: &[u8]) -> Vec<u8> {
        let ne = iso7816::command::CommandView::try_from(capdu).map(|v| v.expected()).unwrap_or(0);
        let mut r = vec![0u8; ne];
        r.extend_from_slice(&[0x90, 0x00]);
        r
    }
}

/// A card served while its owner keeps a handle to it (benchmarks, tests).
#[derive(Debug)]
pub struct Shared<C>(pub std::sync::Arc<std::sync::Mutex<C>>);

impl<C: VirtualCard> Shared<C> {
    fn with<R>(&self, f: impl FnOnce(&mut C) -> R) -> Option<R> {
        self.0.lock().ok().map(|mut c| f(&mut c))
    }
}

impl<C: VirtualCard> VirtualCard for Shared<C> {
    fn power_on(&mut self) {
        self.with(|c| c.power_on());
    }
    fn power_off(&mut self) {
        self.with(|c| c.power_off());
    }
    fn reset(&mut self) {
        self.with(|c| c.reset());
    }
    fn atr(&self) -> Vec<u8> {
        self.with(|c| c.atr()).unwrap_or_default()
    }
    fn apdu(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.with(|c| c.apdu(capdu)).unwrap_or_else(|| vec![0x6F, 0x00])
    }
}

/// Controls shared with a running [`serve`] loop.
#[derive(Debug, Clone, Default)]
pub struct Control {
    stop: Arc<AtomicBool>,
    removed: Arc<AtomicBool>,
    sessions: Arc<AtomicU64>,
}

impl Control {
    /// Asks the loop to end.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
    /// The stop flag (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
    /// Takes the card out of the reader (closes the vpcd connection).
    pub fn remove(&self) {
        self.removed.store(true, Ordering::SeqCst);
    }
    /// Puts the card back.
    pub fn insert(&self) {
        self.removed.store(false, Ordering::SeqCst);
    }
    /// Number of vpcd connections made so far.
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::SeqCst)
    }
}

/// Why a vpcd session ended.
#[derive(Debug, thiserror::Error)]
pub enum VpcdError {
    /// The address does not resolve.
    #[error("bad vpcd address {0}")]
    Address(String),
    /// I/O error on the connection.
    #[error("vpcd connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent a frame that breaks the protocol.
    #[error("malformed vpcd frame: {0}")]
    Protocol(&'static str),
}

/// One decoded frame from vpcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Power off.
    PowerOff,
    /// Power on.
    PowerOn,
    /// Reset.
    Reset,
    /// ATR request.
    Atr,
    /// A C-APDU.
    Apdu(Vec<u8>),
}

impl Frame {
    /// Decodes a payload.
    pub fn decode(payload: Vec<u8>) -> Result<Self, VpcdError> {
        match payload.as_slice() {
            [] => Err(VpcdError::Protocol("empty frame")),
            [0x00] => Ok(Self::PowerOff),
            [0x01] => Ok(Self::PowerOn),
            [0x02] => Ok(Self::Reset),
            [0x04] => Ok(Self::Atr),
            [_] => Err(VpcdError::Protocol("unknown control code")),
            _ => Ok(Self::Apdu(payload)),
        }
    }
}

/// Reads one whole frame from any reader (used on the rest of a frame once it
/// has started, and by the fuzz target on arbitrary bytes).
pub fn read_frame_from(r: &mut impl Read) -> Result<Frame, VpcdError> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len)?;
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut payload)?;
    Frame::decode(payload)
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> Result<(), VpcdError> {
    let len = u16::try_from(payload.len()).map_err(|_| VpcdError::Protocol("response longer than 65535 bytes"))?;
    let mut buf = Vec::with_capacity(payload.len() + 2);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf)?;
    Ok(())
}

/// Handles one frame; returns the reply to send, if any.
pub fn handle<C: VirtualCard>(card: &mut C, frame: Frame) -> Option<Vec<u8>> {
    match frame {
        Frame::PowerOff => {
            tracing::debug!("vpcd: power off");
            card.power_off();
            None
        }
        Frame::PowerOn => {
            tracing::debug!("vpcd: power on");
            card.power_on();
            None
        }
        Frame::Reset => {
            tracing::debug!("vpcd: reset");
            card.reset();
            None
        }
        Frame::Atr => Some(card.atr()),
        Frame::Apdu(capdu) => Some(card.apdu(&capdu)),
    }
}

/// Reads one frame. `Ok(None)` means no frame started within the poll interval.
fn read_frame(stream: &mut TcpStream) -> Result<Option<Frame>, VpcdError> {
    // Re-arm quick ACKs before every read: the kernel clears the flag.
    SockRef::from(&*stream).set_tcp_quickack(true)?;
    let mut len = [0u8; 2];
    match stream.read(&mut len[..1]) {
        Ok(0) => {
            return Err(VpcdError::Io(std::io::Error::new(ErrorKind::UnexpectedEof, "vpcd closed the connection")));
        }
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    }
    stream.set_read_timeout(Some(FRAME_TIMEOUT))?;
    SockRef::from(&*stream).set_tcp_quickack(true)?;
    stream.read_exact(&mut len[1..])?;
    let n = usize::from(u16::from_be_bytes(len));
    let mut payload = vec![0u8; n];
    if n > 0 {
        SockRef::from(&*stream).set_tcp_quickack(true)?;
        stream.read_exact(&mut payload)?;
    }
    stream.set_read_timeout(Some(POLL))?;
    Frame::decode(payload).map(Some)
}

fn session<C: VirtualCard>(card: &mut C, stream: &mut TcpStream, control: &Control) -> Result<(), VpcdError> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    loop {
        if control.stop.load(Ordering::SeqCst) || control.removed.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(frame) = read_frame(stream)?
            && let Some(reply) = handle(card, frame)
        {
            write_frame(stream, &reply)?;
        }
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, VpcdError> {
    addr.to_socket_addrs()
        .map_err(|_| VpcdError::Address(addr.to_owned()))?
        .next()
        .ok_or_else(|| VpcdError::Address(addr.to_owned()))
}

/// Serves `card` to vpcd at `addr` until [`Control::stop`]. Reconnects when
/// pcscd restarts or the connection drops; a removed card powers off, and a
/// card (re)inserted powers on.
pub fn serve<C: VirtualCard>(card: &mut C, addr: &str, control: &Control) -> Result<(), VpcdError> {
    let target = resolve(addr)?;
    let mut backoff = Duration::from_millis(50);
    while !control.stop.load(Ordering::SeqCst) {
        if control.removed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
            Ok(mut stream) => {
                backoff = Duration::from_millis(50);
                control.sessions.fetch_add(1, Ordering::SeqCst);
                tracing::info!(%target, "connected to vpcd: card inserted");
                // A card put in a reader is powered by it. vpcd sends no power-on
                // when it takes a card back after dropping its connection (for
                // example an APDU too long for a frame), and pcscd sends none
                // when it never polled the reader while the card was out: it
                // still believes the card powered. The card powers on (a cold
                // reset: no session survives the drop) so that it answers at once.
                card.power_on();
                let result = session(card, &mut stream, control);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                card.power_off();
                match result {
                    Ok(()) => tracing::info!("card removed from the reader"),
                    Err(e) => tracing::warn!(error = %e, "vpcd session ended; reconnecting"),
                }
            }
            Err(e) => {
                tracing::debug!(%target, error = %e, "vpcd not reachable; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_and_reject_malformed_ones() {
        assert_eq!(Frame::decode(vec![0]).unwrap(), Frame::PowerOff);
        assert_eq!(Frame::decode(vec![4]).unwrap(), Frame::Atr);
        assert!(Frame::decode(vec![]).is_err());
        assert!(Frame::decode(vec![9]).is_err());
        assert_eq!(Frame::decode(vec![0, 0xA4, 4, 0]).unwrap(), Frame::Apdu(vec![0, 0xA4, 4, 0]));
    }

    #[test]
    fn echo_card_returns_ne_bytes() {
        let mut e = EchoCard;
        assert_eq!(e.apdu(&[0x80, 0x01, 0, 0, 0x00]).len(), 258);
        assert_eq!(e.apdu(&[0x80, 0x01, 0, 0]).len(), 2);
        assert_eq!(e.apdu(&[0x80, 0x01, 0, 0, 0x00, 0x10, 0x00]).len(), 4098);
    }

    /// Answers `9000` when powered and `6F00` (mute) when not.
    #[derive(Default)]
    struct PowerProbe {
        powered: bool,
    }

    impl VirtualCard for PowerProbe {
        fn power_on(&mut self) {
            self.powered = true;
        }
        fn power_off(&mut self) {
            self.powered = false;
        }
        fn reset(&mut self) {}
        fn atr(&self) -> Vec<u8> {
            atr()
        }
        fn apdu(&mut self, _capdu: &[u8]) -> Vec<u8> {
            if self.powered { vec![0x90, 0x00] } else { vec![0x6F, 0x00] }
        }
    }

    /// What vpcd does: ask for the ATR (its presence check), then send an APDU.
    fn presence_then_select(stream: &mut TcpStream, power_on_first: bool) -> Vec<u8> {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write_frame(stream, &[0x04]).unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut atr = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut atr).unwrap();
        if power_on_first {
            write_frame(stream, &[0x01]).unwrap();
        }
        write_frame(stream, &[0x00, 0xA4, 0x04, 0x00, 0x00]).unwrap();
        stream.read_exact(&mut len).unwrap();
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut answer).unwrap();
        answer
    }

    /// vpcd drops the card's connection (an APDU too long for a frame) and
    /// takes it back at its next presence poll; pcscd, which never saw the
    /// card leave, sends no power-on. The card must answer, not stay mute.
    #[test]
    fn a_card_taken_back_by_vpcd_answers_without_a_new_power_on() {
        let vpcd = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = vpcd.local_addr().unwrap().to_string();
        let control = Control::default();
        let stopper = control.clone();
        let server = std::thread::spawn(move || serve(&mut PowerProbe::default(), &addr, &control));
        let (mut first, _) = vpcd.accept().unwrap();
        assert_eq!(presence_then_select(&mut first, true), [0x90, 0x00]);
        drop(first);
        let (mut second, _) = vpcd.accept().unwrap();
        assert_eq!(presence_then_select(&mut second, false), [0x90, 0x00], "the card came back mute");
        stopper.stop();
        drop(second);
        assert!(server.join().unwrap().is_ok());
    }

    #[test]
    fn a_dead_port_is_retried_until_stopped() {
        let control = Control::default();
        let stopper = control.clone();
        let t = std::thread::spawn(move || {
            let mut card = EchoCard;
            serve(&mut card, "127.0.0.1:9", &control)
        });
        std::thread::sleep(Duration::from_millis(300));
        stopper.stop();
        assert!(t.join().unwrap().is_ok());
    }
}
