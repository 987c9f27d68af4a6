//! The sync worker: reads the tenant from Microsoft Graph and commits it to the store.
//!
//! Why: the directory must mirror Entra without ever serving a half-applied change. A run
//! fetches a complete picture (OAuth2 client credentials, paged Graph reads), applies the
//! scoping rules, and hands the store one atomic commit; only then is a new snapshot
//! published. A failed run leaves what is served untouched and says why in its run record.
//!
//! Layout: [`token`] gets access tokens from a chain of [`credentials`] (app secret or
//! certificate, delegated authorizations; primary then backup), [`graph`] talks to Graph
//! safely (retries, paging), [`fetch`] reads the tenant, [`scope`] decides who is active and
//! which groups are imported under the [`settings`] (the `[sync]` options, file over admin
//! over default), [`guard`] holds runs that would delete too much, [`worker`] runs it all in
//! the background; [`retry`] and [`error`] support them.

pub mod commit;
pub mod credentials;
pub mod error;
pub mod fetch;
pub mod graph;
pub mod guard;
pub mod retry;
pub mod scope;
pub mod settings;
pub mod token;
pub mod worker;

pub use error::SyncError;
pub use worker::SyncService;

/// A run was requested while another is in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sync is already running (run {0})")]
pub struct AlreadyRunning(pub u64);
