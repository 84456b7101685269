//! The File Control Information returned by SELECT:
//!
//! ```text
//! 6F L
//!    84 L AID
//!    A5 L                       -- proprietary information
//!       80 02 major minor       -- applet version
//!       81 0C meter ID          -- absent before personalization
//!       82 01 LCS               -- lifecycle (see Lifecycle)
//!       83 02 max command data  -- largest command data field, after chaining
//!       84 04 max response data -- largest response the card will serve
//!       85 08 card serial       -- set at manufacture; a profile must name it
//! ```

use crate::codec::FormatError;
use crate::lifecycle::Lifecycle;
use crate::perso::CardSerial;
use crate::tlv;
use alloc::vec::Vec;

/// Decoded FCI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fci {
    /// Application identifier.
    pub aid: Vec<u8>,
    /// Applet version (major, minor).
    pub version: (u8, u8),
    /// Meter ID once personalized.
    pub meter_id: Option<[u8; 12]>,
    /// Lifecycle state.
    pub lifecycle: Lifecycle,
    /// Largest command data field accepted (after chaining).
    pub max_command_data: u16,
    /// Largest response served (through GET RESPONSE if needed).
    pub max_response_data: u32,
    /// Serial set at manufacture, which a personalization profile must name.
    pub card_serial: CardSerial,
}

impl Fci {
    /// Encodes the FCI template.
    pub fn encode(&self) -> Vec<u8> {
        let mut prop = Vec::new();
        tlv::put(&mut prop, 0x80, &[self.version.0, self.version.1]);
        if let Some(id) = &self.meter_id {
            tlv::put(&mut prop, 0x81, id);
        }
        tlv::put(&mut prop, 0x82, &[self.lifecycle.byte()]);
        tlv::put(&mut prop, 0x83, &self.max_command_data.to_be_bytes());
        tlv::put(&mut prop, 0x84, &self.max_response_data.to_be_bytes());
        tlv::put(&mut prop, 0x85, &self.card_serial.0);
        let mut inner = Vec::new();
        tlv::put(&mut inner, 0x84, &self.aid);
        tlv::put(&mut inner, 0xA5, &prop);
        tlv::encode(0x6F, &inner)
    }

    /// Decodes the FCI template.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let inner = tlv::find(bytes, 0x6F).ok_or(FormatError::Missing("FCI template"))?;
        let aid = tlv::find(inner, 0x84).ok_or(FormatError::Missing("AID"))?.to_vec();
        let prop = tlv::find(inner, 0xA5).ok_or(FormatError::Missing("proprietary FCI"))?;
        let version = match tlv::find(prop, 0x80) {
            Some([a, b]) => (*a, *b),
            _ => return Err(FormatError::Missing("version")),
        };
        let meter_id = match tlv::find(prop, 0x81) {
            Some(id) => Some(id.try_into().map_err(|_| FormatError::Invalid("meter ID"))?),
            None => None,
        };
        let lifecycle = match tlv::find(prop, 0x82) {
            Some([b]) => Lifecycle::from_byte(*b)?,
            _ => return Err(FormatError::Missing("lifecycle")),
        };
        let max_command_data = match tlv::find(prop, 0x83) {
            Some([a, b]) => u16::from_be_bytes([*a, *b]),
            _ => return Err(FormatError::Missing("max command data")),
        };
        let max_response_data = match tlv::find(prop, 0x84) {
            Some([a, b, c, d]) => u32::from_be_bytes([*a, *b, *c, *d]),
            _ => return Err(FormatError::Missing("max response data")),
        };
        let card_serial = match tlv::find(prop, 0x85) {
            Some(s) => CardSerial(s.try_into().map_err(|_| FormatError::Invalid("card serial"))?),
            None => return Err(FormatError::Missing("card serial")),
        };
        Ok(Self { aid, version, meter_id, lifecycle, max_command_data, max_response_data, card_serial })
    }
}
