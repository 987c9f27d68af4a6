//! The delta queries: `GET /v1.0/users/delta` and `GET /v1.0/groups/delta` (graph.md §2.6).
//!
//! Why: delta sync is only trustworthy if it has run against the shapes Graph produces: an
//! initial round paged by `@odata.nextLink` and closed by an `@odata.deltaLink` (never both
//! on one page), later rounds carrying only what changed (`@removed` objects, groups with
//! only their member *changes* in `members@delta`), large groups split over pages, and
//! expired tokens refused in both documented ways (400 `syncStateNotFound`, 410 + Location).
//!
//! How: a round covers the tenant's change log (see [`Tenant::record`]) up to the sequence
//! number current when the round began. Its pages are windows over the round's items; the
//! `$skiptoken` and `$deltatoken` are opaque base64 of a small cursor bound to this server
//! (salt) and to the current expiry epoch. Objects are rendered as they are when served.
//!
//! Page size: Graph's delta ignores `$top`; like Graph it honours
//! `Prefer: odata.maxpagesize=N` (1..=999), default 100, further capped by the tenant's
//! `max_page_size` (the demo tenant pages by 3). A page holds that many *items*: a user, a
//! removed object, or one appearance of a group with at most `member_slice` member entries.

use super::graph::{
    GraphError, USER_DEFAULT_PROPERTIES, encode_value, project, property_names, resolve_select,
    serve_with,
};
use super::server::{DeltaExpiry, SimState, lock};
use super::tenant::{Change, SimGroup, SimMember, SimUser, Tenant};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Graph's answer to a skip or delta token it cannot parse.
const UNREADABLE_TOKEN: &str = "Invalid syntax for skip token.";

/// Items per page without a `Prefer: odata.maxpagesize`.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page a `Prefer: odata.maxpagesize` may ask for.
const MAX_PAGE_SIZE: usize = 999;
/// Graph's message for an expired delta token (graph.md §2.6, [G21]).
const SYNC_STATE_NOT_FOUND: &str = "The sync state generation is not found. The delta token is expired and data must be synchronized again.";

/// Where a round stands; serialised (opaquely) into `$skiptoken` and `$deltatoken`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The issuing server's salt: tokens of another server are refused.
    salt: u64,
    /// The expiry epoch the token was issued in.
    epoch: u64,
    /// `None`: the initial round (everything); `Some(n)`: changes after sequence `n`.
    since: Option<u64>,
    /// The last sequence number this round covers.
    upto: u64,
    /// Items of the round already served.
    offset: usize,
    /// The `$select` of the initial request (tokens carry the query, graph.md §2.6).
    select: Option<Vec<String>>,
    /// Random per issued link, so each round ends with a new deltaLink as Graph's do.
    #[serde(default)]
    nonce: u64,
}

impl Cursor {
    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(token: &str, salt: u64) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .ok()?;
        let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
        (cursor.salt == salt).then_some(cursor)
    }
}

/// Which delta collection is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Collection {
    Users,
    Groups,
}

impl Collection {
    fn entity_set(self) -> &'static str {
        match self {
            Collection::Users => "users",
            Collection::Groups => "groups",
        }
    }

    /// Properties `$select` may name.
    fn known_properties(self) -> (Vec<String>, &'static str) {
        match self {
            Collection::Users => (property_names::<SimUser>(), "microsoft.graph.user"),
            Collection::Groups => {
                let mut known = property_names::<SimGroup>();
                known.push("members".to_string());
                (known, "microsoft.graph.group")
            }
        }
    }
}

/// `GET /v1.0/users/delta`.
pub(crate) async fn users(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    state.pause().await;
    serve_with(&state, &headers, || {
        page(&state, &headers, raw.as_deref(), Collection::Users)
    })
}

/// `GET /v1.0/groups/delta`.
pub(crate) async fn groups(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    state.pause().await;
    serve_with(&state, &headers, || {
        page(&state, &headers, raw.as_deref(), Collection::Groups)
    })
}

/// The query options of a delta request.
#[derive(Debug, Default)]
struct DeltaQuery {
    select: Option<Vec<String>>,
    skiptoken: Option<String>,
    deltatoken: Option<String>,
}

fn parse(raw: Option<&str>) -> DeltaQuery {
    let mut q = DeltaQuery::default();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match key.trim_start_matches('$').to_ascii_lowercase().as_str() {
            "select" => {
                q.select = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
            }
            "skiptoken" => q.skiptoken = Some(value.into_owned()),
            "deltatoken" => q.deltatoken = Some(value.into_owned()),
            _ => {}
        }
    }
    q
}

/// `Prefer: odata.maxpagesize=N`, within 1..=999.
fn preferred_page_size(headers: &HeaderMap) -> usize {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .filter_map(|n| n.trim().parse::<usize>().ok())
        .next()
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE)
}

/// One page of a delta round.
fn page(
    state: &SimState,
    headers: &HeaderMap,
    raw: Option<&str>,
    collection: Collection,
) -> Result<Value, GraphError> {
    let query = parse(raw);
    let epoch = state.delta_epoch.load(Ordering::Relaxed);
    let t = lock(&state.tenant);
    let now = t.sequence();
    let check = |token: &str| -> Result<Cursor, GraphError> {
        let cursor = Cursor::decode(token, state.skiptoken_salt)
            .ok_or_else(|| GraphError::bad_request(UNREADABLE_TOKEN))?;
        if cursor.epoch != epoch {
            return Err(expired(state, collection, cursor.select.as_deref()));
        }
        Ok(cursor)
    };
    let cursor = if let Some(token) = &query.skiptoken {
        check(token)?
    } else {
        match query.deltatoken.as_deref().map(str::trim) {
            None | Some("") => Cursor {
                salt: state.skiptoken_salt,
                epoch,
                since: None,
                upto: now,
                offset: 0,
                select: query.select.clone(),
                nonce: 0,
            },
            Some(latest) if latest.eq_ignore_ascii_case("latest") => {
                // "Sync from now": no data, only a deltaLink (graph.md §2.6).
                let next = Cursor {
                    salt: state.skiptoken_salt,
                    epoch,
                    since: Some(now),
                    upto: now,
                    offset: 0,
                    select: query.select.clone(),
                    nonce: rand::random(),
                };
                return Ok(frame(
                    state,
                    collection,
                    None,
                    Vec::new(),
                    Link::Delta(next),
                ));
            }
            Some(token) => {
                let link = check(token)?;
                Cursor {
                    upto: now,
                    offset: 0,
                    ..link
                }
            }
        }
    };
    let (known, type_name) = collection.known_properties();
    let select = match &cursor.select {
        Some(sel) => Some(resolve_select(sel, &known, type_name)?),
        None => None,
    };
    let size = preferred_page_size(headers).min(t.max_page_size).max(1);
    let (items, more) = match collection {
        Collection::Users => user_items(&t, &cursor, size, select.as_deref()),
        Collection::Groups => group_items(&t, &cursor, size, select.as_deref()),
    };
    let served = items.len();
    drop(t);
    let link = if more {
        Link::Next(Cursor {
            offset: cursor.offset.saturating_add(served),
            ..cursor.clone()
        })
    } else {
        Link::Delta(Cursor {
            since: Some(cursor.upto),
            offset: 0,
            nonce: rand::random(),
            ..cursor.clone()
        })
    };
    Ok(frame(state, collection, select.as_deref(), items, link))
}

/// The refusal of an expired token, in the shape the handle selected.
fn expired(state: &SimState, collection: Collection, select: Option<&[String]>) -> GraphError {
    match *lock(&state.delta_expiry) {
        DeltaExpiry::Unreadable => GraphError::bad_request(UNREADABLE_TOKEN),
        DeltaExpiry::SyncStateNotFound => GraphError::new(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            SYNC_STATE_NOT_FOUND,
        ),
        DeltaExpiry::Gone => {
            let select = select
                .map(|s| format!("$select={}&", encode_value(&s.join(","))))
                .unwrap_or_default();
            GraphError {
                location: Some(format!(
                    "{}/v1.0/{}/delta?{select}$deltatoken=",
                    state.base,
                    collection.entity_set()
                )),
                ..GraphError::new(
                    StatusCode::GONE,
                    "resyncRequired",
                    "Resync required: replace any local items with the server's by starting a new delta round.",
                )
            }
        }
    }
}

/// How a page ends: more pages, or the round's delta link.
enum Link {
    Next(Cursor),
    Delta(Cursor),
}

/// `@odata.context`, the link and `value`, as Graph frames a delta page.
fn frame(
    state: &SimState,
    collection: Collection,
    select: Option<&[String]>,
    items: Vec<Value>,
    link: Link,
) -> Value {
    let base = &state.base;
    let set = collection.entity_set();
    let context = match select {
        Some(sel) => format!("{base}/v1.0/$metadata#{set}({})", sel.join(",")),
        None => format!("{base}/v1.0/$metadata#{set}"),
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context));
    let (name, value) = match link {
        Link::Next(c) => (
            "@odata.nextLink",
            format!("{base}/v1.0/{set}/delta?$skiptoken={}", c.encode()),
        ),
        Link::Delta(c) => (
            "@odata.deltaLink",
            format!("{base}/v1.0/{set}/delta?$deltatoken={}", c.encode()),
        ),
    };
    body.insert(name.into(), Value::String(value));
    body.insert("value".into(), Value::Array(items));
    Value::Object(body)
}

/// A removed object: `{"id":…,"@removed":{"reason":…}}`.
fn removed(id: &str, reason: &str) -> Value {
    json!({"id": id, "@removed": {"reason": reason}})
}

/// Up to `size` user items from the cursor's offset, and whether more follow.
fn user_items(
    t: &Tenant,
    cursor: &Cursor,
    size: usize,
    select: Option<&[String]>,
) -> (Vec<Value>, bool) {
    let render = |u: &SimUser| {
        let mut map = project(
            serde_json::to_value(u).unwrap_or(Value::Null),
            select,
            USER_DEFAULT_PROPERTIES,
        );
        map.insert("id".into(), Value::String(u.id.clone()));
        Value::Object(map)
    };
    let Some(since) = cursor.since else {
        let end = cursor.offset.saturating_add(size).min(t.users.len());
        let items = t
            .users
            .get(cursor.offset.min(end)..end)
            .unwrap_or_default()
            .iter()
            .map(render)
            .collect();
        return (items, end < t.users.len());
    };
    let mut ids: Vec<&str> = Vec::new();
    for (_, change) in t.changes_between(since, cursor.upto) {
        if let Change::User(id) = change
            && !ids.contains(&id.as_str())
        {
            ids.push(id);
        }
    }
    let end = cursor.offset.saturating_add(size).min(ids.len());
    let items = ids
        .get(cursor.offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|id| {
            if let Some(u) = t.users.iter().find(|u| u.id == *id) {
                render(u)
            } else if t.deleted_users.iter().any(|u| u.id == *id) {
                // Soft-deleted: restorable, so "changed" (graph.md §2.6).
                removed(id, "changed")
            } else {
                removed(id, "deleted")
            }
        })
        .collect();
    (items, end < ids.len())
}

/// One group appearance: the group's properties plus one slice of member entries.
struct GroupItem<'a> {
    id: &'a str,
    members: &'a [Entry<'a>],
}

/// A member entry of `members@delta`: the member, and whether it was removed.
type Entry<'a> = (&'a SimMember, bool);

/// Up to `size` group items from the cursor's offset, and whether more follow.
fn group_items(
    t: &Tenant,
    cursor: &Cursor,
    size: usize,
    select: Option<&[String]>,
) -> (Vec<Value>, bool) {
    let with_members = select.is_none_or(|s| s.iter().any(|p| p == "members"));
    let properties: Option<Vec<String>> =
        select.map(|s| s.iter().filter(|p| *p != "members").cloned().collect());
    let slice = t.member_slice.max(1);
    // Every group with its member entries (`true`: removed) for this round.
    let groups: Vec<(&str, Vec<Entry<'_>>)> = match cursor.since {
        None => t
            .groups
            .iter()
            .map(|g| {
                let members = if with_members {
                    g.members.iter().map(|m| (m, false)).collect()
                } else {
                    Vec::new()
                };
                (g.id.as_str(), members)
            })
            .collect(),
        Some(since) => changed_groups(t, since, cursor.upto, with_members),
    };
    let mut items = Vec::new();
    let mut index = 0usize;
    let mut more = false;
    'groups: for (id, members) in &groups {
        let mut chunks: Vec<&[Entry<'_>]> = members.chunks(slice).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            if index >= cursor.offset {
                if items.len() == size {
                    more = true;
                    break 'groups;
                }
                items.push(GroupItem { id, members: chunk });
            }
            index += 1;
        }
    }
    let by_id: HashMap<&str, &SimGroup> = t.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let values = items
        .into_iter()
        .map(|item| match by_id.get(item.id) {
            None => removed(item.id, "deleted"),
            Some(g) => render_group(g, properties.as_deref(), item.members),
        })
        .collect();
    (values, more)
}

/// The groups changed after `since` (up to `upto`), in order of first change, each with its
/// net member changes (the last change per member wins).
fn changed_groups(
    t: &Tenant,
    since: u64,
    upto: u64,
    with_members: bool,
) -> Vec<(&str, Vec<Entry<'_>>)> {
    let mut order: Vec<(&str, Vec<Entry<'_>>)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (_, change) in t.changes_between(since, upto) {
        let (group, member) = match change {
            Change::Group(id) => (id.as_str(), None),
            Change::Member {
                group,
                member,
                removed,
            } => (group.as_str(), Some((member, *removed))),
            Change::User(_) | Change::Domain(_) => continue,
        };
        let pos = *position.entry(group).or_insert_with(|| {
            order.push((group, Vec::new()));
            order.len() - 1
        });
        if let (Some((member, removed)), true, Some(entry)) =
            (member, with_members, order.get_mut(pos))
        {
            match entry.1.iter_mut().find(|(m, _)| m.id == member.id) {
                Some(existing) => *existing = (member, removed),
                None => entry.1.push((member, removed)),
            }
        }
    }
    order
}

/// A group with its selected properties (always `id`) and, when there are any, the member
/// entries as `members@delta` (`@odata.type` and `id` only).
fn render_group(g: &SimGroup, properties: Option<&[String]>, members: &[Entry<'_>]) -> Value {
    let mut map = project(
        serde_json::to_value(g).unwrap_or(Value::Null),
        properties,
        &[],
    );
    map.insert("id".into(), Value::String(g.id.clone()));
    if !members.is_empty() {
        let entries = members
            .iter()
            .map(|(m, gone)| {
                let mut e = json!({"@odata.type": m.kind.odata_type(), "id": m.id});
                if *gone {
                    e["@removed"] = json!({"reason": "deleted"});
                }
                e
            })
            .collect();
        map.insert("members@delta".into(), Value::Array(entries));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::tenant::MemberKind;

    fn cursor(since: Option<u64>, upto: u64, offset: usize) -> Cursor {
        Cursor {
            salt: 7,
            epoch: 0,
            since,
            upto,
            offset,
            select: None,
            nonce: 0,
        }
    }

    fn member(id: &str) -> SimMember {
        SimMember {
            kind: MemberKind::User,
            id: id.into(),
        }
    }

    fn tenant() -> Tenant {
        let mut t = Tenant::new("t", "c", "s");
        for n in 0..3 {
            t.users.push(SimUser {
                id: format!("u{n}"),
                user_principal_name: format!("u{n}@example.com"),
                account_enabled: true,
                ..SimUser::default()
            });
        }
        t.groups.push(SimGroup {
            id: "g1".into(),
            display_name: "G".into(),
            members: (0..3).map(|n| member(&format!("u{n}"))).collect(),
            ..SimGroup::default()
        });
        t
    }

    #[test]
    fn tokens_are_opaque_and_bound_to_the_server() {
        let c = cursor(Some(3), 3, 0);
        let token = c.encode();
        assert_eq!(Cursor::decode(&token, 7), Some(c));
        assert_eq!(Cursor::decode(&token, 8), None);
        assert_eq!(Cursor::decode("garbage!", 7), None);
    }

    #[test]
    fn large_groups_are_split_into_member_slices() {
        let mut t = tenant();
        t.member_slice = 2;
        let (page, more) = group_items(&t, &cursor(None, 0, 0), 1, None);
        assert!(more);
        assert_eq!(page[0]["members@delta"].as_array().unwrap().len(), 2);
        let (page, more) = group_items(&t, &cursor(None, 0, 1), 10, None);
        assert!(!more);
        assert_eq!(page[0]["id"], "g1", "the group reappears");
        assert_eq!(page[0]["members@delta"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn later_rounds_carry_only_changes() {
        let mut t = tenant();
        let start = t.sequence();
        assert!(t.remove_member("G", "u1"));
        assert!(t.disable_user("u2@example.com"));
        assert!(t.hard_delete_user("u0@example.com"));
        let now = t.sequence();
        let (users, more) = user_items(&t, &cursor(Some(start), now, 0), 10, None);
        assert!(!more);
        assert_eq!(users.len(), 2);
        assert_eq!(users[0]["id"], "u2");
        assert_eq!(users[1]["@removed"]["reason"], "deleted");
        let (groups, _) = group_items(&t, &cursor(Some(start), now, 0), 10, None);
        assert_eq!(groups.len(), 1);
        let members = groups[0]["members@delta"].as_array().unwrap();
        assert_eq!(members.len(), 2, "u1 removed, u0 removed by deletion");
        assert!(members.iter().all(|m| m["@removed"]["reason"] == "deleted"));
        let (none, more) = user_items(&t, &cursor(Some(now), now, 0), 10, None);
        assert!(none.is_empty() && !more);
    }

    #[test]
    fn prefer_maxpagesize_is_honoured_within_bounds() {
        let mut h = HeaderMap::new();
        assert_eq!(preferred_page_size(&h), DEFAULT_PAGE_SIZE);
        h.insert("prefer", "odata.maxpagesize=5000".parse().unwrap());
        assert_eq!(preferred_page_size(&h), MAX_PAGE_SIZE);
        h.insert(
            "prefer",
            "return=minimal, odata.maxpagesize=7".parse().unwrap(),
        );
        assert_eq!(preferred_page_size(&h), 7);
    }
}
