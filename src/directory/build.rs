//! Building a [`Snapshot`] from the stored data: the DIT layout, every entry's attributes,
//! the equality indexes, transitive memberships and bind-name tables.
//!
//! Why a file of its own: this is where Entra objects become LDAP entries (which attribute
//! comes from which Graph property), a different concern from answering searches.
//! See docs/directory.md for the resulting tree.

use super::DirectorySettings;
use super::dn;
use super::entry::{Entry, EntryBuilder, Region};
use super::schema::Rule;
use super::schema::schema;
use super::snapshot::{BinderInfo, EntryId, SUBSCHEMA_DN, Snapshot, UserInfo};
use super::tables::{IdLists, KeyHasher, KeyIndex};
use super::values::{self, unix_to_generalized};
use crate::model::{DirectoryData, GroupRecord, MemberRef, UserRecord};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Naming context used when neither the settings nor the tenant give one.
pub const FALLBACK_BASE_DN: &str = "dc=entra-ldap,dc=local";

/// Attributes with an equality index.
const INDEXED: &[&str] = &[
    "uid",
    "cn",
    "mail",
    "uidNumber",
    "gidNumber",
    "memberUid",
    "member",
    "memberOf",
    "objectClass",
    "entryUUID",
    "userPrincipalName",
    "entryDN",
];

/// Features announced in the root DSE: all operational attributes via `+` (RFC 3673),
/// `@class` attribute lists (RFC 4529), absolute true/false filters `(&)` `(|)` (RFC 4526).
const SUPPORTED_FEATURES: &[&str] = &[
    "1.3.6.1.4.1.4203.1.5.1",
    "1.3.6.1.4.1.4203.1.5.2",
    "1.3.6.1.4.1.4203.1.5.3",
];

/// The naming context: `settings.base_dn` if it parses, else `dc=` labels of the default
/// verified domain (or any default, then any verified domain), else [`FALLBACK_BASE_DN`].
pub fn base_dn(data: &DirectoryData, settings: &DirectorySettings) -> String {
    if let Some(configured) = settings.base_dn.as_deref() {
        match dn::parse(configured) {
            Ok(parsed) if !parsed.is_root() => return parsed.normalized(),
            _ => tracing::warn!(
                base_dn = configured,
                "configured base_dn is not a valid DN; deriving it"
            ),
        }
    }
    let d = &data.domains;
    let domain = d
        .iter()
        .find(|x| x.is_default && x.is_verified)
        .or_else(|| d.iter().find(|x| x.is_default))
        .or_else(|| d.iter().find(|x| x.is_verified));
    let labels: Vec<String> = domain
        .map(|x| {
            x.id.split('.')
                .filter(|l| !l.is_empty())
                .map(|l| dn::child("dc", &l.to_ascii_lowercase(), ""))
                .collect()
        })
        .unwrap_or_default();
    let joined = labels.join(",");
    match dn::parse(&joined) {
        Ok(parsed) if !parsed.is_root() => parsed.normalized(),
        _ => FALLBACK_BASE_DN.to_string(),
    }
}

/// Collects one entry's attributes by name, skipping empty ones.
struct Attrs(EntryBuilder);

impl Attrs {
    /// Starts the entry `dn` (normalised `ndn`).
    fn new(dn: &str, ndn: &str) -> Attrs {
        Attrs(EntryBuilder::new(dn, ndn))
    }

    fn put<S: AsRef<str>>(&mut self, name: &str, vals: &[S]) {
        if vals.is_empty() {
            return;
        }
        match schema().attribute_index(name) {
            Some(at) => self.0.push_normalizing(at, vals),
            None => tracing::error!(
                attribute = name,
                "attribute missing from the schema; not served"
            ),
        }
    }

    fn one(&mut self, name: &str, val: &str) {
        if !val.is_empty() {
            self.put(name, &[val]);
        }
    }

    fn opt(&mut self, name: &str, val: Option<&str>) {
        if let Some(v) = val.map(str::trim).filter(|v| !v.is_empty()) {
            self.one(name, v);
        }
    }

    /// DN-valued attribute whose normalised forms are already known: `(served, normalised)`.
    fn dns(&mut self, name: &str, vals: &[(&str, &str)]) {
        if vals.is_empty() {
            return;
        }
        if let Some(at) = schema().attribute_index(name) {
            self.0
                .push(at, vals.iter().map(|&(dn, ndn)| (dn, Some(ndn))));
        }
    }

    /// The object classes: always the first attribute, kept in a body shared by every
    /// entry with the same list (see `EntryBuilder::push_shared`).
    fn classes(&mut self, names: &[&str]) {
        match schema().attribute_index("objectClass") {
            Some(at) => self.0.push_shared(at, names),
            None => self.put("objectClass", names),
        }
    }

    /// The operational attributes every normal entry carries.
    fn operational(&mut self, dn: &str, ndn: &str, structural: &str, times: Option<(i64, i64)>) {
        self.dns("entryDN", &[(dn, ndn)]);
        let subschema_ndn = SUBSCHEMA_DN.to_ascii_lowercase();
        self.dns("subschemaSubentry", &[(SUBSCHEMA_DN, &subschema_ndn)]);
        self.one("structuralObjectClass", structural);
        if let Some((created, modified)) = times {
            self.one("createTimestamp", &unix_to_generalized(created));
            self.one("modifyTimestamp", &unix_to_generalized(modified));
        }
    }
}

/// A user or group placed in the tree, before its entry exists.
pub(super) struct Placed<'a, T> {
    pub rec: &'a T,
    pub dn: String,
    pub ndn: String,
}

/// Direct and transitive memberships, in user/group index space.
struct Memberships {
    /// Per group: direct member users (indexes into the placed users).
    direct_users: Vec<Vec<usize>>,
    /// Per group: direct member groups.
    direct_groups: Vec<Vec<usize>>,
    /// Per group: all users reachable through nesting (sorted).
    all_users: Vec<Vec<usize>>,
    /// Per group: all groups reachable through nesting, itself excluded (sorted).
    all_groups: Vec<Vec<usize>>,
}

fn memberships(users: &[Placed<UserRecord>], groups: &[Placed<GroupRecord>]) -> Memberships {
    let user_ix: HashMap<&str, usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.rec.entra.id.as_str(), i))
        .collect();
    let group_ix: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.rec.entra.id.as_str(), i))
        .collect();
    let mut direct_users = Vec::with_capacity(groups.len());
    let mut direct_groups = Vec::with_capacity(groups.len());
    for (gi, g) in groups.iter().enumerate() {
        let (mut us, mut gs): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
        for m in &g.rec.entra.members {
            match m {
                MemberRef::User(id) => us.extend(user_ix.get(id.as_str())),
                MemberRef::Group(id) => gs.extend(group_ix.get(id.as_str()).filter(|&&x| x != gi)),
            }
        }
        us.sort_unstable();
        us.dedup();
        gs.sort_unstable();
        gs.dedup();
        direct_users.push(us);
        direct_groups.push(gs);
    }
    let mut all_users = Vec::with_capacity(groups.len());
    let mut all_groups = Vec::with_capacity(groups.len());
    let mut seen = vec![usize::MAX; groups.len()];
    for start in 0..groups.len() {
        // Iterative walk with a visited mark per start: cycle-safe, no recursion.
        let mut us = BTreeSet::new();
        let mut gs = BTreeSet::new();
        let mut stack = vec![start];
        if let Some(s) = seen.get_mut(start) {
            *s = start;
        }
        while let Some(g) = stack.pop() {
            us.extend(direct_users.get(g).into_iter().flatten().copied());
            for &sub in direct_groups.get(g).into_iter().flatten() {
                if let Some(mark) = seen.get_mut(sub)
                    && *mark != start
                {
                    *mark = start;
                    gs.insert(sub);
                    stack.push(sub);
                }
            }
        }
        all_users.push(us.into_iter().collect());
        all_groups.push(gs.into_iter().collect());
    }
    Memberships {
        direct_users,
        direct_groups,
        all_users,
        all_groups,
    }
}

/// ASCII rendering of a display name for `gecos` (IA5): common accented Latin letters lose
/// their accents, anything else non-ASCII becomes `?`.
pub fn ascii_fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
            continue;
        }
        let folded = match c {
            'À'..='Å' => "A",
            'à'..='å' => "a",
            'Æ' => "AE",
            'æ' => "ae",
            'Ç' | 'Ć' | 'Č' => "C",
            'ç' | 'ć' | 'č' => "c",
            'È'..='Ë' | 'Ě' | 'Ę' => "E",
            'è'..='ë' | 'ě' | 'ę' => "e",
            'Ì'..='Ï' => "I",
            'ì'..='ï' | 'ı' => "i",
            'Ð' | 'Ď' | 'Đ' => "D",
            'ð' | 'ď' | 'đ' => "d",
            'Ñ' | 'Ń' | 'Ň' => "N",
            'ñ' | 'ń' | 'ň' => "n",
            'Ò'..='Ö' | 'Ø' | 'Ő' => "O",
            'ò'..='ö' | 'ø' | 'ő' => "o",
            'Ù'..='Ü' | 'Ů' | 'Ű' => "U",
            'ù'..='ü' | 'ů' | 'ű' => "u",
            'Ý' | 'Ÿ' => "Y",
            'ý' | 'ÿ' => "y",
            'ß' => "ss",
            'Ł' => "L",
            'ł' => "l",
            'Ś' | 'Š' | 'Ş' => "S",
            'ś' | 'š' | 'ş' => "s",
            'Ź' | 'Ż' | 'Ž' => "Z",
            'ź' | 'ż' | 'ž' => "z",
            'Ř' => "R",
            'ř' => "r",
            'Ť' => "T",
            'ť' => "t",
            'Þ' => "Th",
            'þ' => "th",
            _ if c.is_control() => "",
            _ => "?",
        };
        out.push_str(folded);
    }
    out
}

/// Gives every user and group its DN, in tree order (users by uid, groups by cn). Returns
/// the users that get an entry, the hidden (inactive) users that only resolve at bind, and
/// the groups. Empty or duplicate names are skipped with a warning (sync prevents them).
fn place<'a>(
    data: &'a DirectoryData,
    settings: &DirectorySettings,
    people_dn: &str,
    groups_dn: &str,
) -> Placement<'a> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut claim = |rdn: &str, name: &str, parent: &str| -> Option<(String, String)> {
        let dn = dn::child(rdn, name, parent);
        let ndn = dn::normalize(&dn).ok()?;
        if name.trim().is_empty() || !taken.insert(ndn.clone()) {
            return None;
        }
        Some((dn, ndn))
    };
    let mut sorted_users: Vec<&UserRecord> = data.users.iter().collect();
    sorted_users.sort_by_cached_key(|u| (u.uid.to_lowercase(), u.entra.id.clone()));
    let (mut users, mut hidden) = (Vec::new(), Vec::new());
    for rec in sorted_users {
        let Some((dn, ndn)) = claim("uid", &rec.uid, people_dn) else {
            tracing::warn!(id = %rec.entra.id, "user with an empty or duplicate uid skipped");
            continue;
        };
        let placed = Placed { rec, dn, ndn };
        if rec.status.is_active() || settings.show_inactive_users {
            users.push(placed);
        } else {
            hidden.push(placed);
        }
    }
    let mut sorted_groups: Vec<&GroupRecord> = data.groups.iter().collect();
    sorted_groups.sort_by_cached_key(|g| (g.cn.to_lowercase(), g.entra.id.clone()));
    let mut groups = Vec::new();
    for rec in sorted_groups {
        let Some((dn, ndn)) = claim("cn", &rec.cn, groups_dn) else {
            tracing::warn!(id = %rec.entra.id, "group with an empty or duplicate cn skipped");
            continue;
        };
        groups.push(Placed { rec, dn, ndn });
    }
    Placement {
        users,
        hidden,
        groups,
    }
}

/// What [`place`] returns.
struct Placement<'a> {
    users: Vec<Placed<'a, UserRecord>>,
    hidden: Vec<Placed<'a, UserRecord>>,
    groups: Vec<Placed<'a, GroupRecord>>,
}

/// Builds the whole snapshot. See the module docs and docs/directory.md.
pub fn build(data: &DirectoryData, settings: &DirectorySettings) -> Snapshot {
    build_with(data, settings, KeyHasher::default())
}

/// [`build`] with a given hasher for the id tables (tests force collisions with it).
pub fn build_with(
    data: &DirectoryData,
    settings: &DirectorySettings,
    hasher: KeyHasher,
) -> Snapshot {
    let base = base_dn(data, settings);
    let people_dn = dn::child("ou", "people", &base);
    let groups_dn = dn::child("ou", "groups", &base);

    let Placement {
        users,
        hidden,
        groups,
    } = place(data, settings, &people_dn, &groups_dn);
    let mut binders: Vec<_> = data.binders.iter().collect();
    binders.sort_by(|a, b| a.name.cmp(&b.name));

    let m = memberships(&users, &groups);
    let mut user_groups: Vec<Vec<usize>> = vec![Vec::new(); users.len()];
    for (gi, us) in m.direct_users.iter().enumerate() {
        for &u in us {
            if let Some(v) = user_groups.get_mut(u) {
                v.push(gi);
            }
        }
    }

    let mut b = Builder::default();
    b.root_dse(&base, settings);
    b.subschema();
    let base_id = b.container_base(&base, data);
    let people_id = b.container("people", &people_dn, base_id, Region::People);
    let user_ids: Vec<EntryId> = users
        .iter()
        .zip(&user_groups)
        .map(|(u, gs)| {
            let member_of: Vec<(&str, &str)> = gs
                .iter()
                .filter_map(|&g| groups.get(g))
                .map(|g| (g.dn.as_str(), g.ndn.as_str()))
                .collect();
            b.user(u, &member_of, settings, people_id)
        })
        .collect();
    let groups_id = b.container("groups", &groups_dn, base_id, Region::Groups);
    let group_ids: Vec<EntryId> = groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let mut member: Vec<(&str, &str)> = Vec::new();
            for &u in m.direct_users.get(gi).into_iter().flatten() {
                member.extend(users.get(u).map(|x| (x.dn.as_str(), x.ndn.as_str())));
            }
            for &sub in m.direct_groups.get(gi).into_iter().flatten() {
                member.extend(groups.get(sub).map(|x| (x.dn.as_str(), x.ndn.as_str())));
            }
            let member_uid: Vec<&str> = m
                .all_users
                .get(gi)
                .into_iter()
                .flatten()
                .filter_map(|&u| users.get(u).map(|x| x.rec.uid.as_str()))
                .collect();
            b.group(g, &member, &member_uid, groups_id)
        })
        .collect();
    let mut binder_dns = Vec::new();
    for rec in &binders {
        let dn = dn::child("cn", &rec.name, &base);
        let Ok(ndn) = dn::normalize(&dn) else {
            continue;
        };
        if b.by_ndn.contains_key(&ndn) {
            tracing::warn!(binder = %rec.name, "binder DN collides with another entry; skipped");
            continue;
        }
        b.binder(rec, &dn, &ndn, base_id);
        binder_dns.push((*rec, dn, ndn));
    }
    b.finish_subtrees();

    // Transitive memberships in entry-id space: (group, member) pairs.
    let mut chain = Vec::new();
    for (gi, &gid) in group_ids.iter().enumerate() {
        let member_users = m.all_users.get(gi).into_iter().flatten();
        let member_groups = m.all_groups.get(gi).into_iter().flatten();
        chain.extend(
            member_users
                .filter_map(|&u| user_ids.get(u).copied())
                .chain(member_groups.filter_map(|&g| group_ids.get(g).copied()))
                .map(|member| (gid, member)),
        );
    }
    b.entries.shrink_to_fit();
    let n = b.entries.len();
    let reversed = chain.iter().map(|&(g, member)| (member, g)).collect();

    let entries = b.entries;
    let by_ndn = KeyIndex::from_pairs(
        entries
            .iter()
            .zip(0..)
            .map(|(e, id)| (hasher.hash(e.ndn()), id))
            .collect(),
    );
    let mut snap = Snapshot {
        indexes: index(&entries, &hasher),
        entries,
        base_id,
        by_ndn,
        chain_members: IdLists::from_pairs(n, chain),
        chain_groups: IdLists::from_pairs(n, reversed),
        users: Vec::new(),
        user_by_id: KeyIndex::default(),
        bind_dn: KeyIndex::default(),
        bind_uid: KeyIndex::default(),
        bind_mail: KeyIndex::default(),
        bind_upn: KeyIndex::default(),
        binders: HashMap::new(),
        binder_by_ndn: HashMap::new(),
        hasher,
        settings: settings.clone(),
    };
    bind_tables(&mut snap, users.iter().chain(&hidden));
    for (rec, dn, ndn) in binder_dns {
        let scope: Vec<String> = rec
            .scope
            .iter()
            .filter_map(|s| dn::normalize(s).ok())
            .collect();
        let ranges = (!rec.scope.is_empty()).then(|| scope_ranges(&snap, &scope));
        snap.binder_by_ndn.insert(ndn, rec.name.clone());
        snap.binders
            .insert(rec.name.clone(), BinderInfo { dn, ranges, scope });
    }
    snap
}

/// The subtrees (id ranges) of a binder's scope DNs that exist in `snap`.
pub(super) fn scope_ranges(snap: &Snapshot, scope: &[String]) -> Vec<(EntryId, EntryId)> {
    scope
        .iter()
        .filter_map(|n| {
            snap.find_ndn(n)
                .and_then(|id| snap.entries.get(id as usize).map(|e| (id, e.end)))
        })
        .collect()
}

/// Registers users (visible and hidden) under their object id, DN, uid, mail and UPN for
/// bind resolution and access checks.
fn bind_tables<'a>(snap: &mut Snapshot, users: impl Iterator<Item = &'a Placed<'a, UserRecord>>) {
    let infos = users.map(user_info).collect();
    index_users(snap, infos);
}

/// What bind resolution and access checks keep of a placed user.
pub(super) fn user_info(u: &Placed<'_, UserRecord>) -> UserInfo {
    let fold = |s: &str| values::normalize(Rule::CaseIgnore, s).unwrap_or_default();
    let e = &u.rec.entra;
    UserInfo::new(
        u.rec.status.is_active(),
        &e.id,
        &u.dn,
        &u.ndn,
        &fold(&u.rec.uid),
        &fold(e.mail.as_deref().unwrap_or("")),
        &fold(&e.user_principal_name),
    )
}

/// Makes `infos` the snapshot's users and files them in the bind-name tables.
pub(super) fn index_users(snap: &mut Snapshot, infos: Vec<UserInfo>) {
    let (mut ids, mut dns, mut uids, mut mails, mut upns) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    snap.users = Vec::with_capacity(infos.len());
    for (info, pos) in infos.into_iter().zip(0u32..) {
        let names = [
            (&mut ids, info.id()),
            (&mut dns, info.ndn()),
            (&mut uids, info.uid_key()),
            (&mut mails, info.mail_key()),
            (&mut upns, info.upn_key()),
        ];
        for (table, key) in names {
            if !key.is_empty() {
                table.push((snap.hasher.hash(key), pos));
            }
        }
        snap.users.push(info);
    }
    snap.users.shrink_to_fit();
    snap.user_by_id = KeyIndex::from_pairs(ids);
    snap.bind_dn = KeyIndex::from_pairs(dns);
    snap.bind_uid = KeyIndex::from_pairs(uids);
    snap.bind_mail = KeyIndex::from_pairs(mails);
    snap.bind_upn = KeyIndex::from_pairs(upns);
}

/// Equality indexes over [`INDEXED`] attributes, keyed by the hash of each normalised value.
fn index(entries: &[Entry], hasher: &KeyHasher) -> HashMap<usize, KeyIndex> {
    let s = schema();
    let mut pairs: HashMap<usize, Vec<(u64, EntryId)>> = INDEXED
        .iter()
        .filter_map(|n| s.attribute_index(n))
        .map(|at| (at, Vec::new()))
        .collect();
    for (entry, id) in entries.iter().zip(0..) {
        for attr in entry.attrs() {
            if let Some(list) = pairs.get_mut(&attr.at) {
                list.extend(attr.norms().map(|norm| (hasher.hash(norm), id)));
            }
        }
    }
    pairs
        .into_iter()
        .map(|(at, list)| (at, KeyIndex::from_pairs(list)))
        .collect()
}

/// Sets every entry's `end` (one past its subtree) from the entries' parent links
/// (entries in preorder). Children need no list: they are `id + 1`, then each child's `end`
/// in turn (see `Snapshot::children`).
pub(super) fn link_subtrees(entries: &mut [Entry]) {
    for (e, id) in entries.iter_mut().zip(0 as EntryId..) {
        e.end = id + 1;
    }
    for i in (0..entries.len()).rev() {
        let Some(e) = entries.get(i) else {
            continue;
        };
        let (end, parent) = (e.end, e.parent());
        if let Some(p) = parent.and_then(|p| entries.get_mut(p as usize))
            && p.end < end
        {
            p.end = end;
        }
    }
}

/// Accumulates entries in preorder.
#[derive(Default)]
pub(super) struct Builder {
    pub entries: Vec<Entry>,
    /// Normalised DN → id, while building (the snapshot keeps a hashed table instead).
    by_ndn: HashMap<String, EntryId>,
}

impl Builder {
    fn push(&mut self, attrs: Attrs, parent: Option<EntryId>, region: Region) -> EntryId {
        let id = self.entries.len() as EntryId;
        let entry = attrs.0.finish(parent, id, region);
        self.by_ndn.insert(entry.ndn().to_string(), id);
        self.entries.push(entry);
        id
    }

    /// Sets every entry's `end` (one past its subtree).
    fn finish_subtrees(&mut self) {
        link_subtrees(&mut self.entries);
    }

    fn root_dse(&mut self, base: &str, settings: &DirectorySettings) {
        let mut a = Attrs::new("", "");
        a.classes(&["top"]);
        a.put("namingContexts", &[base]);
        a.one("supportedLDAPVersion", "3");
        a.put("supportedControl", &settings.supported_controls);
        a.put("supportedExtension", &settings.supported_extensions);
        a.put("supportedFeatures", SUPPORTED_FEATURES);
        a.one("vendorName", "entra-ldap");
        let version = if settings.vendor_version.is_empty() {
            env!("CARGO_PKG_VERSION")
        } else {
            &settings.vendor_version
        };
        a.one("vendorVersion", version);
        a.one("subschemaSubentry", SUBSCHEMA_DN);
        self.push(a, None, Region::RootDse);
    }

    fn subschema(&mut self) {
        let s = schema();
        let ndn = SUBSCHEMA_DN.to_ascii_lowercase();
        let mut a = Attrs::new(SUBSCHEMA_DN, &ndn);
        a.classes(&["top", "subentry", "subschema"]);
        a.one("cn", "Subschema");
        a.put("ldapSyntaxes", &s.ldap_syntaxes);
        a.put("matchingRules", &s.matching_rules);
        a.put("attributeTypes", &s.attribute_types);
        a.put("objectClasses", &s.object_classes);
        a.operational(SUBSCHEMA_DN, &ndn, "subentry", None);
        self.push(a, None, Region::Subschema);
    }

    /// The naming context entry; its object classes follow its RDN type.
    fn container_base(&mut self, base: &str, data: &DirectoryData) -> EntryId {
        let parsed = dn::parse(base).unwrap_or_default();
        let first = parsed.rdns.first().and_then(|r| r.0.first());
        let (rdn_type, rdn_value) = first
            .map(|a| (a.attr.to_ascii_lowercase(), a.value.as_str()))
            .unwrap_or_default();
        // The base is already normalised (see `base_dn`).
        let mut a = Attrs::new(base, base);
        let structural = match rdn_type.as_str() {
            "dc" => {
                a.classes(&["top", "dcObject", "organization"]);
                a.one("dc", rdn_value);
                let org = data
                    .domains
                    .iter()
                    .find(|d| d.is_default)
                    .map(|d| d.id.as_str())
                    .unwrap_or(rdn_value);
                a.one("o", org);
                "organization"
            }
            "o" => {
                a.classes(&["top", "organization"]);
                a.one("o", rdn_value);
                "organization"
            }
            "ou" => {
                a.classes(&["top", "organizationalUnit"]);
                a.one("ou", rdn_value);
                "organizationalUnit"
            }
            other => {
                a.classes(&["top", "organization", "extensibleObject"]);
                a.one("o", rdn_value);
                if schema().attribute(other).is_some() && other != "o" {
                    a.one(other, rdn_value);
                }
                "organization"
            }
        };
        a.operational(base, base, structural, None);
        a.one("hasSubordinates", "TRUE");
        self.push(a, None, Region::Base)
    }

    fn container(&mut self, ou: &str, dn: &str, parent: EntryId, region: Region) -> EntryId {
        let ndn = dn::normalize(dn).unwrap_or_else(|_| dn.to_ascii_lowercase());
        let mut a = Attrs::new(dn, &ndn);
        a.classes(&["top", "organizationalUnit"]);
        a.one("ou", ou);
        a.operational(dn, &ndn, "organizationalUnit", None);
        // Always TRUE, even while empty, so browsing clients keep looking below it.
        a.one("hasSubordinates", "TRUE");
        self.push(a, Some(parent), region)
    }

    pub(super) fn user(
        &mut self,
        u: &Placed<UserRecord>,
        member_of: &[(&str, &str)],
        settings: &DirectorySettings,
        parent: EntryId,
    ) -> EntryId {
        let rec = u.rec;
        let e = &rec.entra;
        let nonempty = |o: &Option<String>| {
            o.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let display = nonempty(&e.display_name);
        let cn = display.clone().unwrap_or_else(|| rec.uid.clone());
        let sn = nonempty(&e.surname).unwrap_or_else(|| cn.clone());
        let mut a = Attrs::new(&u.dn, &u.ndn);
        let mut classes = vec![
            "top",
            "person",
            "organizationalPerson",
            "inetOrgPerson",
            "posixAccount",
        ];
        if !rec.ssh_public_keys.is_empty() {
            classes.push("ldapPublicKey");
        }
        a.classes(&classes);
        a.one("uid", &rec.uid);
        a.one("cn", &cn);
        a.one("sn", &sn);
        a.opt("givenName", e.given_name.as_deref());
        a.opt("displayName", display.as_deref());
        a.opt("mail", e.mail.as_deref());
        a.opt("userPrincipalName", Some(e.user_principal_name.as_str()));
        a.one("uidNumber", &rec.uid_number.to_string());
        a.one("gidNumber", &rec.gid_number.to_string());
        let home = if settings.home_directory.is_empty() {
            "/home/{uid}"
        } else {
            &settings.home_directory
        };
        a.one("homeDirectory", &home.replace("{uid}", &rec.uid));
        let shell = if settings.login_shell.is_empty() {
            "/bin/bash"
        } else {
            &settings.login_shell
        };
        a.one("loginShell", shell);
        a.one("gecos", &ascii_fold(&cn));
        a.dns("memberOf", member_of);
        let keys: Vec<&str> = rec
            .ssh_public_keys
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
            .collect();
        a.put("sshPublicKey", &keys);
        a.one("entryUUID", &e.id);
        a.operational(
            &u.dn,
            &u.ndn,
            "inetOrgPerson",
            Some((rec.created, rec.modified)),
        );
        a.one("hasSubordinates", "FALSE");
        self.push(a, Some(parent), Region::People)
    }

    pub(super) fn group(
        &mut self,
        g: &Placed<GroupRecord>,
        member: &[(&str, &str)],
        member_uid: &[&str],
        parent: EntryId,
    ) -> EntryId {
        let rec = g.rec;
        let mut a = Attrs::new(&g.dn, &g.ndn);
        a.classes(&["top", "groupOfNames", "posixGroup"]);
        a.one("cn", &rec.cn);
        a.one("gidNumber", &rec.gid_number.to_string());
        a.opt("description", rec.entra.description.as_deref());
        a.opt("mail", rec.entra.mail.as_deref());
        // groupOfNames requires a member; an empty group simply has none (clients cope).
        a.dns("member", member);
        a.put("memberUid", member_uid);
        a.one("entryUUID", &rec.entra.id);
        a.operational(
            &g.dn,
            &g.ndn,
            "groupOfNames",
            Some((rec.created, rec.modified)),
        );
        a.one("hasSubordinates", "FALSE");
        self.push(a, Some(parent), Region::Groups)
    }

    fn binder(
        &mut self,
        rec: &crate::model::BinderRecord,
        dn: &str,
        ndn: &str,
        parent: EntryId,
    ) -> EntryId {
        let mut a = Attrs::new(dn, ndn);
        a.classes(&["top", "applicationProcess", "entraLdapBinder"]);
        a.one("cn", &rec.name);
        a.opt("description", rec.description.as_deref());
        a.operational(
            dn,
            ndn,
            "applicationProcess",
            Some((rec.created, rec.created)),
        );
        a.one("hasSubordinates", "FALSE");
        self.push(a, Some(parent), Region::Binder)
    }
}
