//! The durable store: the only module that touches sled.
//!
//! Why: every write that must survive a crash (sync results, uid/gid allocations, password
//! verifiers, binders, run history) goes through one place, in one sled transaction per
//! commit, with versioned record encoding so a later release can migrate old records.
//! It knows nothing of LDAP, HTTP or the in-memory snapshot.

use crate::config::DirectoryConfig;
use crate::model::{BinderRecord, ChangeCounts, DirectoryData, ObjectId, SyncRun, TenantSnapshot};
use std::path::Path;

/// A store failure. `Corrupt` means a record could not be decoded (never silently skipped).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record in `{tree}`: {reason}")]
    Corrupt { tree: &'static str, reason: String },
    #[error("id space exhausted: {0}")]
    Exhausted(&'static str),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
}

/// Handle to the sled database. Cheap to clone (sled handles are reference-counted).
#[derive(Clone)]
pub struct Store {
    _db: sled::Db,
}

impl Store {
    /// Opens (or creates) the store under `dir`.
    pub fn open(_dir: &Path) -> Result<Store, StoreError> {
        todo!()
    }

    /// Applies one complete sync result atomically, together with its run record:
    /// allocates uid/gid numbers and login names for new objects (stable, never reused),
    /// marks users missing from `tenant` as `Inactive(Deleted)`, removes missing groups.
    /// Readers of the store see all of it or none of it.
    pub fn commit_sync(
        &self,
        _tenant: &TenantSnapshot,
        _rules: &DirectoryConfig,
        _run: &SyncRun,
    ) -> Result<ChangeCounts, StoreError> {
        todo!()
    }

    /// Everything the directory snapshot is built from.
    pub fn load_directory(&self) -> Result<DirectoryData, StoreError> {
        todo!()
    }

    /// The argon2id PHC string of a user's LDAP password, if one is set.
    pub fn user_verifier(&self, _user: &ObjectId) -> Result<Option<String>, StoreError> {
        todo!()
    }

    /// Sets a user's LDAP password verifier (PHC string). The user must exist.
    pub fn set_user_verifier(&self, _user: &ObjectId, _phc: &str) -> Result<(), StoreError> {
        todo!()
    }

    /// Creates a binder with its verifier; fails if the name is taken.
    pub fn add_binder(&self, _binder: &BinderRecord, _phc: &str) -> Result<(), StoreError> {
        todo!()
    }

    /// Replaces a binder's verifier (secret reset).
    pub fn set_binder_verifier(&self, _name: &str, _phc: &str) -> Result<(), StoreError> {
        todo!()
    }

    pub fn binder_verifier(&self, _name: &str) -> Result<Option<String>, StoreError> {
        todo!()
    }

    pub fn remove_binder(&self, _name: &str) -> Result<(), StoreError> {
        todo!()
    }

    pub fn list_binders(&self) -> Result<Vec<BinderRecord>, StoreError> {
        todo!()
    }

    /// Allocates the next run id and records the run as started (durable).
    pub fn begin_run(&self, _run: &SyncRun) -> Result<u64, StoreError> {
        todo!()
    }

    /// Records a run's final state (used for failed runs; successful ones are written by
    /// `commit_sync` in the same transaction as their data).
    pub fn record_run(&self, _run: &SyncRun) -> Result<(), StoreError> {
        todo!()
    }

    /// Newest first.
    pub fn list_runs(&self, _limit: usize) -> Result<Vec<SyncRun>, StoreError> {
        todo!()
    }

    pub fn get_run(&self, _id: u64) -> Result<Option<SyncRun>, StoreError> {
        todo!()
    }
}
