//! The immutable snapshot: entries, indexes, search evaluation, access rules, rendering.
//!
//! Why: every search, compare and bind-name lookup is answered from here without locks or
//! I/O. The snapshot is built once per committed sync (see [`super::build`]) and then only
//! read; entry ids follow the DN tree in preorder, so a subtree is a contiguous id range
//! and results come out in a stable order that paging can walk.

use super::DirectorySettings;
use super::dn;
use super::entry::{Attr, Entry, Region};
use super::filter::{self, Candidates, Compiled, FilterContext, Tri};
use super::schema::{Rule, schema};
use super::tables::{IdLists, KeyHasher, KeyIndex};
use super::values;
use crate::model::{DirectoryData, ObjectId};
use ldap3_proto::proto::{
    LdapFilter, LdapPartialAttribute, LdapSearchResultEntry, LdapSearchScope,
};
use std::collections::HashMap;
use std::time::Instant;

/// Index of an entry inside one snapshot. Only meaningful with the snapshot it came from.
pub type EntryId = u32;

/// DN of the subschema subentry (served at every entry's `subschemaSubentry`).
pub const SUBSCHEMA_DN: &str = "cn=Subschema";

/// Entry id of the root DSE in every snapshot.
pub const ROOT_DSE_ID: EntryId = 0;
/// Entry id of `cn=Subschema` in every snapshot.
pub const SUBSCHEMA_ID: EntryId = 1;

/// How often (in evaluated candidates) a search looks at its deadline.
const DEADLINE_EVERY: usize = 256;

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
    /// RFC 4511 section 4.5.1.8: an empty list means all user attributes; `1.1` alone means
    /// none; `*` all user and `+` all operational attributes (RFC 3673); `@class` the
    /// attributes an object class allows (RFC 4529). Names are matched
    /// case-insensitively and OIDs or aliases map to the schema's name.
    pub fn parse(requested: &[String]) -> AttrSelection {
        let mut sel = AttrSelection {
            all_user: requested.is_empty(),
            all_operational: false,
            names: Vec::new(),
        };
        let s = schema();
        for raw in requested {
            let name = raw.trim();
            match name {
                "*" => sel.all_user = true,
                "+" => sel.all_operational = true,
                "1.1" | "" => {}
                _ if name.starts_with('@') => {
                    let class = name.get(1..).unwrap_or("");
                    for key in s.class_attributes(class).unwrap_or_default() {
                        if !sel.names.contains(&key) {
                            sel.names.push(key);
                        }
                    }
                }
                _ => {
                    let key = match s.attribute(name) {
                        Some(a) => a.key.clone(),
                        None => name.to_ascii_lowercase(),
                    };
                    if !sel.names.contains(&key) {
                        sel.names.push(key);
                    }
                }
            }
        }
        sel
    }

    fn wants(&self, key: &str, operational: bool) -> bool {
        (if operational {
            self.all_operational
        } else {
            self.all_user
        }) || self.names.iter().any(|n| n == key)
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

/// A user as bind and access checks need it (hidden inactive users included): whether it
/// is active, and its names packed in one buffer.
#[derive(Clone, Debug)]
pub(super) struct UserInfo {
    pub active: bool,
    /// Object id, DN, normalised DN, and the case-folded uid, mail and UPN, concatenated.
    names: Box<str>,
    /// Where each of the six names ends in `names`.
    ends: [u32; 6],
}

impl UserInfo {
    /// Packs a user's names (the bind keys already folded; empty when absent).
    pub fn new(
        active: bool,
        id: &str,
        dn: &str,
        ndn: &str,
        uid_key: &str,
        mail_key: &str,
        upn_key: &str,
    ) -> UserInfo {
        let mut names = String::new();
        let mut ends = [0u32; 6];
        for (end, name) in ends
            .iter_mut()
            .zip([id, dn, ndn, uid_key, mail_key, upn_key])
        {
            names.push_str(name);
            *end = u32::try_from(names.len()).unwrap_or(u32::MAX);
        }
        UserInfo {
            active,
            names: names.into_boxed_str(),
            ends,
        }
    }

    fn name(&self, i: usize) -> &str {
        let start = i
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0) as usize;
        let end = self.ends.get(i).copied().unwrap_or(0) as usize;
        self.names.get(start..end).unwrap_or("")
    }

    /// The Entra object id.
    pub fn id(&self) -> &str {
        self.name(0)
    }

    /// The DN as served.
    pub fn dn(&self) -> &str {
        self.name(1)
    }

    pub fn ndn(&self) -> &str {
        self.name(2)
    }

    pub fn uid_key(&self) -> &str {
        self.name(3)
    }

    pub fn mail_key(&self) -> &str {
        self.name(4)
    }

    pub fn upn_key(&self) -> &str {
        self.name(5)
    }

    fn target(&self) -> BindTarget {
        BindTarget::User {
            id: self.id().to_string(),
            dn: self.dn().to_string(),
            active: self.active,
        }
    }
}

/// A binder as bind and access checks need it.
#[derive(Clone, Debug)]
pub(super) struct BinderInfo {
    pub dn: String,
    /// Subtrees (id ranges) it may read; `None` means the whole naming context.
    pub ranges: Option<Vec<(EntryId, EntryId)>>,
    /// The normalised DNs `ranges` were resolved from (a patched snapshot resolves them
    /// again, as entries may have moved, appeared or gone).
    pub scope: Vec<String>,
}

/// The in-memory directory. Every "value → ids" table is keyed by a hash (see
/// [`super::tables`]): lookups re-check their candidates against the real value.
pub struct Snapshot {
    pub(super) entries: Vec<Entry>,
    pub(super) base_id: EntryId,
    /// Keys every [`KeyIndex`] below.
    pub(super) hasher: KeyHasher,
    /// Normalised DN → entry (checked against `Entry::ndn`).
    pub(super) by_ndn: KeyIndex,
    /// Equality indexes: schema attribute index → normalised value → sorted ids.
    pub(super) indexes: HashMap<usize, KeyIndex>,
    /// Group → every transitive member (users and groups), sorted.
    pub(super) chain_members: IdLists,
    /// Entry → every group containing it transitively, sorted.
    pub(super) chain_groups: IdLists,
    /// Users that may bind, hidden inactive ones too; the tables below point into it.
    pub(super) users: Vec<UserInfo>,
    /// Object id → user.
    pub(super) user_by_id: KeyIndex,
    /// Normalised DN → user.
    pub(super) bind_dn: KeyIndex,
    /// Case-folded uid / mail / UPN → users (more than one matching user: ambiguous).
    pub(super) bind_uid: KeyIndex,
    pub(super) bind_mail: KeyIndex,
    pub(super) bind_upn: KeyIndex,
    pub(super) binders: HashMap<String, BinderInfo>,
    /// Normalised DN → binder name.
    pub(super) binder_by_ndn: HashMap<String, String>,
    pub(super) settings: DirectorySettings,
}

/// Which of a user's names a table is keyed by.
type NameOf = fn(&UserInfo) -> &str;

/// What a name lookup in a user table found.
enum Found<'a> {
    None,
    One(&'a UserInfo),
    /// Several users carry the name: refuse rather than pick one.
    Ambiguous,
}

/// What a resolved viewer may see.
enum Access<'a> {
    Anonymous,
    /// A bound user: base, people and groups.
    Reader,
    /// A binder: base, plus people and groups inside `ranges` (all when `None`).
    Binder(Option<&'a [(EntryId, EntryId)]>),
}

/// Counters of one search, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Entries the filter was evaluated against.
    pub evaluated: usize,
    /// Whether an index supplied the candidates.
    pub indexed: bool,
}

impl Snapshot {
    /// Builds entries and indexes. Pure and deterministic.
    pub fn build(data: &DirectoryData, settings: &DirectorySettings) -> Snapshot {
        super::build::build(data, settings)
    }

    /// The naming context, e.g. `dc=example,dc=com` (normalised, as served).
    pub fn base_dn(&self) -> &str {
        self.entries
            .get(self.base_id as usize)
            .map(Entry::dn)
            .unwrap_or("")
    }

    /// Matching entries in a stable order (the order paging walks). Uses indexes for
    /// equality and the DN tree for scopes; never scans the whole directory when an
    /// indexed equality clause is present. Checks `deadline` while evaluating.
    pub fn search(
        &self,
        query: &SearchQuery<'_>,
        viewer: &Viewer,
        deadline: Option<Instant>,
    ) -> Result<Vec<EntryId>, SearchError> {
        self.search_with_stats(query, viewer, deadline)
            .map(|(ids, _)| ids)
    }

    /// [`Snapshot::search`] that also reports how much work it did (tests prove with it
    /// that indexed searches do not scan).
    pub fn search_with_stats(
        &self,
        query: &SearchQuery<'_>,
        viewer: &Viewer,
        deadline: Option<Instant>,
    ) -> Result<(Vec<EntryId>, SearchStats), SearchError> {
        filter::validate(query.filter)?;
        let access = self.access(viewer)?;
        // Fast path: most clients send the base in its normalised form (e.g.
        // `ou=people,dc=example,dc=com`), found here without parsing. Normalisation is
        // idempotent, so a string equal to a stored normalised DN is its own normal form.
        let exact = if query.base.is_empty() {
            None
        } else {
            self.find_ndn(query.base)
        };
        let base = match exact {
            Some(_) => None,
            None => Some(dn::parse(query.base)?),
        };
        let mut scope = query.scope.clone();
        let base_id = if base.as_ref().is_some_and(dn::Dn::is_root) {
            if scope == LdapSearchScope::Base {
                ROOT_DSE_ID
            } else {
                if matches!(access, Access::Anonymous) {
                    return Err(anonymous_refused());
                }
                // Some clients search the whole server from "": search the naming context.
                if scope == LdapSearchScope::OneLevel {
                    scope = LdapSearchScope::Base;
                } else {
                    scope = LdapSearchScope::Subtree;
                }
                self.base_id
            }
        } else {
            let found = match &base {
                Some(parsed) => self.find_ndn(&parsed.normalized()),
                None => exact,
            };
            if matches!(access, Access::Anonymous)
                && !(found == Some(SUBSCHEMA_ID) && scope == LdapSearchScope::Base)
            {
                return Err(anonymous_refused());
            }
            match found {
                Some(id) if self.visible(&access, id) => id,
                _ => {
                    let matched = match &base {
                        Some(parsed) => self.matched(parsed, &access),
                        None => dn::parse(query.base)
                            .map(|parsed| self.matched(&parsed, &access))
                            .unwrap_or_default(),
                    };
                    return Err(SearchError::NoSuchObject { matched });
                }
            }
        };
        let compiled = filter::compile(query.filter, self);
        self.run(base_id, &scope, &compiled, &access, deadline)
    }

    /// Evaluates `compiled` over the scope, using the index plan when there is one.
    fn run(
        &self,
        base: EntryId,
        scope: &LdapSearchScope,
        compiled: &Compiled<'_>,
        access: &Access<'_>,
        deadline: Option<Instant>,
    ) -> Result<(Vec<EntryId>, SearchStats), SearchError> {
        let Some(base_entry) = self.entries.get(base as usize) else {
            return Ok((Vec::new(), SearchStats::default()));
        };
        let (lo, hi) = match scope {
            LdapSearchScope::Base => (base, base + 1),
            LdapSearchScope::Subtree => (base, base_entry.end),
            LdapSearchScope::OneLevel | LdapSearchScope::Children => (base + 1, base_entry.end),
        };
        let one_level = *scope == LdapSearchScope::OneLevel;
        let plan = if *scope == LdapSearchScope::Base {
            None
        } else {
            filter::plan(compiled)
        };
        let planned: Option<&[EntryId]> = plan.as_ref().map(|c| {
            let ids = c.ids();
            let start = ids.partition_point(|&i| i < lo);
            let end = ids.partition_point(|&i| i < hi);
            ids.get(start..end).unwrap_or(&[])
        });
        // Walk whichever is smaller: the candidates or the scope itself (for one level,
        // the children, counted only as far as the candidates go).
        let planned = planned.filter(|p| {
            if one_level {
                p.len()
                    .checked_sub(1)
                    .is_none_or(|last| self.children(base).nth(last).is_some())
            } else {
                p.len() <= (hi - lo) as usize
            }
        });
        let mut stats = SearchStats {
            evaluated: 0,
            indexed: planned.is_some(),
        };
        let walk: Box<dyn Iterator<Item = EntryId> + '_> = match planned {
            Some(p) => Box::new(p.iter().copied()),
            None if one_level => Box::new(self.children(base)),
            None => Box::new(lo..hi),
        };
        let mut out = Vec::new();
        for id in walk {
            let Some(entry) = self.entries.get(id as usize) else {
                continue;
            };
            if one_level && entry.parent() != Some(base) {
                continue;
            }
            stats.evaluated += 1;
            if stats.evaluated.is_multiple_of(DEADLINE_EVERY)
                && deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Err(SearchError::TimeLimitExceeded { partial: out });
            }
            if self.visible(access, id) && compiled.eval(id, entry) == Tri::True {
                out.push(id);
            }
        }
        Ok((out, stats))
    }

    /// The entry in wire form with only the selected attributes (values omitted when
    /// `types_only`). Verifiers are never part of an entry. An id from another snapshot
    /// that is out of range renders as an empty entry rather than panicking.
    pub fn render(
        &self,
        id: EntryId,
        attrs: &AttrSelection,
        types_only: bool,
    ) -> LdapSearchResultEntry {
        let Some((dn, selected)) = self.selected(id, attrs) else {
            return LdapSearchResultEntry {
                dn: String::new(),
                attributes: Vec::new(),
            };
        };
        LdapSearchResultEntry {
            dn: dn.to_string(),
            attributes: selected
                .map(|(name, a)| LdapPartialAttribute {
                    atype: name.to_string(),
                    vals: if types_only { Vec::new() } else { a.to_wire() },
                })
                .collect(),
        }
    }

    /// Entry `id`'s DN and the attributes `attrs` selects, each with the name it is served
    /// under, in serving order; borrowed from the snapshot, so the LDAP layer can encode
    /// them without copying. `None` for an id out of range (e.g. from another snapshot).
    pub fn selected<'s>(
        &'s self,
        id: EntryId,
        attrs: &'s AttrSelection,
    ) -> Option<(
        &'s str,
        impl Iterator<Item = (&'s str, Attr<'s>)> + Clone + 's,
    )> {
        let entry = self.entries.get(id as usize)?;
        let s = schema();
        // Like Active Directory, the root DSE shows everything for `*` / no list.
        let everything = entry.region() == Region::RootDse && attrs.all_user;
        let selected = entry.attrs().filter_map(move |a| {
            let at = s.attributes.get(a.at)?;
            (everything || attrs.wants(&at.key, at.operational)).then(|| (at.name(), a))
        });
        Some((entry.dn(), selected))
    }

    /// RFC 4511 compare: `Ok(true)`/`Ok(false)`; errors as for search (undefined attribute
    /// → `Unwilling` is not used; a missing attribute compares false).
    pub fn compare(
        &self,
        dn: &str,
        attr: &str,
        value: &[u8],
        viewer: &Viewer,
    ) -> Result<bool, SearchError> {
        let access = self.access(viewer)?;
        let parsed = dn::parse(dn)?;
        let found = if parsed.is_root() {
            Some(ROOT_DSE_ID)
        } else {
            self.find_ndn(&parsed.normalized())
        };
        if matches!(access, Access::Anonymous) && !matches!(found, Some(ROOT_DSE_ID | SUBSCHEMA_ID))
        {
            return Err(anonymous_refused());
        }
        let entry = match found.and_then(|id| self.entries.get(id as usize).map(|e| (id, e))) {
            Some((id, e)) if self.visible(&access, id) => e,
            _ => {
                return Err(SearchError::NoSuchObject {
                    matched: self.matched(&parsed, &access),
                });
            }
        };
        let s = schema();
        let Some(at) = s.attribute_index(attr) else {
            return Ok(false);
        };
        let Some(rule) = s.attributes.get(at).and_then(|a| a.equality) else {
            return Err(SearchError::Unwilling(format!(
                "attribute {attr} has no equality matching rule"
            )));
        };
        let Some(value) = std::str::from_utf8(value)
            .ok()
            .and_then(|v| values::normalize(rule, v))
        else {
            return Ok(false);
        };
        Ok(entry
            .attr(at)
            .is_some_and(|a| a.norms().any(|n| n == value)))
    }

    /// Resolves a simple-bind name: a DN of a user or binder, or (as configured) a bare
    /// uid, mail address or userPrincipalName. Case-insensitive. Hidden inactive users
    /// resolve too (with `active: false`) so the caller can reject them uniformly.
    pub fn resolve_bind(&self, name: &str) -> BindTarget {
        let name = name.trim();
        if name.contains('=') {
            let Ok(ndn) = dn::normalize(name) else {
                return BindTarget::Unknown;
            };
            if let Some((binder, info)) = self
                .binder_by_ndn
                .get(&ndn)
                .and_then(|b| self.binders.get_key_value(b))
            {
                return BindTarget::Binder {
                    name: binder.clone(),
                    dn: info.dn.clone(),
                };
            }
            return match self.find_user(&self.bind_dn, UserInfo::ndn, &ndn) {
                Found::One(u) => u.target(),
                Found::None | Found::Ambiguous => BindTarget::Unknown,
            };
        }
        let Some(key) = values::normalize(Rule::CaseIgnore, name).filter(|k| !k.is_empty()) else {
            return BindTarget::Unknown;
        };
        let tables: [(bool, &KeyIndex, NameOf); 3] = [
            (self.settings.bind_by_uid, &self.bind_uid, UserInfo::uid_key),
            (self.settings.bind_by_upn, &self.bind_upn, UserInfo::upn_key),
            (
                self.settings.bind_by_mail,
                &self.bind_mail,
                UserInfo::mail_key,
            ),
        ];
        for (enabled, table, name_of) in tables {
            if !enabled {
                continue;
            }
            match self.find_user(table, name_of, &key) {
                Found::One(u) => return u.target(),
                Found::Ambiguous => return BindTarget::Unknown,
                Found::None => {}
            }
        }
        BindTarget::Unknown
    }

    /// The users filed under `key` in `table` whose name (`name_of`) really is `key`:
    /// hash collisions are filtered out here.
    fn find_user(&self, table: &KeyIndex, name_of: NameOf, key: &str) -> Found<'_> {
        let mut found = Found::None;
        for &pos in table.get(self.hasher.hash(key)) {
            let Some(u) = self.users.get(pos as usize).filter(|u| name_of(u) == key) else {
                continue;
            };
            found = match found {
                Found::None => Found::One(u),
                _ => return Found::Ambiguous,
            };
        }
        found
    }

    /// The entry with normalised DN `ndn`, if any. O(1).
    pub(super) fn find_ndn(&self, ndn: &str) -> Option<EntryId> {
        self.by_ndn
            .get(self.hasher.hash(ndn))
            .iter()
            .copied()
            .find(|&id| {
                self.entries
                    .get(id as usize)
                    .is_some_and(|e| e.ndn() == ndn)
            })
    }

    fn user(&self, id: &str) -> Option<&UserInfo> {
        match self.find_user(&self.user_by_id, UserInfo::id, id) {
            Found::One(u) => Some(u),
            Found::None | Found::Ambiguous => None,
        }
    }

    /// Whether a user (by object id) is present and active right now. O(1).
    pub fn is_user_active(&self, id: &str) -> bool {
        self.user(id).is_some_and(|u| u.active)
    }

    /// Whether a binder still exists. O(1).
    pub fn has_binder(&self, name: &str) -> bool {
        self.binders.contains_key(name)
    }

    /// The DN a viewer is bound as (for WhoAmI: `dn:<dn>`), if any.
    pub fn dn_of(&self, viewer: &Viewer) -> Option<String> {
        match viewer {
            Viewer::Anonymous => None,
            Viewer::User { id } => self.user(id).map(|u| u.dn().to_string()),
            Viewer::Binder { name } => self.binders.get(name).map(|b| b.dn.clone()),
        }
    }

    /// The children of entry `id`, in order: in preorder they are `id + 1`, then each
    /// child's subtree end in turn, so no list per entry is kept. One step per child.
    pub(super) fn children(&self, id: EntryId) -> impl Iterator<Item = EntryId> + '_ {
        let end = self.entries.get(id as usize).map_or(0, |e| e.end);
        let mut next = id.saturating_add(1);
        std::iter::from_fn(move || {
            let child = next;
            let e = self.entries.get(child as usize).filter(|_| child < end)?;
            // A subtree end is always past its root; `max` guards against looping anyway.
            next = e.end.max(child.saturating_add(1));
            Some(child)
        })
    }

    /// Number of entries (for logs and metrics), root DSE and subschema included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never true in practice: the root DSE and `cn=Subschema` are always present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The DN of an entry as served (e.g. for logs or paging diagnostics).
    pub fn entry_dn(&self, id: EntryId) -> Option<&str> {
        self.entries.get(id as usize).map(Entry::dn)
    }

    fn access(&self, viewer: &Viewer) -> Result<Access<'_>, SearchError> {
        match viewer {
            Viewer::Anonymous => Ok(Access::Anonymous),
            Viewer::User { id } => {
                if self.is_user_active(id) {
                    Ok(Access::Reader)
                } else {
                    Err(SearchError::InsufficientAccess(
                        "the bound user is no longer active; bind again".to_string(),
                    ))
                }
            }
            Viewer::Binder { name } => match self.binders.get(name) {
                Some(b) => Ok(Access::Binder(b.ranges.as_deref())),
                None => Err(SearchError::InsufficientAccess(
                    "the bound service account no longer exists; bind again".to_string(),
                )),
            },
        }
    }

    fn visible(&self, access: &Access<'_>, id: EntryId) -> bool {
        let Some(entry) = self.entries.get(id as usize) else {
            return false;
        };
        match (entry.region(), access) {
            (Region::RootDse | Region::Subschema, _) => true,
            (_, Access::Anonymous) => false,
            (Region::Binder, _) => false,
            (_, Access::Reader) => true,
            (Region::Base, Access::Binder(_)) => true,
            (_, Access::Binder(None)) => true,
            (_, Access::Binder(Some(ranges))) => ranges.iter().any(|&(lo, hi)| lo <= id && id < hi),
        }
    }

    /// The deepest visible existing ancestor of `dn`, as served ("" when none).
    fn matched(&self, dn: &dn::Dn, access: &Access<'_>) -> String {
        dn.ancestors()
            .filter(|a| !a.is_root())
            .find_map(|a| {
                self.find_ndn(&a.normalized())
                    .filter(|&id| self.visible(access, id))
                    .and_then(|id| self.entries.get(id as usize))
                    .map(|e| e.dn().to_string())
            })
            .unwrap_or_default()
    }
}

fn anonymous_refused() -> SearchError {
    SearchError::InsufficientAccess(
        "anonymous clients may read only the root DSE and schema; bind first".to_string(),
    )
}

impl FilterContext for Snapshot {
    fn index(&self, at: usize, norm: &str) -> Option<&[EntryId]> {
        let index = self.indexes.get(&at)?;
        // May include entries of a colliding value: the filter re-checks every candidate.
        Some(index.get(self.hasher.hash(norm)))
    }

    fn chain(&self, member_of: bool, ndn: &str) -> &[EntryId] {
        let Some(id) = self.find_ndn(ndn) else {
            return &[];
        };
        let table = if member_of {
            &self.chain_members
        } else {
            &self.chain_groups
        };
        table.get(id)
    }
}

/// The plan a filter gets in this snapshot: `Some(n)` when indexes narrow it to `n`
/// candidates before scope and filter checks, `None` when the scope is walked.
pub fn plan_size(snapshot: &Snapshot, f: &LdapFilter) -> Result<Option<usize>, SearchError> {
    filter::validate(f)?;
    let compiled = filter::compile(f, snapshot);
    Ok(filter::plan(&compiled).map(|c: Candidates<'_>| c.ids().len()))
}
