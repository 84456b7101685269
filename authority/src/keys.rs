//! ECDSA P-256 key pairs of the authority (and of the issuer that signs
//! personalization profiles). Signatures are deterministic (RFC 6979), low-S,
//! and domain-separated as in `apdu_specs::signed`.

use apdu_specs::p256_signature;
use apdu_specs::signed::Signed;
use ecdsa::hazmat::sign_prehashed_rfc6979;
use p256::elliptic_curve::PrimeField;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{NistP256, NonZeroScalar, PublicKey};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Why a key could not be made, loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The random source failed.
    #[error("random source failed")]
    Rng,
    /// Not a valid P-256 secret.
    #[error("invalid P-256 secret key")]
    Invalid,
    /// File error.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A P-256 signing key with its public key.
#[derive(Clone)]
pub struct SigningKeyPair {
    secret: NonZeroScalar,
    public: [u8; 65],
}

impl std::fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeyPair(public={})", hex::encode(&self.public[..9]))
    }
}

impl SigningKeyPair {
    /// A fresh key from the OS random source.
    pub fn generate() -> Result<Self, KeyError> {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut()).map_err(|_| KeyError::Rng)?;
            if let Ok(k) = Self::from_secret(&bytes) {
                return Ok(k);
            }
        }
    }

    /// A key from its 32-byte secret scalar.
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, KeyError> {
        let d = NonZeroScalar::from_repr((*secret).into()).into_option().ok_or(KeyError::Invalid)?;
        let point = PublicKey::from_secret_scalar(&d).to_sec1_point(false);
        let public: [u8; 65] = point.as_bytes().try_into().map_err(|_| KeyError::Invalid)?;
        Ok(Self { secret: d, public })
    }

    /// A deterministic key derived from a label (tests and fixtures only).
    pub fn from_seed(label: &str) -> Self {
        let mut counter = 0u32;
        loop {
            let digest: [u8; 32] =
                Sha256::new().chain_update(label).chain_update(counter.to_be_bytes()).finalize().into();
            if let Ok(k) = Self::from_secret(&digest) {
                return k;
            }
            counter += 1;
        }
    }

    /// The uncompressed SEC1 public key.
    pub fn public(&self) -> [u8; 65] {
        self.public
    }

    /// The secret scalar (for saving).
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_repr().into())
    }

    /// Signs a SHA-256 digest; raw r‖s in low-S form ([`p256_signature`]).
    /// Every authority signature (profiles, rate tables, orders, CA
    /// certificates, CRLs) is made here.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 64] {
        let (sig, _) = sign_prehashed_rfc6979::<NistP256, Sha256>(&self.secret, digest, &[]);
        p256_signature::to_low_s(&sig.to_bytes().into())
    }

    /// Signs `body` under `domain` as the card expects (`SHA-256(domain || 00 || body)`).
    pub fn sign_message(&self, domain: &[u8], body: &[u8]) -> [u8; 64] {
        let mut h = Sha256::new();
        for part in Signed::signing_input(domain, body) {
            h.update(part);
        }
        self.sign_digest(&h.finalize().into())
    }

    /// Writes the secret as hex to `path` with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_secret_file(path, hex::encode(self.secret_bytes().as_ref()).as_bytes())
    }

    /// Reads a key written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = Zeroizing::new(read_file(path)?);
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Invalid)?;
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.as_slice().try_into().map_err(|_| KeyError::Invalid)?);
        Self::from_secret(&secret)
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.display().to_string(), source }
}

pub(crate) fn read_file(path: &Path) -> Result<String, KeyError> {
    fs::read_to_string(path).map_err(io_err(path))
}

/// Creates (or replaces) a file readable only by its owner, atomically: the
/// contents go to a new mode-0600 temporary file in the same directory, which
/// is synced and renamed over `path`, so a replaced file never keeps its old
/// permissions and a crash leaves either the old file or the new one.
pub(crate) fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let temp = temp_path(path);
    let result = write_new_private_file(&temp, contents)
        .and_then(|()| fs::rename(&temp, path))
        .and_then(|()| sync_parent_dir(path));
    if result.is_err() {
        // Best effort: the temporary file holds the secret too.
        let _ = fs::remove_file(&temp);
    }
    result.map_err(io_err(path))
}

/// `.<name>.<pid>.tmp` beside `path`.
fn temp_path(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// Makes the rename durable.
fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pcmeter-keys-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn overwriting_a_world_readable_key_file_leaves_it_0600() {
        let dir = scratch_dir("overwrite");
        let path = dir.join("issuer.key");
        fs::write(&path, "old contents").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

        let key = SigningKeyPair::from_seed("overwrite");
        key.save(&path).unwrap();

        assert_eq!(mode(&path), 0o600, "the key file must not keep the old 0644");
        assert_eq!(SigningKeyPair::load(&path).unwrap().public(), key.public());
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["issuer.key"], "no temporary file is left behind");
        fs::remove_dir_all(&dir).ok();
    }
}
