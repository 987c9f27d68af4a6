//! A delta commit must leave the store exactly as the full compare does: two stores get the
//! same random sequence of scoped tenants, one committed with the full compare every time,
//! the other with [`Store::commit_sync_delta`]; after each round their records (names,
//! numbers, statuses and reasons, which records were rewritten), change counts and the
//! guard's preview are the same, and the delta commit reports exactly the records it changed.

use super::*;
use crate::config::LoginSource;
use crate::model::{MemberRef, SyncOutcome, SyncTrigger};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

fn rules() -> DirectoryConfig {
    DirectoryConfig {
        login_source: LoginSource::Upn,
        uid_number_min: 1000,
        uid_number_max: 100_000,
        gid_number_min: 5000,
        gid_number_max: 100_000,
        home_directory: "/home/{uid}".into(),
        login_shell: "/bin/bash".into(),
        show_inactive_users: false,
    }
}

fn run(id: u64) -> SyncRun {
    SyncRun {
        id,
        mode: Some(crate::model::SyncMode::Delta),
        outcome: SyncOutcome::Succeeded,
        ..SyncRun::starting(SyncTrigger::Manual)
    }
}

/// A scoped tenant: users whose login names collide (suffixes), random statuses, groups with
/// random members, the domain switching (counted changes) and user sync off in some rounds;
/// `rng` decides which objects exist this round.
fn tenant(rng: &mut StdRng, round: u64) -> TenantSnapshot {
    let mut users = Vec::new();
    for i in 0..40 {
        if rng.gen_bool(0.15) {
            continue; // gone from the tenant this round
        }
        let entra = EntraUser {
            id: format!("u{:02}", (i * 7) % 40),
            // Ten login names for forty users: suffixes are handed out in id order.
            user_principal_name: format!("name{}@example.com", i % 10),
            display_name: Some(format!("User {i} v{}", rng.gen_range(0..2))),
            account_enabled: true,
            ..EntraUser::default()
        };
        let status = match rng.gen_range(0..6) {
            0 => UserStatus::Inactive(InactiveReason::DisabledInEntra),
            1 => UserStatus::Inactive(InactiveReason::NotInAllowedGroup),
            _ => UserStatus::Active,
        };
        users.push((entra, status));
    }
    let mut groups = Vec::new();
    for g in 0..10 {
        if rng.gen_bool(0.2) {
            continue;
        }
        groups.push(EntraGroup {
            id: format!("g{g}"),
            display_name: format!("Team {}", g % 4),
            members: (0..rng.gen_range(0..5))
                .map(|_| MemberRef::User(format!("u{:02}", rng.gen_range(0..40))))
                .collect(),
            ..EntraGroup::default()
        });
    }
    TenantSnapshot {
        users,
        groups,
        domains: vec![crate::model::EntraDomain {
            id: if round.is_multiple_of(3) {
                "example.com"
            } else {
                "example.org"
            }
            .into(),
            is_default: true,
            is_initial: false,
            is_verified: true,
        }],
        // Now and then user sync is off: stored users must stay exactly as they are.
        users_synced: round % 4 != 2,
        ..TenantSnapshot::default()
    }
}

/// Records without their timestamps, each with whether this round rewrote it.
type Shape = (Vec<(UserRecord, bool)>, Vec<(GroupRecord, bool)>);

fn shape(data: &DirectoryData, before: &DirectoryData) -> Shape {
    let users = data
        .users
        .iter()
        .map(|u| {
            let was = before.users.iter().find(|b| b.entra.id == u.entra.id);
            let rewritten = was.is_none_or(|b| b != u);
            let mut u = u.clone();
            (u.created, u.modified) = (0, 0);
            (u, rewritten)
        })
        .collect();
    let groups = data
        .groups
        .iter()
        .map(|g| {
            let was = before.groups.iter().find(|b| b.entra.id == g.entra.id);
            let rewritten = was.is_none_or(|b| b != g);
            let mut g = g.clone();
            (g.created, g.modified) = (0, 0);
            (g, rewritten)
        })
        .collect();
    (users, groups)
}

/// Commits `t` with a guard that records the preview (and refuses when `refuse`).
fn commit(
    store: &Store,
    t: &TenantSnapshot,
    id: u64,
    delta: bool,
    refuse: bool,
) -> (
    Result<(ChangeCounts, Committed), StoreError>,
    Option<CommitPreview>,
) {
    let seen = Mutex::new(None);
    let guard = |p: &CommitPreview| {
        *seen.lock().unwrap() = Some(*p);
        if refuse {
            Err("refused".to_string())
        } else {
            Ok(())
        }
    };
    let mirror = MirrorUpdate::default();
    let result = if delta {
        store.commit_sync_delta(t, &rules(), &run(id), &mirror, &guard)
    } else {
        store
            .commit_sync_mirrored(t, &rules(), &run(id), &mirror, &guard)
            .map(|(c, d)| (c, Committed::Full(d)))
    };
    (result, seen.into_inner().unwrap())
}

#[test]
fn delta_commits_leave_what_full_compares_leave() {
    for seed in 0..6u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (full, delta) = (
            Store::open(dir_a.path()).unwrap(),
            Store::open(dir_b.path()).unwrap(),
        );
        let mut before = (DirectoryData::default(), DirectoryData::default());
        for round in 1..=12u64 {
            let t = tenant(&mut rng, round);
            // Now and then the guard refuses: nothing may be written, digests stay right.
            let refuse = round % 5 == 0;
            let (a, preview_a) = commit(&full, &t, round, false, refuse);
            // The first commit of a store has no digests: it compares in full.
            let (b, preview_b) = commit(&delta, &t, round, true, refuse);
            assert_eq!(preview_a, preview_b, "seed {seed} round {round}");
            if refuse {
                assert!(matches!(a, Err(StoreError::Held(_))));
                assert!(matches!(b, Err(StoreError::Held(_))));
                continue;
            }
            let ((counts_a, _), (counts_b, committed)) = (a.unwrap(), b.unwrap());
            assert_eq!(counts_a, counts_b, "seed {seed} round {round}");
            let (data_a, data_b) = (
                full.load_directory().unwrap(),
                delta.load_directory().unwrap(),
            );
            assert_eq!(
                shape(&data_a, &before.0),
                shape(&data_b, &before.1),
                "seed {seed} round {round}"
            );
            match committed {
                Committed::Full(data) => {
                    assert_eq!(round, 1, "only the first commit compares in full");
                    assert_eq!(data, data_b);
                }
                Committed::Changed(changes) => {
                    let rewritten_users: Vec<&UserRecord> = data_b
                        .users
                        .iter()
                        .filter(|u| !before.1.users.contains(u))
                        .collect();
                    let mut reported: Vec<&UserRecord> = changes.users.iter().collect();
                    reported.sort_by(|x, y| x.entra.id.cmp(&y.entra.id));
                    assert_eq!(reported, rewritten_users, "seed {seed} round {round}");
                    let rewritten_groups: Vec<&GroupRecord> = data_b
                        .groups
                        .iter()
                        .filter(|g| !before.1.groups.contains(g))
                        .collect();
                    let reported: Vec<&GroupRecord> = changes.groups.iter().collect();
                    assert_eq!(reported, rewritten_groups, "seed {seed} round {round}");
                    let removed: Vec<&String> = before
                        .1
                        .groups
                        .iter()
                        .map(|g| &g.entra.id)
                        .filter(|id| !data_b.groups.iter().any(|g| &g.entra.id == *id))
                        .collect();
                    assert_eq!(changes.removed_groups.iter().collect::<Vec<_>>(), removed);
                }
            }
            before = (data_a, data_b);
        }
    }
}

#[test]
fn without_digests_the_next_delta_commit_compares_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let t = tenant(&mut rng, 1);
    let (first, _) = commit(&store, &t, 1, false, false);
    assert!(matches!(first.unwrap().1, Committed::Full(_)));
    let (second, _) = commit(&store, &t, 2, true, false);
    assert!(matches!(second.unwrap().1, Committed::Changed(c) if c.is_empty()));
    // A plain commit does not maintain the digests: the next delta commit reads all.
    store.commit_sync(&t, &rules(), &run(3)).unwrap();
    let (fourth, _) = commit(&store, &t, 4, true, false);
    assert!(matches!(fourth.unwrap().1, Committed::Full(_)));
    // After a failed publish the worker forgets them: the same.
    let (fifth, _) = commit(&store, &t, 5, true, false);
    assert!(matches!(fifth.unwrap().1, Committed::Changed(_)));
    store.forget_digests();
    let (sixth, _) = commit(&store, &t, 6, true, false);
    assert!(matches!(sixth.unwrap().1, Committed::Full(_)));
}
