//! App-only access tokens for Graph: OAuth 2.0 client credentials against the identity
//! platform, cached until shortly before they expire.
//!
//! Why cached: one run makes hundreds of Graph requests; asking for a token each time would
//! be slow and throttled. Why careful errors: a misconfigured app registration is the most
//! common failure, and the AADSTS code in the refusal tells the admin which setting to fix
//! (graph.md §1.5) — while the secret itself must never appear in a message.

use super::error::{SyncError, error_chain};
use crate::config::{EntraConfig, Secret};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpClientError,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

type ConfiguredClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;
type TokenError = RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// Used when the token response has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Refresh this long before expiry at most (Entra tokens live about an hour).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Hands out a valid access token, fetching a new one when the cached one is near expiry.
pub struct TokenSource {
    client: ConfiguredClient,
    http: reqwest::Client,
    scope: String,
    secret: Secret,
    cached: Mutex<Option<(AccessToken, Instant)>>,
}

impl TokenSource {
    /// Prepares (does not yet request) tokens for `entra`'s app registration.
    pub fn new(entra: &EntraConfig, http: reqwest::Client) -> Result<TokenSource, SyncError> {
        let token_url = token_url(&entra.authority_url, &entra.tenant_id)?;
        let client = BasicClient::new(ClientId::new(entra.client_id.clone()))
            .set_client_secret(ClientSecret::new(entra.client_secret.expose().to_string()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(token_url));
        Ok(TokenSource {
            client,
            http,
            scope: graph_scope(&entra.graph_url),
            secret: entra.client_secret.clone(),
            cached: Mutex::new(None),
        })
    }

    /// A token valid for a while yet; concurrent callers share one request.
    pub async fn get(&self) -> Result<AccessToken, SyncError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let response: BasicTokenResponse = self
            .client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| SyncError::Token(redact(&describe(e), self.secret.expose())))?;
        let lifetime = response.expires_in().unwrap_or(DEFAULT_LIFETIME);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let token = response.access_token().clone();
        *cached = Some((token.clone(), Instant::now() + lifetime - margin));
        Ok(token)
    }

    /// Forgets `rejected` if it is still the cached token (Graph refused it, e.g. after
    /// revocation); a newer token fetched by a concurrent request is kept.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|(token, _)| token.secret() == rejected.secret())
        {
            *cached = None;
        }
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, with the tenant as one escaped path segment.
pub fn token_url(authority: &url::Url, tenant: &str) -> Result<url::Url, SyncError> {
    let mut url = authority.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| SyncError::Config(format!("authority_url {authority} cannot have a path")))?
        .pop_if_empty()
        .extend([tenant, "oauth2", "v2.0", "token"]);
    Ok(url)
}

/// The `.default` scope of the Graph resource: its origin plus `/.default`
/// (`https://graph.microsoft.com/.default` for Microsoft).
pub fn graph_scope(graph_url: &url::Url) -> String {
    format!("{}/.default", graph_url.origin().ascii_serialization())
}

/// Turns a token-endpoint failure into one line an admin can act on.
fn describe(err: TokenError) -> String {
    match err {
        RequestTokenError::ServerResponse(resp) => {
            let first_line = resp
                .error_description()
                .and_then(|d| d.lines().next())
                .unwrap_or("")
                .trim()
                .to_string();
            let code = aadsts_code(&first_line);
            let mut text = format!(
                "the identity platform refused the request ({})",
                resp.error()
            );
            if !first_line.is_empty() {
                text.push_str(": ");
                text.push_str(&first_line);
            }
            if let Some(hint) = code.and_then(hint_for) {
                text.push_str(" — ");
                text.push_str(hint);
            }
            text
        }
        RequestTokenError::Request(e) => match e {
            HttpClientError::Reqwest(inner) => {
                format!("cannot reach the token endpoint: {}", error_chain(&*inner))
            }
            other => format!("cannot reach the token endpoint: {}", error_chain(&other)),
        },
        // Never echo the body: a half-valid response might contain a token.
        RequestTokenError::Parse(e, _) => {
            format!("malformed token endpoint response (at `{}`)", e.path())
        }
        RequestTokenError::Other(text) => format!("unexpected token endpoint response: {text}"),
    }
}

/// `AADSTS7000215: …` → 7000215.
fn aadsts_code(text: &str) -> Option<u32> {
    let (_, rest) = text.split_once("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Which configuration key to look at for the common AADSTS codes.
fn hint_for(code: u32) -> Option<&'static str> {
    Some(match code {
        7000215 => "check entra.client_secret (use the secret's value, not its id)",
        7000222 => "the client secret has expired: create a new one and update entra.client_secret",
        700016 => {
            "check entra.client_id and entra.tenant_id (is the app registered in this tenant?)"
        }
        90002 => "check entra.tenant_id",
        70011 => "check entra.graph_url (the scope is derived from it)",
        7000112 => "the application is disabled in Entra",
        _ => return None,
    })
}

/// Replaces any occurrence of the secret (defence in depth: no server should echo it).
fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::StandardErrorResponse;
    use oauth2::basic::BasicErrorResponseType;

    fn server_error(kind: &str, description: &str) -> TokenError {
        let body = serde_json::json!({"error": kind, "error_description": description});
        let resp: StandardErrorResponse<BasicErrorResponseType> =
            serde_json::from_value(body).unwrap();
        RequestTokenError::ServerResponse(resp)
    }

    #[test]
    fn token_url_and_scope() {
        let a = url::Url::parse("https://login.microsoftonline.com/").unwrap();
        assert_eq!(
            token_url(&a, "contoso.com").unwrap().as_str(),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
        let a = url::Url::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            token_url(&a, "a/b").unwrap().as_str(),
            "http://127.0.0.1:8000/a%2Fb/oauth2/v2.0/token"
        );
        let g = url::Url::parse("https://graph.microsoft.com/").unwrap();
        assert_eq!(graph_scope(&g), "https://graph.microsoft.com/.default");
        let g = url::Url::parse("http://127.0.0.1:8000/").unwrap();
        assert_eq!(graph_scope(&g), "http://127.0.0.1:8000/.default");
    }

    #[test]
    fn server_errors_keep_code_and_first_line_only() {
        let e = server_error(
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: abc\r\nCorrelation ID: def",
        );
        let text = describe(e);
        assert!(text.contains("invalid_client"), "{text}");
        assert!(
            text.contains("AADSTS7000215: Invalid client secret provided."),
            "{text}"
        );
        assert!(text.contains("entra.client_secret"), "{text}");
        assert!(!text.contains("Trace ID"), "{text}");
        let text = describe(server_error(
            "unauthorized_client",
            "AADSTS700016: App not found",
        ));
        assert!(text.contains("entra.client_id"), "{text}");
    }

    #[test]
    fn aadsts_codes_are_extracted() {
        assert_eq!(
            aadsts_code("AADSTS90002: Tenant 'x' not found"),
            Some(90002)
        );
        assert_eq!(aadsts_code("no code here"), None);
        assert_eq!(aadsts_code("AADSTS"), None);
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("bad s3cret!", "s3cret"), "bad [redacted]!");
        assert_eq!(redact("text", ""), "text");
    }
}
