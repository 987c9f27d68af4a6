//! The kinds of credential the sync can read Graph with: an app registration's client
//! secret or certificate (app-only), and an admin's delegated authorization (refresh
//! token). [`crate::sync::token`] chains them into primary and backup.

pub mod app;
pub mod assertion;
pub mod delegated;
pub mod failure;
