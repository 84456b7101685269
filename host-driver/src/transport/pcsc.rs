//! PC/SC transport (crate `pcsc`, pcsc-lite on Linux). Each [`CardTransaction`]
//! is one `SCardBeginTransaction` scope. Buffers are sized for extended
//! APDUs.
//!
//! Session end: a connection that has sent anything ends its host session
//! when it is dropped (or explicitly, [`Transport::end_session`]): inside a
//! transaction of its own, so after any other client's transaction, it
//! sends a logout (VERIFY FF 81) and reconnects with `SCARD_RESET_CARD`,
//! and the next client finds the card unverified and unselected. A [`CardTransaction::end_session`] does the same
//! before its transaction ends, so the verified state never exists outside a
//! transaction this process holds.
//!
//! A client that dies without ending its session (SIGKILL): pcsc-lite
//! (`MSGRemoveContext`) resets the card for it only when the dead client held
//! the transaction at that moment, and otherwise disconnects with
//! `SCARD_LEAVE_CARD`. A verified state kept between transactions would
//! survive such a death, which is why the CLI verifies, works and ends the
//! session within one transaction.

use super::{CardTransaction, Transport, TransportError, session_state_is_gone};
use apdu_specs::commands::{CLA_ISO, ins, reference};
use pcsc::{Card, Context, Disposition, Error as PcscError, MAX_BUFFER_SIZE_EXTENDED, Protocols, Scope, ShareMode};
use std::ffi::CString;

/// VERIFY FF 81: drops the PIN verification.
const LOGOUT: [u8; 4] = [CLA_ISO, ins::VERIFY, 0xFF, reference::PIN];

/// Maps a PC/SC error to a transport error.
pub fn map_error(e: PcscError) -> TransportError {
    match e {
        PcscError::NoReadersAvailable | PcscError::NoService | PcscError::ServiceStopped => TransportError::NoReader,
        PcscError::UnknownReader | PcscError::ReaderUnavailable => TransportError::ReaderNotFound(e.to_string()),
        PcscError::NoSmartcard | PcscError::UnpoweredCard => TransportError::CardAbsent,
        PcscError::RemovedCard => TransportError::CardRemoved,
        PcscError::SharingViolation => TransportError::Busy,
        PcscError::ResetCard => TransportError::CardReset,
        PcscError::Timeout => TransportError::Timeout,
        other => TransportError::Other(other.to_string()),
    }
}

/// Lists the names of the connected readers.
pub fn list_readers() -> Result<Vec<String>, TransportError> {
    let ctx = Context::establish(Scope::User).map_err(map_error)?;
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names.into_iter().map(|n| n.to_string_lossy().into_owned()).collect()),
        Err(PcscError::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_error(e)),
    }
}

/// A card connection through PC/SC.
pub struct PcscTransport {
    ctx: Context,
    card: Option<Card>,
    reader: CString,
    mode: ShareMode,
    buf: Vec<u8>,
    /// A transaction began since the session was last ended.
    session_open: bool,
}

impl PcscTransport {
    /// Connects to the card in `reader` (shared unless `exclusive`).
    pub fn connect(reader: &str, exclusive: bool) -> Result<Self, TransportError> {
        let ctx = Context::establish(Scope::User).map_err(map_error)?;
        let readers = list_readers()?;
        if readers.is_empty() {
            return Err(TransportError::NoReader);
        }
        if !readers.iter().any(|r| r == reader) {
            return Err(TransportError::ReaderNotFound(reader.to_owned()));
        }
        let reader = CString::new(reader).map_err(|_| TransportError::ReaderNotFound(reader.to_owned()))?;
        let mode = if exclusive { ShareMode::Exclusive } else { ShareMode::Shared };
        let card = ctx.connect(&reader, mode, Protocols::ANY).map_err(map_error)?;
        Ok(Self { ctx, card: Some(card), reader, mode, buf: vec![0u8; MAX_BUFFER_SIZE_EXTENDED], session_open: false })
    }

    /// The reader name.
    pub fn reader(&self) -> String {
        self.reader.to_string_lossy().into_owned()
    }
}

impl Drop for PcscTransport {
    /// Ends the session (logout and reset) if one is open, then disconnects.
    fn drop(&mut self) {
        if self.session_open
            && let Err(e) = self.end_session()
        {
            tracing::warn!(reader = %self.reader(), "could not end the card session: {e}");
        }
        if let Some(card) = self.card.take()
            && let Err((_, e)) = card.disconnect(Disposition::LeaveCard)
        {
            tracing::debug!(reader = %self.reader(), "disconnect: {e}");
        }
    }
}

/// One `SCardBeginTransaction` scope.
pub struct PcscTransaction<'a> {
    tx: pcsc::Transaction<'a>,
    buf: &'a mut [u8],
    mode: ShareMode,
    session_open: &'a mut bool,
}

impl Transport for PcscTransport {
    type CardTransaction<'a> = PcscTransaction<'a>;

    fn begin(&mut self) -> Result<PcscTransaction<'_>, TransportError> {
        let card = self.card.as_mut().ok_or(TransportError::CardRemoved)?;
        let tx = card.transaction2().map_err(|(_, e)| map_error(e))?;
        self.session_open = true;
        Ok(PcscTransaction { tx, buf: &mut self.buf, mode: self.mode, session_open: &mut self.session_open })
    }

    fn reconnect(&mut self) -> Result<(), TransportError> {
        if let Some(card) = self.card.as_mut()
            && card.reconnect(self.mode, Protocols::ANY, Disposition::LeaveCard).is_ok()
        {
            return Ok(());
        }
        // The old handle is gone (card removed): connect anew.
        if let Some(card) = self.card.take() {
            let _ = card.disconnect(Disposition::LeaveCard);
        }
        self.card = Some(self.ctx.connect(&self.reader, self.mode, Protocols::ANY).map_err(map_error)?);
        Ok(())
    }

    fn reader_name(&self) -> String {
        self.reader()
    }

    fn end_session(&mut self) -> Result<(), TransportError> {
        let e = match self.begin() {
            Ok(tx) => return tx.end_session(),
            Err(e) => e,
        };
        if !session_state_is_gone(&e) {
            return Err(e);
        }
        self.session_open = false;
        Ok(())
    }
}

impl CardTransaction for PcscTransaction<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.tx.transmit(capdu, self.buf).map(<[u8]>::to_vec).map_err(map_error)
    }

    /// A logout (VERIFY FF 81), then `SCardReconnect(SCARD_RESET_CARD)`
    /// while the transaction still holds the card, then
    /// `SCardEndTransaction`. A card that no longer answers the logout is not
    /// reset: it is gone (a reset of a vanished card can leave the reader
    /// unusable), and it keeps nothing of the session.
    fn end_session(mut self) -> Result<(), TransportError> {
        self.transmit(&LOGOUT)?;
        self.tx.reconnect(self.mode, Protocols::ANY, Disposition::ResetCard).map_err(map_error)?;
        *self.session_open = false;
        if let Err((_, e)) = self.tx.end(Disposition::LeaveCard) {
            tracing::debug!("end of transaction after the reset: {e}");
        }
        Ok(())
    }
}

/// A reader and what SELECT found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// Reader name.
    pub reader: String,
    /// The meter's FCI, when a meter answered SELECT.
    pub meter: Option<apdu_specs::fci::Fci>,
    /// Why the reader could not be probed, if it could not.
    pub error: Option<String>,
}

/// Lists readers and SELECTs the meter application in each.
pub fn survey() -> Result<Vec<ReaderInfo>, TransportError> {
    Ok(list_readers()?
        .into_iter()
        .map(|reader| match PcscTransport::connect(&reader, false) {
            Ok(t) => match crate::Meter::connect(t) {
                Ok(m) => ReaderInfo { reader, meter: m.fci().cloned(), error: None },
                Err(e) => ReaderInfo { reader, meter: None, error: Some(e.to_string()) },
            },
            Err(e) => ReaderInfo { reader, meter: None, error: Some(e.to_string()) },
        })
        .collect())
}

/// Opens the meter in `reader`, or the one whose meter ID is `meter_id`, or
/// the only meter present.
pub fn open_meter(
    reader: Option<&str>,
    meter_id: Option<&str>,
) -> Result<crate::Meter<PcscTransport>, crate::MeterError> {
    if let Some(name) = reader {
        return crate::Meter::connect(PcscTransport::connect(name, false)?);
    }
    let wanted = |info: &ReaderInfo| {
        let id =
            info.meter.as_ref().and_then(|f| f.meter_id).map(|id| String::from_utf8_lossy(&id).trim_end().to_owned());
        match (meter_id, id) {
            (Some(want), Some(id)) => want == id,
            (None, _) => info.meter.is_some(),
            _ => false,
        }
    };
    let found: Vec<ReaderInfo> = survey()?.into_iter().filter(wanted).collect();
    match found.as_slice() {
        [one] => crate::Meter::connect(PcscTransport::connect(&one.reader, false)?),
        [] => Err(TransportError::ReaderNotFound(
            meter_id.map_or("no reader holds a meter".into(), |m| format!("no reader holds meter {m}")),
        )
        .into()),
        _ => {
            Err(TransportError::Other("several meters are present: choose one with --reader or --meter-id".into())
                .into())
        }
    }
}
