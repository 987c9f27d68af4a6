//! The admin HTTP API (bearer token) and the CLI client that talks to it.
pub mod api;
pub mod authorize;
pub mod cli_views;
pub mod client;
pub mod directory;
pub mod id_token;
pub mod json_errors;
pub mod oidc;
pub mod openapi;
pub mod pending;
pub mod report;
pub mod settings;
pub mod ssh_keys;
pub mod tls;
pub mod users;

use crate::app::Services;
use api::ApiError;
use axum::http::StatusCode;
use std::sync::Arc;

/// Runs store work for an admin request (API, console, self-service) on tokio's blocking
/// pool. Why: reading the whole store (user lists, group pages) or republishing the
/// directory takes ~0.1 s at 10,000 users and seconds at 100,000, a flushed write waits for
/// the disk, and any store call waits while the store is reopened after a sync run (up to
/// ~1.4 s after a full sync of 100,000 users); on the async runtime each of these would
/// stall the LDAP connections sharing that worker thread.
pub async fn off_runtime<T: Send + 'static>(
    services: Arc<Services>,
    work: impl FnOnce(&Services) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || work(&services))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "admin store task failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error (see server log)",
            )
        })?
}
