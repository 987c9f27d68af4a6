//! The tenants the simulator ships with: a small hand-written one for the demo and tests,
//! and a deterministic generated one for benchmarks.
//!
//! Why hand-written cases: each demo user exists to show one behaviour sync and LDAP must
//! get right (disabled account, guest, missing mail, login-name collision, nested group,
//! non-user members). Why deterministic generation: benchmark runs must be comparable, and
//! the generated shape matches ../shared/bench/gen_ldif.py (users `userNNNN`, groups
//! `groupNNNN` of about 20 members).

use super::tenant::{MemberKind, SimDomain, SimGroup, SimMember, SimOtherObject, SimUser, Tenant};

/// Tenant id of the simulated demo tenant.
pub const DEMO_TENANT_ID: &str = "7c1e3f0a-5b2d-4e8f-9a61-0d3c2b1a4e5f";
/// Client (application) id of the demo app registration.
pub const DEMO_CLIENT_ID: &str = "3f2a9d4e-8b71-4c05-a6e2-91d0f7c3b8a4";
/// Client secret of the demo app registration (a demo value, not a real credential).
pub const DEMO_CLIENT_SECRET: &str = "demo-client-secret-Xq8~not-a-real-secret";

/// Seed of the generated tenant (the same default as gen_ldif.py).
const GENERATED_SEED: u64 = 42;
/// Members per generated group (gen_ldif.py's default).
const GENERATED_MEMBERS: usize = 20;

/// The small hand-written demo tenant: domain example.com; active, disabled and guest users;
/// an M365 group and security groups; a nested group; a device and an org contact as
/// members.
///
/// Microsoft 365 groups may contain users only, so the nested group ("Platform") sits in
/// the security group "VPN Users", not in the M365 group "Engineering".
pub fn demo_tenant() -> Tenant {
    let mut t = Tenant::new(DEMO_TENANT_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET);
    t.max_page_size = 3;
    t.domains = vec![
        SimDomain::verified("example.com", true, false),
        SimDomain::verified("example.onmicrosoft.com", false, true),
    ];
    let user = |n: u64, upn: &str, given: &str, surname: &str| SimUser {
        id: object_id(1, n),
        user_principal_name: upn.to_string(),
        display_name: Some(format!("{given} {surname}")),
        given_name: Some(given.to_string()),
        surname: Some(surname.to_string()),
        mail: Some(upn.to_string()),
        mail_nickname: upn.split('@').next().map(str::to_string),
        account_enabled: true,
        user_type: "Member".to_string(),
        created_date_time: format!("2024-0{}-1{}T09:30:00Z", 1 + n % 9, n % 10),
        last_password_change_date_time: Some("2025-06-01T08:00:00Z".to_string()),
        business_phones: Vec::new(),
        preferred_language: Some("en-US".to_string()),
        ..SimUser::default()
    };
    let mut alice = user(1, "alice@example.com", "Alice", "Anderson");
    alice.job_title = Some("Staff Engineer".to_string());
    alice.business_phones = vec!["+1 425 555 0101".to_string()];
    let bob = user(2, "bob@example.com", "Bob", "Brown");
    let mut carol = user(3, "carol@example.com", "Carol", "Clark");
    carol.account_enabled = false;
    let mut dave = user(
        4,
        "dave_partner.org#EXT#@example.onmicrosoft.com",
        "Dave",
        "Duncan",
    );
    dave.user_type = "Guest".to_string();
    dave.mail = Some("dave@partner.org".to_string());
    dave.mail_nickname = Some("dave_partner.org#EXT#".to_string());
    dave.last_password_change_date_time = None;
    // No mailbox: Graph returns "mail": null.
    let mut erin = user(5, "erin@example.com", "Erin", "Evans");
    erin.mail = None;
    // Synced from on-premises AD: has a sAMAccountName that differs from the UPN.
    let mut frank = user(6, "frank.foster@example.com", "Frank", "Foster");
    frank.on_premises_sam_account_name = Some("FFOSTER".to_string());
    frank.mail_nickname = Some("ffoster".to_string());
    // A cloud admin account in the initial domain next to the regular one: their UPN
    // local parts and their mailNicknames collide case-insensitively ("heidi"), so login
    // names must be disambiguated whichever login source is configured.
    let heidi = user(7, "heidi@example.com", "Heidi", "Hill");
    let mut heidi_admin = user(8, "Heidi@example.onmicrosoft.com", "Heidi", "Hill (admin)");
    heidi_admin.mail = None;
    heidi_admin.mail_nickname = Some("HEIDI".to_string());
    t.users = vec![alice, bob, carol, dave, erin, frank, heidi, heidi_admin];

    let contact = SimOtherObject {
        kind: MemberKind::OrgContact,
        id: object_id(3, 1),
        display_name: Some("Partner Support".to_string()),
    };
    let device = SimOtherObject {
        kind: MemberKind::Device,
        id: object_id(3, 2),
        display_name: Some("LAPTOP-042".to_string()),
    };
    let member_user = |n: u64| SimMember {
        kind: MemberKind::User,
        id: object_id(1, n),
    };
    let engineering = SimGroup {
        id: object_id(2, 1),
        display_name: "Engineering".to_string(),
        description: Some("Everyone who builds the product".to_string()),
        mail: Some("engineering@example.com".to_string()),
        mail_enabled: true,
        mail_nickname: "engineering".to_string(),
        security_enabled: false,
        group_types: vec!["Unified".to_string()],
        created_date_time: "2024-02-01T10:00:00Z".to_string(),
        visibility: Some("Private".to_string()),
        members: vec![member_user(1), member_user(3), member_user(6)],
    };
    let platform = SimGroup {
        id: object_id(2, 3),
        display_name: "Platform".to_string(),
        description: Some("Platform team".to_string()),
        mail_nickname: "platform".to_string(),
        security_enabled: true,
        created_date_time: "2024-02-03T10:00:00Z".to_string(),
        members: vec![
            member_user(5),
            member_user(7),
            SimMember {
                kind: MemberKind::OrgContact,
                id: contact.id.clone(),
            },
        ],
        ..SimGroup::default()
    };
    let vpn = SimGroup {
        id: object_id(2, 2),
        display_name: "VPN Users".to_string(),
        description: Some("May connect to the VPN".to_string()),
        mail_nickname: String::new(),
        security_enabled: true,
        created_date_time: "2024-02-02T10:00:00Z".to_string(),
        members: vec![
            member_user(1),
            member_user(2),
            SimMember {
                kind: MemberKind::Group,
                id: platform.id.clone(),
            },
            SimMember {
                kind: MemberKind::Device,
                id: device.id.clone(),
            },
        ],
        ..SimGroup::default()
    };
    t.groups = vec![engineering, vpn, platform];
    t.others = vec![contact, device];
    t
}

/// First and last names, as in gen_ldif.py.
const FIRST: [&str; 24] = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "Ivan",
    "John",
    "Ken",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Radia",
    "Dennis",
    "Sophie",
    "Tim",
    "Whitfield",
    "Yukihiro",
    "Linus",
    "Guido",
    "Bjarne",
];
const LAST: [&str; 24] = [
    "Lovelace",
    "Turing",
    "Liskov",
    "Shannon",
    "Knuth",
    "Dijkstra",
    "Allen",
    "Hopper",
    "Lamarr",
    "Sutherland",
    "McCarthy",
    "Thompson",
    "Lamport",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Ritchie",
    "Wilson",
    "Berners-Lee",
    "Diffie",
    "Matsumoto",
    "Torvalds",
    "van Rossum",
    "Stroustrup",
];

/// A deterministic tenant shaped like ../shared/bench/gen_ldif.py: users `user0000…`
/// (UPN `userNNNN@example.com`), groups `group0000…` with about 20 distinct members each.
pub fn generated_tenant(users: usize, groups: usize) -> Tenant {
    generated_tenant_sized(users, groups, GENERATED_MEMBERS)
}

/// [`generated_tenant`] with `members` distinct members per group (the sync benchmark's
/// 100,000 users / 10,000 groups / 1,000,000 memberships is `(100_000, 10_000, 100)`).
/// Each user id is formatted once and shared by its memberships' clones, so a million
/// memberships build in well under a second.
pub fn generated_tenant_sized(users: usize, groups: usize, members: usize) -> Tenant {
    let mut t = Tenant::new(DEMO_TENANT_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET);
    t.domains = vec![
        SimDomain::verified("example.com", true, false),
        SimDomain::verified("example.onmicrosoft.com", false, true),
    ];
    let width = digits(users.saturating_sub(1)).max(4);
    let gwidth = digits(groups.saturating_sub(1)).max(4);
    let ids: Vec<String> = (0..users).map(|i| object_id(1, i as u64)).collect();
    t.users = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let name = format!("user{i:0width$}");
            let given = FIRST[i % FIRST.len()];
            let surname = LAST[(i / FIRST.len()) % LAST.len()];
            SimUser {
                id: id.clone(),
                user_principal_name: format!("{name}@example.com"),
                display_name: Some(format!("{given} {surname}")),
                given_name: Some(given.to_string()),
                surname: Some(surname.to_string()),
                mail: Some(format!("{name}@example.com")),
                mail_nickname: Some(name),
                account_enabled: true,
                user_type: "Member".to_string(),
                created_date_time: "2024-01-01T00:00:00Z".to_string(),
                ..SimUser::default()
            }
        })
        .collect();
    let mut rng = SplitMix64(GENERATED_SEED);
    t.groups = (0..groups)
        .map(|g| {
            let name = format!("group{g:0gwidth$}");
            let members = rng
                .sample_distinct(users, members)
                .into_iter()
                .filter_map(|u| ids.get(u))
                .map(|id| SimMember {
                    kind: MemberKind::User,
                    id: id.clone(),
                })
                .collect();
            SimGroup {
                id: object_id(2, g as u64),
                display_name: name.clone(),
                description: Some(format!("benchmark group {g}")),
                mail_nickname: name,
                security_enabled: true,
                created_date_time: "2024-01-01T00:00:00Z".to_string(),
                members,
                ..SimGroup::default()
            }
        })
        .collect();
    t
}

/// Number of decimal digits of `n`.
fn digits(n: usize) -> usize {
    n.to_string().len()
}

/// A deterministic, GUID-shaped object id for object number `index` of kind `kind`
/// (1 users, 2 groups, 3 others), so ids are stable across demo runs.
pub fn object_id(kind: u64, index: u64) -> String {
    let mut rng = SplitMix64(kind.wrapping_mul(0x1_0000_0000).wrapping_add(index));
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// SplitMix64: a tiny, well-distributed PRNG; enough for deterministic test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..bound` (`bound > 0`; modulo bias is irrelevant here).
    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    /// `min(k, n)` distinct values from `0..n`, sorted (like `sorted(random.sample(...))`).
    fn sample_distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut picked = std::collections::BTreeSet::new();
        while picked.len() < k {
            picked.insert(self.below(n));
        }
        picked.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tenant_is_deterministic_and_shaped_like_gen_ldif() {
        let a = generated_tenant(50, 5);
        let b = generated_tenant(50, 5);
        assert_eq!(a.users, b.users);
        assert_eq!(a.groups, b.groups);
        assert_eq!(a.users[7].user_principal_name, "user0007@example.com");
        assert_eq!(a.groups[3].display_name, "group0003");
        for g in &a.groups {
            let mut ids: Vec<_> = g.members.iter().map(|m| m.id.clone()).collect();
            ids.dedup();
            assert_eq!(ids.len(), 20, "20 distinct members");
        }
        // Fewer users than members per group: every user, once.
        assert_eq!(generated_tenant(3, 1).groups[0].members.len(), 3);
        // Wider numbering when needed.
        assert_eq!(
            generated_tenant(10_001, 0).users[10_000].user_principal_name,
            "user10000@example.com"
        );
    }

    #[test]
    fn object_ids_are_distinct_and_guid_shaped() {
        let ids: std::collections::HashSet<_> = (0..1000)
            .flat_map(|i| [object_id(1, i), object_id(2, i)])
            .collect();
        assert_eq!(ids.len(), 2000);
        let id = object_id(1, 0);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }

    #[test]
    fn demo_tenant_has_the_documented_cases() {
        let t = demo_tenant();
        assert!(t.users.iter().any(|u| !u.account_enabled));
        assert!(t.users.iter().any(|u| u.user_type == "Guest"));
        assert!(t.users.iter().any(|u| u.mail.is_none()));
        let default = t.domains.iter().filter(|d| d.is_default).count();
        assert_eq!(default, 1);
        let kinds: Vec<_> = t
            .groups
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.kind))
            .collect();
        for kind in [
            MemberKind::User,
            MemberKind::Group,
            MemberKind::Device,
            MemberKind::OrgContact,
        ] {
            assert!(kinds.contains(&kind));
        }
        for g in &t.groups {
            for m in &g.members {
                assert_eq!(t.kind_of(&m.id), Some(m.kind), "member {} exists", m.id);
            }
        }
    }
}
