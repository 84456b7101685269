//! A typed blocking client for the authority API.
//!
//! Every state-changing call takes an [`IdempotencyKey`] from the caller. On
//! an ambiguous failure (connection lost, no answer) the outcome is unknown:
//! the caller retries with the SAME key, which returns the stored answer if
//! the first attempt was applied. The client itself never re-sends.

use super::types::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// An `Idempotency-Key` header value: 32 hex characters from the OS random source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, ClientError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|_| ClientError::Randomness)?;
        Ok(Self(hex::encode(bytes)))
    }

    /// A key the caller chose (a journal entry, a test).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer was read: the request may or may not have been applied.
    /// Retry with the same idempotency key; never with a new one.
    #[error("no answer from the authority at {url} (outcome unknown): {message}")]
    Ambiguous {
        /// Request URL.
        url: String,
        /// Cause.
        message: String,
    },
    /// The authority refused the request; nothing was applied.
    #[error("authority refused ({status} {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Machine-readable code.
        code: String,
        /// Explanation.
        message: String,
    },
    /// The answer did not decode.
    #[error("malformed answer from the authority: {0}")]
    Malformed(String),
    /// No randomness for an idempotency key.
    #[error("no OS randomness for an idempotency key")]
    Randomness,
}

impl ClientError {
    /// True when the call may be tried again under the same idempotency key:
    /// no answer came, the first try is still running (409
    /// `request_in_progress`), or the authority acknowledged nothing and asked
    /// for a retry (503, e.g. its serializable retries ran out under contention).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Ambiguous { .. } => true,
            Self::Refused { status: 409, code, .. } => code == "request_in_progress",
            Self::Refused { status: 503, .. } => true,
            Self::Refused { .. } | Self::Malformed(_) | Self::Randomness => false,
        }
    }
}

/// The CA certificate an HTTPS client is to trust is unusable.
#[derive(Debug, thiserror::Error)]
#[error("authority CA certificate: {0}")]
pub struct TrustError(String);

/// The client.
#[derive(Debug, Clone)]
pub struct AuthorityClient {
    base: String,
    agent: ureq::Agent,
}

impl AuthorityClient {
    /// A client for the service at `base` (e.g. `http://127.0.0.1:8443`), with a per-call timeout.
    /// It trusts no TLS root: an `https://` service is refused at the handshake
    /// (use [`AuthorityClient::with_ca_pem`]).
    pub fn new(base: &str, timeout: Duration) -> Self {
        Self::with_roots(base, timeout, Vec::new())
    }

    /// A client that trusts the CA certificates in `ca_pem` (PEM, one or
    /// more `CERTIFICATE` blocks) and nothing else for `https://` URLs;
    /// TLS by rustls on the aws-lc-rs provider.
    pub fn with_ca_pem(base: &str, timeout: Duration, ca_pem: &[u8]) -> Result<Self, TrustError> {
        let roots = ureq::tls::parse_pem(ca_pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(e) => Some(Err(TrustError(e.to_string()))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if roots.is_empty() {
            return Err(TrustError("no CERTIFICATE block in the PEM".into()));
        }
        Ok(Self::with_roots(base, timeout, roots))
    }

    fn with_roots(base: &str, timeout: Duration, roots: Vec<ureq::tls::Certificate<'static>>) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .root_certs(ureq::tls::RootCerts::from(roots))
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .tls_config(tls)
            .build()
            .into();
        Self { base: base.trim_end_matches('/').to_string(), agent }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer<T: DeserializeOwned>(
        url: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut response =
            result.map_err(|e| ClientError::Ambiguous { url: url.to_string(), message: e.to_string() })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Ambiguous { url: url.to_string(), message: e.to_string() })?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| ClientError::Malformed(e.to_string()));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Refused { status, code: body.error.code, message: body.error.message }),
            Err(_) => Err(ClientError::Refused { status, code: "http".to_string(), message: text }),
        }
    }

    /// A `GET`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        Self::answer(&url, self.agent.get(&url).call())
    }

    /// A `GET` of binary content (the CRL).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let url = self.url(path);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| ClientError::Ambiguous { url: url.clone(), message: e.to_string() })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ClientError::Refused { status, code: "http".to_string(), message: url });
        }
        response.body_mut().read_to_vec().map_err(|e| ClientError::Ambiguous { url, message: e.to_string() })
    }

    /// A state-changing `POST` with its idempotency key, sent once.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        key: &IdempotencyKey,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let json = serde_json::to_string(body).map_err(|e| ClientError::Malformed(e.to_string()))?;
        let result = self
            .agent
            .post(&url)
            .header("Idempotency-Key", key.as_str())
            .content_type("application/json")
            .send(json.as_bytes());
        Self::answer(&url, result)
    }

    /// `GET /v1/health`.
    pub fn health(&self) -> Result<Health, ClientError> {
        self.get("/v1/health")
    }

    /// Sends S1; returns S2 (claims 15, 30, step 2).
    pub fn recharge(&self, key: &IdempotencyKey, s1: &[u8]) -> Result<RechargeAuthorization, ClientError> {
        self.post("/v1/recharges", key, &RechargeRequest { s1: hex::encode(s1) })
    }

    /// Returns S3; the recharge is settled.
    pub fn receipt(&self, key: &IdempotencyKey, s3: &[u8]) -> Result<ReceiptAccepted, ClientError> {
        self.post("/v1/recharges/receipts", key, &ReceiptRequest { s3: hex::encode(s3) })
    }

    /// Sends an inspection report; returns the acknowledgement or the discrepancies.
    pub fn inspect(&self, key: &IdempotencyKey, report: &[u8]) -> Result<InspectionResult, ClientError> {
        self.post("/v1/inspections", key, &InspectionRequest { report: hex::encode(report) })
    }

    /// What the authority records about a meter (`GET /v1/meters/{id}`).
    pub fn meter_state(&self, meter_id: &[u8; 12]) -> Result<MeterState, ClientError> {
        self.get(&format!("/v1/meters/{}", hex::encode(meter_id)))
    }

    /// The LOCK and UNLOCK orders above `after` for a meter.
    pub fn lock_orders(&self, meter_id: &[u8; 12], after: u32) -> Result<PendingLockOrders, ClientError> {
        self.get(&format!("/v1/meters/{}/lock-orders?after={after}", hex::encode(meter_id)))
    }

    /// The latest signed rate table.
    pub fn latest_rates(&self) -> Result<PublishedRateTable, ClientError> {
        self.get("/v1/rate-tables/latest")
    }

    /// Sends a revocation request (602); returns the signed order (608).
    pub fn revoke(&self, key: &IdempotencyKey, request: &[u8]) -> Result<RevocationOrderIssued, ClientError> {
        self.post("/v1/revocations", key, &RevocationRequest { request: hex::encode(request) })
    }

    /// Returns the card's revocation confirmation (616–624).
    pub fn confirm_revocation(
        &self,
        key: &IdempotencyKey,
        confirmation: &[u8],
    ) -> Result<RevocationConfirmed, ClientError> {
        self.post(
            "/v1/revocations/confirmations",
            key,
            &RevocationConfirmationRequest { confirmation: hex::encode(confirmation) },
        )
    }

    /// The current CRL (DER).
    pub fn crl(&self) -> Result<Vec<u8>, ClientError> {
        self.get_bytes("/v1/crl")
    }

    /// Asks for a line of credit (802); returns the decision (804/806/808).
    pub fn request_credit(&self, key: &IdempotencyKey, request: &CreditRequest) -> Result<CreditDecision, ClientError> {
        self.post("/v1/credit-lines", key, request)
    }

    /// Settles a payment certificate with its line.
    pub fn settle(&self, key: &IdempotencyKey, credit_line: &[u8], payment: &[u8]) -> Result<Settlement, ClientError> {
        self.post(
            "/v1/settlements",
            key,
            &SettlementRequest { credit_line: hex::encode(credit_line), payment: hex::encode(payment) },
        )
    }
}
