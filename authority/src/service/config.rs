//! Service configuration: a TOML file, then `PCMETER_AUTHORITY_*`
//! environment variables over it; and the key directory `init` writes.

use super::{Authority, Policy};
use crate::ca::CertificateAuthority;
use crate::certdb::CertDb;
use crate::keys::{KeyError, SigningKeyPair};
use crate::store::Location;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listen address; plain HTTP is allowed on loopback only.
    pub listen: SocketAddr,
    /// SQLite file path or `postgres://` URL.
    pub database: String,
    /// The CA's certificate database (SQLite file).
    pub ca_database: PathBuf,
    /// Directory of the key files `init` writes.
    pub key_dir: PathBuf,
    /// Admin bearer token (better from `PCMETER_AUTHORITY_ADMIN_TOKEN`).
    pub admin_token: Option<String>,
    /// Inspection period in seconds (default 90 days).
    pub inspection_period: Option<u64>,
    /// Largest line of credit granted.
    pub max_credit_line: Option<u64>,
    /// Storage threads (default 1 for SQLite, 4 for PostgreSQL).
    pub store_threads: Option<usize>,
    /// TLS certificate chain (PEM, leaf first): with `tls_key`, `serve`
    /// speaks HTTPS; without both, plain HTTP on loopback only.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub tls_key: Option<PathBuf>,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File unreadable.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid TOML for [`Config`].
    #[error("{path}: {message}")]
    Syntax {
        /// File.
        path: String,
        /// Cause.
        message: String,
    },
    /// An environment override does not parse.
    #[error("environment variable {0} does not parse")]
    Env(&'static str),
    /// A key file.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The CA could not be set up.
    #[error("certificate authority: {0}")]
    Ca(String),
    /// Plain HTTP on a non-loopback address, or half a TLS configuration.
    #[error("{0}")]
    Listen(String),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
}

fn env<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ConfigError> {
    match std::env::var(name) {
        Ok(v) => v.parse().map(Some).map_err(|_| ConfigError::Env(name)),
        Err(_) => Ok(None),
    }
}

impl Config {
    /// Reads `path`, then applies the environment overrides
    /// (`PCMETER_AUTHORITY_LISTEN`, `_DATABASE`, `_CA_DATABASE`, `_KEY_DIR`,
    /// `_ADMIN_TOKEN`, `_INSPECTION_PERIOD`, `_MAX_CREDIT_LINE`, `_STORE_THREADS`,
    /// `_TLS_CERT`, `_TLS_KEY`).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        let mut c: Self = toml::from_str(&text)
            .map_err(|e| ConfigError::Syntax { path: path.display().to_string(), message: e.to_string() })?;
        if let Some(v) = env("PCMETER_AUTHORITY_LISTEN")? {
            c.listen = v;
        }
        if let Some(v) = env("PCMETER_AUTHORITY_DATABASE")? {
            c.database = v;
        }
        if let Some(v) = env("PCMETER_AUTHORITY_CA_DATABASE")? {
            c.ca_database = v;
        }
        if let Some(v) = env("PCMETER_AUTHORITY_KEY_DIR")? {
            c.key_dir = v;
        }
        if let Some(v) = env("PCMETER_AUTHORITY_ADMIN_TOKEN")? {
            c.admin_token = Some(v);
        }
        if let Some(v) = env("PCMETER_AUTHORITY_INSPECTION_PERIOD")? {
            c.inspection_period = Some(v);
        }
        if let Some(v) = env("PCMETER_AUTHORITY_MAX_CREDIT_LINE")? {
            c.max_credit_line = Some(v);
        }
        if let Some(v) = env("PCMETER_AUTHORITY_STORE_THREADS")? {
            c.store_threads = Some(v);
        }
        if let Some(v) = env("PCMETER_AUTHORITY_TLS_CERT")? {
            c.tls_cert = Some(v);
        }
        if let Some(v) = env("PCMETER_AUTHORITY_TLS_KEY")? {
            c.tls_key = Some(v);
        }
        Ok(c)
    }

    /// The database location.
    pub fn location(&self) -> Location {
        Location::parse(&self.database)
    }

    /// The policy with the configured overrides.
    pub fn policy(&self) -> Policy {
        let d = Policy::default();
        Policy {
            inspection_period: self.inspection_period.unwrap_or(d.inspection_period),
            max_credit_line: self.max_credit_line.unwrap_or(d.max_credit_line),
            ..d
        }
    }

    /// Storage threads.
    pub fn threads(&self) -> usize {
        self.store_threads.unwrap_or(match self.location() {
            Location::Sqlite(_) => 1,
            Location::Postgres(_) => 4,
        })
    }

    /// What `serve` speaks: HTTPS with the configured certificate and key,
    /// else plain HTTP, which is refused on any address but loopback (and so
    /// is a certificate without a key or a key without a certificate).
    pub fn check_listen(&self) -> Result<Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>, ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(super::tls::server_config(cert, key)?)),
            (Some(_), None) | (None, Some(_)) => Err(ConfigError::Listen(
                "tls_cert and tls_key go together: give both (HTTPS) or neither (plain HTTP on loopback)".into(),
            )),
            (None, None) if self.listen.ip().is_loopback() => Ok(None),
            (None, None) => Err(ConfigError::Listen(format!(
                "refusing plain HTTP on {}: without tls_cert and tls_key the service listens on loopback only",
                self.listen
            ))),
        }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.key_dir.join(name)
    }

    /// Writes fresh keys (authority, issuer, CA) and the CA's epoch; refuses
    /// to overwrite existing keys.
    pub fn init_keys(&self, now: u64) -> Result<(), ConfigError> {
        std::fs::create_dir_all(&self.key_dir)
            .map_err(|source| ConfigError::Io { path: self.key_dir.display().to_string(), source })?;
        for name in ["authority.key", "issuer.key", "ca.key"] {
            if self.key(name).exists() {
                return Err(ConfigError::Ca(format!("{} exists; init never replaces keys", self.key(name).display())));
            }
        }
        for name in ["authority.key", "issuer.key", "ca.key"] {
            SigningKeyPair::generate()?.save(&self.key(name))?;
        }
        let epoch = self.key("ca.epoch");
        std::fs::write(&epoch, now.to_string())
            .map_err(|source| ConfigError::Io { path: epoch.display().to_string(), source })?;
        Ok(())
    }

    /// The CA: its key, its root made at the recorded epoch (so the root is
    /// the same certificate on every start), its certificate database.
    pub fn certificate_authority(&self) -> Result<CertificateAuthority, ConfigError> {
        let key = SigningKeyPair::load(&self.key("ca.key"))?;
        let epoch_path = self.key("ca.epoch");
        let epoch: u64 = std::fs::read_to_string(&epoch_path)
            .map_err(|source| ConfigError::Io { path: epoch_path.display().to_string(), source })?
            .trim()
            .parse()
            .map_err(|_| ConfigError::Ca("ca.epoch does not parse".into()))?;
        let db = CertDb::open(&self.ca_database).map_err(|e| ConfigError::Ca(e.to_string()))?;
        CertificateAuthority::new(key, "PCMeter Authority CA", epoch, db).map_err(|e| ConfigError::Ca(e.to_string()))
    }

    /// The authority with keys, CA and policy.
    pub fn authority(&self) -> Result<Authority, ConfigError> {
        let key = SigningKeyPair::load(&self.key("authority.key"))?;
        let issuer = SigningKeyPair::load(&self.key("issuer.key"))?;
        Authority::new(key, issuer, self.certificate_authority()?, self.policy())
            .map_err(|e| ConfigError::Ca(e.to_string()))
    }
}
