//! Benchmark of a delta run's scope phase alone (docs/benchmarks.md, "Sync"): scoping the
//! whole mirror ([`scope::apply_mirror`], what every delta run did before) against patching
//! the previous run's scoped tenant ([`scope::apply_delta`]), on a synthetic mirror of
//! `BENCH_USERS` users and `BENCH_GROUPS` groups of `BENCH_MEMBERS` members, all imported,
//! after delta rounds of `BENCH_CHANGES` changes shaped like `bench_sync`'s.
//!
//! Why besides `scripts/bench-sync`: that benchmark's phase timings are wall-clock on a
//! machine shared with other builds, so they swing by ±50 %. Here each variant runs several
//! times in one process and the fastest run is reported, which is what the code costs.
//!
//! `cargo test --release --test bench_scope -- --ignored --nocapture`

use entra_ldap::model::{EntraGroup, EntraUser, MemberRef, TenantSnapshot};
use entra_ldap::sync::delta::{Mirror, Rounds, merge_delta};
use entra_ldap::sync::fetch::{DeltaItem, GroupChange};
use entra_ldap::sync::scope;
use entra_ldap::sync::settings::SyncSettings;
use std::time::{Duration, Instant};
use url::Url;

/// The server binary's allocator, as in `bench_sync`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Times each variant is run; the fastest counts.
const REPEAT: usize = 5;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A GUID-shaped object id (36 characters, like Entra's).
fn object_id(kind: u64, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

fn user(n: usize) -> EntraUser {
    EntraUser {
        id: object_id(1, n),
        user_principal_name: format!("user{n}@example.com"),
        display_name: Some(format!("User {n}")),
        given_name: Some("User".to_string()),
        surname: Some(format!("{n}")),
        mail: Some(format!("user{n}@example.com")),
        mail_nickname: Some(format!("user{n}")),
        account_enabled: true,
        user_type: Some("Member".to_string()),
        ..EntraUser::default()
    }
}

fn group(n: usize) -> EntraGroup {
    EntraGroup {
        id: object_id(2, n),
        display_name: format!("group{n:05}"),
        security_enabled: true,
        ..EntraGroup::default()
    }
}

/// The mirror: group `g` holds `members` distinct users spread over the tenant, sorted
/// (as the mirror keeps them).
fn mirror(users: usize, groups: usize, members: usize) -> Mirror {
    let mut m = Mirror::default();
    for n in 0..users {
        let u = user(n);
        m.users.insert(u.id.clone(), u);
    }
    for g in 0..groups {
        let mut list: Vec<MemberRef> = (0..members.min(users))
            .map(|k| {
                MemberRef::User(object_id(
                    1,
                    (g * 7919 + k * (users / members.max(1)).max(1)) % users,
                ))
            })
            .collect();
        list.sort();
        list.dedup();
        m.groups.insert(
            object_id(2, g),
            EntraGroup {
                members: list,
                ..group(g)
            },
        );
    }
    m
}

/// A delta round like `bench_sync`'s: a fifth each of disabled users, new users, member
/// additions, member removals and changed users.
fn rounds(m: &Mirror, changes: usize, round: usize) -> Rounds {
    let (users, groups) = (m.users.len(), m.groups.len());
    let mut user_items = Vec::new();
    let mut group_items = Vec::new();
    for i in 0..changes {
        let u = (i * 997 + round * 31) % users;
        let g = (i * 89 + round * 7) % groups;
        match i % 5 {
            0 => user_items.push(DeltaItem::Upsert(EntraUser {
                account_enabled: false,
                ..user(u)
            })),
            1 => user_items.push(DeltaItem::Upsert(user(users + round * changes + i))),
            2 | 3 => {
                let member = if i % 5 == 2 {
                    MemberRef::User(object_id(1, u))
                } else {
                    let first = m
                        .groups
                        .get(&object_id(2, g))
                        .and_then(|g| g.members.first());
                    first.cloned().unwrap_or(MemberRef::User(object_id(1, u)))
                };
                group_items.push(DeltaItem::Upsert(GroupChange {
                    group: group(g),
                    members: vec![(member, i % 5 == 3)],
                }));
            }
            _ => user_items.push(DeltaItem::Upsert(EntraUser {
                surname: Some(format!("Changed{round}")),
                ..user(u)
            })),
        }
    }
    Rounds {
        users: user_items,
        groups: group_items,
        domains: Vec::new(),
        users_link: Url::parse("http://g/v1.0/users/delta?$deltatoken=a").unwrap(),
        groups_link: Url::parse("http://g/v1.0/groups/delta?$deltatoken=b").unwrap(),
    }
}

/// The fastest of [`REPEAT`] runs of `f` on fresh input from `input` (made untimed; the
/// output is dropped untimed too), and the last output.
fn fastest<I, O>(mut input: impl FnMut() -> I, f: impl Fn(I) -> O) -> (Duration, O) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..REPEAT {
        let i = input();
        let clock = Instant::now();
        let out = f(i);
        best = best.min(clock.elapsed());
        drop(last.replace(out));
    }
    (best, last.unwrap())
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn bench_scope() {
    let (users, groups, members) = (
        env_or("BENCH_USERS", 100_000),
        env_or("BENCH_GROUPS", 10_000),
        env_or("BENCH_MEMBERS", 100),
    );
    let changes = env_or("BENCH_CHANGES", 100);
    let settings = SyncSettings {
        groups_without_email: true,
        ..SyncSettings::default()
    };
    let clock = Instant::now();
    let mut m = mirror(users, groups, members);
    println!(
        "mirror: {users} users, {groups} groups x {members} members, built in {:.2?}",
        clock.elapsed()
    );
    let mut scoped: TenantSnapshot = scope::apply_mirror(&m, &settings);
    for round in 0..3 {
        let delta = rounds(&m, changes, round);
        let update = merge_delta(&mut m, delta);
        let (full_time, full) = fastest(|| (), |()| scope::apply_mirror(&m, &settings));
        let (delta_time, patched) = fastest(
            || scoped.clone(),
            |previous| scope::apply_delta(previous, &m, &update, &settings),
        );
        assert_eq!(patched, full, "round {round}");
        println!(
            "round {round}: {changes} changes; whole mirror scoped {full_time:.2?}, previous result patched {delta_time:.2?} (fastest of {REPEAT})"
        );
        scoped = patched;
    }
}
