//! Randomized checks that the shortcuts scoping takes for speed give exactly what the plain
//! rules give: scoping the worker's mirror in place equals scoping a copy of it, and a
//! group whose direct members are taken as they are has the members the full walk finds.
//! The tenants are small and tangled on purpose (nested and cyclic groups, members that
//! are not in the tenant, duplicates, unsorted lists, upper-case domains).

use super::*;
use crate::sync::delta::Mirror;

/// SplitMix64: deterministic, so a failure names a seed that reproduces it.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub(super) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const DOMAINS: [&str; 4] = [
    "example.com",
    "EU.example.com",
    "us.example.com",
    "other.org",
];

/// A random tenant of up to 12 users and 10 groups; ids sometimes point at objects that
/// do not exist.
pub(super) fn random_tenant(rng: &mut Rng) -> RawTenant {
    let users = (0..rng.below(12)).map(|i| random_user(rng, i)).collect();
    let groups = (0..rng.below(10))
        .map(|i| EntraGroup {
            members: random_members(rng),
            ..random_group(rng, i)
        })
        .collect();
    RawTenant {
        users,
        groups,
        domains: vec![
            EntraDomain {
                id: "example.com".into(),
                is_default: true,
                ..EntraDomain::default()
            },
            EntraDomain {
                id: "eu.example.com".into(),
                ..EntraDomain::default()
            },
        ],
    }
}

/// User `u{i}` on a random domain, with or without mail, usually enabled.
pub(super) fn random_user(rng: &mut Rng, i: usize) -> EntraUser {
    let domain = DOMAINS[rng.below(DOMAINS.len())];
    EntraUser {
        id: format!("u{i}"),
        user_principal_name: format!("user{i}@{domain}"),
        mail: rng
            .chance(50)
            .then(|| format!("m{i}@{}", DOMAINS[rng.below(DOMAINS.len())])),
        account_enabled: rng.chance(80),
        ..EntraUser::default()
    }
}

/// Group `g{i}` without members: a name with or without the `VPN ` prefix, with or
/// without mail.
pub(super) fn random_group(rng: &mut Rng, i: usize) -> EntraGroup {
    EntraGroup {
        id: format!("g{i}"),
        display_name: format!("{}Group {i}", if rng.chance(50) { "VPN " } else { "" }),
        mail: rng.chance(50).then(|| format!("g{i}@example.com")),
        ..EntraGroup::default()
    }
}

/// A random member: a user `u0`..`u13` or a group `g0`..`g10` (some do not exist).
pub(super) fn random_member(rng: &mut Rng) -> MemberRef {
    if rng.chance(60) {
        MemberRef::User(format!("u{}", rng.below(14)))
    } else {
        MemberRef::Group(format!("g{}", rng.below(11)))
    }
}

/// Up to 7 random members, sorted and without duplicates (as the mirror keeps them) more
/// often than not.
fn random_members(rng: &mut Rng) -> Vec<MemberRef> {
    let mut members: Vec<MemberRef> = (0..rng.below(8)).map(|_| random_member(rng)).collect();
    if rng.chance(60) {
        members.sort();
        members.dedup();
    }
    members
}

/// Settings that exercise every rule, picked at random.
pub(super) fn random_settings(rng: &mut Rng) -> SyncSettings {
    let pick_groups = |rng: &mut Rng| -> Vec<String> {
        (0..rng.below(3))
            .map(|_| match rng.below(3) {
                0 => format!("g{}", rng.below(11)),
                1 => format!("GROUP {}", rng.below(11)),
                _ => format!("vpn group {}", rng.below(11)),
            })
            .collect()
    };
    SyncSettings {
        users: rng.chance(90),
        groups: rng.chance(90),
        groups_without_email: rng.chance(50),
        group_prefixes: if rng.chance(30) {
            vec!["vpn".into()]
        } else {
            Vec::new()
        },
        allowed_groups: if rng.chance(30) {
            pick_groups(rng)
        } else {
            Vec::new()
        },
        denied_groups: if rng.chance(30) {
            pick_groups(rng)
        } else {
            Vec::new()
        },
        subdomains: if rng.chance(30) {
            vec!["EU.example.com".into()]
        } else {
            Vec::new()
        },
        all_subdomains: rng.chance(20),
        ..SyncSettings::default()
    }
}

/// A mirror holding the tenant (ordered by id, as the worker keeps it).
pub(super) fn mirror_of(raw: &RawTenant) -> Mirror {
    Mirror {
        users: raw
            .users
            .iter()
            .map(|u| (u.id.clone(), u.clone()))
            .collect(),
        groups: raw
            .groups
            .iter()
            .map(|g| (g.id.clone(), g.clone()))
            .collect(),
        domains: raw.domains.clone(),
        ..Mirror::default()
    }
}

#[test]
fn scoping_the_mirror_in_place_equals_scoping_a_copy_of_it() {
    for seed in 0..2_000 {
        let mut rng = Rng(seed);
        let mirror = mirror_of(&random_tenant(&mut rng));
        let settings = random_settings(&mut rng);
        assert_eq!(
            apply_mirror(&mirror, &settings),
            apply(&mirror.to_raw(), &settings),
            "seed {seed}, settings {settings:?}"
        );
    }
}

#[test]
fn members_taken_as_they_are_equal_the_full_walk() {
    let mut shortcuts = 0;
    let mut walks = 0;
    for seed in 0..2_000 {
        let mut rng = Rng(seed);
        let raw = random_tenant(&mut rng);
        let settings = random_settings(&mut rng);
        let view = View {
            users: raw.users.iter().collect(),
            groups: raw.groups.iter().collect(),
            domains: &raw.domains,
        };
        let tenant = Tenant::new(&view);
        let imported: HashSet<&str> = raw
            .groups
            .iter()
            .filter(|g| is_imported(g, &settings))
            .map(|g| g.id.as_str())
            .collect();
        for group in &raw.groups {
            let walked = tenant.expand_members(group, &imported);
            if tenant.members_are_effective(group, &imported) {
                shortcuts += 1;
                assert_eq!(group.members, walked, "seed {seed}, group {}", group.id);
            } else {
                walks += 1;
            }
            assert_eq!(
                tenant.effective_members(group, &imported),
                walked,
                "seed {seed}"
            );
        }
    }
    // Both paths are exercised, or the comparison above proves nothing.
    assert!(shortcuts > 500 && walks > 500, "{shortcuts} / {walks}");
}

#[test]
fn lowercase_borrows_only_what_is_lowercase_already() {
    assert!(matches!(
        lowercase("example.com"),
        Cow::Borrowed("example.com")
    ));
    assert_eq!(lowercase("EU.Example.com"), "eu.example.com");
    assert_eq!(lowercase("BÜRO.example.com"), "büro.example.com");
}
