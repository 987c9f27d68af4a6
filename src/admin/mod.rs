//! The admin HTTP API (bearer token) and the CLI client that talks to it.
pub mod api;
pub mod authorize;
pub mod client;
pub mod id_token;
pub mod oidc;
pub mod pending;
pub mod report;
pub mod settings;
pub mod users;
