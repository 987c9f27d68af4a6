//! The admin HTTP API (bearer token) and the CLI client that talks to it.
pub mod api;
pub mod authorize;
pub mod client;
pub mod report;
pub mod settings;
pub mod ssh_keys;
pub mod users;
