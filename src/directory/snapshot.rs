//! The immutable snapshot: entries, indexes, search evaluation, access rules, rendering.

use super::DirectorySettings;
use crate::model::{DirectoryData, ObjectId};
use ldap3_proto::proto::{LdapFilter, LdapSearchResultEntry, LdapSearchScope};
use std::time::Instant;

/// Index of an entry inside one snapshot. Only meaningful with the snapshot it came from.
pub type EntryId = u32;

/// Who is asking: decides what a search may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Root DSE and subschema only.
    Anonymous,
    /// A bound user: people and groups (apps re-bind as the user, then look up groups).
    User { id: ObjectId },
    /// A bound service account: everything under its scope (whole directory if empty).
    Binder { name: String },
}

/// What a simple bind name resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindTarget {
    User {
        id: ObjectId,
        dn: String,
        active: bool,
    },
    Binder {
        name: String,
        dn: String,
    },
    /// No such identity (the caller still runs a dummy verification).
    Unknown,
}

/// One search, already decoded from the wire.
#[derive(Clone, Debug)]
pub struct SearchQuery<'a> {
    pub base: &'a str,
    pub scope: LdapSearchScope,
    pub filter: &'a LdapFilter,
}

/// Which attributes to return: parsed from the request's list (`*`, `+`, `1.1`, names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrSelection {
    pub all_user: bool,
    pub all_operational: bool,
    /// Lowercased names (or OIDs resolved to names) explicitly requested.
    pub names: Vec<String>,
}

impl AttrSelection {
    pub fn parse(_requested: &[String]) -> AttrSelection {
        todo!()
    }
}

/// Why a search (or compare) ended without a normal result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchError {
    /// The base does not exist (or is not visible to the viewer); `matched` is the
    /// deepest existing, visible ancestor.
    NoSuchObject {
        matched: String,
    },
    InvalidDn(String),
    /// The viewer may not search here at all (e.g. anonymous below the root DSE).
    InsufficientAccess(String),
    /// The deadline passed; `partial` holds the matches found so far, in order.
    TimeLimitExceeded {
        partial: Vec<EntryId>,
    },
    /// e.g. a filter too deep or an unsupported matching rule.
    Unwilling(String),
}

/// The in-memory directory.
pub struct Snapshot {
    _private: (),
}

impl Snapshot {
    /// Builds entries and indexes. Pure and deterministic.
    pub fn build(_data: &DirectoryData, _settings: &DirectorySettings) -> Snapshot {
        todo!()
    }

    /// The naming context, e.g. `dc=example,dc=com` (normalised, as served).
    pub fn base_dn(&self) -> &str {
        todo!()
    }

    /// Matching entries in a stable order (the order paging walks). Uses indexes for
    /// equality and the DN tree for scopes; never scans the whole directory when an
    /// indexed equality clause is present. Checks `deadline` while evaluating.
    pub fn search(
        &self,
        _query: &SearchQuery<'_>,
        _viewer: &Viewer,
        _deadline: Option<Instant>,
    ) -> Result<Vec<EntryId>, SearchError> {
        todo!()
    }

    /// The entry in wire form with only the selected attributes (values omitted when
    /// `types_only`). Verifiers are never part of an entry.
    pub fn render(
        &self,
        _id: EntryId,
        _attrs: &AttrSelection,
        _types_only: bool,
    ) -> LdapSearchResultEntry {
        todo!()
    }

    /// RFC 4511 compare: `Ok(true)`/`Ok(false)`; errors as for search (undefined attribute
    /// → `Unwilling` is not used; a missing attribute compares false).
    pub fn compare(
        &self,
        _dn: &str,
        _attr: &str,
        _value: &[u8],
        _viewer: &Viewer,
    ) -> Result<bool, SearchError> {
        todo!()
    }

    /// Resolves a simple-bind name: a DN of a user or binder, or (as configured) a bare
    /// uid, mail address or userPrincipalName. Case-insensitive.
    pub fn resolve_bind(&self, _name: &str) -> BindTarget {
        todo!()
    }

    /// Whether a user (by object id) is present and active right now. O(1).
    pub fn is_user_active(&self, _id: &str) -> bool {
        todo!()
    }

    /// Whether a binder still exists. O(1).
    pub fn has_binder(&self, _name: &str) -> bool {
        todo!()
    }

    /// The DN a viewer is bound as (for WhoAmI: `dn:<dn>`), if any.
    pub fn dn_of(&self, _viewer: &Viewer) -> Option<String> {
        todo!()
    }

    /// Number of entries (for logs and metrics).
    pub fn len(&self) -> usize {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
