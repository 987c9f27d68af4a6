//! Randomized check that scoping a delta run incrementally ([`apply_delta`]) gives exactly
//! what scoping the whole mirror gives ([`apply_mirror`]), after every step of random delta
//! sequences: users added, changed (domain, mail, disabled) and removed; groups added,
//! renamed (in and out of a name prefix), given or stripped of mail, removed; members and
//! nested groups added and removed (cycles, self-membership and objects that do not exist
//! included); the domain list changed; under random settings (allowed/denied groups,
//! prefixes, mail-less groups, subdomains).

use super::random_tests::{
    Rng, mirror_of, random_group, random_member, random_settings, random_tenant, random_user,
};
use super::*;
use crate::sync::delta::{Rounds, merge_delta};
use crate::sync::fetch::{DeltaItem, GroupChange};
use url::Url;

/// One random delta round: a few user and group items, sometimes another domain list.
fn random_rounds(rng: &mut Rng, domains: &[EntraDomain]) -> Rounds {
    let users = (0..rng.below(4))
        .map(|_| {
            let i = rng.below(14);
            if rng.chance(25) {
                DeltaItem::Removed(format!("u{i}"))
            } else {
                DeltaItem::Upsert(random_user(rng, i))
            }
        })
        .collect();
    let groups = (0..rng.below(4))
        .map(|_| {
            let i = rng.below(11);
            if rng.chance(15) {
                return DeltaItem::Removed(format!("g{i}"));
            }
            let members = (0..rng.below(4))
                .map(|_| (random_member(rng), rng.chance(40)))
                .collect();
            DeltaItem::Upsert(GroupChange {
                group: random_group(rng, i),
                members,
            })
        })
        .collect();
    Rounds {
        users,
        groups,
        domains: if rng.chance(10) {
            random_domains(rng)
        } else {
            domains.to_vec()
        },
        users_link: Url::parse("http://g/v1.0/users/delta?$deltatoken=a").unwrap(),
        groups_link: Url::parse("http://g/v1.0/groups/delta?$deltatoken=b").unwrap(),
    }
}

/// A domain list with `example.com` or `eu.example.com` as default, or with no default
/// (then no domain filtering at all).
fn random_domains(rng: &mut Rng) -> Vec<EntraDomain> {
    let default = rng.below(3);
    ["example.com", "eu.example.com"]
        .into_iter()
        .enumerate()
        .map(|(i, id)| EntraDomain {
            id: id.into(),
            is_default: i == default,
            ..EntraDomain::default()
        })
        .collect()
}

#[test]
fn incremental_scope_equals_the_full_scope_after_every_delta() {
    let (mut steps, mut changed, mut untouched) = (0, 0, 0);
    for seed in 0..1_500 {
        let mut rng = Rng(seed);
        let mut mirror = mirror_of(&random_tenant(&mut rng));
        let settings = random_settings(&mut rng);
        let mut scoped = apply_mirror(&mirror, &settings);
        for step in 0..10 {
            let rounds = random_rounds(&mut rng, &mirror.domains);
            let update = merge_delta(&mut mirror, rounds);
            let full = apply_mirror(&mirror, &settings);
            let before = scoped.clone();
            scoped = apply_delta(scoped, &mirror, &update, &settings);
            assert_eq!(
                scoped, full,
                "seed {seed}, step {step}, settings {settings:?}, update {update:?}"
            );
            steps += 1;
            if before != full {
                changed += 1;
            }
            // A group the delta did not touch whose effective members still changed
            // (a member user removed or added back, a nested group changed).
            let touched: Vec<&str> = update.groups.iter().map(|g| g.id.as_str()).collect();
            if full.groups.iter().any(|g| {
                !touched.contains(&g.id.as_str())
                    && before
                        .groups
                        .iter()
                        .any(|b| b.id == g.id && b.members != g.members)
            }) {
                untouched += 1;
            }
        }
    }
    // The sequences must really change the scoped tenant, also groups the delta did not
    // touch, or the comparison above proves little.
    assert!(
        changed > steps / 2 && untouched > 100,
        "{changed} of {steps} steps changed something, {untouched} an untouched group"
    );
}
