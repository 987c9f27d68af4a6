//! Size reports of the snapshot for the benchmark's shape (10,000 users, 1,000 groups of
//! 20), to guide memory work without a release build.
//!
//! Why ignored: they measure rather than assert. Run them under heaptrack, where what they
//! leak on purpose (the snapshot; for `store_load_report` also the opened store) is all
//! that is still allocated at exit:
//! `heaptrack target/debug/deps/entra_ldap-<hash> directory::memory_tests --ignored`, then
//! `heaptrack_print -f heaptrack.*.zst | grep leaked` (the binary is the one
//! `cargo test --lib --no-run` names). See docs/benchmarks.md (Memory).

use super::*;
use crate::model::{
    DirectoryData, EntraDomain, EntraGroup, EntraUser, GroupRecord, MemberRef, UserRecord,
    UserStatus,
};

/// A GUID-shaped object id, deterministic per (kind, index).
fn guid(kind: u64, i: u64) -> String {
    let x = (kind << 40) ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xfff,
        i & 0xffff,
        x & 0xffff_ffff_ffff
    )
}

/// The benchmark's tenant shape with realistic names.
pub(super) fn bench_data(users: usize, groups: usize) -> DirectoryData {
    let users_v = (0..users)
        .map(|i| {
            let uid = format!("user{i:04}");
            let upn = format!("{uid}@example.com");
            UserRecord {
                entra: EntraUser {
                    id: guid(1, i as u64),
                    user_principal_name: upn.clone(),
                    display_name: Some(format!("Given{i} Surname{i}")),
                    given_name: Some(format!("Given{i}")),
                    surname: Some(format!("Surname{i}")),
                    mail: Some(upn),
                    account_enabled: true,
                    ..EntraUser::default()
                },
                uid,
                uid_number: 10_000 + i as u32,
                gid_number: 10_000 + i as u32,
                status: UserStatus::Active,
                ssh_public_keys: Vec::new(),
                created: 1_700_000_000,
                modified: 1_700_000_100,
            }
        })
        .collect();
    let groups_v = (0..groups)
        .map(|g| GroupRecord {
            entra: EntraGroup {
                id: guid(2, g as u64),
                display_name: format!("group{g:04}"),
                description: Some(format!("Group number {g}")),
                members: (0..20)
                    .map(|k| MemberRef::User(guid(1, ((g * 20 + k) % users.max(1)) as u64)))
                    .collect(),
                ..EntraGroup::default()
            },
            cn: format!("group{g:04}"),
            gid_number: 50_000 + g as u32,
            created: 1_700_000_000,
            modified: 1_700_000_000,
        })
        .collect();
    DirectoryData {
        users: users_v,
        groups: groups_v,
        domains: vec![EntraDomain {
            id: "example.com".into(),
            is_default: true,
            is_verified: true,
            ..EntraDomain::default()
        }],
        binders: Vec::new(),
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "a measurement, run by hand (see the module docs)"]
fn snapshot_size_report() {
    let data = bench_data(10_000, 1_000);
    let before = rss_kib();
    let settings = DirectorySettings {
        bind_by_uid: true,
        bind_by_mail: true,
        bind_by_upn: true,
        ..DirectorySettings::default()
    };
    let snapshot = snapshot::Snapshot::build(&data, &settings);
    let after = rss_kib();
    drop(data);
    println!(
        "snapshot of {} entries: RSS grew by {} KiB while building",
        snapshot.len(),
        after.saturating_sub(before)
    );
    std::mem::forget(snapshot);
}

/// Opens the store named by `ENTRA_LDAP_STORE` (e.g. the one `scripts/memory-check` leaves
/// in /tmp/entra-ldap-mem/data/store), loads it and builds the snapshot, as `serve` does at
/// start-up; under heaptrack the peak and the leaked snapshot show what start-up costs.
#[test]
#[ignore = "a measurement, run by hand (see the module docs)"]
fn store_load_report() {
    let Some(dir) = std::env::var_os("ENTRA_LDAP_STORE") else {
        eprintln!("ENTRA_LDAP_STORE not set; nothing measured");
        return;
    };
    let store = crate::store::Store::open(std::path::Path::new(&dir)).unwrap();
    let data = store.load_directory().unwrap();
    let settings = DirectorySettings {
        bind_by_uid: true,
        ..DirectorySettings::default()
    };
    let snapshot = snapshot::Snapshot::build(&data, &settings);
    drop(data);
    println!("snapshot of {} entries", snapshot.len());
    std::mem::forget(snapshot);
    std::mem::forget(store);
}
