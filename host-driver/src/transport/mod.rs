//! Byte-level transports. A [`Transport`] yields a borrow-scoped
//! [`Transaction`]: while it lives, no other client's APDU reaches the card
//! (PC/SC `SCardBeginTransaction`; a mutex in process).

pub mod in_process;
pub mod pcsc;

/// Transport failures, told apart so that callers can react correctly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No reader is connected.
    #[error("no reader connected")]
    NoReader,
    /// No reader has that name.
    #[error("reader not found: {0}")]
    ReaderNotFound(String),
    /// The reader holds no card.
    #[error("no card in the reader")]
    CardAbsent,
    /// The card was removed (or powered off) during the session.
    #[error("the card was removed")]
    CardRemoved,
    /// Another client holds the card exclusively.
    #[error("the card is in use by another client")]
    Busy,
    /// The card was reset by someone else: volatile state (PIN) is lost.
    #[error("the card was reset")]
    CardReset,
    /// The reader did not answer in time.
    #[error("timeout")]
    Timeout,
    /// Any other reader-level failure.
    #[error("reader error: {0}")]
    Other(String),
}

/// A card connection.
pub trait Transport {
    /// The transaction type.
    type Transaction<'a>: Transaction
    where
        Self: 'a;

    /// Starts an exclusive transaction.
    fn begin(&mut self) -> Result<Self::Transaction<'_>, TransportError>;

    /// Re-establishes the connection after a reset or removal.
    fn reconnect(&mut self) -> Result<(), TransportError>;

    /// Human-readable name of the reader.
    fn reader_name(&self) -> String;
}

/// An exclusive span of exchanges with the card.
pub trait Transaction {
    /// Sends one C-APDU and returns the raw R-APDU (data and SW).
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError>;
}
