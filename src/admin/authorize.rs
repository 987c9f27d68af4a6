//! "Authorize Account for User Sync": the delegated authorization flow on the admin API.
//!
//! `POST /api/v1/sync/authorizations` hands out an authorize URL (authorization code with
//! PKCE S256, a random `state`, `offline_access` and the Graph read scopes). The identity
//! platform sends the admin's browser back to `GET /api/v1/sync/callback`, which has no
//! bearer token — the single-use, ten-minute `state` protects it. The callback redeems the
//! code, asks Graph who signed in and makes a test read for the authorization's purpose
//! (the "green check"), and only then stores the refresh token, sealed.
//!
//! Why the verifier stays in memory: it is needed once, within minutes, by this process;
//! a restart simply means starting the authorization again.

use crate::admin::pending::{CallbackRefusal, FlowSetup, PendingFlows};
use crate::app::Services;
use crate::config::EntraConfig;
use crate::model::{AuthorizationInfo, CredentialPurpose, CredentialSlot, now};
use crate::secrets::SecretBox;
use crate::store::Store;
use crate::store::credentials::{new_authorization, sealing_context};
use crate::sync::credentials::app::AppRegistration;
use crate::sync::credentials::delegated::delegated_scopes;
use crate::sync::error::error_chain;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use oauth2::{PkceCodeVerifier, RedirectUrl, TokenResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How long an authorize URL's `state` stays redeemable.
const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// The callback's path under the admin API's public URL.
pub const CALLBACK_PATH: &str = "/api/v1/sync/callback";

/// Why an authorization step failed: HTTP status and a message without secrets.
#[derive(Debug)]
pub struct AuthorizeError {
    pub status: StatusCode,
    pub message: String,
}

impl AuthorizeError {
    fn new(status: StatusCode, message: impl Into<String>) -> AuthorizeError {
        AuthorizeError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// An authorization waiting for its callback.
struct Pending {
    slot: CredentialSlot,
    purpose: CredentialPurpose,
    verifier: PkceCodeVerifier,
}

/// Runs the delegated flow for the `[entra]` app.
pub struct Authorizer {
    /// The app, or why it cannot be used (then every request says so).
    app: Result<AppRegistration, String>,
    http: reqwest::Client,
    graph_url: url::Url,
    scopes: Vec<String>,
    redirect: RedirectUrl,
    store: Store,
    secrets: SecretBox,
    pending: PendingFlows<Pending>,
}

/// A credential as `GET /api/v1/sync/credentials` lists it (never a token or secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CredentialView {
    pub slot: CredentialSlot,
    pub purpose: CredentialPurpose,
    /// `client_secret`, `certificate` or `delegated`.
    pub kind: String,
    /// The app's client id, or the authorizing admin's UPN.
    pub who: String,
    pub validated_at: Option<i64>,
    pub last_error: Option<String>,
}

impl Authorizer {
    /// The flow for `entra`'s app, calling back to `public_url` + [`CALLBACK_PATH`].
    pub fn new(
        entra: &EntraConfig,
        public_url: &url::Url,
        store: Store,
        secrets: SecretBox,
    ) -> Authorizer {
        let FlowSetup {
            app,
            http,
            redirect,
        } = FlowSetup::new(entra, public_url, CALLBACK_PATH);
        Authorizer {
            app,
            http,
            graph_url: entra.graph_url.clone(),
            scopes: delegated_scopes(&entra.graph_url),
            redirect,
            store,
            secrets,
            pending: PendingFlows::new(STATE_LIFETIME),
        }
    }

    fn app(&self) -> Result<&AppRegistration, AuthorizeError> {
        self.app
            .as_ref()
            .map_err(|e| AuthorizeError::new(StatusCode::INTERNAL_SERVER_ERROR, e.clone()))
    }

    /// The redirect URI to register on the app registration.
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    /// Starts an authorization for `slot`/`purpose`: the URL to open in a browser.
    pub fn start(
        &self,
        slot: CredentialSlot,
        purpose: CredentialPurpose,
        login_hint: Option<&str>,
    ) -> Result<url::Url, AuthorizeError> {
        let (mut url, state, verifier) = self
            .app()?
            .authorize_url(self.redirect.clone(), &self.scopes);
        if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
            url.query_pairs_mut().append_pair("login_hint", hint);
        }
        self.pending.insert(
            state.secret().clone(),
            Pending {
                slot,
                purpose,
                verifier,
            },
        );
        Ok(url)
    }

    /// The callback: checks `state` (single use), redeems `code`, validates by test calls
    /// and stores the sealed refresh token.
    pub async fn complete(
        &self,
        params: &CallbackParams,
    ) -> Result<AuthorizationInfo, AuthorizeError> {
        let bad = |m: String| AuthorizeError::new(StatusCode::BAD_REQUEST, m);
        let (pending, code) = self.pending.redeem_callback(params).map_err(|r| {
            bad(match r {
                CallbackRefusal::UnknownState => {
                    "unknown, expired or already used state: start the authorization again".into()
                }
                CallbackRefusal::Refused(error, description) => {
                    format!("the identity platform refused the sign-in ({error}): {description}")
                }
                CallbackRefusal::NoCode => "the callback carries no code".into(),
            })
        })?;
        let response = self
            .app()?
            .redeem_code(&self.http, code, pending.verifier, &self.redirect)
            .await
            .map_err(|f| bad(format!("redeeming the code failed: {}", f.text)))?;
        let refresh_token = response.refresh_token().ok_or_else(|| {
            bad("no refresh token was issued (was offline_access granted?)".into())
        })?;
        let access = response.access_token().secret();
        let who = self.signed_in_user(access).await.map_err(bad)?;
        self.test_read(access, pending.purpose)
            .await
            .map_err(|e| bad(format!("the authorization of {who} cannot read Graph: {e}")))?;
        let context = sealing_context(pending.slot, pending.purpose);
        let sealed = self
            .secrets
            .seal(&context, refresh_token.secret())
            .map_err(|e| AuthorizeError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let mut record = new_authorization(pending.slot, pending.purpose, who, sealed);
        record.info.validated_at = Some(now());
        self.store.put_authorization(&record).map_err(|e| {
            tracing::error!(error = %e, "cannot store an authorization");
            AuthorizeError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage error (see server log)",
            )
        })?;
        tracing::info!(slot = ?record.info.slot, purpose = ?record.info.purpose, who = %record.info.who, "delegated authorization stored");
        Ok(record.info)
    }

    /// `GET /v1.0/me` → the signed-in admin's UPN.
    async fn signed_in_user(&self, access: &str) -> Result<String, String> {
        let me: serde_json::Value = self
            .graph_get(access, &["me"], "$select=userPrincipalName")
            .await?;
        me.get("userPrincipalName")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| "Graph /me did not name the signed-in user".to_string())
    }

    /// One small read per collection the purpose covers: the "green check".
    async fn test_read(&self, access: &str, purpose: CredentialPurpose) -> Result<(), String> {
        let reads: &[(&str, &str)] = match purpose {
            CredentialPurpose::Users => &[("users", "$top=1&$select=id")],
            CredentialPurpose::Groups => &[("groups", "$top=1&$select=id")],
            CredentialPurpose::Domains => &[("domains", "")],
            CredentialPurpose::All => &[
                ("users", "$top=1&$select=id"),
                ("groups", "$top=1&$select=id"),
                ("domains", ""),
            ],
        };
        for (collection, query) in reads {
            self.graph_get::<serde_json::Value>(access, &[collection], query)
                .await?;
        }
        Ok(())
    }

    async fn graph_get<T: serde::de::DeserializeOwned>(
        &self,
        access: &str,
        segments: &[&str],
        query: &str,
    ) -> Result<T, String> {
        let mut url = self.graph_url.clone();
        url.path_segments_mut()
            .map_err(|()| "graph_url cannot have a path".to_string())?
            .pop_if_empty()
            .push("v1.0")
            .extend(segments);
        url.set_query((!query.is_empty()).then_some(query));
        let path = url.path().to_string();
        let response = self
            .http
            .get(url)
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {}", error_chain(&e.without_url())))?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    let e = v.get("error")?;
                    Some(format!(
                        "{}: {}",
                        e.get("code")?.as_str()?,
                        e.get("message").and_then(|m| m.as_str()).unwrap_or("")
                    ))
                })
                .unwrap_or_default();
            return Err(format!(
                "GET {path} answered HTTP {}: {detail}",
                status.as_u16()
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {path}: malformed response: {e}"))
    }

    /// Every credential the sync may use, in the order it tries them (per slot).
    pub fn list(&self, entra: &EntraConfig) -> Result<Vec<CredentialView>, AuthorizeError> {
        let app_kind = |cert: bool| if cert { "certificate" } else { "client_secret" };
        let mut views = vec![CredentialView {
            slot: CredentialSlot::Primary,
            purpose: CredentialPurpose::All,
            kind: app_kind(entra.client_certificate.is_some()).to_string(),
            who: entra.client_id.clone(),
            validated_at: None,
            last_error: None,
        }];
        if let Some(b) = &entra.backup {
            views.push(CredentialView {
                slot: CredentialSlot::Backup,
                purpose: CredentialPurpose::All,
                kind: app_kind(b.client_certificate.is_some()).to_string(),
                who: b.client_id.clone(),
                validated_at: None,
                last_error: None,
            });
        }
        let stored = self.store.list_authorizations().map_err(|e| {
            tracing::error!(error = %e, "cannot list authorizations");
            AuthorizeError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage error (see server log)",
            )
        })?;
        views.extend(stored.into_iter().map(|a| CredentialView {
            slot: a.info.slot,
            purpose: a.info.purpose,
            kind: "delegated".to_string(),
            who: a.info.who,
            validated_at: a.info.validated_at,
            last_error: a.info.last_error,
        }));
        // In each slot a delegated authorization is tried before the app credential.
        views.sort_by_key(|v| (v.slot, v.kind != "delegated"));
        Ok(views)
    }
}

/// The body of `POST /api/v1/sync/authorizations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(default = "primary")]
    pub slot: CredentialSlot,
    #[serde(default = "all")]
    pub purpose: CredentialPurpose,
    /// Pre-fills the sign-in with this admin's UPN.
    #[serde(default)]
    pub login_hint: Option<String>,
}

fn primary() -> CredentialSlot {
    CredentialSlot::Primary
}
fn all() -> CredentialPurpose {
    CredentialPurpose::All
}

/// The query of the callback.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub session_state: Option<String>,
}

type Shared = State<Arc<Services>>;

/// `POST /api/v1/sync/authorizations`.
pub async fn start(
    State(services): Shared,
    crate::admin::api::JsonBody(body): crate::admin::api::JsonBody<StartBody>,
) -> Result<Json<serde_json::Value>, AuthorizeError> {
    let url = services
        .authorizer
        .start(body.slot, body.purpose, body.login_hint.as_deref())?;
    Ok(Json(json!({
        "authorize_url": url.as_str(),
        "redirect_uri": services.authorizer.redirect_uri(),
        "expires_in": STATE_LIFETIME.as_secs(),
    })))
}

/// `GET /api/v1/sync/callback` (no bearer token: the state protects it). A browser (one
/// that accepts HTML, as after the console's "Authorize Account") gets a page leading back
/// to the Sync page; API clients get JSON.
pub async fn callback(
    State(services): Shared,
    headers: axum::http::HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let browser = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let outcome = services.authorizer.complete(&params).await;
    match (outcome, browser) {
        (Ok(info), false) => Json(json!({
            "status": "authorized",
            "authorization": info,
        }))
        .into_response(),
        (Err(e), false) => e.into_response(),
        (outcome, true) => {
            crate::console::authorized_page(outcome.map_err(|e| (e.status, e.message)))
        }
    }
}

/// `GET /api/v1/sync/credentials`.
pub async fn list(State(services): Shared) -> Result<Json<serde_json::Value>, AuthorizeError> {
    let views = services.authorizer.list(&services.entra)?;
    Ok(Json(json!({ "credentials": views })))
}

/// `DELETE /api/v1/sync/authorizations/{slot}/{purpose}`.
pub async fn remove(
    State(services): Shared,
    Path((slot, purpose)): Path<(CredentialSlot, CredentialPurpose)>,
) -> Result<StatusCode, AuthorizeError> {
    match services.store.remove_authorization(slot, purpose) {
        Ok(()) => {
            tracing::info!(?slot, ?purpose, "delegated authorization removed");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(crate::store::StoreError::NotFound(what)) => Err(AuthorizeError::new(
            StatusCode::NOT_FOUND,
            format!("{what} not found"),
        )),
        Err(e) => {
            tracing::error!(error = %e, "cannot remove an authorization");
            Err(AuthorizeError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage error (see server log)",
            ))
        }
    }
}
