//! Every `4xx` under `/api/` answers with the API's JSON error shape.
//!
//! Why: handlers already answer `{"error": "…"}`, but axum's own rejections (a query string
//! with an unknown or mistyped parameter, a path segment that is not a number, a body over
//! the size limit read as raw bytes, a method the route does not have) are plain text or
//! empty. A script should never have to guess the shape of an error, so this layer rewraps
//! them, keeping the status and headers (`Allow`, `WWW-Authenticate`) and the message.

use super::api::ApiError;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest rejection text kept (axum's are one line).
const MAX_MESSAGE_BYTES: usize = 4 * 1024;

/// The middleware: rewraps non-JSON client errors of `/api/` routes.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    if !api || !response.status().is_client_error() || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = if parts.status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .map(|v| format!(" (it accepts {v})"))
            .unwrap_or_default();
        format!("method {method} is not allowed on {path}{allowed}; see docs/api.md")
    } else if !text.is_empty() {
        text
    } else {
        parts
            .status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    };
    let mut rewrapped = ApiError::new(parts.status, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewrapped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewrapped
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
