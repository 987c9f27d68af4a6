//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of the whole HTTP surface.
//!
//! Why a document kept in the repository (docs/openapi.json) rather than generated from
//! annotations: the handlers live in many files owned by different features, and a
//! hand-kept document is reviewed like the docs it belongs to. It cannot silently drift:
//! `tests/openapi.rs` fails when a route of the admin router is missing from it, or when it
//! documents a route that the router does not serve.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, compiled into the binary so it always matches this build.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.json");

/// Serves [`DOCUMENT`] (no bearer token: it describes the API, it holds no data).
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_json_with_responses_everywhere() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 20);
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
            }
        }
    }
}
