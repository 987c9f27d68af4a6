//! The admin HTTP API (bearer token) and the CLI client that talks to it.
pub mod api;
pub mod authorize;
pub mod client;
