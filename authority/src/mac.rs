//! The indicium MAC master key and per-meter diversification (claim 21).

use crate::keys::{KeyError, read_file, write_secret_file};
use apdu_specs::indicium::MAC_KEY_LABEL;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::path::Path;
use zeroize::Zeroizing;

/// The authority's master key for the MAC variant.
pub struct MasterMacKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterMacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterMacKey(<redacted>)")
    }
}

impl MasterMacKey {
    /// A fresh master key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).map_err(|_| KeyError::Rng)?;
        Ok(Self(k))
    }

    /// A master key from bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The per-meter key: `HMAC-SHA-256(master, label || 00 || meter ID)`.
    pub fn diversify(&self, meter_id: &[u8; 12]) -> [u8; 32] {
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_ref()) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(MAC_KEY_LABEL);
        mac.update(&[0]);
        mac.update(meter_id);
        mac.finalize().into_bytes().into()
    }

    /// Writes the key as hex with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_secret_file(path, hex::encode(self.0.as_ref()).as_bytes())
    }

    /// Reads a key written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = Zeroizing::new(read_file(path)?);
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Invalid)?;
        Ok(Self(Zeroizing::new(bytes.as_slice().try_into().map_err(|_| KeyError::Invalid)?)))
    }
}
