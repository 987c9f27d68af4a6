//! Signing people in with Microsoft: the OpenID Connect authorization-code flow with PKCE,
//! `state` and `nonce` against `[entra] authority_url`, and the verified identity it yields.
//!
//! The flow: [`MicrosoftSignIn::start`] gives the authorize URL (scopes `openid profile
//! email`) and remembers the PKCE verifier and nonce under the single-use state (the same
//! [`PendingFlows`] rules as "Authorize Account"); the identity platform sends the browser
//! back to [`CALLBACK_PATH`]; [`MicrosoftSignIn::complete`] redeems the code with the app's
//! credential and verifies the id_token (`id_token.rs`) against the tenant's JWKS. The
//! discovery document and JWKS are fetched on first use and cached; a `kid` the cache does
//! not know makes it refetch once (Microsoft rotates its keys).
//!
//! What a signed-in person may do (admin, employee, nobody) is decided by the console
//! (`console/access.rs`), not here.

use crate::admin::authorize::CallbackParams;
use crate::admin::id_token::{self, Expected, IdTokenError, Jwk};
use crate::admin::pending::{CallbackRefusal, FlowSetup, PendingFlows};
use crate::config::EntraConfig;
use crate::sync::credentials::app::AppRegistration;
use crate::sync::error::error_chain;
use oauth2::{PkceCodeVerifier, RedirectUrl};
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;

/// The callback's path under the admin listener's public URL.
pub const CALLBACK_PATH: &str = "/console/sign-in/callback";
/// How long a sign-in may take between leaving for Microsoft and coming back.
pub const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// Sign-ins waiting for their callback, at most: everyone who may sign in (employees
/// included) can have one open, and a flood from one address is stopped by the console's
/// per-address limit on starting sign-ins long before it could push others' out.
const MAX_PENDING_SIGN_INS: usize = 1024;
/// The scopes of a sign-in: an id_token with the user's name, UPN and mail; no API access.
const SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// What the callback needs from the start of a sign-in.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: String,
}

/// A sign-in that left for Microsoft: where to send the browser, and the state it must
/// come back with (the console binds it to the browser with a cookie).
pub struct Started {
    pub url: url::Url,
    pub state: String,
}

/// Who signed in, as the verified id_token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedInPerson {
    /// Entra object id (`oid`).
    pub object_id: String,
    /// `preferred_username` (the UPN), or empty when the token has none.
    pub username: String,
    pub name: Option<String>,
}

/// Why a sign-in failed, in words for the person and the audit trail (never a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignInError(pub String);

/// The tenant's issuer and signing keys, from its discovery document and JWKS.
#[derive(Clone, Debug)]
struct Provider {
    issuer: String,
    tenant_id: String,
    jwks_uri: String,
    keys: Vec<Jwk>,
}

/// The sign-in flow for the `[entra]` app.
pub struct MicrosoftSignIn {
    app: Result<AppRegistration, String>,
    http: reqwest::Client,
    discovery_url: Result<url::Url, String>,
    /// The configured tenant (id or domain name).
    tenant: String,
    client_id: String,
    redirect: RedirectUrl,
    pending: PendingFlows<Pending>,
    provider: Mutex<Option<Provider>>,
}

/// `{authority}/{tenant}/v2.0/.well-known/openid-configuration`.
fn discovery_url(authority: &url::Url, tenant: &str) -> Result<url::Url, String> {
    let mut url = authority.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| format!("authority_url {authority} cannot have a path"))?
        .pop_if_empty()
        .extend([tenant, "v2.0", ".well-known", "openid-configuration"]);
    Ok(url)
}

/// The tenant id in a v2.0 issuer `{authority}/{tenant id}/v2.0`.
fn tenant_of_issuer(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [.., tenant, "v2.0"] => Some((*tenant).to_string()),
        _ => None,
    }
}

impl MicrosoftSignIn {
    /// The flow for `entra`'s app, calling back to `public_url` + [`CALLBACK_PATH`].
    pub fn new(entra: &EntraConfig, public_url: &url::Url) -> MicrosoftSignIn {
        let FlowSetup {
            app,
            http,
            redirect,
        } = FlowSetup::new(entra, public_url, CALLBACK_PATH);
        MicrosoftSignIn {
            app,
            http,
            discovery_url: discovery_url(&entra.authority_url, &entra.tenant_id),
            tenant: entra.tenant_id.clone(),
            client_id: entra.client_id.clone(),
            redirect,
            pending: PendingFlows::with_capacity(STATE_LIFETIME, MAX_PENDING_SIGN_INS),
            provider: Mutex::new(None),
        }
    }

    /// The redirect URI to register on the app registration (platform "Web").
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    fn app(&self) -> Result<&AppRegistration, SignInError> {
        self.app
            .as_ref()
            .map_err(|e| SignInError(format!("the [entra] app cannot be used: {e}")))
    }

    /// Starts a sign-in: the authorize URL (PKCE S256, state, nonce) to send the browser to.
    pub fn start(&self) -> Result<Started, SignInError> {
        let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
        let (mut url, state, verifier) = self.app()?.authorize_url(self.redirect.clone(), &scopes);
        let nonce = crate::console::session::random_token();
        url.query_pairs_mut()
            .append_pair("nonce", &nonce)
            .append_pair("prompt", "select_account");
        self.pending
            .insert(state.secret().clone(), Pending { verifier, nonce });
        Ok(Started {
            url,
            state: state.secret().clone(),
        })
    }

    /// The callback: takes the single-use `state`, redeems the code and verifies the
    /// id_token. `state` must already have been matched to the browser by the caller.
    pub async fn complete(&self, params: &CallbackParams) -> Result<SignedInPerson, SignInError> {
        let (pending, code) = self.pending.redeem_callback(params).map_err(|r| {
            SignInError(match r {
                CallbackRefusal::UnknownState => {
                    "This sign-in has expired or was already used: start again.".to_string()
                }
                CallbackRefusal::Refused(error, description) => {
                    format!("Microsoft refused the sign-in ({error}): {description}")
                }
                CallbackRefusal::NoCode => "The callback carries no code.".to_string(),
            })
        })?;
        let response = self
            .app()?
            .redeem_sign_in_code(&self.http, code, pending.verifier, &self.redirect)
            .await
            .map_err(|f| SignInError(format!("Redeeming the sign-in code failed: {}", f.text)))?;
        let jwt = response
            .extra_fields()
            .id_token
            .clone()
            .ok_or_else(|| SignInError("Microsoft returned no id_token.".to_string()))?;
        let claims = self
            .verify(&jwt, &pending.nonce)
            .await
            .map_err(|e| SignInError(format!("The sign-in could not be verified: {e}.")))?;
        Ok(SignedInPerson {
            object_id: claims.object_id,
            username: claims.username.unwrap_or_default(),
            name: claims.name,
        })
    }

    /// Verifies `jwt` against the tenant, refetching its keys once if the `kid` is new.
    async fn verify(&self, jwt: &str, nonce: &str) -> Result<id_token::IdClaims, String> {
        let kid = id_token::key_id(jwt).map_err(|e| e.to_string())?;
        let cached = self.cached_provider();
        let provider = match cached {
            Some(p) if p.keys.iter().any(|k| k.kid == kid) => p,
            Some(p) => self.fetch_keys(p).await?,
            None => self.fetch_provider().await?,
        };
        let expected = Expected {
            issuer: &provider.issuer,
            audience: &self.client_id,
            tenant_id: &provider.tenant_id,
            nonce,
            now: crate::model::now(),
        };
        id_token::verify(jwt, &provider.keys, &expected).map_err(|e| match e {
            IdTokenError::UnknownKey(_) => format!("{e} (not even after refetching its keys)"),
            other => other.to_string(),
        })
    }

    fn cached_provider(&self) -> Option<Provider> {
        self.provider
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember(&self, provider: &Provider) {
        *self.provider.lock().unwrap_or_else(|p| p.into_inner()) = Some(provider.clone());
    }

    /// Reads the discovery document (issuer, JWKS URI) and the keys.
    async fn fetch_provider(&self) -> Result<Provider, String> {
        let url = self.discovery_url.clone()?;
        let doc = self.get_json(url.as_str()).await?;
        let text = |name: &str| {
            doc.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("the OpenID configuration at {url} has no {name}"))
        };
        let issuer = text("issuer")?;
        let jwks_uri = text("jwks_uri")?;
        // A tenant configured by domain name is known by its id in tokens: take it from the
        // issuer (`{authority}/{tenant id}/v2.0`), as Entra's discovery documents name it.
        let tenant_id = if uuid::Uuid::parse_str(&self.tenant).is_ok() {
            self.tenant.clone()
        } else {
            tenant_of_issuer(&issuer)
                .ok_or_else(|| format!("cannot read the tenant id from the issuer {issuer}"))?
        };
        let provider = Provider {
            issuer,
            tenant_id,
            jwks_uri,
            keys: Vec::new(),
        };
        self.fetch_keys(provider).await
    }

    /// Reads the JWKS again into `provider`.
    async fn fetch_keys(&self, mut provider: Provider) -> Result<Provider, String> {
        let doc = self.get_json(&provider.jwks_uri).await?;
        provider.keys = id_token::parse_jwks(&doc);
        if provider.keys.is_empty() {
            return Err(format!(
                "the JWKS at {} has no RSA signing keys",
                provider.jwks_uri
            ));
        }
        tracing::info!(keys = provider.keys.len(), jwks = %provider.jwks_uri, "fetched the tenant's id_token signing keys");
        self.remember(&provider);
        Ok(provider)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", error_chain(&e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url} answered HTTP {}", status.as_u16()));
        }
        response
            .json::<Value>()
            .await
            .map_err(|e| format!("GET {url}: malformed JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_tenant_ids_are_derived_like_entra_names_them() {
        let authority = url::Url::parse("https://login.microsoftonline.com/").unwrap();
        assert_eq!(
            discovery_url(&authority, "contoso.onmicrosoft.com")
                .unwrap()
                .as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(
            tenant_of_issuer(
                "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
            )
            .as_deref(),
            Some("9188040d-6c67-4c5b-b112-36a304b66dad")
        );
        assert_eq!(
            tenant_of_issuer("https://sts.windows.net/tid/"),
            None,
            "v1.0 issuers are not accepted"
        );
        assert_eq!(tenant_of_issuer("not a url"), None);
    }
}
