//! The HTTP API (`/v1`, JSON; binary messages as hex). Meters authenticate
//! by the device signature inside each message; `/v1/admin/*` needs the
//! bearer token. Every POST needs an `Idempotency-Key`. Refusals are 4xx with
//! `{"error":{"code":...,"message":...}}` and write nothing.

use super::error::{ApiError, hex_field};
use super::idempotency::{self, Stored};
use super::pool::StorePool;
use super::{Authority, clock, credit, inspection, locks, meters, rates, recharge, revocation};
use crate::rates::RateTableSpec;
use crate::store::{Tx, TxResult, transact};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use host_driver::authority as api;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use utoipa::{OpenApi, ToSchema};

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 128;

/// Shared state of the handlers.
#[derive(Debug)]
pub struct App {
    /// Storage threads.
    pub pool: StorePool,
    /// Keys, CA, policy.
    pub authority: Arc<Authority>,
    /// SHA-256 of the admin bearer token (`None`: admin endpoints disabled).
    pub admin_token_hash: Option<[u8; 32]>,
    in_flight: Mutex<HashSet<String>>,
    /// Device keys of registered meters, read once from the store (a
    /// registration never replaces a key; the recharge transaction still
    /// compares the stored key with the one S1 was checked against).
    device_keys: Mutex<HashMap<[u8; 12], [u8; 65]>>,
}

impl App {
    /// Handler state.
    pub fn new(pool: StorePool, authority: Arc<Authority>, admin_token: Option<&str>) -> Self {
        let admin_token_hash = admin_token.map(|t| host_driver::signature::P256Verifier.sha256(&[t.as_bytes()]));
        Self {
            pool,
            authority,
            admin_token_hash,
            in_flight: Mutex::new(HashSet::new()),
            device_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The registered device key of `meter_id` (404 when not registered).
    async fn device_key(&self, meter_id: [u8; 12]) -> Result<[u8; 65], ApiError> {
        if let Some(key) = self.device_keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&meter_id) {
            return Ok(*key);
        }
        let found = read(self, move |tx| Ok(Ok(meters::find(tx, &meter_id)?.map(|m| m.device_key)))).await?;
        let key = found.ok_or_else(|| ApiError::unknown_meter(&meter_id))?;
        self.device_keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(meter_id, key);
        Ok(key)
    }
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl IntoResponse for ApiError {
    /// A 503 (nothing was acknowledged) carries `Retry-After: 1`: the client
    /// tries again under the same idempotency key.
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, serde_json::to_vec(&self.body()).unwrap_or_default());
        if self.status == 503 {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

fn ok<T: Serialize>(value: &T) -> Response {
    json_response(200, serde_json::to_vec(value).unwrap_or_default())
}

/// Removes a key from the in-flight set when the request ends (even by cancellation).
struct InFlight<'a> {
    set: &'a Mutex<HashSet<String>>,
    key: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.key);
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers.get("idempotency-key").ok_or_else(|| {
        ApiError::new(400, "missing_idempotency_key", "state-changing requests need an Idempotency-Key")
    })?;
    let key = key.to_str().map_err(|_| ApiError::malformed("Idempotency-Key is not ASCII"))?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::malformed("Idempotency-Key must be 1 to 128 visible ASCII characters"));
    }
    Ok(key.to_string())
}

async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    to_bytes(body, MAX_BODY)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| ApiError::new(413, "body_too_large", format!("the body exceeds {MAX_BODY} bytes")))
}

/// What a state-changing operation does inside its transaction.
type Op<R, T> = fn(&mut dyn Tx, &Authority, &R, u64) -> TxResult<T, ApiError>;

/// The common path of every POST: body limit, idempotency key, JSON, the
/// in-flight check, then `op` and the stored response in one transaction.
async fn mutate<R, T>(app: &App, path: &str, headers: &HeaderMap, body: Body, op: Op<R, T>, crl: bool) -> Response
where
    R: DeserializeOwned + Send + 'static,
    T: Serialize + 'static,
{
    match mutate_inner(app, path, headers, body, op, crl).await {
        Ok(stored) => json_response(stored.status, stored.body),
        Err(e) => e.into_response(),
    }
}

async fn mutate_inner<R, T>(
    app: &App,
    path: &str,
    headers: &HeaderMap,
    body: Body,
    op: Op<R, T>,
    crl: bool,
) -> Result<Stored, ApiError>
where
    R: DeserializeOwned + Send + 'static,
    T: Serialize + 'static,
{
    let (request, key, hash, _guard) = admit::<R>(app, path, headers, body).await?;
    commit(app, key, hash, None, crl, move |tx, a, now| op(tx, a, &request, now)).await
}

/// The admission half of a POST: body limit, idempotency key, JSON, request
/// hash, and the in-flight mark (held until the returned guard drops).
async fn admit<'a, R: DeserializeOwned>(
    app: &'a App,
    path: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(R, String, [u8; 32], InFlight<'a>), ApiError> {
    let bytes = read_body(body).await?;
    let key = idempotency_key(headers)?;
    let request: R = serde_json::from_slice(&bytes).map_err(|e| ApiError::malformed(format!("JSON: {e}")))?;
    let hash = host_driver::signature::P256Verifier.sha256(&[path.as_bytes(), &[0], &bytes]);
    let guard = {
        let mut set = app.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.insert(key.clone()) {
            return Err(ApiError::conflict(
                "request_in_progress",
                "a request with this Idempotency-Key is still running",
            ));
        }
        InFlight { set: &app.in_flight, key: key.clone() }
    };
    Ok((request, key, hash, guard))
}

/// The transaction half of a POST: `op` and the stored response under the
/// idempotency key, committed before the answer is returned. `now` is the
/// request's time when the caller already fixed it (signed before), else
/// the clock when the request is queued for storage (after a CRL change,
/// the storage thread's).
async fn commit<T: Serialize + 'static>(
    app: &App,
    key: String,
    hash: [u8; 32],
    now: Option<u64>,
    crl: bool,
    mut op: impl FnMut(&mut dyn Tx, &Authority, u64) -> TxResult<T, ApiError> + Send + 'static,
) -> Result<Stored, ApiError> {
    let authority = Arc::clone(&app.authority);
    if !crl {
        // May share its commit with other requests (group commit on SQLite).
        let now = now.unwrap_or_else(clock::unix_now);
        return app
            .pool
            .transact(move |tx: &mut dyn Tx| idempotency::run(tx, &key, &hash, now, |tx| op(tx, &authority, now)))
            .await?;
    }
    let outcome = app
        .pool
        .run(move |backend| {
            let now = now.unwrap_or_else(clock::unix_now);
            let result = transact(backend, |tx: &mut dyn Tx| {
                idempotency::run(tx, &key, &hash, now, |tx| op(tx, &authority, now))
            });
            if matches!(result, Ok(Ok(_)))
                && let Err(e) = authority.regenerate_crl(now)
            {
                tracing::error!(error = %e, "CRL not regenerated");
            }
            result
        })
        .await?;
    outcome?
}

fn admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let unauthorized = || ApiError::new(401, "unauthorized", "admin endpoints need the bearer token");
    let expected = app.admin_token_hash.ok_or_else(unauthorized)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let given = host_driver::signature::P256Verifier.sha256(&[given.as_bytes()]);
    if bool::from(given.ct_eq(&expected)) { Ok(()) } else { Err(unauthorized()) }
}

async fn read<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&mut dyn Tx) -> TxResult<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let mut f = Some(f);
    app.pool
        .run(move |backend| {
            transact(backend, |tx: &mut dyn Tx| match f.take() {
                Some(f) => f(tx),
                None => Ok(Err(ApiError::new(503, "storage", "read retried"))),
            })
        })
        .await??
}

/// `GET /v1/health`.
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = api::Health)))]
pub async fn health(State(app): State<Arc<App>>) -> Response {
    ok(&api::Health { status: "ok".into(), storage: app.pool.engine().into() })
}

/// `GET /v1/openapi.json`: this document, generated from the handlers.
pub async fn openapi() -> Response {
    ok(&ApiDoc::openapi())
}

/// `POST /v1/recharges`: S1 → S2.
#[utoipa::path(post, path = "/v1/recharges", request_body = api::RechargeRequest,
    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
    responses((status = 200, body = api::RechargeAuthorization), (status = "4XX", body = api::ErrorBody)))]
pub async fn recharge(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    // S1 is verified and S2 signed before the transaction, off the storage
    // threads; the transaction reads and writes rows only.
    let outcome = async {
        let (request, key, hash, _guard) = admit::<api::RechargeRequest>(&app, "/v1/recharges", &headers, body).await?;
        let s1 = hex_field("s1", &request.s1)?;
        let device_key = app.device_key(recharge::s1_meter(&s1)?).await?;
        let prepared = recharge::prepare(&app.authority, &s1, &device_key, clock::unix_now())?;
        let now = prepared.now();
        commit(&app, key, hash, Some(now), false, move |tx, a, _| recharge::authorize_prepared(tx, a, &prepared)).await
    }
    .await;
    match outcome {
        Ok(stored) => json_response(stored.status, stored.body),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/recharges/receipts`: S3 → settled.
#[utoipa::path(post, path = "/v1/recharges/receipts", request_body = api::ReceiptRequest,
    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
    responses((status = 200, body = api::ReceiptAccepted), (status = "4XX", body = api::ErrorBody)))]
pub async fn receipt(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    fn op(
        tx: &mut dyn Tx,
        _: &Authority,
        r: &api::ReceiptRequest,
        now: u64,
    ) -> TxResult<api::ReceiptAccepted, ApiError> {
        match hex_field("s3", &r.s3) {
            Ok(s3) => recharge::settle(tx, &s3, now),
            Err(e) => Ok(Err(e)),
        }
    }
    mutate(&app, "/v1/recharges/receipts", &headers, body, op, false).await
}

/// `POST /v1/inspections`: report → acknowledgement.
#[utoipa::path(post, path = "/v1/inspections", request_body = api::InspectionRequest,
    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
    responses((status = 200, body = api::InspectionResult), (status = "4XX", body = api::ErrorBody)))]
pub async fn inspect(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    fn op(
        tx: &mut dyn Tx,
        a: &Authority,
        r: &api::InspectionRequest,
        now: u64,
    ) -> TxResult<api::InspectionResult, ApiError> {
        match hex_field("report", &r.report) {
            Ok(report) => inspection::inspect(tx, a, &report, now),
            Err(e) => Ok(Err(e)),
        }
    }
    mutate(&app, "/v1/inspections", &headers, body, op, false).await
}

/// `GET /v1/meters/{meter_id}`: the recorded recharge sequences (authorized,
/// settled, receipts never delivered), CT, deadline and lock orders.
#[utoipa::path(get, path = "/v1/meters/{meter_id}",
    params(("meter_id" = String, Path, description = "meter ID, hex")),
    responses((status = 200, body = api::MeterState), (status = "4XX", body = api::ErrorBody)))]
pub async fn meter_state(State(app): State<Arc<App>>, Path(meter): Path<String>) -> Response {
    let meter_id = match meters::parse_meter_id(&meter) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    match read(&app, move |tx| match meters::find(tx, &meter_id)? {
        Some(record) => Ok(Ok(recharge::meter_state(tx, &record)?)),
        None => Ok(Err(ApiError::unknown_meter(&meter_id))),
    })
    .await
    {
        Ok(v) => ok(&v),
        Err(e) => e.into_response(),
    }
}

/// `after` query of the lock-order list.
#[derive(Debug, Deserialize)]
pub struct After {
    after: Option<u32>,
}

/// `GET /v1/meters/{meter_id}/lock-orders?after=N`.
#[utoipa::path(get, path = "/v1/meters/{meter_id}/lock-orders",
    params(("meter_id" = String, Path, description = "meter ID, hex"), ("after" = Option<u32>, Query, description = "last order applied")),
    responses((status = 200, body = api::PendingLockOrders), (status = "4XX", body = api::ErrorBody)))]
pub async fn lock_orders(State(app): State<Arc<App>>, Path(meter): Path<String>, Query(q): Query<After>) -> Response {
    let meter_id = match meters::parse_meter_id(&meter) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let after = q.after.unwrap_or(0);
    match read(&app, move |tx| {
        if meters::find(tx, &meter_id)?.is_none() {
            return Ok(Err(ApiError::unknown_meter(&meter_id)));
        }
        Ok(Ok(locks::pending(tx, &meter_id, after)?))
    })
    .await
    {
        Ok(v) => ok(&v),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/rate-tables/latest`.
#[utoipa::path(get, path = "/v1/rate-tables/latest",
    responses((status = 200, body = api::PublishedRateTable), (status = 404, body = api::ErrorBody)))]
pub async fn latest_rates(State(app): State<Arc<App>>) -> Response {
    match read(&app, |tx| {
        Ok(rates::latest(tx)?.ok_or_else(|| ApiError::new(404, "no_rate_table", "no rate table was published")))
    })
    .await
    {
        Ok(v) => ok(&v),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/revocations`: request (602) → order (608).
#[utoipa::path(post, path = "/v1/revocations", request_body = api::RevocationRequest,
    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
    responses((status = 200, body = api::RevocationOrderIssued), (status = "4XX", body = api::ErrorBody)))]
pub async fn revoke(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    fn op(
        tx: &mut dyn Tx,
        a: &Authority,
        r: &api::RevocationRequest,
        now: u64,
    ) -> TxResult<api::RevocationOrderIssued, ApiError> {
        match hex_field("request", &r.request) {
            Ok(request) => revocation::request(tx, a, &request, now),
            Err(e) => Ok(Err(e)),
        }
    }
    mutate(&app, "/v1/revocations", &headers, body, op, true).await
}

/// `POST /v1/revocations/confirmations` (616–624).
#[utoipa::path(post, path = "/v1/revocations/confirmations", request_body = api::RevocationConfirmationRequest,
    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
    responses((status = 200, body = api::RevocationConfirmed), (status = "4XX", body = api::ErrorBody)))]
pub async fn confirm_revocation(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    fn op(
        tx: &mut dyn Tx,
        _: &Authority,
        r: &api::RevocationConfirmationRequest,
        now: u64,
    ) -> TxResult<api::RevocationConfirmed, ApiError> {
        match hex_field("confirmation", &r.confirmation) {
            Ok(c) => revocation::confirm(tx, &c, now),
            Err(e) => Ok(Err(e)),
        }
    }
    mutate(&app, "/v1/revocations/confirmations", &headers, body, op, false).await
}

/// `GET /v1/meters/{meter_id}/revocation-orders`: unconfirmed orders (forced ones included).
#[utoipa::path(get, path = "/v1/meters/{meter_id}/revocation-orders",
    params(("meter_id" = String, Path, description = "meter ID, hex")),
    responses((status = 200, body = api::PendingRevocationOrders), (status = "4XX", body = api::ErrorBody)))]
pub async fn revocation_orders(State(app): State<Arc<App>>, Path(meter): Path<String>) -> Response {
    let meter_id = match meters::parse_meter_id(&meter) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    match read(&app, move |tx| {
        if meters::find(tx, &meter_id)?.is_none() {
            return Ok(Err(ApiError::unknown_meter(&meter_id)));
        }
        Ok(Ok(revocation::pending(tx, &meter_id)?))
    })
    .await
    {
        Ok(v) => ok(&v),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/crl`: the CA's CRL (DER), regenerated on each revocation.
#[utoipa::path(get, path = "/v1/crl", responses((status = 200, content_type = "application/pkix-crl", body = Vec<u8>)))]
pub async fn crl(State(app): State<Arc<App>>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/pkix-crl")], app.authority.crl()).into_response()
}

/// `POST /v1/credit-lines`: credit request (802) → decision and line (804–808).
#[utoipa::path(post, path = "/v1/credit-lines", request_body = api::CreditRequest,
    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
    responses((status = 200, body = api::CreditDecision), (status = "4XX", body = api::ErrorBody)))]
pub async fn credit_line(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    fn op(tx: &mut dyn Tx, a: &Authority, r: &api::CreditRequest, now: u64) -> TxResult<api::CreditDecision, ApiError> {
        let (token, message) = match (hex_field("postmark", &r.postmark), hex_field("message", &r.message)) {
            (Ok(t), Ok(m)) => (t, m),
            (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
        };
        credit::decide(tx, a, r, &token, &message, now)
    }
    mutate(&app, "/v1/credit-lines", &headers, body, op, false).await
}

/// `POST /v1/settlements`: settle a payment certificate once.
#[utoipa::path(post, path = "/v1/settlements", request_body = api::SettlementRequest,
    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
    responses((status = 200, body = api::Settlement), (status = "4XX", body = api::ErrorBody)))]
pub async fn settle(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    fn op(tx: &mut dyn Tx, a: &Authority, r: &api::SettlementRequest, now: u64) -> TxResult<api::Settlement, ApiError> {
        match (hex_field("credit_line", &r.credit_line), hex_field("payment", &r.payment)) {
            (Ok(line), Ok(payment)) => credit::settle(tx, a, &line, &payment, now),
            (Err(e), _) | (_, Err(e)) => Ok(Err(e)),
        }
    }
    mutate(&app, "/v1/settlements", &headers, body, op, false).await
}

/// Admin: register a meter.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterMeter {
    /// Meter ID, hex.
    pub meter_id: String,
    /// Device public key (uncompressed SEC1), hex.
    pub device_key: String,
    /// Provider account debited for its recharges.
    pub account_id: String,
    /// The card's CT at registration, when known.
    pub control_total: Option<u64>,
}

/// Admin: credit a provider account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditAccount {
    /// Account.
    pub account_id: String,
    /// Amount, minor units.
    pub amount: u64,
}

/// Admin: the new balance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountBalance {
    /// Account.
    pub account_id: String,
    /// Balance, minor units.
    pub balance: u64,
}

/// Admin: a LOCK or UNLOCK order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLockOrder {
    /// Meter ID, hex.
    pub meter_id: String,
    /// `lock` or `unlock`.
    pub action: String,
    /// Reason code.
    pub reason: u8,
}

/// Admin: a forced revocation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForcedRevocation {
    /// Meter ID, hex.
    pub meter_id: String,
    /// Slot.
    pub slot: u8,
    /// The slot's public key, hex.
    pub public_key: String,
    /// CRL reason code.
    pub reason: u8,
}

/// Admin: rate table to publish (see `RateTableSpec`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRates {
    /// Version.
    pub version: u32,
    /// Effective from.
    pub effective_from: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor-unit exponent.
    pub exponent: u8,
    /// Classes: id and `[max_grams, price]` steps.
    pub classes: Vec<(u8, Vec<(u32, u32)>)>,
    /// Fees by service name.
    pub fees: Vec<(String, u32)>,
}

macro_rules! admin_post {
    ($name:ident, $path:literal, $req:ty, $resp:ty, $crl:expr, $body:expr) => {
        #[doc = concat!("Admin `POST ", $path, "`.")]
        #[utoipa::path(post, path = $path, request_body = $req,
                                    params(("Idempotency-Key" = String, Header, description = "idempotency key")),
                                    security(("bearer" = [])),
                                    responses((status = 200, body = $resp), (status = "4XX", body = api::ErrorBody)))]
        pub async fn $name(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
            if let Err(e) = admin(&app, &headers) {
                return e.into_response();
            }
            mutate(&app, $path, &headers, body, $body, $crl).await
        }
    };
}

/// Registers a meter in the service registry and the CA registry.
pub fn register(tx: &mut dyn Tx, a: &Authority, r: &RegisterMeter, now: u64) -> TxResult<RegisterMeter, ApiError> {
    let meter_id = match meters::parse_meter_id(&r.meter_id) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let key: [u8; 65] = match hex_field("device_key", &r.device_key).map(<[u8; 65]>::try_from) {
        Ok(Ok(k)) => k,
        _ => return Ok(Err(ApiError::malformed("device_key is not 65 bytes of hex"))),
    };
    if r.control_total.is_some_and(|c| c > i64::MAX as u64) {
        return Ok(Err(ApiError::invalid("amount_overflow", "control_total is out of range")));
    }
    let deadline = now.saturating_add(a.policy.inspection_period);
    if let Err(e) = meters::register(tx, &meter_id, &key, &r.account_id, r.control_total, deadline, now)? {
        return Ok(Err(e));
    }
    if let Err(e) = a.with_ca(|ca| ca.register_meter(&meter_id, &key, now)) {
        return Ok(Err(ApiError::conflict("ca_registry", e.to_string())));
    }
    Ok(Ok(r.clone()))
}

fn credit_op(tx: &mut dyn Tx, _: &Authority, r: &CreditAccount, now: u64) -> TxResult<AccountBalance, ApiError> {
    Ok(meters::credit_account(tx, &r.account_id, r.amount, now)?
        .map(|balance| AccountBalance { account_id: r.account_id.clone(), balance }))
}

fn lock_op(tx: &mut dyn Tx, a: &Authority, r: &CreateLockOrder, now: u64) -> TxResult<api::LockOrderIssued, ApiError> {
    let (meter_id, action) = match (meters::parse_meter_id(&r.meter_id), locks::parse_action(&r.action)) {
        (Ok(m), Ok(a)) => (m, a),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
    };
    locks::create(tx, a, &meter_id, action, r.reason, now)
}

fn rates_op(tx: &mut dyn Tx, a: &Authority, r: &PublishRates, now: u64) -> TxResult<api::PublishedRateTable, ApiError> {
    let spec = RateTableSpec {
        version: r.version,
        effective_from: r.effective_from,
        currency: r.currency.clone(),
        exponent: r.exponent,
        classes: r.classes.clone(),
        fees: r.fees.clone(),
    };
    rates::publish(tx, a, &spec, now)
}

fn forced_op(
    tx: &mut dyn Tx,
    a: &Authority,
    r: &ForcedRevocation,
    now: u64,
) -> TxResult<api::RevocationOrderIssued, ApiError> {
    let meter_id = match meters::parse_meter_id(&r.meter_id) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let public_key: [u8; 65] = match hex_field("public_key", &r.public_key).map(<[u8; 65]>::try_from) {
        Ok(Ok(k)) => k,
        _ => return Ok(Err(ApiError::malformed("public_key is not 65 bytes of hex"))),
    };
    let target = revocation::Target { meter_id, slot: r.slot, public_key, reason: r.reason };
    revocation::revoke(tx, a, target, None, now)
}

admin_post!(admin_register, "/v1/admin/meters", RegisterMeter, RegisterMeter, false, register);
admin_post!(admin_credit, "/v1/admin/accounts/credit", CreditAccount, AccountBalance, false, credit_op);
admin_post!(admin_lock, "/v1/admin/lock-orders", CreateLockOrder, api::LockOrderIssued, false, lock_op);
admin_post!(admin_rates, "/v1/admin/rate-tables", PublishRates, api::PublishedRateTable, false, rates_op);
admin_post!(admin_revoke, "/v1/admin/revocations", ForcedRevocation, api::RevocationOrderIssued, true, forced_op);

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "PCMeter authority",
        description = "Recharge, inspection, lock orders, rate tables, revocation and CRL, line of credit and settlement."
    ),
    paths(
        health,
        recharge,
        receipt,
        inspect,
        meter_state,
        lock_orders,
        latest_rates,
        revoke,
        confirm_revocation,
        revocation_orders,
        crl,
        credit_line,
        settle,
        admin_register,
        admin_credit,
        admin_lock,
        admin_rates,
        admin_revoke
    )
)]
pub struct ApiDoc;

async fn not_found() -> Response {
    ApiError::new(404, "not_found", "no such endpoint").into_response()
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/recharges", post(recharge))
        .route("/v1/recharges/receipts", post(receipt))
        .route("/v1/inspections", post(inspect))
        .route("/v1/meters/{meter_id}", get(meter_state))
        .route("/v1/meters/{meter_id}/lock-orders", get(lock_orders))
        .route("/v1/rate-tables/latest", get(latest_rates))
        .route("/v1/revocations", post(revoke))
        .route("/v1/revocations/confirmations", post(confirm_revocation))
        .route("/v1/meters/{meter_id}/revocation-orders", get(revocation_orders))
        .route("/v1/crl", get(crl))
        .route("/v1/credit-lines", post(credit_line))
        .route("/v1/settlements", post(settle))
        .route("/v1/admin/meters", post(admin_register))
        .route("/v1/admin/accounts/credit", post(admin_credit))
        .route("/v1/admin/lock-orders", post(admin_lock))
        .route("/v1/admin/rate-tables", post(admin_rates))
        .route("/v1/admin/revocations", post(admin_revoke))
        .fallback(not_found)
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish: HTTPS when `tls` is given, else plain HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        Some(config) => {
            let listener = super::tls::TlsListener::new(listener, config)?;
            axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await
        }
        None => axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await,
    }
}

/// The API served on `127.0.0.1:0` from a thread of its own (tests, the
/// benchmarks, embedded use); stopped when dropped.
#[derive(Debug)]
pub struct LoopbackServer {
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    /// Serves `app` over plain HTTP on an ephemeral loopback port.
    pub fn start(app: Arc<App>) -> std::io::Result<Self> {
        Self::start_with(app, None)
    }

    /// Serves `app` over HTTPS with `tls` on an ephemeral loopback port.
    pub fn start_tls(app: Arc<App>, tls: Arc<tokio_rustls::rustls::ServerConfig>) -> std::io::Result<Self> {
        Self::start_with(app, Some(tls))
    }

    fn start_with(app: Arc<App>, tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let secure = tls.is_some();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(e) = serve(listener, app, tls, shutdown).await {
                    tracing::error!(error = %e, "loopback server stopped");
                }
            });
        });
        Ok(Self { addr, tls: secure, stop: Some(stop), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`, or `https://` when serving TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_storage_failure_is_503_with_retry_after_and_a_refusal_is_not() {
        let busy = ApiError::from(StoreError::Contention(16)).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("1"));
        let refused = ApiError::conflict("replay", "another receipt settled this recharge").into_response();
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        assert!(refused.headers().get(header::RETRY_AFTER).is_none());
    }
}
