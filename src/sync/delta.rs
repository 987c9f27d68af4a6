//! Delta sync: reading Graph's delta rounds and merging them into the mirror of the tenant.
//!
//! Why: re-reading 100,000 users and every membership each minute costs minutes and
//! thousands of requests; a delta round costs one request per object kind when nothing
//! changed. A *full* run reads the initial rounds of `/users/delta` and `/groups/delta`
//! (members come along in `members@delta`, no request per group) plus `/domains`, and
//! replaces the mirror; a *delta* run follows the stored delta links and applies only what
//! changed. Either way the result is a new [`Mirror`] plus a [`MirrorUpdate`] holding just
//! the changed objects and the new links, which the store commits with the directory.
//!
//! Merging rules (graph.md §2.6): an object seen again replaces its properties; `@removed`
//! (soft or hard delete) takes it out of the mirror; a group's `members@delta` entries add
//! or remove members, and a group repeated over pages (large groups) is merged by id;
//! replays are idempotent (sets, last entry wins).

use super::error::SyncError;
use super::fetch::{
    DeltaItem, GROUP_SELECT, GraphGroup, GraphUser, GroupChange, USER_SELECT, fetch_domains,
};
use super::graph::GraphClient;
use crate::model::{
    EntraDomain, EntraGroup, EntraUser, MemberRef, ObjectId, RawTenant, SyncMode, now,
};
use crate::store::{DeltaState, MirrorUpdate, StoredMirror};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use url::Url;

/// The tenant as Graph last described it, indexed by object id, with the delta state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    pub users: BTreeMap<ObjectId, EntraUser>,
    pub groups: BTreeMap<ObjectId, EntraGroup>,
    pub domains: Vec<EntraDomain>,
    pub state: DeltaState,
}

impl Mirror {
    /// Indexes what the store holds.
    pub fn from_stored(stored: StoredMirror) -> Mirror {
        Mirror {
            users: stored
                .tenant
                .users
                .into_iter()
                .map(|u| (u.id.clone(), u))
                .collect(),
            groups: stored
                .tenant
                .groups
                .into_iter()
                .map(|g| (g.id.clone(), g))
                .collect(),
            domains: stored.tenant.domains,
            state: stored.state,
        }
    }

    /// Users and groups mirrored.
    pub fn sizes(&self) -> (usize, usize) {
        (self.users.len(), self.groups.len())
    }

    /// The mirror as scoping reads it (ordered by object id).
    pub fn to_raw(&self) -> RawTenant {
        RawTenant {
            users: self.users.values().cloned().collect(),
            groups: self.groups.values().cloned().collect(),
            domains: self.domains.clone(),
        }
    }
}

/// What one pair of rounds (users and groups) plus `/domains` brought.
#[derive(Debug)]
pub struct Rounds {
    /// Users round items, in the order Graph sent them.
    pub users: Vec<DeltaItem<EntraUser>>,
    /// Groups round items (a large group appears once per slice of its members).
    pub groups: Vec<DeltaItem<GroupChange>>,
    pub domains: Vec<EntraDomain>,
    /// The `@odata.deltaLink`s that ended the rounds (checked to stay on the Graph origin).
    pub users_link: Url,
    pub groups_link: Url,
}

impl Rounds {
    /// Objects (and removals) the rounds carried, for logs.
    pub fn len(&self) -> usize {
        self.users.len() + self.groups.len()
    }

    /// True when the rounds carried no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What delta links are bound to: the tenant and the Graph endpoint. After either is
/// reconfigured, stored links are not followed (they would read another tenant's changes,
/// or be refused as foreign) and a full run starts over.
pub fn source_of(tenant_id: &str, graph_url: &Url) -> String {
    format!("{}@{}", tenant_id.to_ascii_lowercase(), graph_url)
}

/// True when Graph refused a delta link as expired: 410 Gone ("synchronization reset"),
/// or 400 with `syncStateNotFound` / `resyncRequired` (graph.md §2.6) — or as unreadable:
/// 400 naming the skip/delta token (e.g. "Invalid syntax for skip token.", a link from a
/// tenant restored from backup or a Graph-side format change). A full round is the only
/// way on; retrying the same link would fail every run.
pub fn is_expired_token(e: &SyncError) -> bool {
    match e {
        SyncError::Status { status: 410, .. } => true,
        SyncError::Status {
            status: 400,
            detail,
            ..
        } => {
            let detail = detail.to_ascii_lowercase();
            detail.contains("syncstatenotfound")
                || detail.contains("resyncrequired")
                || detail.contains("skip token")
                || detail.contains("delta token")
                || detail.contains("skiptoken")
                || detail.contains("deltatoken")
        }
        _ => false,
    }
}

/// What one run's reading needs to know.
pub struct Plan<'a> {
    pub graph: &'a GraphClient,
    /// Page size asked of Graph (1..=999).
    pub page_size: u32,
    /// What delta links must belong to ([`source_of`]).
    pub source: String,
    /// An admin asked for a full run.
    pub forced: bool,
    /// Seconds between full reconciliations (0: none).
    pub full_interval_secs: u64,
    /// The run id, for logs.
    pub run: u64,
}

/// Reads the tenant the way this run should: a delta run when links of this tenant and
/// Graph endpoint are stored, no full run was asked for and the last full one is recent
/// enough; otherwise, or when Graph says the delta link expired, a full run (logged).
/// `mode` is set as soon as it is known (a failed run records it too). Only the mirror's
/// delta state is needed: the objects are needed to merge ([`Read::merge`]), and a caller
/// that keeps them in the store need not load them for a read that carried nothing.
pub async fn read(
    plan: &Plan<'_>,
    state: &DeltaState,
    requests: &AtomicU64,
    mode: &Mutex<Option<SyncMode>>,
) -> Result<Read, SyncError> {
    let set_mode = |m| *mode.lock().unwrap_or_else(|p| p.into_inner()) = Some(m);
    let full_due = plan.full_interval_secs > 0
        && state.last_full.is_none_or(|t| {
            now().saturating_sub(t) >= i64::try_from(plan.full_interval_secs).unwrap_or(i64::MAX)
        });
    if !plan.forced && !full_due && state.has_links(&plan.source) {
        set_mode(SyncMode::Delta);
        match read_incremental(plan.graph, state, plan.page_size, requests).await {
            Ok(rounds) => {
                tracing::debug!(run = plan.run, objects = rounds.len(), "delta rounds read");
                return Ok(Read {
                    mode: SyncMode::Delta,
                    rounds,
                    source: plan.source.clone(),
                });
            }
            Err(e) if is_expired_token(&e) => {
                tracing::warn!(run = plan.run, error = %e, "delta link expired: reading the tenant in full");
            }
            Err(e) => return Err(e),
        }
    }
    set_mode(SyncMode::Full);
    let rounds = read_full(plan.graph, plan.page_size, requests).await?;
    Ok(Read {
        mode: SyncMode::Full,
        rounds,
        source: plan.source.clone(),
    })
}

/// What [`read`] brought, not yet merged into the mirror.
#[derive(Debug)]
pub struct Read {
    pub mode: SyncMode,
    rounds: Rounds,
    /// What the new delta links belong to ([`source_of`]).
    source: String,
}

impl Read {
    /// True for a delta read that carried no object and the domain list `domains`: merged
    /// into the mirror it was read for, it would change only the delta links.
    pub fn carries_nothing(&self, domains: &[EntraDomain]) -> bool {
        self.mode == SyncMode::Delta && self.rounds.is_empty() && self.rounds.domains == domains
    }

    /// Merges into `mirror` (the one the read's delta state came from): a delta read
    /// changes it in place, a full read replaces it. Returns the merged mirror and what to
    /// persist of it.
    pub fn merge(self, mut mirror: Mirror) -> (Mirror, MirrorUpdate) {
        match self.mode {
            SyncMode::Delta => {
                let update = merge_delta(&mut mirror, self.rounds);
                (mirror, update)
            }
            SyncMode::Full => merge_full(&mirror, self.rounds, &self.source),
        }
    }
}

/// Reads the initial rounds of users and groups (with members) and the domains.
pub async fn read_full(
    graph: &GraphClient,
    page_size: u32,
    requests: &AtomicU64,
) -> Result<Rounds, SyncError> {
    let users = graph.url(&["users", "delta"], &format!("$select={USER_SELECT}"))?;
    let groups = graph.url(&["groups", "delta"], &format!("$select={GROUP_SELECT}"))?;
    read_rounds(graph, users, groups, page_size, requests).await
}

/// Follows the stored delta links (and re-reads the one-page domain list). Fails with
/// [`SyncError::Config`] when a link is missing, so callers check [`DeltaState::has_links`].
pub async fn read_incremental(
    graph: &GraphClient,
    state: &DeltaState,
    page_size: u32,
    requests: &AtomicU64,
) -> Result<Rounds, SyncError> {
    let link = |l: &Option<String>| -> Result<Url, SyncError> {
        let l = l
            .as_deref()
            .ok_or_else(|| SyncError::Config("no stored delta link".to_string()))?;
        graph.follow(l)
    };
    let users = link(&state.users_link)?;
    let groups = link(&state.groups_link)?;
    read_rounds(graph, users, groups, page_size, requests).await
}

/// The users round, the groups round, then the domains; one after the other, so a run's
/// requests are predictable and the first failure stops it (the groups round is about a
/// tenth of the pages, so reading it alongside would save little).
async fn read_rounds(
    graph: &GraphClient,
    users_first: Url,
    groups_first: Url,
    page_size: u32,
    requests: &AtomicU64,
) -> Result<Rounds, SyncError> {
    let users = graph
        .delta_round(users_first, page_size, requests, GraphUser::into_item)
        .await?;
    let groups = graph
        .delta_round(groups_first, page_size, requests, |g: GraphGroup| {
            Ok(g.into_item())
        })
        .await?;
    let domains = fetch_domains(graph, requests).await?;
    Ok(Rounds {
        users: users.0,
        groups: groups.0,
        domains,
        users_link: users.1,
        groups_link: groups.1,
    })
}

/// Object ids a round touched (for the mirror update).
#[derive(Default)]
struct Touched {
    users: BTreeSet<ObjectId>,
    groups: BTreeSet<ObjectId>,
}

/// Applies rounds to `mirror` in order; returns what they touched.
fn apply(mirror: &mut Mirror, rounds: Rounds) -> Touched {
    let mut touched = Touched::default();
    for item in rounds.users {
        match item {
            DeltaItem::Upsert(user) => {
                touched.users.insert(user.id.clone());
                mirror.users.insert(user.id.clone(), user);
            }
            DeltaItem::Removed(id) => {
                mirror.users.remove(&id);
                touched.users.insert(id);
            }
        }
    }
    // Member entries per group, in round order (a large group spans several items).
    let mut entries: HashMap<ObjectId, Vec<(MemberRef, bool)>> = HashMap::new();
    for item in rounds.groups {
        match item {
            DeltaItem::Upsert(GroupChange { group, members }) => {
                let id = group.id.clone();
                match mirror.groups.get_mut(&id) {
                    Some(existing) => {
                        let kept = std::mem::take(&mut existing.members);
                        *existing = EntraGroup {
                            members: kept,
                            ..group
                        };
                    }
                    None => {
                        mirror.groups.insert(id.clone(), group);
                    }
                }
                entries.entry(id.clone()).or_default().extend(members);
                touched.groups.insert(id);
            }
            DeltaItem::Removed(id) => {
                mirror.groups.remove(&id);
                entries.remove(&id);
                touched.groups.insert(id);
            }
        }
    }
    for (id, changes) in entries {
        let Some(group) = mirror.groups.get_mut(&id) else {
            continue;
        };
        let mut members: BTreeSet<MemberRef> =
            std::mem::take(&mut group.members).into_iter().collect();
        for (member, removed) in changes {
            if removed {
                members.remove(&member);
            } else {
                members.insert(member);
            }
        }
        group.members = members.into_iter().collect();
    }
    mirror.domains = rounds.domains;
    touched
}

/// The new delta state after rounds ending at these links.
fn next_state(rounds: &Rounds, last_full: Option<i64>, source: Option<String>) -> DeltaState {
    DeltaState {
        users_link: Some(rounds.users_link.to_string()),
        groups_link: Some(rounds.groups_link.to_string()),
        last_full,
        source,
    }
}

/// A full run: the rounds alone make the new mirror (objects absent are gone); the update
/// holds what differs from `old`. `source` is what the new links belong to ([`source_of`]).
pub fn merge_full(old: &Mirror, rounds: Rounds, source: &str) -> (Mirror, MirrorUpdate) {
    let state = next_state(&rounds, Some(crate::model::now()), Some(source.to_string()));
    let mut new = Mirror::default();
    apply(&mut new, rounds);
    new.state = state.clone();
    let update = MirrorUpdate {
        users: changed(&old.users, &new.users),
        removed_users: gone(&old.users, &new.users),
        groups: changed(&old.groups, &new.groups),
        removed_groups: gone(&old.groups, &new.groups),
        domains: new.domains.clone(),
        state,
    };
    (new, update)
}

/// A delta run: the rounds change `mirror` in place; the update holds the touched objects.
pub fn merge_delta(mirror: &mut Mirror, rounds: Rounds) -> MirrorUpdate {
    let state = next_state(&rounds, mirror.state.last_full, mirror.state.source.clone());
    let touched = apply(mirror, rounds);
    mirror.state = state.clone();
    let (users, removed_users) = split(touched.users, &mirror.users);
    let (groups, removed_groups) = split(touched.groups, &mirror.groups);
    MirrorUpdate {
        users: pick(&mirror.users, users),
        removed_users,
        groups: pick(&mirror.groups, groups),
        removed_groups,
        domains: mirror.domains.clone(),
        state,
    }
}

/// `ids` split into those `map` holds (changed) and those it does not (removed).
fn split<T>(
    ids: BTreeSet<ObjectId>,
    map: &BTreeMap<ObjectId, T>,
) -> (Vec<ObjectId>, Vec<ObjectId>) {
    ids.into_iter().partition(|id| map.contains_key(id))
}

/// True when a delta run's update changes no mirrored object and the domain list is as
/// before: scoped by the same settings, the tenant gives the directory already committed,
/// so only the new links (and the run) need writing. Conservative: a removal of an object
/// the mirror never held still counts as a change.
pub fn changes_nothing(update: &MirrorUpdate, domains_before: &[EntraDomain]) -> bool {
    update.users.is_empty()
        && update.removed_users.is_empty()
        && update.groups.is_empty()
        && update.removed_groups.is_empty()
        && update.domains == domains_before
}

/// Values of `new` that `old` lacks or holds differently.
fn changed<T: Clone + PartialEq>(
    old: &BTreeMap<ObjectId, T>,
    new: &BTreeMap<ObjectId, T>,
) -> Vec<T> {
    new.iter()
        .filter(|(id, v)| old.get(*id) != Some(*v))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Keys of `old` that `new` lacks.
fn gone<T>(old: &BTreeMap<ObjectId, T>, new: &BTreeMap<ObjectId, T>) -> Vec<ObjectId> {
    old.keys()
        .filter(|id| !new.contains_key(*id))
        .cloned()
        .collect()
}

/// The values of `ids` (all present in `map`).
fn pick<T: Clone>(map: &BTreeMap<ObjectId, T>, ids: Vec<ObjectId>) -> Vec<T> {
    ids.iter().filter_map(|id| map.get(id)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, enabled: bool) -> EntraUser {
        EntraUser {
            id: id.into(),
            user_principal_name: format!("{id}@example.com"),
            account_enabled: enabled,
            ..EntraUser::default()
        }
    }

    fn group(id: &str, name: &str) -> EntraGroup {
        EntraGroup {
            id: id.into(),
            display_name: name.into(),
            ..EntraGroup::default()
        }
    }

    fn u(id: &str) -> MemberRef {
        MemberRef::User(id.into())
    }

    fn rounds(users: Vec<DeltaItem<EntraUser>>, groups: Vec<DeltaItem<GroupChange>>) -> Rounds {
        Rounds {
            users,
            groups,
            domains: Vec::new(),
            users_link: Url::parse("http://g/v1.0/users/delta?$deltatoken=a").unwrap(),
            groups_link: Url::parse("http://g/v1.0/groups/delta?$deltatoken=b").unwrap(),
        }
    }

    fn change(g: EntraGroup, members: Vec<(MemberRef, bool)>) -> DeltaItem<GroupChange> {
        DeltaItem::Upsert(GroupChange { group: g, members })
    }

    #[test]
    fn a_group_spread_over_pages_is_merged_by_id() {
        let r = rounds(
            vec![DeltaItem::Upsert(user("u1", true))],
            vec![
                change(group("g", "G"), vec![(u("u1"), false), (u("u2"), false)]),
                change(group("h", "H"), vec![]),
                change(group("g", "G"), vec![(u("u3"), false), (u("u1"), false)]),
            ],
        );
        let (m, update) = merge_full(&Mirror::default(), r, "t@g");
        assert_eq!(m.groups["g"].members, vec![u("u1"), u("u2"), u("u3")]);
        assert!(m.state.has_links("t@g"));
        assert!(
            !m.state.has_links("other@g"),
            "links of another tenant are not followed"
        );
        assert_eq!(update.groups.len(), 2);
        assert!(update.state.last_full.is_some());
    }

    #[test]
    fn delta_rounds_update_remove_and_change_members_idempotently() {
        let (mut m, _) = merge_full(
            &Mirror::default(),
            rounds(
                vec![
                    DeltaItem::Upsert(user("u1", true)),
                    DeltaItem::Upsert(user("u2", true)),
                ],
                vec![change(
                    group("g", "G"),
                    vec![(u("u1"), false), (u("u2"), false)],
                )],
            ),
            "t@g",
        );
        let last_full = m.state.last_full;
        let delta = || {
            rounds(
                vec![
                    DeltaItem::Upsert(user("u1", false)),
                    DeltaItem::Removed("u2".into()),
                ],
                vec![change(group("g", "Renamed"), vec![(u("u2"), true)])],
            )
        };
        let update = merge_delta(&mut m, delta());
        assert!(!m.users["u1"].account_enabled);
        assert!(!m.users.contains_key("u2"));
        assert_eq!(m.groups["g"].display_name, "Renamed");
        assert_eq!(
            m.groups["g"].members,
            vec![u("u1")],
            "members kept, u2 removed"
        );
        assert_eq!(update.removed_users, vec!["u2".to_string()]);
        assert_eq!(update.users.len(), 1);
        assert_eq!(
            update.state.last_full, last_full,
            "a delta run is not a full one"
        );
        let before = m.clone();
        merge_delta(&mut m, delta());
        assert_eq!(m, before, "a replayed round changes nothing");
    }

    #[test]
    fn a_full_round_drops_what_it_does_not_mention() {
        let (old, _) = merge_full(
            &Mirror::default(),
            rounds(
                vec![
                    DeltaItem::Upsert(user("u1", true)),
                    DeltaItem::Upsert(user("u2", true)),
                ],
                vec![change(group("g", "G"), vec![])],
            ),
            "t@g",
        );
        let (new, update) = merge_full(
            &old,
            rounds(vec![DeltaItem::Upsert(user("u1", true))], vec![]),
            "t@g",
        );
        assert_eq!(new.users.len(), 1);
        assert!(update.users.is_empty(), "u1 unchanged: not rewritten");
        assert_eq!(update.removed_users, vec!["u2".to_string()]);
        assert_eq!(update.removed_groups, vec!["g".to_string()]);
    }

    #[test]
    fn expired_tokens_are_recognised_in_both_shapes() {
        let status = |status, detail: &str| SyncError::Status {
            path: "/v1.0/users/delta".into(),
            status,
            detail: detail.into(),
        };
        assert!(is_expired_token(&status(410, "resyncRequired: …")));
        assert!(is_expired_token(&status(
            400,
            "syncStateNotFound: The sync state …"
        )));
        assert!(is_expired_token(&status(
            400,
            "Request_BadRequest: Invalid syntax for skip token."
        )));
        assert!(!is_expired_token(&status(400, "Request_BadRequest: nope")));
        assert!(!is_expired_token(&status(503, "")));
    }
}
