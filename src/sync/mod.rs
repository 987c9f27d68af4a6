//! The sync worker: reads the tenant from Microsoft Graph and commits it to the store.
//!
//! Why: the directory must mirror Entra without ever serving a half-applied change. A run
//! fetches a complete picture (OAuth2 client credentials, paged Graph reads), applies the
//! scoping rules, and hands the store one atomic commit; only then is a new snapshot
//! published. A failed run leaves what is served untouched and says why in its run record.

use crate::config::{DirectoryConfig, EntraConfig};
use crate::directory::LiveDirectory;
use crate::model::{SyncRun, SyncTrigger};
use crate::store::Store;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A run was requested while another is in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sync is already running (run {0})")]
pub struct AlreadyRunning(pub u64);

/// Handle to the background sync worker. Cheap to clone.
#[derive(Clone)]
pub struct SyncService {
    _private: (),
}

impl SyncService {
    /// Spawns the worker: a startup run, then one every `entra.sync_interval_secs`, plus
    /// on-demand runs through [`SyncService::trigger`]. Stops when `shutdown` is cancelled.
    pub fn start(
        _entra: EntraConfig,
        _rules: DirectoryConfig,
        _store: Store,
        _live: Arc<LiveDirectory>,
        _shutdown: CancellationToken,
    ) -> SyncService {
        todo!()
    }

    /// Starts a run now; returns its id. Never two runs at once.
    pub fn trigger(&self, _trigger: SyncTrigger) -> Result<u64, AlreadyRunning> {
        todo!()
    }

    /// Waits until run `id` has finished and returns its record.
    pub async fn wait_for(&self, _id: u64) -> Option<SyncRun> {
        todo!()
    }

    /// Waits for the first run after start-up to finish (the demo prints its commands then).
    pub async fn wait_first_run(&self) -> Option<SyncRun> {
        todo!()
    }
}
