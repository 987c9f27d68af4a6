//! The directory as LDAP sees it: an immutable, indexed, in-memory snapshot.
//!
//! Why: searches and binds must never scan the whole directory nor wait on a writer. Each
//! committed sync builds a new [`Snapshot`] (entries already in LDAP form, plus equality
//! indexes, the DN tree and transitive memberships) and [`LiveDirectory`] swaps it in
//! atomically; readers keep the `Arc` they started with. This module does no I/O.

mod build;
pub mod dn;
mod entry;
pub mod filter;
mod patch;
pub mod schema;
pub mod snapshot;
mod tables;
pub mod values;

pub use build::FALLBACK_BASE_DN;
pub use entry::Attr;
pub use snapshot::{
    AttrSelection, BindTarget, EntryId, SUBSCHEMA_DN, SearchError, SearchQuery, Snapshot, Viewer,
};

use crate::model::{DirectoryChanges, DirectoryData, EntraGroup};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Settings that shape the snapshot (from config, plus protocol facts from the ldap module).
#[derive(Clone, Debug, Default)]
pub struct DirectorySettings {
    /// Explicit base DN; `None` derives `dc=…` from the default verified domain.
    pub base_dn: Option<String>,
    /// Serve inactive users (and list them in groups) instead of hiding them.
    pub show_inactive_users: bool,
    /// `{uid}` is replaced by the login name.
    pub home_directory: String,
    pub login_shell: String,
    /// Served in the root DSE.
    pub supported_controls: Vec<String>,
    pub supported_extensions: Vec<String>,
    pub vendor_version: String,
    /// Which bare names resolve at bind besides a DN.
    pub bind_by_uid: bool,
    pub bind_by_mail: bool,
    pub bind_by_upn: bool,
}

/// The currently served snapshot, swapped atomically after each commit.
pub struct LiveDirectory {
    current: ArcSwap<Snapshot>,
    settings: DirectorySettings,
    /// The sync option `inactive_users`, changeable at run time; overrides
    /// `settings.show_inactive_users` for every snapshot built after the change.
    show_inactive: AtomicBool,
    /// Held while a new snapshot is made and swapped in, so a patch always applies to the
    /// snapshot it was computed from (two publishers never interleave).
    publishing: Mutex<()>,
    /// Snapshots published by a patch rather than a full build (for tests and diagnostics).
    patches: AtomicU64,
}

/// Above this share of changed objects (1 in `PATCH_LIMIT` entries), a full build is as
/// quick as a patch.
const PATCH_LIMIT: usize = 4;

impl LiveDirectory {
    /// Starts with `data` (possibly empty) already built.
    pub fn new(data: &DirectoryData, settings: DirectorySettings) -> LiveDirectory {
        let snapshot = Snapshot::build(data, &settings);
        crate::metrics::directory_entries(snapshot.len());
        LiveDirectory {
            current: ArcSwap::from_pointee(snapshot),
            show_inactive: AtomicBool::new(settings.show_inactive_users),
            settings,
            publishing: Mutex::new(()),
            patches: AtomicU64::new(0),
        }
    }

    /// The snapshot to serve one operation from. Cheap; never blocks.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Builds a snapshot from freshly committed data and makes it the served one.
    pub fn publish(&self, data: &DirectoryData) {
        let _publishing = self.lock_publishing();
        let snapshot = Snapshot::build(data, &self.current_settings());
        crate::metrics::directory_entries(snapshot.len());
        self.current.store(Arc::new(snapshot));
    }

    /// Applies one commit's changes to the served snapshot (see `patch`): only the entries
    /// they touch are rebuilt. `groups` are all groups of the tenant as committed. Returns
    /// false, serving the old snapshot still, when only a full build gives the right result
    /// (the caller then publishes the whole committed directory).
    pub fn publish_changes(&self, changes: &DirectoryChanges, groups: &[EntraGroup]) -> bool {
        let _publishing = self.lock_publishing();
        let old = self.load();
        if changes.len().saturating_mul(PATCH_LIMIT) > old.len() {
            return false;
        }
        match patch::patch(&old, changes, groups, &self.current_settings()) {
            Some(snapshot) => {
                crate::metrics::directory_entries(snapshot.len());
                self.current.store(Arc::new(snapshot));
                self.patches.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// How many snapshots were published by patching the served one (not a full build).
    pub fn patches(&self) -> u64 {
        self.patches.load(Ordering::Relaxed)
    }

    /// The settings a snapshot built now gets.
    fn current_settings(&self) -> DirectorySettings {
        DirectorySettings {
            show_inactive_users: self.show_inactive.load(Ordering::Relaxed),
            ..self.settings.clone()
        }
    }

    fn lock_publishing(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded data is `()`: a poisoned lock carries no broken state.
        self.publishing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether inactive users are served by snapshots published from now on (the sync
    /// option `inactive_users`). Returns true when this changed the setting, so the caller
    /// knows the current snapshot needs a rebuild.
    pub fn set_show_inactive_users(&self, show: bool) -> bool {
        self.show_inactive.swap(show, Ordering::Relaxed) != show
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod memory_tests;

#[cfg(test)]
mod patch_tests;
