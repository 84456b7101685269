//! Which crypto engine a simulated card runs: the pure-Rust soft engine of
//! `card-core` (the portable default) or, with feature `aws-lc` (or
//! `aws-lc-fips`), the [`crate::aws_lc_engine`]. The choice is made at start
//! (`pcmeter-card --engine`, [`crate::SimPlatform::with_engine`]); both
//! engines answer every command with the same bytes except the random parts
//! of ECDSA signatures.

use crate::entropy::Entropy;
use card_core::platform::{CryptoEngine, CryptoError, PublicKey, SecretKey, Sha256State};
use card_core::soft_engine::{SoftEngine, SoftSha256};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

#[cfg(feature = "aws-lc-engine")]
use crate::aws_lc_engine::{AwsLcEngine, AwsLcSha256};

/// A crypto engine the simulator knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Engine {
    /// `card-core`'s pure-Rust engine (`p256`, `sha2`, `hmac`, `aes-gcm`).
    #[default]
    Soft,
    /// The `aws-lc-rs` engine (features `aws-lc` or `aws-lc-fips`).
    #[cfg(feature = "aws-lc-engine")]
    AwsLc,
}

/// Why an engine name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No engine has this name.
    #[error("unknown crypto engine `{0}` (known: {known})", known = Engine::KNOWN.join(", "))]
    Unknown(String),
    /// The engine exists but this build does not contain it.
    #[error("crypto engine `{name}` is not compiled in: build card-sim with feature `{feature}`")]
    NotCompiled {
        /// The engine's name.
        name: &'static str,
        /// The card-sim feature that compiles it.
        feature: &'static str,
    },
    /// The environment variable does not hold text.
    #[error("{} is not valid UTF-8", Engine::ENV)]
    NotUnicode,
}

impl Engine {
    /// The environment variable that names the engine of the tests (and the
    /// default of `pcmeter-card --engine`).
    pub const ENV: &'static str = "PCMETER_ENGINE";

    /// Every engine name card-sim knows, compiled in or not.
    pub const KNOWN: [&'static str; 2] = ["soft", "aws-lc"];

    /// The engines this build contains.
    pub fn compiled() -> &'static [Engine] {
        &[
            Engine::Soft,
            #[cfg(feature = "aws-lc-engine")]
            Engine::AwsLc,
        ]
    }

    /// The engine's name, as [`FromStr`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Soft => "soft",
            #[cfg(feature = "aws-lc-engine")]
            Engine::AwsLc => "aws-lc",
        }
    }

    /// The card-sim cargo feature this build compiled the engine with
    /// (`None` for the always-present soft engine), so that a tool building
    /// another binary of the workspace can build it with the same engine.
    pub fn cargo_feature(self) -> Option<&'static str> {
        match self {
            Engine::Soft => None,
            #[cfg(all(feature = "aws-lc-engine", feature = "aws-lc-fips"))]
            Engine::AwsLc => Some("aws-lc-fips"),
            #[cfg(all(feature = "aws-lc-engine", not(feature = "aws-lc-fips")))]
            Engine::AwsLc => Some("aws-lc"),
        }
    }

    /// The engine that [`Self::ENV`] names, or the soft engine when it is
    /// unset or empty. A name that is unknown or not compiled in is an error,
    /// never a fallback.
    pub fn from_env() -> Result<Self, EngineError> {
        match std::env::var(Self::ENV) {
            Ok(name) if name.is_empty() => Ok(Self::default()),
            Ok(name) => name.parse(),
            Err(std::env::VarError::NotPresent) => Ok(Self::default()),
            Err(std::env::VarError::NotUnicode(_)) => Err(EngineError::NotUnicode),
        }
    }

    /// A fresh engine of this kind drawing randomness from `entropy`.
    pub fn instantiate(self, entropy: Entropy) -> SimCrypto {
        match self {
            Engine::Soft => SimCrypto::Soft(SoftEngine::new(entropy)),
            #[cfg(feature = "aws-lc-engine")]
            Engine::AwsLc => SimCrypto::AwsLc(AwsLcEngine::new(entropy)),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = EngineError;

    fn from_str(name: &str) -> Result<Self, EngineError> {
        match name {
            "soft" => Ok(Engine::Soft),
            #[cfg(feature = "aws-lc-engine")]
            "aws-lc" => Ok(Engine::AwsLc),
            #[cfg(not(feature = "aws-lc-engine"))]
            "aws-lc" => Err(EngineError::NotCompiled { name: "aws-lc", feature: "aws-lc" }),
            other => Err(EngineError::Unknown(other.to_owned())),
        }
    }
}

/// The crypto engine of a simulated card: one of the compiled-in engines,
/// chosen at start.
#[derive(Debug)]
pub enum SimCrypto {
    /// The pure-Rust engine.
    Soft(SoftEngine<Entropy>),
    /// The aws-lc-rs engine.
    #[cfg(feature = "aws-lc-engine")]
    AwsLc(AwsLcEngine<Entropy>),
}

/// Incremental SHA-256 of a [`SimCrypto`].
#[derive(Debug)]
pub enum SimSha256 {
    /// Of the soft engine.
    Soft(SoftSha256),
    /// Of the aws-lc-rs engine.
    #[cfg(feature = "aws-lc-engine")]
    AwsLc(AwsLcSha256),
}

impl SimCrypto {
    /// Which engine this is.
    pub fn kind(&self) -> Engine {
        match self {
            SimCrypto::Soft(_) => Engine::Soft,
            #[cfg(feature = "aws-lc-engine")]
            SimCrypto::AwsLc(_) => Engine::AwsLc,
        }
    }

    /// Drops every key the engine keeps prepared for fast use (power loss,
    /// tamper): afterwards it holds no private key.
    pub fn forget_keys(&mut self) {
        match self {
            SimCrypto::Soft(_) => {}
            #[cfg(feature = "aws-lc-engine")]
            SimCrypto::AwsLc(engine) => engine.forget_keys(),
        }
    }
}

/// Runs `$body` with `$engine` bound to the selected engine.
macro_rules! dispatch {
    ($self:expr, $engine:ident => $body:expr) => {
        match $self {
            SimCrypto::Soft($engine) => $body,
            #[cfg(feature = "aws-lc-engine")]
            SimCrypto::AwsLc($engine) => $body,
        }
    };
}

impl Sha256State for SimSha256 {
    fn update(&mut self, data: &[u8]) {
        match self {
            SimSha256::Soft(h) => h.update(data),
            #[cfg(feature = "aws-lc-engine")]
            SimSha256::AwsLc(h) => h.update(data),
        }
    }

    fn finish(self) -> [u8; 32] {
        match self {
            SimSha256::Soft(h) => h.finish(),
            #[cfg(feature = "aws-lc-engine")]
            SimSha256::AwsLc(h) => h.finish(),
        }
    }
}

impl CryptoEngine for SimCrypto {
    type Hasher = SimSha256;

    fn sha256_start(&self) -> SimSha256 {
        match self {
            SimCrypto::Soft(e) => SimSha256::Soft(e.sha256_start()),
            #[cfg(feature = "aws-lc-engine")]
            SimCrypto::AwsLc(e) => SimSha256::AwsLc(e.sha256_start()),
        }
    }

    fn sha256(&self, parts: &[&[u8]]) -> [u8; 32] {
        dispatch!(self, e => e.sha256(parts))
    }

    fn hmac_sha256(&self, key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        dispatch!(self, e => e.hmac_sha256(key, parts))
    }

    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        dispatch!(self, e => e.fill_random(out))
    }

    fn p256_generate(&mut self) -> Result<(SecretKey, PublicKey), CryptoError> {
        dispatch!(self, e => e.p256_generate())
    }

    fn p256_ecdsa_sign(&mut self, key: &SecretKey, digest: &[u8; 32]) -> Result<[u8; 64], CryptoError> {
        dispatch!(self, e => e.p256_ecdsa_sign(key, digest))
    }

    fn p256_ecdsa_verify(&self, key: &[u8], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
        dispatch!(self, e => e.p256_ecdsa_verify(key, digest, signature))
    }

    fn p256_valid_public(&self, key: &[u8]) -> bool {
        dispatch!(self, e => e.p256_valid_public(key))
    }

    fn p256_ecdh(&self, key: &SecretKey, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        dispatch!(self, e => e.p256_ecdh(key, peer))
    }

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        dispatch!(self, e => e.aes256_gcm_seal(key, nonce, aad, plaintext))
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        dispatch!(self, e => e.aes256_gcm_open(key, nonce, aad, sealed))
    }
}
