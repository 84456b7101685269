//! Secret bytes on the host: PIN blocks, personalization profiles, DECRYPT
//! plaintext. Secrecy is a property of the type: [`SecretBytes`] is wiped on
//! drop, has no `PartialEq` and prints only its length, and the APDU trace
//! shows a [`Payload::Secret`] as its length alone.

use zeroize::Zeroizing;

/// Bytes that must never be traced or printed.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes`.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The bytes, for the one caller that needs them (never for a trace).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Deref for SecretBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.expose()
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.len())
    }
}

/// The data field of a command or a response: public, or secret.
#[derive(Clone)]
pub enum Payload {
    /// May be traced.
    Public(Vec<u8>),
    /// Never traced: only its length is shown.
    Secret(SecretBytes),
}

impl Payload {
    /// An empty payload of the same secrecy.
    pub fn empty_like(&self) -> Self {
        match self {
            Self::Public(_) => Self::Public(Vec::new()),
            Self::Secret(_) => Self::Secret(SecretBytes::default()),
        }
    }

    /// The bytes, for encoding or for the caller (never for a trace).
    pub fn expose(&self) -> &[u8] {
        match self {
            Self::Public(v) => v,
            Self::Secret(s) => s.expose(),
        }
    }

    /// Appends `bytes`, keeping the secrecy.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match self {
            Self::Public(v) => v.extend_from_slice(bytes),
            Self::Secret(s) => s.extend_from_slice(bytes),
        }
    }

    /// True for secret data.
    pub fn is_secret(&self) -> bool {
        matches!(self, Self::Secret(_))
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.expose().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Public(v) => write!(f, "Public({})", hex::encode_upper(v)),
            Self::Secret(s) => s.fmt(f),
        }
    }
}
