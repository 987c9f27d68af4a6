//! What a refused or failed token request means, in one line an admin can act on, and
//! whether it is the credential's fault (then the sync moves to the backup).
//!
//! Why: the AADSTS code in a refusal says which setting to fix (graph.md §1.5), while the
//! secret, the refresh token and the assertion must never appear in a message. A refusal
//! by the identity platform (invalid_grant, invalid_client, interaction_required, …) is a
//! credential failure; an unreachable or failing endpoint is not, and trying another
//! credential against it would only hide the outage.

use crate::sync::error::error_chain;
use oauth2::basic::BasicErrorResponse;
use oauth2::{HttpClientError, RequestTokenError};

/// The oauth2 crate's error for a token request made with reqwest.
pub type TokenError = RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// A token request that did not yield a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFailure {
    /// The identity platform refused this credential (try the next one).
    pub refused: bool,
    /// Why, without any secret.
    pub text: String,
}

impl TokenFailure {
    /// A refusal described by us (e.g. a stored authorization that cannot be opened).
    pub fn refused(text: impl Into<String>) -> TokenFailure {
        TokenFailure {
            refused: true,
            text: text.into(),
        }
    }

    /// A failure that is not the credential's fault.
    pub fn other(text: impl Into<String>) -> TokenFailure {
        TokenFailure {
            refused: false,
            text: text.into(),
        }
    }
}

/// Classifies and describes `err`; every string in `secrets` is redacted from the text.
pub fn classify(err: TokenError, secrets: &[&str]) -> TokenFailure {
    let refused = match &err {
        RequestTokenError::ServerResponse(resp) => !matches!(
            resp.error().as_ref(),
            "temporarily_unavailable" | "server_error"
        ),
        _ => false,
    };
    let mut text = describe(err);
    for secret in secrets {
        text = redact(&text, secret);
    }
    TokenFailure { refused, text }
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
pub fn aadsts_code(text: &str) -> Option<u32> {
    let (_, rest) = text.split_once("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What to do about the common AADSTS codes.
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
        700027 => {
            "upload entra.client_certificate to the app registration (Certificates & secrets), or check entra.client_key belongs to it"
        }
        700024 | 500133 => "check this host's clock",
        50057 => "the authorizing admin's account is disabled: re-authorize with an active admin",
        65001 => "consent was revoked: re-authorize (POST /api/v1/sync/authorizations)",
        50173 | 700082 | 70008 => {
            "the authorization was revoked or expired: re-authorize (POST /api/v1/sync/authorizations)"
        }
        53003 => "a Conditional Access policy blocks this sign-in: allow the sync host",
        _ => return None,
    })
}

/// Replaces any occurrence of the secret (defence in depth: no server should echo it).
pub fn redact(text: &str, secret: &str) -> String {
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
    fn server_errors_keep_code_and_first_line_only() {
        let e = server_error(
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: abc\r\nCorrelation ID: def",
        );
        let f = classify(e, &[]);
        assert!(f.refused);
        assert!(f.text.contains("invalid_client"), "{}", f.text);
        assert!(
            f.text
                .contains("AADSTS7000215: Invalid client secret provided."),
            "{}",
            f.text
        );
        assert!(f.text.contains("entra.client_secret"), "{}", f.text);
        assert!(!f.text.contains("Trace ID"), "{}", f.text);
        let text = classify(
            server_error("unauthorized_client", "AADSTS700016: App not found"),
            &[],
        )
        .text;
        assert!(text.contains("entra.client_id"), "{text}");
    }

    #[test]
    fn refusals_are_credential_failures_outages_are_not() {
        for kind in [
            "invalid_grant",
            "invalid_client",
            "unauthorized_client",
            "interaction_required",
            "consent_required",
        ] {
            assert!(
                classify(server_error(kind, "AADSTS1: x"), &[]).refused,
                "{kind}"
            );
        }
        for kind in ["temporarily_unavailable", "server_error"] {
            assert!(!classify(server_error(kind, "x"), &[]).refused, "{kind}");
        }
        let parse = RequestTokenError::Other("HTTP 503".to_string());
        assert!(!classify(parse, &[]).refused);
    }

    #[test]
    fn aadsts_codes_are_extracted_and_secrets_redacted() {
        assert_eq!(
            aadsts_code("AADSTS90002: Tenant 'x' not found"),
            Some(90002)
        );
        assert_eq!(aadsts_code("no code here"), None);
        assert_eq!(aadsts_code("AADSTS"), None);
        assert_eq!(redact("bad s3cret!", "s3cret"), "bad [redacted]!");
        assert_eq!(redact("text", ""), "text");
        let f = classify(
            server_error("invalid_grant", "AADSTS1: rt-123 bad"),
            &["rt-123"],
        );
        assert!(!f.text.contains("rt-123"), "{}", f.text);
    }
}
