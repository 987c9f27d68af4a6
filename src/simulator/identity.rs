//! The identity platform's v2.0 token endpoint: client credentials (secret or certificate
//! assertion), authorization code with PKCE, and refresh token grants; delegated grants
//! with the `openid` scope also get an id_token (`oidc`).
//!
//! Why faithful errors: sync turns AADSTS codes into messages an admin acts on, so the
//! simulator answers each misconfiguration with the `error`, AADSTS code and HTTP status
//! Microsoft uses (see graph.md §1.5), in the same JSON shape.

use super::assertion::{AssertionError, verify};
use super::clock::identity_timestamp;
use super::delegation::{AppView, IdentityState, pkce_matches};
use super::server::{SimState, lock};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The only scope resource Microsoft accepts for Graph.
const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A token-endpoint refusal: HTTP status, OAuth `error`, AADSTS code and message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct IdentityError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
    /// e.g. `consent_required`, `message_only` (graph.md §1.5).
    suberror: Option<&'static str>,
}

impl IdentityError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: String) -> Self {
        IdentityError {
            status,
            error,
            code,
            message,
            suberror: None,
        }
    }

    fn into_response(self, base: &str) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = identity_timestamp();
        let mut body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{base}/error?code={}", self.code),
        });
        if let Some(sub) = self.suberror {
            body["suberror"] = json!(sub);
        }
        (self.status, Json(body)).into_response()
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`: client credentials, authorization code (PKCE)
/// and refresh token grants.
pub(crate) async fn token(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.token_requests.fetch_add(1, Ordering::Relaxed);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let basic = basic_credentials(&headers);
    let checked = {
        let t = lock(&state.tenant);
        let mut ids = lock(&state.identity);
        check_request(&t, &mut ids, &tenant, &form, basic, &state.base)
    };
    match checked {
        Err(e) => e.into_response(&state.base),
        Ok(grant) => {
            let lifetime = grant.lifetime;
            let access_token = issue(&state, lifetime);
            let mut body = json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": access_token,
            });
            match grant.user_id {
                Some(user_id) => {
                    if grant.scopes.iter().any(|s| s == "openid") {
                        body["id_token"] = json!(id_token_for(
                            &state,
                            &grant.client_id,
                            &user_id,
                            &grant.scopes,
                            grant.nonce.as_deref()
                        ));
                    }
                    lock(&state.identity)
                        .subjects
                        .insert(access_token.clone(), user_id);
                    body["scope"] = json!(grant.scopes.join(" "));
                }
                None => {
                    lock(&state.identity)
                        .app_tokens
                        .insert(access_token.clone(), grant.client_id.clone());
                }
            }
            if let Some(rt) = grant.refresh_token {
                body["refresh_token"] = json!(rt);
            }
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store, no-cache")],
                Json(body),
            )
                .into_response()
        }
    }
}

/// What a successful token request is granted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Granted {
    lifetime: u64,
    /// The signed-in user for delegated grants.
    user_id: Option<String>,
    /// The app the token is issued to.
    client_id: String,
    scopes: Vec<String>,
    refresh_token: Option<String>,
    /// The authorize request's nonce, for the id_token (code grants only).
    nonce: Option<String>,
}

/// Validates a token request against the tenant and the identity state.
fn check_request(
    t: &super::Tenant,
    ids: &mut IdentityState,
    tenant: &str,
    form: &HashMap<String, String>,
    basic: Option<(String, String)>,
    base: &str,
) -> Result<Granted, IdentityError> {
    use StatusCode as S;
    if !t.knows_tenant(tenant) {
        return Err(IdentityError::new(
            S::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if !matches!(
        grant,
        "client_credentials" | "authorization_code" | "refresh_token"
    ) {
        return Err(IdentityError::new(
            S::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.".to_string(),
        ));
    }
    let (client_id, secret) = match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned(),
        ),
    };
    if client_id.is_empty() {
        return Err(IdentityError::new(
            S::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.".to_string(),
        ));
    }
    let Some(app) = ids.app(t, &client_id) else {
        return Err(IdentityError::new(
            S::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        ));
    };
    if grant == "client_credentials" {
        let scope = form.get("scope").map(String::as_str).unwrap_or("");
        let own_scope = format!("{base}/.default");
        if scope != GRAPH_DEFAULT_SCOPE && scope != own_scope {
            return Err(IdentityError::new(
                S::BAD_REQUEST,
                "invalid_scope",
                70011,
                format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope '{scope}' is not valid."
                ),
            ));
        }
    }
    authenticate_client(
        &app,
        &client_id,
        secret,
        form,
        &format!("{base}/{tenant}/oauth2/v2.0/token"),
    )?;
    match grant {
        "authorization_code" => redeem_code(t, ids, &client_id, form),
        "refresh_token" => redeem_refresh_token(t, ids, &client_id, form),
        _ => Ok(Granted {
            lifetime: t.token_lifetime_secs,
            client_id: client_id.clone(),
            user_id: None,
            scopes: Vec::new(),
            refresh_token: None,
            nonce: None,
        }),
    }
}

/// The client secret or the client assertion must prove the app's identity.
fn authenticate_client(
    app: &AppView,
    client_id: &str,
    secret: Option<String>,
    form: &HashMap<String, String>,
    audience: &str,
) -> Result<(), IdentityError> {
    use StatusCode as S;
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(IdentityError::new(
                S::BAD_REQUEST,
                "invalid_request",
                50027,
                "Invalid JWT token. The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.".to_string(),
            ));
        }
        let invalid_client = |code: u32, message: String| {
            IdentityError::new(S::UNAUTHORIZED, "invalid_client", code, message)
        };
        return verify(assertion, &app.certificates, client_id, audience, crate::model::now())
            .map_err(|e| match e {
                AssertionError::UnknownKey(thumbprint) => invalid_client(
                    700027,
                    format!("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}']"),
                ),
                AssertionError::BadSignature => invalid_client(
                    700027,
                    "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]".to_string(),
                ),
                AssertionError::Audience(aud) => invalid_client(
                    700021,
                    format!("Client assertion audience claim does not match Realm issuer. Review the documentation at https://aka.ms/certCredentials . Actual: '{aud}'."),
                ),
                AssertionError::Issuer => invalid_client(
                    700023,
                    "Client assertion issuer and subject claims must be the client id.".to_string(),
                ),
                AssertionError::TimeRange => invalid_client(
                    700024,
                    "Client assertion is not within its valid time range.".to_string(),
                ),
                AssertionError::Malformed(why) => IdentityError::new(
                    S::BAD_REQUEST,
                    "invalid_request",
                    50027,
                    format!("Invalid JWT token. {why}"),
                ),
            });
    }
    let Some(secret) = secret else {
        return Err(IdentityError::new(
            S::BAD_REQUEST,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_string(),
        ));
    };
    if app.secret_expired {
        return Err(IdentityError::new(
            S::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."
            ),
        ));
    }
    if app.client_secret.as_deref() != Some(secret.as_str()) {
        return Err(IdentityError::new(
            S::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        ));
    }
    Ok(())
}

/// `invalid_grant` with an AADSTS code.
fn invalid_grant(code: u32, message: &str) -> IdentityError {
    IdentityError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        code,
        message.to_string(),
    )
}

/// The authorization-code grant: single use, ten minutes, same client and redirect URI,
/// and the PKCE verifier.
fn redeem_code(
    t: &super::Tenant,
    ids: &mut IdentityState,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Granted, IdentityError> {
    let code = form.get("code").map(String::as_str).unwrap_or("");
    let Some(grant) = ids.codes.get_mut(code) else {
        return Err(invalid_grant(
            70000,
            "The provided value for the 'code' parameter is not valid.",
        ));
    };
    if grant.redeemed {
        return Err(invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    grant.redeemed = true;
    let grant = grant.clone();
    if Instant::now() > grant.expires {
        return Err(invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        ));
    }
    if !grant.client_id.eq_ignore_ascii_case(client_id) {
        return Err(invalid_grant(
            70000,
            "The provided value for the 'code' parameter is not valid. The code was issued to another client.",
        ));
    }
    if form.get("redirect_uri").map(String::as_str) != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            500112,
            "The reply address does not match the reply address provided when requesting the authorization code.",
        ));
    }
    let verifier = form.get("code_verifier").map(String::as_str).unwrap_or("");
    if !pkce_matches(&grant, verifier) {
        return Err(invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    user_may_get_tokens(t, ids, &grant.user_id)?;
    let refresh_token = grant
        .scopes
        .iter()
        .any(|s| s == "offline_access")
        .then(|| ids.issue_refresh_token(client_id, &grant.user_id, &grant.scopes));
    Ok(Granted {
        lifetime: t.token_lifetime_secs,
        client_id: client_id.to_string(),
        user_id: Some(grant.user_id),
        scopes: grant.scopes,
        refresh_token,
        nonce: grant.nonce,
    })
}

/// The refresh-token grant: rotates the token (the old one keeps working, as Entra's do).
fn redeem_refresh_token(
    t: &super::Tenant,
    ids: &mut IdentityState,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Granted, IdentityError> {
    let presented = form.get("refresh_token").map(String::as_str).unwrap_or("");
    let Some(grant) = ids.refresh_tokens.get(presented).cloned() else {
        return Err(invalid_grant(
            9002313,
            "Invalid request. Request is malformed or invalid.",
        ));
    };
    if !grant.client_id.eq_ignore_ascii_case(client_id) {
        return Err(invalid_grant(
            70000,
            "The refresh token was issued to a different client.",
        ));
    }
    user_may_get_tokens(t, ids, &grant.user_id)?;
    let signin = ids.users.entry(grant.user_id.clone()).or_default();
    if grant.issued < signin.sessions_valid_from {
        return Err(invalid_grant(
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
        ));
    }
    signin.refreshes += 1;
    if ids.strict_rotation {
        ids.refresh_tokens.remove(presented);
    }
    let rotated = ids.issue_refresh_token(client_id, &grant.user_id, &grant.scopes);
    Ok(Granted {
        lifetime: t.token_lifetime_secs,
        client_id: client_id.to_string(),
        user_id: Some(grant.user_id),
        scopes: grant.scopes,
        refresh_token: Some(rotated),
        nonce: None,
    })
}

/// The user-level refusals: disabled account, revoked consent, Conditional Access.
fn user_may_get_tokens(
    t: &super::Tenant,
    ids: &mut IdentityState,
    user_id: &str,
) -> Result<(), IdentityError> {
    let enabled = t
        .users
        .iter()
        .find(|u| u.id == user_id)
        .map(|u| u.account_enabled);
    match enabled {
        None => {
            return Err(invalid_grant(
                50034,
                "The user account does not exist in the directory.",
            ));
        }
        Some(false) => return Err(invalid_grant(50057, "The user account is disabled.")),
        Some(true) => {}
    }
    let signin = ids.users.entry(user_id.to_string()).or_default();
    if signin.consent_revoked {
        let mut e = invalid_grant(
            65001,
            "The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.",
        );
        e.suberror = Some("consent_required");
        return Err(e);
    }
    if signin.blocked_by_conditional_access {
        let mut e = IdentityError::new(
            StatusCode::BAD_REQUEST,
            "interaction_required",
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.".to_string(),
        );
        e.suberror = Some("message_only");
        return Err(e);
    }
    Ok(())
}

/// Client id and secret from `Authorization: Basic` (RFC 6749 §2.3.1: both form-encoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// The id_token of an `openid` grant (signed with the current key, bent by a pending
/// test fault).
fn id_token_for(
    state: &SimState,
    client_id: &str,
    user_id: &str,
    scopes: &[String],
    nonce: Option<&str>,
) -> Option<String> {
    let t = lock(&state.tenant);
    let mut ids = lock(&state.identity);
    let fault = ids.id_token_fault.take();
    let request = super::oidc::IdTokenRequest {
        client_id,
        user_id,
        scopes,
        nonce,
    };
    super::oidc::id_token(&t, &state.base, ids.signing_key, &request, fault)
}

/// Issues a random opaque access token valid for `lifetime` seconds, forgetting expired
/// ones.
fn issue(state: &SimState, lifetime: u64) -> String {
    let token = format!(
        "sim.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let now = Instant::now();
    let mut tokens = lock(&state.tokens);
    tokens.retain(|_, expiry| *expiry > now);
    tokens.insert(token.clone(), now + Duration::from_secs(lifetime));
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::Tenant;

    const BASE: &str = "http://127.0.0.1:1";

    /// A client-credentials check with no delegated state; the granted lifetime.
    fn check(
        t: &Tenant,
        tenant: &str,
        form: &HashMap<String, String>,
        basic: Option<(String, String)>,
        base: &str,
    ) -> Result<u64, IdentityError> {
        let mut ids = IdentityState::default();
        check_request(t, &mut ids, tenant, form, basic, base).map(|g| g.lifetime)
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn good() -> HashMap<String, String> {
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cid"),
            ("client_secret", "sec"),
            ("scope", GRAPH_DEFAULT_SCOPE),
        ])
    }

    fn code_of(r: Result<u64, IdentityError>) -> (u16, &'static str, u32) {
        let e = r.unwrap_err();
        (e.status.as_u16(), e.error, e.code)
    }

    #[test]
    fn accepts_valid_request_by_id_or_domain_and_own_scope() {
        let mut t = Tenant::new("tid", "cid", "sec");
        t.domains.push(crate::simulator::SimDomain::verified(
            "example.com",
            true,
            false,
        ));
        assert_eq!(check(&t, "tid", &good(), None, BASE), Ok(3599));
        assert!(check(&t, "example.com", &good(), None, BASE).is_ok());
        let mut f = good();
        f.insert("scope".into(), format!("{BASE}/.default"));
        assert!(check(&t, "tid", &f, None, BASE).is_ok());
    }

    #[test]
    fn errors_carry_the_documented_codes() {
        let mut t = Tenant::new("tid", "cid", "sec");
        assert_eq!(
            code_of(check(&t, "other", &good(), None, BASE)),
            (400, "invalid_request", 90002)
        );
        let mut f = good();
        f.insert("client_secret".into(), "wrong".into());
        assert_eq!(
            code_of(check(&t, "tid", &f, None, BASE)),
            (401, "invalid_client", 7000215)
        );
        let mut f = good();
        f.insert("client_id".into(), "nobody".into());
        assert_eq!(
            code_of(check(&t, "tid", &f, None, BASE)),
            (400, "unauthorized_client", 700016)
        );
        let mut f = good();
        f.insert(
            "scope".into(),
            "https://graph.microsoft.com/User.Read".into(),
        );
        assert_eq!(
            code_of(check(&t, "tid", &f, None, BASE)),
            (400, "invalid_scope", 70011)
        );
        let mut f = good();
        f.insert("grant_type".into(), "password".into());
        assert_eq!(
            code_of(check(&t, "tid", &f, None, BASE)).1,
            "unsupported_grant_type"
        );
        t.secret_expired = true;
        assert_eq!(
            code_of(check(&t, "tid", &good(), None, BASE)),
            (401, "invalid_client", 7000222)
        );
    }

    #[test]
    fn basic_auth_is_accepted() {
        let t = Tenant::new("tid", "cid", "s:c ret");
        let mut f = good();
        f.remove("client_id");
        f.remove("client_secret");
        let mut h = HeaderMap::new();
        let raw = base64::engine::general_purpose::STANDARD.encode("cid:s%3Ac+ret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {raw}").parse().unwrap(),
        );
        let creds = basic_credentials(&h);
        assert_eq!(creds, Some(("cid".into(), "s:c ret".into())));
        assert!(check(&t, "tid", &f, creds, BASE).is_ok());
    }

    /// A tenant with user `u1` and a pending code `code` for it (PKCE S256 of `verifier`).
    fn with_code(code: &str, verifier: &str) -> (Tenant, IdentityState) {
        let mut t = Tenant::new("tid", "cid", "sec");
        t.users.push(crate::simulator::SimUser {
            id: "u1".into(),
            user_principal_name: "admin@example.com".into(),
            account_enabled: true,
            ..Default::default()
        });
        let mut ids = IdentityState::default();
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        ids.codes.insert(
            code.to_string(),
            super::super::delegation::CodeGrant {
                client_id: "cid".into(),
                user_id: "u1".into(),
                redirect_uri: "http://127.0.0.1:1/cb".into(),
                challenge: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()),
                method: "S256".into(),
                scopes: vec!["offline_access".into(), "User.Read.All".into()],
                nonce: None,
                expires: Instant::now() + Duration::from_secs(60),
                redeemed: false,
            },
        );
        (t, ids)
    }

    fn redeem(code: &str, verifier: &str, redirect: &str) -> HashMap<String, String> {
        form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "cid"),
            ("client_secret", "sec"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
    }

    fn refusal(r: Result<Granted, IdentityError>) -> (&'static str, u32, Option<&'static str>) {
        let e = r.unwrap_err();
        (e.error, e.code, e.suberror)
    }

    const CB: &str = "http://127.0.0.1:1/cb";

    #[test]
    fn codes_check_redirect_pkce_and_are_single_use() {
        let v = "a".repeat(43);
        let (t, mut ids) = with_code("c", &v);
        let r = check_request(
            &t,
            &mut ids,
            "tid",
            &redeem("c", &v, "http://other/cb"),
            None,
            BASE,
        );
        assert_eq!(refusal(r), ("invalid_grant", 500112, None));
        let (t, mut ids) = with_code("c", &v);
        let r = check_request(
            &t,
            &mut ids,
            "tid",
            &redeem("c", "wrong-verifier", CB),
            None,
            BASE,
        );
        assert_eq!(refusal(r), ("invalid_grant", 501481, None));
        let (t, mut ids) = with_code("c", &v);
        let granted = check_request(&t, &mut ids, "tid", &redeem("c", &v, CB), None, BASE).unwrap();
        assert_eq!(granted.user_id.as_deref(), Some("u1"));
        assert!(
            granted.refresh_token.is_some(),
            "offline_access gives a refresh token"
        );
        let r = check_request(&t, &mut ids, "tid", &redeem("c", &v, CB), None, BASE);
        assert_eq!(refusal(r), ("invalid_grant", 54005, None));
        let r = check_request(&t, &mut ids, "tid", &redeem("nope", &v, CB), None, BASE);
        assert_eq!(refusal(r).1, 70000);
    }

    #[test]
    fn refresh_tokens_rotate_and_fail_like_entra() {
        let v = "b".repeat(43);
        let (mut t, mut ids) = with_code("c", &v);
        let first = check_request(&t, &mut ids, "tid", &redeem("c", &v, CB), None, BASE)
            .unwrap()
            .refresh_token
            .unwrap();
        let refresh = |rt: &str| {
            form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "cid"),
                ("client_secret", "sec"),
                ("refresh_token", rt),
            ])
        };
        let second = check_request(&t, &mut ids, "tid", &refresh(&first), None, BASE)
            .unwrap()
            .refresh_token
            .unwrap();
        assert_ne!(first, second, "rotated");
        assert!(
            check_request(&t, &mut ids, "tid", &refresh(&first), None, BASE).is_ok(),
            "old refresh tokens keep working, as Entra's do"
        );

        ids.users.entry("u1".into()).or_default().consent_revoked = true;
        let r = check_request(&t, &mut ids, "tid", &refresh(&second), None, BASE);
        assert_eq!(
            refusal(r),
            ("invalid_grant", 65001, Some("consent_required"))
        );
        ids.users.entry("u1".into()).or_default().consent_revoked = false;

        ids.users
            .entry("u1".into())
            .or_default()
            .blocked_by_conditional_access = true;
        let r = check_request(&t, &mut ids, "tid", &refresh(&second), None, BASE);
        assert_eq!(
            refusal(r),
            ("interaction_required", 53003, Some("message_only"))
        );
        ids.users
            .entry("u1".into())
            .or_default()
            .blocked_by_conditional_access = false;

        let seq = ids.sequence;
        ids.users
            .entry("u1".into())
            .or_default()
            .sessions_valid_from = seq + 1;
        let r = check_request(&t, &mut ids, "tid", &refresh(&second), None, BASE);
        assert_eq!(refusal(r), ("invalid_grant", 50173, None));
        ids.users
            .entry("u1".into())
            .or_default()
            .sessions_valid_from = 0;

        t.disable_user("admin@example.com");
        let r = check_request(&t, &mut ids, "tid", &refresh(&second), None, BASE);
        assert_eq!(refusal(r), ("invalid_grant", 50057, None));
        t.set_enabled("admin@example.com", true);

        t.secret_expired = true;
        let r = check_request(&t, &mut ids, "tid", &refresh(&second), None, BASE);
        assert_eq!(refusal(r), ("invalid_client", 7000222, None));
        t.secret_expired = false;

        ids.strict_rotation = true;
        let third = check_request(&t, &mut ids, "tid", &refresh(&second), None, BASE)
            .unwrap()
            .refresh_token
            .unwrap();
        assert!(check_request(&t, &mut ids, "tid", &refresh(&second), None, BASE).is_err());
        assert!(check_request(&t, &mut ids, "tid", &refresh(&third), None, BASE).is_ok());
    }
}
