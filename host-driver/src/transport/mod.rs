//! Byte-level transports. A [`Transport`] yields a borrow-scoped
//! [`Transaction`]: while it lives, no other client's APDU reaches the card
//! (PC/SC `SCardBeginTransaction`; a mutex in process).
//!
//! The PIN-verified state belongs to one host session. Ending the session
//! ([`Transaction::end_session`], [`Transport::end_session`]) resets the
//! card before any other client can reach it, so the next client starts
//! unverified and unselected.

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

    /// Ends the host session: waits for a transaction, then resets the card
    /// inside it. A card that was reset, removed or powered off since this
    /// session last used it keeps nothing of the session, so that is a
    /// success too.
    fn end_session(&mut self) -> Result<(), TransportError> {
        match self.begin() {
            Ok(tx) => tx.end_session(),
            Err(e) if session_state_is_gone(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// True when `e` says the card lost its volatile state (PIN verification,
/// selection) since the session last used it.
pub fn session_state_is_gone(e: &TransportError) -> bool {
    matches!(e, TransportError::CardReset | TransportError::CardRemoved | TransportError::CardAbsent)
}

/// An exclusive span of exchanges with the card.
pub trait Transaction {
    /// Sends one C-APDU and returns the raw R-APDU (data and SW).
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Ends the transaction and the host session together: the card is
    /// reset while this transaction still excludes every other client, so
    /// none of them ever sees this session's verified state.
    fn end_session(self) -> Result<(), TransportError>
    where
        Self: Sized;
}
