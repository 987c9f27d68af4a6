//! The durable store: the only module that touches sled.
//!
//! Why: every write that must survive a crash (sync results, uid/gid allocations, password
//! verifiers, binders, run history) goes through one place, in one sled transaction per
//! commit, with versioned record encoding so a later release can migrate old records.
//! It knows nothing of LDAP, HTTP or the in-memory snapshot.
//!
//! Layout (one sled tree each, every value encoded by [`codec`]):
//! `users` and `groups` (Entra object id → record), `domains` (domain name → domain),
//! `binders` (lowercased name → record), `user_verifiers` / `binder_verifiers` (same keys →
//! PHC string), `alloc` (number counters and name reservations, see [`commit`]),
//! `runs` (big-endian run id → run) and `meta` (schema version, run id counter, the sync
//! options admins saved, see `settings`); the Graph mirror and delta links in
//! `mirror_users`, `mirror_groups`, `mirror_meta` (see [`mirror`]).

mod audit;
mod codec;
mod commit;
pub mod credentials;
mod epochs;
mod handles;
mod incremental;
mod mirror;
mod naming;
mod settings;

use crate::config::DirectoryConfig;
use crate::model::{
    BinderRecord, ChangeCounts, DirectoryData, EntraDomain, GroupRecord, ObjectId, SyncOutcome,
    SyncRun, TenantSnapshot, UserRecord,
};
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub use incremental::Committed;
pub use mirror::{DeltaState, MirrorUpdate, StoredMirror};
pub use naming::{MAX_LOGIN_LEN, sanitize_cn, sanitize_login};

/// The on-disk layout version this release writes; checked on open.
pub const SCHEMA_VERSION: u32 = 1;

/// Tree names, also used in `Corrupt` errors so an operator knows where to look.
pub(crate) mod trees {
    pub const USERS: &str = "users";
    pub const GROUPS: &str = "groups";
    pub const DOMAINS: &str = "domains";
    pub const BINDERS: &str = "binders";
    pub const USER_VERIFIERS: &str = "user_verifiers";
    pub const BINDER_VERIFIERS: &str = "binder_verifiers";
    pub const ALLOC: &str = "alloc";
    pub const RUNS: &str = "runs";
    pub const META: &str = "meta";
}

/// How many of the newest runs are checked for interrupted ones on open.
const INTERRUPTED_SCAN: usize = 100;
/// How many runs the history keeps (older ones are pruned as new ones begin).
pub const RUN_HISTORY: u64 = 10_000;

const META_SCHEMA: &[u8] = b"schema_version";
const META_NEXT_RUN: &[u8] = b"next_run_id";

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
    /// The caller's commit guard refused the commit (e.g. the deletion threshold); nothing
    /// was written.
    #[error("held: {0}")]
    Held(String),
}

/// What a commit is about to change, shown to a [`CommitGuard`] before anything is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitPreview {
    pub counts: ChangeCounts,
    /// Active users stored before the commit.
    pub active_users_before: u64,
    /// Groups stored before the commit.
    pub groups_before: u64,
}

/// Decides whether a commit may proceed; `Err(reason)` aborts it with [`StoreError::Held`].
pub type CommitGuard<'a> = &'a (dyn Fn(&CommitPreview) -> Result<(), String> + Sync);

/// Open handles on every tree.
struct Trees {
    users: sled::Tree,
    groups: sled::Tree,
    domains: sled::Tree,
    binders: sled::Tree,
    user_verifiers: sled::Tree,
    binder_verifiers: sled::Tree,
    alloc: sled::Tree,
    runs: sled::Tree,
    meta: sled::Tree,
    mirror_users: sled::Tree,
    mirror_groups: sled::Tree,
    mirror_meta: sled::Tree,
}

impl Trees {
    fn open(db: &sled::Db) -> Result<Trees, StoreError> {
        Ok(Trees {
            users: db.open_tree(trees::USERS)?,
            groups: db.open_tree(trees::GROUPS)?,
            domains: db.open_tree(trees::DOMAINS)?,
            binders: db.open_tree(trees::BINDERS)?,
            user_verifiers: db.open_tree(trees::USER_VERIFIERS)?,
            binder_verifiers: db.open_tree(trees::BINDER_VERIFIERS)?,
            alloc: db.open_tree(trees::ALLOC)?,
            runs: db.open_tree(trees::RUNS)?,
            meta: db.open_tree(trees::META)?,
            mirror_users: db.open_tree(mirror::MIRROR_USERS)?,
            mirror_groups: db.open_tree(mirror::MIRROR_GROUPS)?,
            mirror_meta: db.open_tree(mirror::MIRROR_META)?,
        })
    }
}

/// Handle to the sled database. Cheap to clone (every clone shares one open database).
#[derive(Clone)]
pub struct Store {
    handles: Arc<handles::Handles>,
    /// Serialises `commit_sync` with `load_directory`: a commit reads the current object ids
    /// (sled transactions cannot iterate) and must not race another commit, and a load must
    /// not interleave with a commit's trees.
    directory_lock: Arc<Mutex<()>>,
    /// Digests of the stored users and groups, so a delta commit touches only what changed
    /// (see `incremental`); `None` until a full commit of this process builds them.
    digests: Arc<Mutex<Option<incremental::Digests>>>,
    /// Bumped by every verifier write, so cached verifications know when to stop trusting
    /// themselves without reading the verifier back (see `epochs`).
    verifier_epochs: Arc<epochs::VerifierEpochs>,
}

/// Turns a transaction's error into ours.
fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

/// Lifts one of our results into a transaction body (an error aborts the transaction).
fn in_tx<T>(r: Result<T, StoreError>) -> Result<T, ConflictableTransactionError<StoreError>> {
    r.map_err(ConflictableTransactionError::Abort)
}

/// Aborts a transaction with one of our errors.
fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// Decodes every value of a tree, failing on the first corrupt one.
fn decode_all<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
) -> Result<Vec<T>, StoreError> {
    tree.iter()
        .values()
        .map(|v| codec::decode(name, &v?))
        .collect()
}

impl Store {
    /// Opens (or creates) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let store = Store {
            handles: Arc::new(handles::Handles::open(dir)?),
            directory_lock: Arc::new(Mutex::new(())),
            digests: Arc::new(Mutex::new(None)),
            verifier_epochs: Arc::new(epochs::VerifierEpochs::new()),
        };
        store.check_schema()?;
        store.fail_interrupted_runs()?;
        Ok(store)
    }

    /// Marks runs still `Running` as failed. sled locks its directory, so a freshly opened
    /// store has no live run: such a record was left by a process that stopped mid-sync, and
    /// would otherwise show as running forever.
    /// Held runs are discarded the same way: what was held lived only in that process's
    /// memory, and the next run reads the tenant afresh (and is held again if it must be).
    fn fail_interrupted_runs(&self) -> Result<(), StoreError> {
        for run in self.list_runs(INTERRUPTED_SCAN)? {
            let (outcome, why) = match run.outcome {
                SyncOutcome::Running => (
                    SyncOutcome::Failed,
                    "interrupted: the server stopped during this run".to_string(),
                ),
                SyncOutcome::Held => (
                    SyncOutcome::Discarded,
                    format!(
                        "{} — discarded: the server restarted while the run was held",
                        run.error.as_deref().unwrap_or("held")
                    ),
                ),
                _ => continue,
            };
            let closed = SyncRun {
                outcome,
                finished: run.finished.or(Some(crate::model::now())),
                error: Some(why),
                ..run
            };
            self.record_run(&closed)?;
        }
        Ok(())
    }

    /// Writes the schema version into a new store, refuses a store of another version.
    fn check_schema(&self) -> Result<(), StoreError> {
        let h = self.handles()?;
        match h.trees.meta.get(META_SCHEMA)? {
            None => {
                let v = codec::encode(trees::META, &SCHEMA_VERSION)?;
                h.trees.meta.insert(META_SCHEMA, v)?;
                h.db.flush()?;
                Ok(())
            }
            Some(bytes) => {
                let found: u32 = codec::decode(trees::META, &bytes)?;
                if found == SCHEMA_VERSION {
                    Ok(())
                } else {
                    Err(StoreError::Corrupt {
                        tree: trees::META,
                        reason: format!(
                            "schema version {found}, but this release reads version {SCHEMA_VERSION}"
                        ),
                    })
                }
            }
        }
    }

    /// The open database, borrowed for one operation (see `handles`).
    fn handles(&self) -> Result<Arc<handles::Open>, StoreError> {
        self.handles.current()
    }

    /// Gives back the memory sled holds for pages it has read, if the store was read in
    /// full since the last call (the start-up load, loading the mirror, a full compare or
    /// publish, the admin user list), by closing and reopening the database (see `handles`
    /// for why). Best effort: when operations in flight keep the database busy it is left
    /// for the next call, and a failure to reopen is retried by the next operation; either
    /// way it is logged, not returned.
    pub fn release_memory(&self) {
        if self.handles.take_full_read() {
            self.reopen_for_memory();
        }
    }

    /// Gives back the memory sled holds after a sync run, whatever the run read. Why every
    /// run: each write to a sled 0.34 tree also moves one page out of a segment being
    /// cleaned, reading that page in whole (its `rewrite_page`), and its LRU hardly ever
    /// evicts; so even runs that only write their delta links grew an idle server by
    /// ~1–3 MiB each (38.2 -> 42.6 MiB over its first 80 s with a run every 30 s; flat at
    /// ~37.7 with a reopen after each; docs/benchmarks.md, Memory). A reopen takes ~20 ms,
    /// once per run; a crash during one is recovered like any other (sled reopens from its
    /// log; tests/crash_safety.rs kills the server around the end of runs).
    pub fn release_memory_after_run(&self) {
        self.handles.take_full_read();
        self.reopen_for_memory();
    }

    /// Closes and reopens the database (see `handles`). Best effort: when operations in
    /// flight keep it busy, it is left for the next [`Store::release_memory`] call, and a
    /// failure to reopen is retried by the next operation; either way it is logged, not
    /// returned.
    fn reopen_for_memory(&self) {
        let started = std::time::Instant::now();
        match self.handles.reopen() {
            Ok(true) => tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "store reopened to release sled's page cache"
            ),
            Ok(false) => {
                self.handles.keep_pending();
                tracing::debug!("store busy: sled's page cache kept for now");
            }
            Err(e) => tracing::warn!(error = %e, "reopening the store failed; retried on next use"),
        }
    }

    /// How many operations read (about) every record: tests use it to check that a path
    /// does not read that much.
    pub fn full_reads(&self) -> u64 {
        self.handles.full_reads()
    }

    /// How many times the database was reopened to give memory back.
    pub fn memory_releases(&self) -> u64 {
        self.handles.reopens()
    }

    fn lock_directory(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`, so a poisoned lock carries no broken state.
        self.directory_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one complete sync result atomically, together with its run record:
    /// allocates uid/gid numbers and login names for new objects (stable, never reused),
    /// marks users missing from `tenant` as `Inactive(Deleted)`, removes missing groups.
    /// Readers of the store see all of it or none of it.
    ///
    /// The run is stored with `changes` set to the returned counts. `users_removed` is
    /// always 0: users are never deleted from the store, only deactivated.
    pub fn commit_sync(
        &self,
        tenant: &TenantSnapshot,
        rules: &DirectoryConfig,
        run: &SyncRun,
    ) -> Result<ChangeCounts, StoreError> {
        self.commit_sync_guarded(tenant, rules, run, &|_| Ok(()))
    }

    /// [`Store::commit_sync`], but `guard` sees what the commit would change first and may
    /// refuse it ([`StoreError::Held`], nothing written) — the accidental-deletion guard.
    pub fn commit_sync_guarded(
        &self,
        tenant: &TenantSnapshot,
        rules: &DirectoryConfig,
        run: &SyncRun,
        guard: CommitGuard<'_>,
    ) -> Result<ChangeCounts, StoreError> {
        let _guard = self.lock_directory();
        self.handles.note_full_read();
        // This path does not keep the digests up to date: the next commit compares all.
        self.put_digests(None);
        let h = self.handles()?;
        let t = &h.trees;
        let existing = commit::Existing::read(&t.users, &t.groups, &t.domains)?;
        let counts = (&t.users, &t.groups, &t.domains, &t.alloc, &t.runs)
            .transaction(|(users, groups, domains, alloc, runs)| {
                let tx = commit::TxTrees {
                    users,
                    groups,
                    domains,
                    alloc,
                    runs,
                };
                commit::apply(&tx, &existing, tenant, rules, run, guard)
            })
            .map_err(tx_error)?;
        Ok(counts)
    }

    /// True once a sync has committed users or groups: the directory served is the tenant's,
    /// not an empty placeholder (readiness).
    pub fn is_populated(&self) -> Result<bool, StoreError> {
        let h = self.handles()?;
        Ok(!h.trees.users.is_empty() || !h.trees.groups.is_empty())
    }

    /// Everything the directory snapshot is built from.
    pub fn load_directory(&self) -> Result<DirectoryData, StoreError> {
        let _guard = self.lock_directory();
        self.handles.note_full_read();
        let h = self.handles()?;
        let t = &h.trees;
        Ok(DirectoryData {
            users: decode_all::<UserRecord>(&t.users, trees::USERS)?,
            groups: decode_all::<GroupRecord>(&t.groups, trees::GROUPS)?,
            domains: decode_all::<EntraDomain>(&t.domains, trees::DOMAINS)?,
            binders: decode_all::<BinderRecord>(&t.binders, trees::BINDERS)?,
        })
    }

    /// The tenant's domains as the last committed sync read them (`GET /domains`); small,
    /// so pages can show them without loading the directory.
    pub fn load_domains(&self) -> Result<Vec<EntraDomain>, StoreError> {
        decode_all::<EntraDomain>(&self.handles()?.trees.domains, trees::DOMAINS)
    }

    /// The argon2id PHC string of a user's LDAP password, if one is set.
    pub fn user_verifier(&self, user: &ObjectId) -> Result<Option<String>, StoreError> {
        self.get_decoded(
            &self.handles()?.trees.user_verifiers,
            trees::USER_VERIFIERS,
            user.as_bytes(),
        )
    }

    /// The write counter of a user's verifier (see `epochs`): read it before the verifier,
    /// and trust a verification made then only while it is unchanged.
    pub fn user_verifier_epoch(&self, user: &ObjectId) -> u64 {
        self.verifier_epochs
            .current(trees::USER_VERIFIERS, user.as_bytes())
    }

    /// The write counter of a binder's verifier, as [`Store::user_verifier_epoch`].
    pub fn binder_verifier_epoch(&self, name: &str) -> u64 {
        self.verifier_epochs
            .current(trees::BINDER_VERIFIERS, binder_key(name).as_bytes())
    }

    /// Hands back a verifier write's outcome after bumping that verifier's counter. Every
    /// write of a verifier tree ends here, committed or not (a bump only costs a cached
    /// verification).
    fn verifier_written<T>(&self, tree: &str, key: &[u8], outcome: T) -> T {
        self.verifier_epochs.bump(tree, key);
        outcome
    }

    /// Sets a user's LDAP password verifier (PHC string). The user must exist.
    pub fn set_user_verifier(&self, user: &ObjectId, phc: &str) -> Result<(), StoreError> {
        let value = codec::encode(trees::USER_VERIFIERS, &phc)?;
        let h = self.handles()?;
        let t = &h.trees;
        let written = (&t.users, &t.user_verifiers)
            .transaction(|(users, verifiers)| {
                if users.get(user.as_bytes())?.is_none() {
                    return abort(StoreError::NotFound(format!("user {user}")));
                }
                verifiers.insert(user.as_bytes(), value.clone())?;
                verifiers.flush();
                Ok(())
            })
            .map_err(tx_error);
        self.verifier_written(trees::USER_VERIFIERS, user.as_bytes(), written)
    }

    /// Creates a binder with its verifier; fails if the name is taken (case-insensitively,
    /// as LDAP compares the `cn` it is bound by).
    pub fn add_binder(&self, binder: &BinderRecord, phc: &str) -> Result<(), StoreError> {
        let key = binder_key(&binder.name);
        let record = codec::encode(trees::BINDERS, binder)?;
        let verifier = codec::encode(trees::BINDER_VERIFIERS, &phc)?;
        let h = self.handles()?;
        let t = &h.trees;
        let written = (&t.binders, &t.binder_verifiers)
            .transaction(|(binders, verifiers)| {
                if binders.get(key.as_bytes())?.is_some() {
                    return abort(StoreError::AlreadyExists(format!("binder {}", binder.name)));
                }
                binders.insert(key.as_bytes(), record.clone())?;
                verifiers.insert(key.as_bytes(), verifier.clone())?;
                verifiers.flush();
                Ok(())
            })
            .map_err(tx_error);
        self.verifier_written(trees::BINDER_VERIFIERS, key.as_bytes(), written)
    }

    /// Replaces a binder's verifier (secret reset). The binder must exist.
    pub fn set_binder_verifier(&self, name: &str, phc: &str) -> Result<(), StoreError> {
        let key = binder_key(name);
        let verifier = codec::encode(trees::BINDER_VERIFIERS, &phc)?;
        let h = self.handles()?;
        let t = &h.trees;
        let written = (&t.binders, &t.binder_verifiers)
            .transaction(|(binders, verifiers)| {
                if binders.get(key.as_bytes())?.is_none() {
                    return abort(StoreError::NotFound(format!("binder {name}")));
                }
                verifiers.insert(key.as_bytes(), verifier.clone())?;
                verifiers.flush();
                Ok(())
            })
            .map_err(tx_error);
        self.verifier_written(trees::BINDER_VERIFIERS, key.as_bytes(), written)
    }

    /// A binder's PHC string, if the binder exists.
    pub fn binder_verifier(&self, name: &str) -> Result<Option<String>, StoreError> {
        let key = binder_key(name);
        self.get_decoded(
            &self.handles()?.trees.binder_verifiers,
            trees::BINDER_VERIFIERS,
            key.as_bytes(),
        )
    }

    /// Deletes a binder and its verifier together.
    pub fn remove_binder(&self, name: &str) -> Result<(), StoreError> {
        let key = binder_key(name);
        let h = self.handles()?;
        let t = &h.trees;
        let written = (&t.binders, &t.binder_verifiers)
            .transaction(|(binders, verifiers)| {
                if binders.remove(key.as_bytes())?.is_none() {
                    return abort(StoreError::NotFound(format!("binder {name}")));
                }
                verifiers.remove(key.as_bytes())?;
                verifiers.flush();
                Ok(())
            })
            .map_err(tx_error);
        self.verifier_written(trees::BINDER_VERIFIERS, key.as_bytes(), written)
    }

    /// One user's stored record.
    pub fn get_user(&self, user: &ObjectId) -> Result<Option<UserRecord>, StoreError> {
        self.get_decoded(&self.handles()?.trees.users, trees::USERS, user.as_bytes())
    }

    /// The object id that holds login name `uid` (for CLI and API calls that name a user
    /// by login). Names are never reused, so this is also true for inactive users.
    pub fn user_id_by_login(&self, uid: &str) -> Result<Option<ObjectId>, StoreError> {
        let key = format!("{}{}", commit::LOGIN_PREFIX, uid.to_lowercase());
        self.get_decoded(&self.handles()?.trees.alloc, trees::ALLOC, key.as_bytes())
    }

    /// Replaces a user's SSH public keys (set by admins or users, never by Entra; kept
    /// across syncs). The user must exist. `modified` moves so clients see the change.
    pub fn set_ssh_public_keys(&self, user: &ObjectId, keys: &[String]) -> Result<(), StoreError> {
        let _guard = self.lock_directory();
        self.handles()?
            .trees
            .users
            .transaction(|users| {
                let Some(bytes) = users.get(user.as_bytes())? else {
                    return abort(StoreError::NotFound(format!("user {user}")));
                };
                let mut record: UserRecord = in_tx(codec::decode(trees::USERS, &bytes))?;
                record.ssh_public_keys = keys.to_vec();
                record.modified = crate::model::now();
                users.insert(
                    user.as_bytes(),
                    in_tx(codec::encode(trees::USERS, &record))?,
                )?;
                users.flush();
                Ok(())
            })
            .map_err(tx_error)
    }

    /// Every stored user, active or not (for the admin API's user list).
    pub fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.handles.note_full_read();
        decode_all(&self.handles()?.trees.users, trees::USERS)
    }

    /// Every binder, ordered by (lowercased) name.
    pub fn list_binders(&self) -> Result<Vec<BinderRecord>, StoreError> {
        decode_all(&self.handles()?.trees.binders, trees::BINDERS)
    }

    /// Allocates the next run id and records the run as started (durable). Ids increase
    /// monotonically across restarts (a persisted counter, starting at 1).
    pub fn begin_run(&self, run: &SyncRun) -> Result<u64, StoreError> {
        let h = self.handles()?;
        let t = &h.trees;
        let id = (&t.meta, &t.runs)
            .transaction(|(meta, runs)| {
                let id = match meta.get(META_NEXT_RUN)? {
                    Some(bytes) => in_tx(codec::decode::<u64>(trees::META, &bytes))?,
                    None => 1,
                };
                let Some(next) = id.checked_add(1) else {
                    return abort(StoreError::Exhausted("sync run ids"));
                };
                let mut started = run.clone();
                started.id = id;
                let counter = in_tx(codec::encode(trees::META, &next))?;
                let record = in_tx(codec::encode(trees::RUNS, &started))?;
                meta.insert(META_NEXT_RUN, counter)?;
                runs.insert(&codec::run_key(id), record)?;
                runs.flush();
                Ok(id)
            })
            .map_err(tx_error)?;
        self.prune_runs(id, RUN_HISTORY)?;
        Ok(id)
    }

    /// Drops runs older than the newest `keep` (`newest` is the latest id).
    fn prune_runs(&self, newest: u64, keep: u64) -> Result<(), StoreError> {
        let Some(oldest_kept) = newest.checked_sub(keep.saturating_sub(1)) else {
            return Ok(());
        };
        let h = self.handles()?;
        for key in h.trees.runs.range(..codec::run_key(oldest_kept)).keys() {
            h.trees.runs.remove(key?)?;
        }
        Ok(())
    }

    /// Records a run's final state (used for failed runs; successful ones are written by
    /// `commit_sync` in the same transaction as their data).
    pub fn record_run(&self, run: &SyncRun) -> Result<(), StoreError> {
        let record = codec::encode(trees::RUNS, run)?;
        let h = self.handles()?;
        h.trees.runs.insert(codec::run_key(run.id), record)?;
        h.trees.runs.flush()?;
        Ok(())
    }

    /// Newest first.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<SyncRun>, StoreError> {
        self.handles()?
            .trees
            .runs
            .iter()
            .rev()
            .take(limit)
            .map(|item| {
                let (key, value) = item?;
                codec::parse_run_key(&key)?;
                codec::decode(trees::RUNS, &value)
            })
            .collect()
    }

    /// One run by id.
    pub fn get_run(&self, id: u64) -> Result<Option<SyncRun>, StoreError> {
        self.get_decoded(
            &self.handles()?.trees.runs,
            trees::RUNS,
            &codec::run_key(id),
        )
    }

    fn get_decoded<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        name: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        tree.get(key)?
            .map(|bytes| codec::decode(name, &bytes))
            .transpose()
    }
}

/// Binder names are unique case-insensitively, so they are keyed lowercased.
fn binder_key(name: &str) -> String {
    name.to_lowercase()
}

#[cfg(test)]
mod tests;
