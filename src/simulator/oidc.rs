//! The simulated tenant as an OpenID provider: id_tokens from the token endpoint, the
//! tenant's JWKS and its OpenID discovery document, and the switches tests use to make an
//! id_token wrong in one specific way.
//!
//! Why faithful shapes: the server verifies id_tokens the way it must against Microsoft
//! (RS256 with a `kid` looked up in the JWKS, the v2.0 issuer
//! `{authority}/{tenant id}/v2.0`, `aud` = client id, `tid`, `nonce`, `exp`), so the
//! simulator issues exactly those claims (graph.md §1.3: an `id_token` only with `openid`;
//! "id_token claims v2.0"). The signing keys are test-only PEM files in `certs/simulator/`.

use super::server::{SimState, SimulatorHandle, lock};
use super::tenant::{SimUser, Tenant};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use std::sync::{Arc, LazyLock};

/// How long an id_token is valid (Entra: one hour).
const ID_TOKEN_LIFETIME_SECS: i64 = 3600;
/// The simulator's id_token signing keys, PKCS#8 PEM (test-only, see certs/simulator/README.md).
const KEY_PEMS: [&str; 2] = [
    include_str!("../../certs/simulator/id-token-signing-1.key"),
    include_str!("../../certs/simulator/id-token-signing-2.key"),
];

/// Every simulated user's Microsoft sign-in password, unless a test sets another with
/// [`SimulatorHandle::set_sign_in_password`]. (Their LDAP passwords are separate, as with
/// the real service.)
pub const DEFAULT_SIGN_IN_PASSWORD: &str = "entra-demo-password";

/// One signing key: its `kid` and the JWK form of its public half.
struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
    n: String,
    e: String,
}

/// The parsed signing keys (a constant PEM that fails to parse is logged and skipped; the
/// simulator then issues no id_tokens rather than panicking).
static KEYS: LazyLock<Vec<SigningKey>> = LazyLock::new(|| {
    KEY_PEMS
        .iter()
        .filter_map(|pem| match parse_key(pem) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::error!(error = %e, "simulator id_token signing key unusable");
                None
            }
        })
        .collect()
});

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn parse_key(pem: &str) -> Result<SigningKey, String> {
    let der = rustls_pemfile::pkcs8_private_keys(&mut pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or("not PEM PKCS#8")?;
    let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| e.to_string())?;
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    let thumb = ring::digest::digest(&ring::digest::SHA256, &public.n);
    Ok(SigningKey {
        // Entra's kids are short base64url thumbprints; ours are derived from the modulus.
        kid: b64(thumb.as_ref().get(..20).unwrap_or_default()),
        n: b64(&public.n),
        e: b64(&public.e),
        pair,
    })
}

/// A way to make the next id_token wrong (tests of the server's verification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenFault {
    /// Signed by a different key than its `kid` names.
    BadSignature,
    /// `aud` is another app's client id.
    WrongAudience,
    /// `iss` is the v1.0 issuer (`https://sts.windows.net/{tid}/`).
    WrongIssuer,
    /// `nonce` is not the one the authorize request carried.
    WrongNonce,
    /// Expired an hour ago.
    Expired,
    /// `tid` names another tenant.
    WrongTenant,
}

/// What an id_token is issued for.
pub(crate) struct IdTokenRequest<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
}

/// The id_token for `request`, signed with the current key and bent by `fault` if set;
/// `None` when the user is unknown or no key is usable.
pub(crate) fn id_token(
    t: &Tenant,
    base: &str,
    key_index: usize,
    request: &IdTokenRequest<'_>,
    fault: Option<IdTokenFault>,
) -> Option<String> {
    let user = t.users.iter().find(|u| u.id == request.user_id)?;
    let key = KEYS.get(key_index).or_else(|| KEYS.first())?;
    let now = crate::model::now();
    let claims = claims(t, base, user, request, now, fault);
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": key.kid});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signer = if fault == Some(IdTokenFault::BadSignature) {
        KEYS.iter().find(|k| k.kid != key.kid)?
    } else {
        key
    };
    let mut signature = vec![0u8; signer.pair.public().modulus_len()];
    signer
        .pair
        .sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .ok()?;
    Some(format!("{signing_input}.{}", b64(&signature)))
}

/// The v2.0 claims Entra puts in an id_token for these scopes.
fn claims(
    t: &Tenant,
    base: &str,
    user: &SimUser,
    request: &IdTokenRequest<'_>,
    now: i64,
    fault: Option<IdTokenFault>,
) -> Value {
    let has = |scope: &str| request.scopes.iter().any(|s| s == scope);
    let mut tid = t.tenant_id.clone();
    let mut iss = issuer(base, &t.tenant_id);
    let mut aud = request.client_id.to_string();
    let mut nonce = request.nonce.map(str::to_string);
    let mut iat = now;
    match fault {
        Some(IdTokenFault::WrongAudience) => aud = "00000000-0000-0000-0000-00000000dead".into(),
        Some(IdTokenFault::WrongIssuer) => iss = format!("https://sts.windows.net/{tid}/"),
        Some(IdTokenFault::WrongNonce) => nonce = Some("not-the-nonce-you-sent".into()),
        Some(IdTokenFault::Expired) => iat = now - 2 * ID_TOKEN_LIFETIME_SECS,
        Some(IdTokenFault::WrongTenant) => tid = "00000000-0000-0000-0000-0000000beef0".into(),
        Some(IdTokenFault::BadSignature) | None => {}
    }
    // `sub` is pairwise per app in Entra: stable for this user and this client only.
    let sub_digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{}:{}", user.id, request.client_id).as_bytes(),
    );
    let mut claims = json!({
        "ver": "2.0",
        "iss": iss,
        "aud": aud,
        "iat": iat,
        "nbf": iat,
        "exp": iat + ID_TOKEN_LIFETIME_SECS,
        "sub": b64(sub_digest.as_ref()),
        "oid": user.id,
        "tid": tid,
        "uti": uuid::Uuid::new_v4().simple().to_string(),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if has("profile") {
        claims["name"] = json!(user.display_name);
        claims["preferred_username"] = json!(user.user_principal_name);
    }
    if has("email")
        && let Some(mail) = &user.mail
    {
        claims["email"] = json!(mail);
    }
    claims
}

/// The v2.0 issuer of a tenant: `{authority}/{tenant id}/v2.0`.
fn issuer(base: &str, tenant_id: &str) -> String {
    format!("{base}/{tenant_id}/v2.0")
}

/// `GET /{tenant}/discovery/v2.0/keys`: the public keys id_tokens are signed with, up to and
/// including the current one (after a rotation the old key stays published, as Entra's do).
pub(crate) async fn jwks(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
) -> Response {
    if let Some(refusal) = unknown_tenant(&state, &tenant) {
        return refusal;
    }
    let current = lock(&state.identity).signing_key;
    let keys: Vec<Value> = KEYS
        .iter()
        .take(current + 1)
        .map(|k| {
            json!({
                "kty": "RSA",
                "use": "sig",
                "kid": k.kid,
                "n": k.n,
                "e": k.e,
                "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            })
        })
        .collect();
    Json(json!({ "keys": keys })).into_response()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: the tenant's endpoints and
/// issuer (with the tenant's id even when asked by domain name, as Entra answers).
pub(crate) async fn discovery(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
) -> Response {
    if let Some(refusal) = unknown_tenant(&state, &tenant) {
        return refusal;
    }
    let tenant_id = lock(&state.tenant).tenant_id.clone();
    let base = &state.base;
    Json(json!({
        "issuer": issuer(base, &tenant_id),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "name", "preferred_username", "email", "oid", "tid", "ver"],
        "tenant_region_scope": "EU",
    }))
    .into_response()
}

/// AADSTS90002 for a tenant the simulator does not serve.
fn unknown_tenant(state: &SimState, tenant: &str) -> Option<Response> {
    if lock(&state.tenant).knows_tenant(tenant) {
        return None;
    }
    Some(
        (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_tenant",
                "error_description": format!("AADSTS90002: Tenant '{tenant}' not found."),
                "error_codes": [90002],
            })),
        )
            .into_response(),
    )
}

/// Whether `password` is the user's Microsoft sign-in password.
pub(crate) fn password_matches(
    ids: &super::delegation::IdentityState,
    user_id: &str,
    password: &str,
) -> bool {
    let expected = ids
        .sign_in_passwords
        .get(user_id)
        .map(String::as_str)
        .unwrap_or(DEFAULT_SIGN_IN_PASSWORD);
    !password.is_empty()
        && crate::admin::api::constant_time_eq(expected.as_bytes(), password.as_bytes())
}

/// What tests do to the OpenID side of the identity platform.
impl SimulatorHandle {
    /// Sets `upn`'s Microsoft sign-in password (the sign-in form checks it).
    pub fn set_sign_in_password(&self, upn: &str, password: &str) {
        let state = self.state();
        let id = lock(&state.tenant)
            .users
            .iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
            .map(|u| u.id.clone());
        if let Some(id) = id {
            lock(&state.identity)
                .sign_in_passwords
                .insert(id, password.to_string());
        }
    }

    /// Makes the next id_token issued wrong in the way `fault` says.
    pub fn break_next_id_token(&self, fault: IdTokenFault) {
        lock(&self.state().identity).id_token_fault = Some(fault);
    }

    /// Signs id_tokens with the next key from now on (its `kid` is new to any cached JWKS);
    /// the JWKS publishes it next to the old one.
    pub fn rotate_signing_key(&self) {
        let mut ids = lock(&self.state().identity);
        ids.signing_key = (ids.signing_key + 1).min(KEY_PEMS.len() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_signing_keys_parse_with_distinct_kids() {
        assert_eq!(KEYS.len(), 2);
        assert_ne!(KEYS[0].kid, KEYS[1].kid);
        assert_eq!(KEYS[0].kid.len(), 27);
    }

    #[test]
    fn id_tokens_carry_the_v2_claims_and_verify_with_the_published_key() {
        let mut t = Tenant::new("tid-1", "cid", "sec");
        t.users.push(SimUser {
            id: "u1".into(),
            user_principal_name: "alice@example.com".into(),
            display_name: Some("Alice".into()),
            mail: Some("alice@example.com".into()),
            account_enabled: true,
            ..Default::default()
        });
        let scopes = ["openid".to_string(), "profile".into(), "email".into()];
        let request = IdTokenRequest {
            client_id: "cid",
            user_id: "u1",
            scopes: &scopes,
            nonce: Some("n-1"),
        };
        let jwt = id_token(&t, "http://sim", 0, &request, None).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let decode = |p: &str| -> Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(decode(parts[0])["kid"], KEYS[0].kid.as_str());
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "http://sim/tid-1/v2.0");
        assert_eq!(claims["aud"], "cid");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["tid"], "tid-1");
        assert_eq!(claims["oid"], "u1");
        assert_eq!(claims["preferred_username"], "alice@example.com");
        assert_eq!(claims["email"], "alice@example.com");
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(KEYS[0].pair.public());
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(
            public
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    signed.as_bytes(),
                    &signature
                )
                .is_ok()
        );
        let forged = id_token(
            &t,
            "http://sim",
            0,
            &request,
            Some(IdTokenFault::BadSignature),
        )
        .unwrap();
        let parts: Vec<&str> = forged.split('.').collect();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(
            public
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    signed.as_bytes(),
                    &signature
                )
                .is_err(),
            "a bad signature does not verify with the key its kid names"
        );
    }
}
