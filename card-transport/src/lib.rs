//! # PCMeter card transport
//!
//! Byte-level transports. A [`Transport`] yields a borrow-scoped
//! [`CardTransaction`]: while it lives, no other client's APDU reaches the
//! card (PC/SC `SCardBeginTransaction`; a mutex in process).
//!
//! The PIN-verified state belongs to one host session. Ending the session
//! ([`CardTransaction::end_session`], [`Transport::end_session`]) resets the
//! card before any other client can reach it, so the next client starts
//! unverified and unselected.
//!
//! This crate is the only thing the host driver and the simulator share:
//! the host implements it for PC/SC, the simulator for its in-process card.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
    type CardTransaction<'a>: CardTransaction
    where
        Self: 'a;

    /// Starts an exclusive transaction.
    fn begin(&mut self) -> Result<Self::CardTransaction<'_>, TransportError>;

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
pub trait CardTransaction {
    /// Sends one C-APDU and returns the raw R-APDU (data and SW).
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Ends the transaction and the host session together: the card is
    /// reset while this transaction still excludes every other client, so
    /// none of them ever sees this session's verified state.
    fn end_session(self) -> Result<(), TransportError>
    where
        Self: Sized;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport whose `begin` answers with a fixed result, counting the
    /// sessions its transactions ended.
    struct Scripted {
        begin: Result<(), TransportError>,
        ended: u32,
    }

    struct ScriptedTransaction<'a>(&'a mut u32);

    impl CardTransaction for ScriptedTransaction<'_> {
        fn transmit(&mut self, _capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            Ok(vec![0x90, 0x00])
        }

        fn end_session(self) -> Result<(), TransportError> {
            *self.0 += 1;
            Ok(())
        }
    }

    impl Transport for Scripted {
        type CardTransaction<'a> = ScriptedTransaction<'a>;

        fn begin(&mut self) -> Result<ScriptedTransaction<'_>, TransportError> {
            self.begin.clone().map(|()| ScriptedTransaction(&mut self.ended))
        }

        fn reconnect(&mut self) -> Result<(), TransportError> {
            Ok(())
        }

        fn reader_name(&self) -> String {
            String::from("scripted")
        }
    }

    #[test]
    fn end_session_resets_inside_a_transaction() {
        let mut t = Scripted { begin: Ok(()), ended: 0 };
        assert_eq!(t.end_session(), Ok(()));
        assert_eq!(t.ended, 1);
    }

    #[test]
    fn end_session_succeeds_when_the_card_already_lost_the_session() {
        for gone in [TransportError::CardReset, TransportError::CardRemoved, TransportError::CardAbsent] {
            assert!(session_state_is_gone(&gone));
            let mut t = Scripted { begin: Err(gone), ended: 0 };
            assert_eq!(t.end_session(), Ok(()));
            assert_eq!(t.ended, 0);
        }
    }

    #[test]
    fn end_session_reports_a_card_it_could_not_reach() {
        for kept in [TransportError::Busy, TransportError::Timeout, TransportError::NoReader] {
            assert!(!session_state_is_gone(&kept));
            let mut t = Scripted { begin: Err(kept.clone()), ended: 0 };
            assert_eq!(t.end_session(), Err(kept));
        }
    }
}
