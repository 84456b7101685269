//! A scripted card for host tests: a transport that records every C-APDU it
//! is given and answers each with a function of the C-APDU, so a test can
//! play a card that misbehaves in one precise way.

use host_driver::transport::{CardTransaction, Transport, TransportError};
use std::sync::{Arc, Mutex};

/// How the scripted card answers one C-APDU: the raw R-APDU (data and SW),
/// or a transport failure.
pub type Answer = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, TransportError> + Send>;

/// A transport to a scripted card.
pub struct ScriptedCard {
    answer: Answer,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    sessions_ended: Arc<Mutex<u32>>,
}

/// What the card was sent, readable after the transport moved into a `Meter`.
#[derive(Clone, Default)]
pub struct Log {
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    sessions_ended: Arc<Mutex<u32>>,
}

impl Log {
    /// Every C-APDU sent, in order.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The C-APDUs sent with instruction byte `ins`.
    pub fn sent_with_ins(&self, ins: u8) -> usize {
        self.sent().iter().filter(|a| a.get(1) == Some(&ins)).count()
    }

    /// How many times a host session was ended on this transport.
    pub fn sessions_ended(&self) -> u32 {
        self.sessions_ended.lock().map(|n| *n).unwrap_or(0)
    }
}

impl ScriptedCard {
    /// A card answering with `answer`, and the log of what it was sent.
    pub fn new(answer: impl FnMut(&[u8]) -> Result<Vec<u8>, TransportError> + Send + 'static) -> (Self, Log) {
        let log = Log::default();
        let card = Self {
            answer: Box::new(answer),
            sent: Arc::clone(&log.sent),
            sessions_ended: Arc::clone(&log.sessions_ended),
        };
        (card, log)
    }
}

/// One transaction on the scripted card.
pub struct ScriptedTx<'a>(&'a mut ScriptedCard);

impl Transport for ScriptedCard {
    type CardTransaction<'a> = ScriptedTx<'a>;

    fn begin(&mut self) -> Result<ScriptedTx<'_>, TransportError> {
        Ok(ScriptedTx(self))
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    fn reader_name(&self) -> String {
        String::from("scripted card")
    }
}

impl CardTransaction for ScriptedTx<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if let Ok(mut sent) = self.0.sent.lock() {
            sent.push(capdu.to_vec());
        }
        (self.0.answer)(capdu)
    }

    fn end_session(self) -> Result<(), TransportError> {
        if let Ok(mut n) = self.0.sessions_ended.lock() {
            *n += 1;
        }
        Ok(())
    }
}
