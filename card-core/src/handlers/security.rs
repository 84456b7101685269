//! Security services on slot keys: SIGN DATA and DECRYPT.

use super::slots::CertifiedSlot;
use crate::applet::Core;
use crate::ecies;
use crate::platform::{CryptoEngine, Platform};
use alloc::vec::Vec;
use apdu_specs::command::SignInput;
use apdu_specs::service::Service;
use apdu_specs::sw::Sw;
use apdu_specs::x509::{Usage, ecdsa_der_from_raw};

impl<P: Platform> Core<P> {
    pub(crate) fn sign_data(&mut self, n: u8, input: &SignInput) -> Result<Vec<u8>, Sw> {
        let CertifiedSlot { secret: key, .. } = self.certified_slot(n, Usage::Signature)?;
        let digest = match input {
            SignInput::Data(data) => self.platform.crypto().sha256(&[data]),
            SignInput::Digest(d) => *d,
        };
        let change = self.charged(Service::SignData, &[n])?;
        self.commit(change)?;
        let raw = self.platform.crypto().p256_sign_digest(&key, &digest).map_err(|_| Sw::INTERNAL_ERROR)?;
        ecdsa_der_from_raw(&raw).map_err(|_| Sw::INTERNAL_ERROR)
    }

    pub(crate) fn decrypt(&mut self, n: u8, blob: &[u8]) -> Result<Vec<u8>, Sw> {
        let (key, public) = self.usable_slot(n, Usage::Encryption, false)?;
        // Open first: a blob that does not authenticate is refused and not charged.
        let plaintext = ecies::open(self.platform.crypto(), &key, &public, &[], blob).map_err(|_| Sw::BAD_DATA)?;
        let change = self.charged(Service::Decrypt, &[n])?;
        self.commit(change)?;
        Ok(plaintext.to_vec())
    }
}
