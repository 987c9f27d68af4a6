//! The identity platform's v2.0 token endpoint, client-credentials grant only.
//!
//! Why faithful errors: sync turns AADSTS codes into messages an admin acts on, so the
//! simulator answers each misconfiguration with the `error`, AADSTS code and HTTP status
//! Microsoft uses (see graph.md §1.5), in the same JSON shape.

use super::clock::identity_timestamp;
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
}

impl IdentityError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: String) -> Self {
        IdentityError {
            status,
            error,
            code,
            message,
        }
    }

    fn into_response(self, base: &str) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = identity_timestamp();
        let body = json!({
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
        (self.status, Json(body)).into_response()
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
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
        check_request(&t, &tenant, &form, basic, &state.base)
    };
    match checked {
        Err(e) => e.into_response(&state.base),
        Ok(lifetime) => {
            let access_token = issue(&state, lifetime);
            let body = json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": access_token,
            });
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store, no-cache")],
                Json(body),
            )
                .into_response()
        }
    }
}

/// Validates a client-credentials request against the tenant; returns the token lifetime.
fn check_request(
    t: &super::Tenant,
    tenant: &str,
    form: &HashMap<String, String>,
    basic: Option<(String, String)>,
    base: &str,
) -> Result<u64, IdentityError> {
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
    if grant != "client_credentials" {
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
    if !client_id.eq_ignore_ascii_case(&t.client_id) {
        return Err(IdentityError::new(
            S::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        ));
    }
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
    let Some(secret) = secret else {
        return Err(IdentityError::new(
            S::BAD_REQUEST,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_string(),
        ));
    };
    if t.secret_expired {
        return Err(IdentityError::new(
            S::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."
            ),
        ));
    }
    if secret != t.client_secret {
        return Err(IdentityError::new(
            S::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        ));
    }
    Ok(t.token_lifetime_secs)
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
        assert_eq!(check_request(&t, "tid", &good(), None, BASE), Ok(3599));
        assert!(check_request(&t, "example.com", &good(), None, BASE).is_ok());
        let mut f = good();
        f.insert("scope".into(), format!("{BASE}/.default"));
        assert!(check_request(&t, "tid", &f, None, BASE).is_ok());
    }

    #[test]
    fn errors_carry_the_documented_codes() {
        let mut t = Tenant::new("tid", "cid", "sec");
        assert_eq!(
            code_of(check_request(&t, "other", &good(), None, BASE)),
            (400, "invalid_request", 90002)
        );
        let mut f = good();
        f.insert("client_secret".into(), "wrong".into());
        assert_eq!(
            code_of(check_request(&t, "tid", &f, None, BASE)),
            (401, "invalid_client", 7000215)
        );
        let mut f = good();
        f.insert("client_id".into(), "nobody".into());
        assert_eq!(
            code_of(check_request(&t, "tid", &f, None, BASE)),
            (400, "unauthorized_client", 700016)
        );
        let mut f = good();
        f.insert(
            "scope".into(),
            "https://graph.microsoft.com/User.Read".into(),
        );
        assert_eq!(
            code_of(check_request(&t, "tid", &f, None, BASE)),
            (400, "invalid_scope", 70011)
        );
        let mut f = good();
        f.insert("grant_type".into(), "password".into());
        assert_eq!(
            code_of(check_request(&t, "tid", &f, None, BASE)).1,
            "unsupported_grant_type"
        );
        t.secret_expired = true;
        assert_eq!(
            code_of(check_request(&t, "tid", &good(), None, BASE)),
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
        assert!(check_request(&t, "tid", &f, creds, BASE).is_ok());
    }
}
