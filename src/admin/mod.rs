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
