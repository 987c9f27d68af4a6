//! Admin HTTP API: sync control, run history, sync settings, users, user passwords and
//! binders.
//!
//! Why: operators (and the CLI, and later the web console) need one authenticated surface to
//! trigger syncs and manage LDAP credentials. Handlers only validate input and call store,
//! sync and auth; no business rule lives here. Every route but `/healthz` needs the bearer
//! token from the config. Bodies are small JSON documents; unknown fields, wrong types and
//! oversized bodies get a 4xx with a message and change nothing. See docs/api.md.

use super::{settings, ssh_keys, users};
use crate::activity::{self, AuditEntry, LdapLogQuery};
use crate::admin::authorize;
use crate::app::Services;
use crate::auth::{AuthError, Principal};
use crate::model::{BinderRecord, SyncOutcome, SyncTrigger, now};
use crate::store::StoreError;
use crate::sync::worker::HeldRunError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest request body accepted (all our bodies are tiny).
const MAX_BODY_BYTES: usize = 16 * 1024;

type Shared = State<Arc<Services>>;

/// An API error: status plus a message for the operator (never a secret).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    /// The HTTP status this error answers with (the console maps it to a flash message).
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The operator-facing message (never a secret).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::AlreadyExists(what) => {
                ApiError::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            other => {
                tracing::error!(error = %other, "store error in admin API");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage error (see server log)",
                )
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        match error {
            AuthError::Policy(reason) => ApiError::bad_request(reason),
            AuthError::Store(store) => store.into(),
            AuthError::Hash(_) => {
                tracing::error!(%error, "password hashing failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "password hashing failed")
            }
        }
    }
}

/// `Json<T>` whose rejections (bad JSON, unknown field, wrong type, too large) become our
/// JSON error shape with status 400/413/415 instead of axum's plain-text 422.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => {
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                Err(ApiError::new(status, rejection.body_text()))
            }
        }
    }
}

/// Compares without an early exit, so response time does not reveal a prefix match.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

async fn require_token(
    State(services): Shared,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.is_empty()
        || !constant_time_eq(
            presented.as_bytes(),
            services.admin_token.expose().as_bytes(),
        )
    {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (see [admin] token in the config)",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(req).await
}

/// Records every authenticated request that changes something (POST, PUT, PATCH, DELETE) in
/// the audit trail: who, which endpoint, the outcome. Bodies are never recorded (they carry
/// passwords).
async fn audit_changes(State(services): Shared, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let status = response.status();
    let entry = AuditEntry {
        time: now(),
        actor: "admin-token".to_string(),
        action: format!("{method} {path}"),
        target: path
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("")
            .to_string(),
        outcome: if status.is_success() {
            "ok".to_string()
        } else {
            format!("HTTP {}", status.as_u16())
        },
    };
    activity::audit(&services.store, entry).await;
    response
}

/// `GET /api/v1/logs/ldap`: recent LDAP operations, filtered, as JSON or CSV.
async fn ldap_log(Query(query): Query<LdapLogQuery>) -> Result<Response, ApiError> {
    let entries = activity::ldap_entries(&query);
    export(
        query.format.as_deref(),
        &entries,
        activity::ldap_csv,
        "ldap-log",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<usize>,
    format: Option<String>,
}

/// `GET /api/v1/logs/audit`: the admin audit trail, newest first, as JSON or CSV.
async fn audit_log(
    State(services): Shared,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(200).clamp(1, 10_000);
    let entries = super::off_runtime(services, move |s| Ok(s.store.list_audit(limit)?)).await?;
    export(
        query.format.as_deref(),
        &entries,
        activity::audit_csv,
        "audit-log",
    )
}

/// `entries` as `{"entries": […]}` or as a CSV download.
pub(crate) fn export<T: Serialize>(
    format: Option<&str>,
    entries: &[T],
    csv: fn(&[T]) -> String,
    name: &str,
) -> Result<Response, ApiError> {
    match format.unwrap_or("json") {
        "json" => Ok(Json(json!({ "entries": entries })).into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            csv(entries),
        )
            .into_response()),
        other => Err(ApiError::bad_request(format!(
            "format `{other}` is not supported: use json or csv"
        ))),
    }
}

/// The API routes (without the listener), for tests and for embedding.
pub fn router(services: Arc<Services>) -> Router {
    let protected = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/sync", post(trigger_sync))
        .route("/api/v1/sync/runs", get(list_runs))
        .route("/api/v1/sync/runs/{id}", get(get_run))
        .route("/api/v1/sync/status", get(sync_status))
        .route("/api/v1/sync/runs/{id}/approve", post(approve_run))
        .route("/api/v1/sync/runs/{id}/discard", post(discard_run))
        .route(
            "/api/v1/sync/settings",
            get(settings::get_settings).patch(settings::patch_settings),
        )
        .route("/api/v1/users", get(users::list_users))
        .route("/api/v1/users/{uid}", get(super::directory::user_detail))
        .route("/api/v1/groups", get(super::directory::list_groups))
        .route("/api/v1/groups/{cn}", get(super::directory::group_detail))
        .route("/api/v1/sync/authorizations", post(authorize::start))
        .route(
            "/api/v1/sync/authorizations/{slot}/{purpose}",
            axum::routing::delete(authorize::remove),
        )
        .route("/api/v1/sync/credentials", get(authorize::list))
        .route("/api/v1/users/{uid}/password", put(set_user_password))
        .route("/api/v1/password-policy", get(password_policy))
        .route(
            "/api/v1/users/{uid}/ssh-keys",
            get(ssh_keys::list_for_uid).post(ssh_keys::add_for_uid),
        )
        .route(
            "/api/v1/users/{uid}/ssh-keys/{fingerprint}",
            axum::routing::delete(ssh_keys::remove_for_uid),
        )
        .route("/api/v1/binders", get(list_binders).post(add_binder))
        .route(
            "/api/v1/binders/{name}",
            axum::routing::delete(remove_binder),
        )
        .route("/api/v1/binders/{name}/reset", post(reset_binder))
        .route("/api/v1/logs/ldap", get(ldap_log))
        .route("/api/v1/logs/audit", get(audit_log))
        // Inner layer: runs after the token check, so only authenticated actions are audited.
        .route_layer(middleware::from_fn_with_state(
            services.clone(),
            audit_changes,
        ))
        .route_layer(middleware::from_fn_with_state(
            services.clone(),
            require_token,
        ));
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // No bearer token: the API's description is public (it holds no data).
        .route("/api/v1/openapi.json", get(super::openapi::document))
        // No bearer token: the browser comes back from the identity platform; the
        // single-use state protects it (see authorize.rs).
        .route(authorize::CALLBACK_PATH, get(authorize::callback))
        .merge(protected)
        .merge(crate::console::router(services.clone()))
        .fallback(|| async { ApiError::not_found("no such endpoint (see docs/api.md)") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(super::json_errors::json_errors))
        .with_state(services)
}

/// 200 once the served directory holds a committed sync (from the store at start-up or the
/// first run); 503 before, so a load balancer does not send LDAP clients to an empty server.
async fn readyz(State(services): Shared) -> Response {
    match super::off_runtime(services, |s| Ok(s.store.is_populated()?)).await {
        Ok(true) => Json(json!({ "status": "ready" })).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "not ready", "reason": "no sync has committed a directory yet" }),
            ),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Prometheus/OpenMetrics text exposition (no token: counts only, never a name or secret).
async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// Serves the API on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    services: Arc<Services>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // Peer addresses reach handlers: the console rate-limits failed sign-ins per client IP.
    let app = router(services).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn status(State(services): Shared) -> Result<Json<serde_json::Value>, ApiError> {
    let snapshot = services.live.load();
    let last_runs = super::off_runtime(services.clone(), |s| Ok(s.store.list_runs(1)?)).await?;
    Ok(Json(json!({
        "base_dn": snapshot.base_dn(),
        "entries": snapshot.len(),
        "last_run": last_runs.first(),
        "sync_settings": services.sync.settings().current(),
    })))
}

/// Optional body of `POST /api/v1/sync`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    /// Read the whole tenant even when a delta sync is possible.
    #[serde(default)]
    full: bool,
}

async fn trigger_sync(State(services): Shared, body: axum::body::Bytes) -> Response {
    let request: TriggerBody = if body.iter().all(u8::is_ascii_whitespace) {
        TriggerBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => {
                return ApiError::bad_request(format!(
                    "invalid JSON body (expected nothing or {{\"full\": true|false}}): {e}"
                ))
                .into_response();
            }
        }
    };
    let started = if request.full {
        services.sync.trigger_full(SyncTrigger::Manual)
    } else {
        services.sync.trigger(SyncTrigger::Manual)
    };
    match started {
        Ok(id) => (
            StatusCode::ACCEPTED,
            Json(json!({ "run_id": id, "message": "Sync initiated successfully" })),
        )
            .into_response(),
        Err(busy) => (
            StatusCode::CONFLICT,
            Json(json!({ "run_id": busy.0, "error": busy.to_string() })),
        )
            .into_response(),
    }
}

/// The worker's state (running and held runs) and the latest runs.
async fn sync_status(State(services): Shared) -> Result<Json<serde_json::Value>, ApiError> {
    let status = services.sync.status();
    let recent: Vec<_> = services
        .store
        .list_runs(10)?
        .into_iter()
        .map(|run| services.sync.live_view(run))
        .collect();
    let last_success = recent
        .iter()
        .find(|r| r.outcome == SyncOutcome::Succeeded)
        .cloned();
    Ok(Json(json!({
        "running": status.running,
        "held": status.held,
        "last_success": last_success,
        "recent_runs": recent,
    })))
}

impl From<HeldRunError> for ApiError {
    fn from(error: HeldRunError) -> ApiError {
        let status = match error {
            HeldRunError::NotHeld(_) => StatusCode::NOT_FOUND,
            HeldRunError::Busy(_) => StatusCode::CONFLICT,
        };
        ApiError::new(status, error.to_string())
    }
}

/// Commits a held run as it was held (the admin accepts its deactivations).
async fn approve_run(State(services): Shared, Path(id): Path<u64>) -> Result<Response, ApiError> {
    let id = services.sync.approve(id)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "run_id": id, "message": "Held run approved; committing it" })),
    )
        .into_response())
}

/// Drops a held run; nothing of it reaches the directory.
async fn discard_run(
    State(services): Shared,
    Path(id): Path<u64>,
) -> Result<Json<crate::model::SyncRun>, ApiError> {
    Ok(Json(services.sync.discard(id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    limit: Option<usize>,
}

async fn list_runs(
    State(services): Shared,
    Query(query): Query<RunsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(20).clamp(1, 1000);
    Ok(Json(json!({ "runs": recent_runs(&services, limit)? })))
}

/// The newest `limit` runs, the running one with its live progress (API and console).
pub(crate) fn recent_runs(
    services: &Services,
    limit: usize,
) -> Result<Vec<crate::model::SyncRun>, ApiError> {
    Ok(services
        .store
        .list_runs(limit)?
        .into_iter()
        .map(|run| services.sync.live_view(run))
        .collect())
}

async fn get_run(
    State(services): Shared,
    Path(id): Path<u64>,
) -> Result<Json<crate::model::SyncRun>, ApiError> {
    services
        .store
        .get_run(id)?
        .map(|run| Json(services.sync.live_view(run)))
        .ok_or_else(|| ApiError::not_found(format!("sync run {id} not found")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

async fn set_user_password(
    State(services): Shared,
    Path(uid): Path<String>,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    set_password_for_uid(&services, &uid, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets an active user's LDAP password under the password policy (API and console).
pub(crate) async fn set_password_for_uid(
    services: &Arc<Services>,
    uid: &str,
    password: &str,
) -> Result<(), ApiError> {
    let login = uid.to_string();
    let user = super::off_runtime(services.clone(), move |s| {
        let not_found = || ApiError::not_found(format!("user `{login}` not found"));
        let id = s.store.user_id_by_login(&login)?.ok_or_else(not_found)?;
        s.store.get_user(&id)?.ok_or_else(not_found)
    })
    .await?;
    if !user.status.is_active() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("user `{uid}` is inactive and cannot get an LDAP password"),
        ));
    }
    services
        .credentials
        .set_password(&Principal::User(user.entra.id.clone()), password)
        .await?;
    tracing::info!(uid = %user.uid, "admin set a user's LDAP password");
    Ok(())
}

/// `GET /api/v1/password-policy`: the rules a user's LDAP password must pass, in words (for
/// self-service pages and scripts).
async fn password_policy(State(services): Shared) -> Json<serde_json::Value> {
    let policy = services.credentials.policy();
    Json(json!({
        "min_length": policy.min_chars(),
        "max_bytes": crate::auth::MAX_PASSWORD_BYTES,
        "rules": policy.describe(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBinder {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
}

/// A binder as the API shows it; `secret` only when just created or reset.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct BinderView {
    pub name: String,
    pub dn: String,
    pub description: Option<String>,
    pub scope: Vec<String>,
    pub created: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret: Option<String>,
}

fn binder_view(services: &Services, record: BinderRecord, secret: Option<String>) -> BinderView {
    let base = services.live.load().base_dn().to_string();
    BinderView {
        dn: format!("cn={},{}", record.name, base),
        name: record.name,
        description: record.description,
        scope: record.scope,
        created: record.created,
        secret,
    }
}

/// Binder names become an RDN value and a CLI argument: keep them simple.
fn validate_binder_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "binder name must be 1-64 characters of a-z, A-Z, 0-9, '-', '_', '.', starting with a letter or digit",
        ))
    }
}

/// A fresh random secret for a binder: 32 bytes, URL-safe base64 (43 characters).
fn generate_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn list_binders(State(services): Shared) -> Result<Json<Vec<BinderView>>, ApiError> {
    Ok(Json(binder_views(&services).await?))
}

/// Every binder (without secrets), for the API and the console.
pub(crate) async fn binder_views(services: &Arc<Services>) -> Result<Vec<BinderView>, ApiError> {
    super::off_runtime(services.clone(), |s| {
        Ok(s.store
            .list_binders()?
            .into_iter()
            .map(|b| binder_view(s, b, None))
            .collect())
    })
    .await
}

async fn add_binder(
    State(services): Shared,
    JsonBody(body): JsonBody<NewBinder>,
) -> Result<(StatusCode, Json<BinderView>), ApiError> {
    let view = create_binder(&services, body.name, body.description, body.scope).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Creates a binder with a fresh secret (returned once, in the view) and republishes the
/// directory so it can bind at once (API and console).
pub(crate) async fn create_binder(
    services: &Arc<Services>,
    name: String,
    description: Option<String>,
    scope: Vec<String>,
) -> Result<BinderView, ApiError> {
    validate_binder_name(&name)?;
    let record = BinderRecord {
        name,
        description,
        scope,
        created: now(),
    };
    let secret = generate_secret();
    let phc = services.credentials.hash(&secret).await?;
    let record = super::off_runtime(services.clone(), move |s| {
        s.store.add_binder(&record, &phc)?;
        s.republish()?;
        Ok(record)
    })
    .await?;
    tracing::info!(binder = %record.name, "admin created a binder");
    Ok(binder_view(services, record, Some(secret)))
}

async fn reset_binder(
    State(services): Shared,
    Path(name): Path<String>,
) -> Result<Json<BinderView>, ApiError> {
    Ok(Json(reset_binder_secret(&services, &name).await?))
}

/// Gives a binder a fresh secret (returned once, in the view); the old one stops working.
pub(crate) async fn reset_binder_secret(
    services: &Arc<Services>,
    name: &str,
) -> Result<BinderView, ApiError> {
    let wanted = name.to_string();
    let record = super::off_runtime(services.clone(), move |s| {
        s.store
            .list_binders()?
            .into_iter()
            .find(|b| b.name == wanted)
            .ok_or_else(|| ApiError::not_found(format!("binder `{wanted}` not found")))
    })
    .await?;
    let secret = generate_secret();
    services
        .credentials
        .set_password(&Principal::Binder(name.to_string()), &secret)
        .await?;
    tracing::info!(binder = %name, "admin reset a binder's secret");
    Ok(binder_view(services, record, Some(secret)))
}

async fn remove_binder(
    State(services): Shared,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_binder(&services, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a binder and republishes the directory, so it can no longer bind.
pub(crate) async fn delete_binder(services: &Arc<Services>, name: &str) -> Result<(), ApiError> {
    let gone = name.to_string();
    super::off_runtime(services.clone(), move |s| {
        s.store.remove_binder(&gone)?;
        Ok(s.republish()?)
    })
    .await?;
    tracing::info!(binder = %name, "admin removed a binder");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_matches_only_equal_inputs() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn binder_names_are_validated() {
        assert!(validate_binder_name("grafana").is_ok());
        assert!(validate_binder_name("svc-reader.1").is_ok());
        assert!(validate_binder_name("").is_err());
        assert!(validate_binder_name("-x").is_err());
        assert!(validate_binder_name("a,b").is_err());
        assert!(validate_binder_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, generate_secret());
    }
}
