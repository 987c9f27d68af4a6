//! The delegated side of the simulated identity platform: app registrations beyond the
//! tenant's own (a backup app, certificates, redirect URIs), the authorize endpoint,
//! authorization codes and refresh tokens, the ways Entra makes them fail, and `/v1.0/me`.
//!
//! Why: the "Authorize Account" flow and the backup failover can only be trusted if they
//! run against the same redirects, single-use codes, PKCE checks, rotating refresh tokens
//! and AADSTS refusals (50057, 65001, 50173, 53003, 7000222) as Entra (graph.md §1.3-1.5).
//! Tests sign a user in by `login_hint`, or through the sign-in form (`sign_in_form`) as a
//! browser does.

use super::server::{SimState, SimulatorHandle, lock};
use super::tenant::Tenant;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Authorization codes live about ten minutes (graph.md §1.3).
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Delegated permissions the simulated Graph knows.
const KNOWN_PERMISSIONS: &[&str] = &[
    "User.Read",
    "User.Read.All",
    "User.ReadBasic.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Domain.Read.All",
    "Directory.Read.All",
];
/// OpenID and refresh scopes, which belong to no resource.
const OIDC_SCOPES: &[&str] = &["offline_access", "openid", "profile", "email"];

/// An app registration as the identity platform knows it. For the tenant's own app
/// (`Tenant::client_id`) the secret and its expiry come from the [`Tenant`].
#[derive(Clone, Debug, Default)]
pub struct SimApp {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub secret_expired: bool,
    /// DER certificates uploaded to the app.
    pub certificates: Vec<Vec<u8>>,
    pub redirect_uris: Vec<String>,
}

/// A code handed out by the authorize endpoint.
#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub method: String,
    pub scopes: Vec<String>,
    /// The authorize request's `nonce`, echoed in the id_token.
    pub nonce: Option<String>,
    pub expires: Instant,
    pub redeemed: bool,
}

/// A refresh token's grant.
#[derive(Clone, Debug)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    /// Sequence number when issued (sessions revoked later invalidate it).
    pub issued: u64,
}

/// What an admin or Entra did to a user's sign-ins.
#[derive(Clone, Debug, Default)]
pub(crate) struct UserSignIn {
    pub consent_revoked: bool,
    pub blocked_by_conditional_access: bool,
    /// Refresh tokens issued before this sequence number are revoked.
    pub sessions_valid_from: u64,
    /// Refresh-token redemptions, for tests.
    pub refreshes: u64,
    /// The newest refresh token issued, for tests.
    pub latest_refresh_token: Option<String>,
}

/// The identity platform's delegated state.
#[derive(Debug, Default)]
pub(crate) struct IdentityState {
    pub apps: Vec<SimApp>,
    pub codes: HashMap<String, CodeGrant>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// Delegated access token → user id (app-only tokens are absent).
    pub subjects: HashMap<String, String>,
    /// App-only access token → client id.
    pub app_tokens: HashMap<String, String>,
    /// Client ids and user ids whose tokens Graph answers 403 `Authorization_RequestDenied`
    /// (permission not granted).
    pub denied: Vec<String>,
    pub users: HashMap<String, UserSignIn>,
    pub sequence: u64,
    /// When set, a redeemed refresh token stops working (Entra keeps old ones valid; tests
    /// use this to prove the newest token was persisted).
    pub strict_rotation: bool,
    /// Index of the key id_tokens are signed with (see `oidc::rotate_signing_key`).
    pub signing_key: usize,
    /// Users' Microsoft sign-in passwords set by tests (others use
    /// `oidc::DEFAULT_SIGN_IN_PASSWORD`), by user id.
    pub sign_in_passwords: HashMap<String, String>,
    /// Bends the next id_token issued (tests of the server's verification).
    pub id_token_fault: Option<super::oidc::IdTokenFault>,
}

/// An app's identity-platform view, merged from the tenant and [`IdentityState`].
#[derive(Clone, Debug)]
pub(crate) struct AppView {
    pub client_secret: Option<String>,
    pub secret_expired: bool,
    pub certificates: Vec<Vec<u8>>,
    pub redirect_uris: Vec<String>,
}

impl IdentityState {
    fn app_mut(&mut self, client_id: &str) -> &mut SimApp {
        let pos = self
            .apps
            .iter()
            .position(|a| a.client_id.eq_ignore_ascii_case(client_id));
        match pos {
            Some(i) => &mut self.apps[i],
            None => {
                self.apps.push(SimApp {
                    client_id: client_id.to_string(),
                    ..SimApp::default()
                });
                let last = self.apps.len() - 1;
                &mut self.apps[last]
            }
        }
    }

    /// The app `client_id`, if registered (the tenant's own app always is).
    pub fn app(&self, t: &Tenant, client_id: &str) -> Option<AppView> {
        let extra = self
            .apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id));
        if client_id.eq_ignore_ascii_case(&t.client_id) {
            return Some(AppView {
                client_secret: Some(t.client_secret.clone()),
                secret_expired: t.secret_expired,
                certificates: extra.map(|a| a.certificates.clone()).unwrap_or_default(),
                redirect_uris: extra.map(|a| a.redirect_uris.clone()).unwrap_or_default(),
            });
        }
        extra
            .filter(|a| a.client_secret.is_some() || !a.certificates.is_empty())
            .map(|a| AppView {
                client_secret: a.client_secret.clone(),
                secret_expired: a.secret_expired,
                certificates: a.certificates.clone(),
                redirect_uris: a.redirect_uris.clone(),
            })
    }

    /// A new random opaque value (codes, refresh tokens).
    pub fn random(prefix: &str) -> String {
        format!(
            "{prefix}.{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    }

    /// Issues a refresh token for `user_id`.
    pub fn issue_refresh_token(
        &mut self,
        client_id: &str,
        user_id: &str,
        scopes: &[String],
    ) -> String {
        self.sequence += 1;
        let token = IdentityState::random("simrt");
        self.refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                user_id: user_id.to_string(),
                scopes: scopes.to_vec(),
                issued: self.sequence,
            },
        );
        self.users
            .entry(user_id.to_string())
            .or_default()
            .latest_refresh_token = Some(token.clone());
        token
    }
}

/// Whether `scope` is one the simulated platform grants (`base` is the simulator's own
/// origin, accepted like `https://graph.microsoft.com`).
pub(crate) fn known_scope(scope: &str, base: &str) -> bool {
    if OIDC_SCOPES.contains(&scope) {
        return true;
    }
    let permission = scope
        .strip_prefix("https://graph.microsoft.com/")
        .or_else(|| scope.strip_prefix(&format!("{base}/")))
        .unwrap_or(scope);
    KNOWN_PERMISSIONS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(permission))
}

/// A checked authorize request: where the answer goes and what the code will grant.
pub(crate) struct AuthorizeRequest {
    pub client_id: String,
    pub redirect: String,
    pub state: String,
    pub challenge: String,
    pub method: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
}

impl AuthorizeRequest {
    /// Sends the browser back to the app with an OAuth error.
    pub fn fail(&self, error: &str, description: &str) -> Response {
        error_redirect(&self.redirect, error, description, &self.state)
    }
}

/// Checks the authorize request `q`: an unknown tenant, app or redirect URI is shown as a
/// page (the redirect URI cannot be trusted); other errors go back to the redirect URI.
pub(crate) fn check_authorize(
    t: &Tenant,
    ids: &IdentityState,
    tenant: &str,
    q: &HashMap<String, String>,
    base: &str,
) -> Result<AuthorizeRequest, Box<Response>> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if !t.knows_tenant(tenant) {
        return Err(Box::new(page(format!(
            "AADSTS90002: Tenant '{tenant}' not found."
        ))));
    }
    let client_id = get("client_id");
    let Some(app) = ids.app(t, client_id) else {
        return Err(Box::new(page(format!(
            "AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'."
        ))));
    };
    let redirect = get("redirect_uri");
    if !app.redirect_uris.iter().any(|r| r == redirect) {
        return Err(Box::new(page(format!(
            "AADSTS50011: The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
        ))));
    }
    let method = if get("code_challenge_method").is_empty() {
        "plain"
    } else {
        get("code_challenge_method")
    };
    let request = AuthorizeRequest {
        client_id: client_id.to_string(),
        redirect: redirect.to_string(),
        state: get("state").to_string(),
        challenge: get("code_challenge").to_string(),
        method: method.to_string(),
        scopes: get("scope")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        nonce: q.get("nonce").filter(|n| !n.is_empty()).cloned(),
    };
    if get("response_type") != "code" {
        return Err(Box::new(request.fail(
            "unsupported_response_type",
            "AADSTS70005: response_type 'token' is not enabled for the application.",
        )));
    }
    if request.challenge.is_empty() || !matches!(method, "S256" | "plain") {
        return Err(Box::new(request.fail(
            "invalid_request",
            "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
        )));
    }
    if let Some(bad) = request.scopes.iter().find(|s| !known_scope(s, base)) {
        return Err(Box::new(request.fail(
            "invalid_scope",
            &format!(
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope '{bad}' does not exist."
            ),
        )));
    }
    Ok(request)
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: signs in the `login_hint` user at once (how the
/// sync tests authorize); without a hint it shows the sign-in form (`sign_in_form`).
pub(crate) async fn authorize(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = lock(&state.tenant);
    let mut ids = lock(&state.identity);
    let request = match check_authorize(&t, &ids, &tenant, &q, &state.base) {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    let hint = q.get("login_hint").map(String::as_str).unwrap_or("");
    if hint.is_empty() {
        return super::sign_in_form::form(&tenant, &q, None);
    }
    let Some(user) = t
        .users
        .iter()
        .find(|u| u.user_principal_name.eq_ignore_ascii_case(hint))
    else {
        return request.fail(
            "invalid_request",
            &format!(
                "AADSTS50034: The user account {hint} does not exist in the {tenant} directory."
            ),
        );
    };
    sign_in(&mut ids, &request, user)
}

/// Signs `user` in for `request`: refuses a disabled account (50057) or one blocked by
/// Conditional Access (53003), else issues a code and sends the browser back with it.
pub(crate) fn sign_in(
    ids: &mut IdentityState,
    request: &AuthorizeRequest,
    user: &super::tenant::SimUser,
) -> Response {
    if !user.account_enabled {
        return request.fail(
            "access_denied",
            "AADSTS50057: The user account is disabled.",
        );
    }
    let signin = ids.users.entry(user.id.clone()).or_default();
    if signin.blocked_by_conditional_access {
        return request.fail(
            "access_denied",
            "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        );
    }
    // Signing in through the authorize endpoint grants consent again.
    signin.consent_revoked = false;
    let code = IdentityState::random("simcode");
    ids.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: request.client_id.clone(),
            user_id: user.id.clone(),
            redirect_uri: request.redirect.clone(),
            challenge: request.challenge.clone(),
            method: request.method.clone(),
            scopes: request.scopes.clone(),
            nonce: request.nonce.clone(),
            expires: Instant::now() + CODE_LIFETIME,
            redeemed: false,
        },
    );
    let mut target = match url::Url::parse(&request.redirect) {
        Ok(u) => u,
        Err(_) => return page("AADSTS50011: unparseable redirect URI".into()),
    };
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &request.state);
    found(target.as_str())
}

/// Whether Graph refuses `token` for lack of permission (see [`SimulatorHandle::deny_graph_access`]).
pub(crate) fn is_denied(state: &SimState, token: &str) -> bool {
    let ids = lock(&state.identity);
    if ids.denied.is_empty() {
        return false;
    }
    let principal = ids
        .subjects
        .get(token)
        .or_else(|| ids.app_tokens.get(token));
    principal.is_some_and(|p| ids.denied.iter().any(|d| d.eq_ignore_ascii_case(p)))
}

/// PKCE: does `verifier` match the code's challenge?
pub(crate) fn pkce_matches(grant: &CodeGrant, verifier: &str) -> bool {
    match grant.method.as_str() {
        "S256" => {
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
                == grant.challenge
        }
        _ => verifier == grant.challenge,
    }
}

/// `GET /v1.0/me`: the signed-in user of a delegated token.
pub(crate) async fn me(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    state
        .graph_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let valid = lock(&state.tokens)
        .get(token)
        .is_some_and(|expiry| *expiry > Instant::now());
    if !valid {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        );
    }
    let subject = lock(&state.identity).subjects.get(token).cloned();
    let Some(user_id) = subject else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        );
    };
    let t = lock(&state.tenant);
    match t.users.iter().find(|u| u.id == user_id) {
        Some(u) => (
            StatusCode::OK,
            axum::Json(json!({
                "@odata.context": format!("{}/v1.0/$metadata#users/$entity", state.base),
                "id": u.id,
                "userPrincipalName": u.user_principal_name,
                "displayName": u.display_name,
                "mail": u.mail,
            })),
        )
            .into_response(),
        None => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "Resource does not exist.",
        ),
    }
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": super::clock::graph_date(),
        "request-id": uuid::Uuid::new_v4().to_string(),
    }}});
    (status, axum::Json(body)).into_response()
}

/// An error the authorize endpoint shows instead of redirecting (the redirect URI cannot
/// be trusted).
fn page(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Sign in\n\n{message}\n"),
    )
        .into_response()
}

fn error_redirect(redirect: &str, error: &str, description: &str, state: &str) -> Response {
    match url::Url::parse(redirect) {
        Ok(mut target) => {
            target
                .query_pairs_mut()
                .append_pair("error", error)
                .append_pair("error_description", description)
                .append_pair("state", state);
            found(target.as_str())
        }
        Err(_) => page(description.to_string()),
    }
}

fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// What tests do to the identity platform.
impl SimulatorHandle {
    /// Registers (or updates) another app registration in the tenant with a client secret.
    pub fn register_app(&self, client_id: &str, client_secret: &str) {
        let mut ids = lock(&self.state().identity);
        let app = ids.app_mut(client_id);
        app.client_secret = Some(client_secret.to_string());
        app.secret_expired = false;
    }

    /// Uploads a PEM certificate to an app (the tenant's own or a registered one).
    pub fn register_certificate(&self, client_id: &str, pem: &[u8]) {
        let ders: Vec<Vec<u8>> = rustls_pemfile::certs(&mut &pem[..])
            .filter_map(Result::ok)
            .map(|c| c.to_vec())
            .collect();
        lock(&self.state().identity)
            .app_mut(client_id)
            .certificates
            .extend(ders);
    }

    /// Adds a redirect URI to an app.
    pub fn register_redirect_uri(&self, client_id: &str, uri: &str) {
        lock(&self.state().identity)
            .app_mut(client_id)
            .redirect_uris
            .push(uri.to_string());
    }

    /// Expires a registered app's client secret (AADSTS7000222); for the tenant's own app
    /// use [`SimulatorHandle::revoke_secret`].
    pub fn expire_app_secret(&self, client_id: &str) {
        lock(&self.state().identity)
            .app_mut(client_id)
            .secret_expired = true;
    }

    /// The user revokes consent: refreshing fails with 65001 until they sign in again.
    pub fn revoke_consent(&self, upn: &str) {
        self.with_signin(upn, |s, _| s.consent_revoked = true);
    }

    /// The user consents again (as signing in through the authorize endpoint does).
    pub fn grant_consent(&self, upn: &str) {
        self.with_signin(upn, |s, _| s.consent_revoked = false);
    }

    /// Makes every redeemed refresh token invalid from then on (see
    /// `IdentityState::strict_rotation`).
    pub fn set_strict_rotation(&self, strict: bool) {
        lock(&self.state().identity).strict_rotation = strict;
    }

    /// `revokeSignInSessions`: the user's refresh tokens fail with 50173.
    pub fn revoke_sessions(&self, upn: &str) {
        self.with_signin(upn, |s, seq| s.sessions_valid_from = seq + 1);
    }

    /// A Conditional Access policy blocks the user's token issuance (53003), or not.
    pub fn set_conditional_access_block(&self, upn: &str, blocked: bool) {
        self.with_signin(upn, |s, _| s.blocked_by_conditional_access = blocked);
    }

    /// Graph answers 403 `Authorization_RequestDenied` to the tokens of this app (client id)
    /// or user (UPN): the permission was never granted or was removed.
    pub fn deny_graph_access(&self, client_id_or_upn: &str) {
        let state = self.state();
        let principal = lock(&state.tenant)
            .users
            .iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(client_id_or_upn))
            .map(|u| u.id.clone())
            .unwrap_or_else(|| client_id_or_upn.to_string());
        lock(&state.identity).denied.push(principal);
    }

    /// How many refresh-token redemptions the user's tokens have seen.
    pub fn refreshes_for(&self, upn: &str) -> u64 {
        self.with_signin(upn, |s, _| s.refreshes)
    }

    /// The newest refresh token issued to the user (tests check it is not stored in plain).
    pub fn latest_refresh_token(&self, upn: &str) -> Option<String> {
        self.with_signin(upn, |s, _| s.latest_refresh_token.clone())
    }

    fn with_signin<R>(&self, upn: &str, f: impl FnOnce(&mut UserSignIn, u64) -> R) -> R {
        let state = self.state();
        let id = lock(&state.tenant)
            .users
            .iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
            .map(|u| u.id.clone())
            .unwrap_or_else(|| upn.to_string());
        let mut ids = lock(&state.identity);
        let seq = ids.sequence;
        f(ids.users.entry(id).or_default(), seq)
    }
}
