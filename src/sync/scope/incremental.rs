//! Scoping a delta run incrementally: the previous run's scoped tenant, patched where the
//! delta can have changed it, instead of a new scoped copy of the whole mirror.
//!
//! Why: a delta run carrying 100 changes used to scope the complete mirror again, and
//! building that copy (every user, every imported group's member list: ~150 MB for 100,000
//! users and 1,000,000 memberships) was most of the run's merge + scope phase — allocation
//! and page faults, not the rules. The rules are cheap; the copy is not.
//!
//! What is recomputed, so that the result is exactly what [`super::apply_mirror`] gives:
//! - a user the delta touched (changed, added or removed) is copied afresh with its status;
//! - every user's status when the domain list changed or allowed/denied groups are
//!   configured (membership anywhere can move a user in or out of them; statuses are
//!   decided without allocating, so this stays cheap);
//! - an imported group the delta touched, or whose effective-member walk (its members, and
//!   those of nested groups that are not imported) reaches a touched user or group — the
//!   walk of every other group reads exactly what it read before, so its result is the same;
//! - a touched group no longer imported (or gone) is dropped;
//! - domains and warnings every time (small).
//!
//! Settings changes and full runs scope everything ([`super::apply_mirror`]); the worker
//! decides that. The randomized test `sync::scope::incremental_tests` compares this with
//! the full scope after every step of random delta sequences.

use super::{Rules, Tenant, View, is_imported, with_members};
use crate::model::{EntraGroup, EntraUser, MemberRef, TenantSnapshot, UserStatus};
use crate::store::MirrorUpdate;
use crate::sync::delta::Mirror;
use crate::sync::settings::SyncSettings;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// [`super::apply_mirror`]`(mirror, settings)`, computed by patching `previous`.
///
/// `previous` must be `apply_mirror(before, settings)` — the same settings — for the mirror
/// `before` that [`crate::sync::delta::merge_delta`] turned into `mirror`, returning
/// `update` (whose changed and removed objects say what the delta touched).
pub fn apply_delta(
    previous: TenantSnapshot,
    mirror: &Mirror,
    update: &MirrorUpdate,
    settings: &SyncSettings,
) -> TenantSnapshot {
    let view = View {
        users: mirror.users.values().collect(),
        groups: mirror.groups.values().collect(),
        domains: &mirror.domains,
    };
    let tenant = Tenant::new(&view);
    let rules = Rules::new(&view, &tenant, settings);
    let touched = Touched::new(update);
    let TenantSnapshot {
        mut users,
        mut groups,
        domains,
        ..
    } = previous;
    if settings.users {
        patch_users(&mut users, mirror, &touched, &rules);
        let every_status = domains != mirror.domains
            || !settings.allowed_groups.is_empty()
            || !settings.denied_groups.is_empty();
        if every_status {
            for (user, status) in &mut users {
                *status = rules.status(user);
            }
        }
    }
    if settings.groups {
        patch_groups(&mut groups, &tenant, &touched, settings);
    }
    TenantSnapshot {
        users,
        groups,
        domains: mirror.domains.clone(),
        users_synced: settings.users,
        warnings: rules.warnings,
    }
}

/// The objects a delta touched (changed, added or removed), by object id.
struct Touched<'u> {
    users: BTreeSet<&'u str>,
    groups: BTreeSet<&'u str>,
    /// The same ids, for the membership scan (one lookup per member of every group).
    user_set: HashSet<&'u str>,
    group_set: HashSet<&'u str>,
    /// [`fingerprint`]s of all those ids: the scan looks a member up in the sets above only
    /// when its bit is set, so most of the million members cost no hashing at all.
    filter: Filter,
}

impl<'u> Touched<'u> {
    fn new(update: &'u MirrorUpdate) -> Touched<'u> {
        let users: BTreeSet<&str> = update
            .users
            .iter()
            .map(|u| u.id.as_str())
            .chain(update.removed_users.iter().map(String::as_str))
            .collect();
        let groups: BTreeSet<&str> = update
            .groups
            .iter()
            .map(|g| g.id.as_str())
            .chain(update.removed_groups.iter().map(String::as_str))
            .collect();
        Touched {
            filter: Filter::of(users.iter().chain(groups.iter()).copied()),
            user_set: users.iter().copied().collect(),
            group_set: groups.iter().copied().collect(),
            users,
            groups,
        }
    }

    /// True when `member` is a touched user or group.
    fn has(&self, member: &MemberRef) -> bool {
        let (MemberRef::User(id) | MemberRef::Group(id)) = member;
        if !self.filter.may_hold(id) {
            return false;
        }
        match member {
            MemberRef::User(id) => self.user_set.contains(id.as_str()),
            MemberRef::Group(id) => self.group_set.contains(id.as_str()),
        }
    }
}

/// A 4,096-bit set of id fingerprints: a cheap first test of "is this id touched?" that
/// can answer a false "maybe" (then the exact set decides) but never a false "no".
struct Filter([u64; 64]);

impl Filter {
    fn of<'i>(ids: impl Iterator<Item = &'i str>) -> Filter {
        let mut bits = [0u64; 64];
        for id in ids {
            let (word, bit) = fingerprint(id);
            if let Some(w) = bits.get_mut(word) {
                *w |= 1 << bit;
            }
        }
        Filter(bits)
    }

    fn may_hold(&self, id: &str) -> bool {
        let (word, bit) = fingerprint(id);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

/// Where `id` falls in a [`Filter`] (word 0..64, bit 0..64): its length and last eight
/// bytes (an object id's most varying part), mixed by one multiplication.
fn fingerprint(id: &str) -> (usize, u32) {
    let bytes = id.as_bytes();
    let tail = bytes
        .get(bytes.len().saturating_sub(8)..)
        .unwrap_or_default();
    let raw = tail
        .iter()
        .fold(bytes.len() as u64, |h, &b| (h << 8) | u64::from(b));
    let mixed = raw.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52;
    ((mixed >> 6) as usize, (mixed & 63) as u32)
}

/// Touched users copied afresh (with their status) or dropped.
fn patch_users(
    users: &mut Vec<(EntraUser, UserStatus)>,
    mirror: &Mirror,
    touched: &Touched<'_>,
    rules: &Rules<'_>,
) {
    let changes = touched.users.iter().map(|id| {
        let user = mirror.users.get(*id).map(|u| (u.clone(), rules.status(u)));
        (*id, user)
    });
    patch_sorted(users, changes, |(user, _)| user.id.as_str());
}

/// Imported groups whose effective members may have changed rebuilt; touched groups no
/// longer imported (or gone) dropped.
fn patch_groups(
    groups: &mut Vec<EntraGroup>,
    tenant: &Tenant<'_>,
    touched: &Touched<'_>,
    settings: &SyncSettings,
) {
    let imported: HashSet<&str> = tenant
        .groups
        .iter()
        .filter(|g| is_imported(g, settings))
        .map(|g| g.id.as_str())
        .collect();
    // Only a mix of imported and not imported groups has walks through nested groups.
    let hidden = if imported.is_empty() || imported.len() == tenant.groups.len() {
        HashSet::new()
    } else {
        dirty_hidden_groups(tenant, &imported, touched)
    };
    let mut changes: BTreeMap<&str, Option<EntraGroup>> =
        touched.groups.iter().map(|id| (*id, None)).collect();
    for group in tenant.groups {
        let id = group.id.as_str();
        if !imported.contains(id) {
            continue;
        }
        let dirty = touched.groups.contains(id)
            || group.members.iter().any(|member| {
                touched.has(member)
                    || matches!(member, MemberRef::Group(g) if hidden.contains(g.as_str()))
            });
        if dirty {
            let members = tenant.effective_members(group, &imported);
            changes.insert(id, Some(with_members(group, members)));
        }
    }
    patch_sorted(groups, changes, |group| group.id.as_str());
}

/// The groups that are not imported and whose walk (their members, then those of nested
/// groups that are not imported either) reaches a touched user or group: an imported group
/// with one of them as a member expands it, so its effective members may have changed.
/// Found backwards from the groups holding a touched member, so cycles end by themselves.
fn dirty_hidden_groups<'a>(
    tenant: &Tenant<'a>,
    imported: &HashSet<&str>,
    touched: &Touched<'_>,
) -> HashSet<&'a str> {
    let mut parents: HashMap<&'a str, Vec<&'a str>> = HashMap::new();
    let mut stack = Vec::new();
    for group in tenant.groups {
        let id = group.id.as_str();
        if imported.contains(id) {
            continue;
        }
        let mut reaches = touched.groups.contains(id);
        for member in &group.members {
            if touched.has(member) {
                reaches = true;
            } else if let MemberRef::Group(nested) = member
                && !imported.contains(nested.as_str())
            {
                parents.entry(nested.as_str()).or_default().push(id);
            }
        }
        if reaches {
            stack.push(id);
        }
    }
    let mut dirty = HashSet::new();
    while let Some(id) = stack.pop() {
        if dirty.insert(id)
            && let Some(holders) = parents.get(id)
        {
            stack.extend(holders.iter().copied());
        }
    }
    dirty
}

/// Applies `changes` to `items`, both in ascending order of `key` (changes without repeated
/// keys): `Some` replaces the item with that key or inserts it in its place, `None` removes
/// it (if there). Positions are found by binary search, so untouched items are neither
/// compared nor copied, only moved when something is inserted or removed.
fn patch_sorted<'k, T>(
    items: &mut Vec<T>,
    changes: impl IntoIterator<Item = (&'k str, Option<T>)>,
    key: impl Fn(&T) -> &str,
) {
    let mut inserts: Vec<(usize, T)> = Vec::new();
    let mut removals: Vec<usize> = Vec::new();
    for (id, change) in changes {
        match (items.binary_search_by(|item| key(item).cmp(id)), change) {
            (Ok(at), Some(new)) => {
                if let Some(slot) = items.get_mut(at) {
                    *slot = new;
                }
            }
            (Ok(at), None) => removals.push(at),
            (Err(at), Some(new)) => inserts.push((at, new)),
            (Err(_), None) => {}
        }
    }
    if inserts.is_empty() && removals.is_empty() {
        return;
    }
    let old = std::mem::take(items);
    let mut out = Vec::with_capacity(old.len() + inserts.len());
    let mut inserts = inserts.into_iter().peekable();
    let mut removals = removals.into_iter().peekable();
    for (at, item) in old.into_iter().enumerate() {
        while let Some((_, new)) = inserts.next_if(|(before, _)| *before == at) {
            out.push(new);
        }
        if removals.next_if_eq(&at).is_none() {
            out.push(item);
        }
    }
    out.extend(inserts.map(|(_, new)| new));
    *items = out;
}

#[cfg(test)]
mod tests {
    use super::{Filter, patch_sorted};

    #[test]
    fn the_filter_never_misses_an_id_it_holds() {
        let ids: Vec<String> = (0..500)
            .map(|n| format!("{n:08x}-0000-4000-8000-{n:012x}"))
            .collect();
        let filter = Filter::of(ids.iter().map(String::as_str).take(100));
        assert!(ids.iter().take(100).all(|id| filter.may_hold(id)));
        let short = Filter::of(["", "g1"].into_iter());
        assert!(
            short.may_hold("") && short.may_hold("g1"),
            "ids shorter than 8 bytes"
        );
        let false_maybes = ids
            .iter()
            .skip(100)
            .filter(|id| filter.may_hold(id))
            .count();
        assert!(false_maybes < 40, "{false_maybes} of 400 others pass");
    }

    fn patched(items: &[&'static str], changes: &[(&'static str, bool)]) -> Vec<&'static str> {
        let mut items = items.to_vec();
        patch_sorted(
            &mut items,
            changes.iter().map(|(k, keep)| (*k, keep.then_some(*k))),
            |item| item,
        );
        items
    }

    #[test]
    fn patching_inserts_replaces_and_removes_in_order() {
        assert_eq!(
            patched(
                &["b", "d", "f"],
                &[
                    ("a", true),
                    ("c", true),
                    ("d", false),
                    ("e", true),
                    ("z", true)
                ]
            ),
            ["a", "b", "c", "e", "f", "z"]
        );
        assert_eq!(patched(&["b", "d"], &[("b", false), ("d", false)]), [""; 0]);
        assert_eq!(patched(&[], &[("a", true), ("b", true)]), ["a", "b"]);
        assert_eq!(
            patched(&["a"], &[("x", false)]),
            ["a"],
            "removing what is not there"
        );
        assert_eq!(
            patched(&["a", "c"], &[("b1", true), ("b2", true), ("c", true)]),
            ["a", "b1", "b2", "c"],
            "two inserts at one position keep their order"
        );
    }
}
