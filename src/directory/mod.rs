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
pub mod schema;
pub mod snapshot;
mod tables;
pub mod values;

pub use build::FALLBACK_BASE_DN;
pub use entry::Attr;
pub use snapshot::{
    AttrSelection, BindTarget, EntryId, SUBSCHEMA_DN, SearchError, SearchQuery, Snapshot, Viewer,
};

use crate::model::DirectoryData;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
}

impl LiveDirectory {
    /// Starts with `data` (possibly empty) already built.
    pub fn new(data: &DirectoryData, settings: DirectorySettings) -> LiveDirectory {
        let snapshot = Snapshot::build(data, &settings);
        crate::metrics::directory_entries(snapshot.len());
        LiveDirectory {
            current: ArcSwap::from_pointee(snapshot),
            show_inactive: AtomicBool::new(settings.show_inactive_users),
            settings,
        }
    }

    /// The snapshot to serve one operation from. Cheap; never blocks.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Builds a snapshot from freshly committed data and makes it the served one.
    pub fn publish(&self, data: &DirectoryData) {
        let settings = DirectorySettings {
            show_inactive_users: self.show_inactive.load(Ordering::Relaxed),
            ..self.settings.clone()
        };
        let snapshot = Snapshot::build(data, &settings);
        crate::metrics::directory_entries(snapshot.len());
        self.current.store(Arc::new(snapshot));
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
