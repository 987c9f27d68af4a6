//! What one run hands to the store, and committing it under the deletion guard.
//!
//! Why a type of its own: a run's result must outlive the run when the deletion guard holds
//! it, so that an admin's "Approve" commits exactly what was held — not a fresh read that
//! might differ — and "Discard" drops it without a trace in the served directory.

use super::guard;
use super::settings::DeletionThreshold;
use crate::config::DirectoryConfig;
use crate::model::{ChangeCounts, SyncMode, SyncRun, TenantSnapshot};
use crate::store::{CommitPreview, Committed, MirrorUpdate, Store, StoreError};
use std::sync::Mutex;

/// A run's scoped result, ready to be committed: the directory and the Graph mirror
/// changes (with the delta links) that go with it.
#[derive(Debug)]
pub struct PendingCommit {
    pub snapshot: TenantSnapshot,
    pub mirror: MirrorUpdate,
}

/// How a commit attempt ended (errors aside).
#[derive(Debug)]
pub enum CommitResult {
    /// Written; these are the changes, and the directory as committed (in full, or only
    /// the records that changed).
    Done(ChangeCounts, Committed),
    /// Refused by the deletion guard; nothing was written.
    Held {
        reason: String,
        counts: ChangeCounts,
    },
}

impl PendingCommit {
    /// Commits with `run` as the run record. With `limit`, a commit deleting more than it
    /// allows is refused ([`CommitResult::Held`]); without (an admin approved), it is not.
    pub fn commit(
        &self,
        store: &Store,
        rules: &DirectoryConfig,
        run: &SyncRun,
        limit: Option<DeletionThreshold>,
    ) -> Result<CommitResult, StoreError> {
        let seen: Mutex<Option<CommitPreview>> = Mutex::new(None);
        let check = |preview: &CommitPreview| {
            if let Ok(mut slot) = seen.lock() {
                *slot = Some(*preview);
            }
            match &limit {
                Some(limit) => guard::check(limit, preview),
                None => Ok(()),
            }
        };
        // A delta run touches only the objects whose scoped state changed; a full run (the
        // periodic reconciliation) compares and returns everything.
        let result = if run.mode == Some(SyncMode::Delta) {
            store.commit_sync_delta(&self.snapshot, rules, run, &self.mirror, &check)
        } else {
            store
                .commit_sync_mirrored(&self.snapshot, rules, run, &self.mirror, &check)
                .map(|(counts, data)| (counts, Committed::Full(data)))
        };
        match result {
            Ok((counts, data)) => Ok(CommitResult::Done(counts, data)),
            Err(StoreError::Held(reason)) => {
                let counts = seen
                    .lock()
                    .ok()
                    .and_then(|slot| slot.map(|p| p.counts))
                    .unwrap_or_default();
                Ok(CommitResult::Held { reason, counts })
            }
            Err(e) => Err(e),
        }
    }

    /// Users and groups in the result (for the run's log line).
    pub fn sizes(&self) -> (usize, usize) {
        (self.snapshot.users.len(), self.snapshot.groups.len())
    }
}
