//! Unit tests of every scoping rule, on small hand-built tenants.

use super::*;
use crate::model::EntraDomain;

fn user(id: &str, upn: &str) -> EntraUser {
    EntraUser {
        id: id.into(),
        user_principal_name: upn.into(),
        mail: Some(upn.into()),
        account_enabled: true,
        ..EntraUser::default()
    }
}

fn group(id: &str, name: &str, mail: bool, members: &[MemberRef]) -> EntraGroup {
    EntraGroup {
        id: id.into(),
        display_name: name.into(),
        mail: mail.then(|| format!("{}@example.com", name.to_lowercase())),
        members: members.to_vec(),
        ..EntraGroup::default()
    }
}

fn u(id: &str) -> MemberRef {
    MemberRef::User(id.into())
}

fn g(id: &str) -> MemberRef {
    MemberRef::Group(id.into())
}

fn domain(name: &str, is_default: bool) -> EntraDomain {
    EntraDomain {
        id: name.into(),
        is_default,
        is_initial: !is_default,
        is_verified: true,
    }
}

/// alice, bob (in g-team via g-inner), carol (disabled), on example.com.
/// g-all (mail) ⊃ alice, g-inner; g-inner (no mail) ⊃ bob, carol.
fn tenant() -> RawTenant {
    let mut carol = user("carol", "carol@example.com");
    carol.account_enabled = false;
    RawTenant {
        users: vec![
            user("alice", "alice@example.com"),
            user("bob", "bob@example.com"),
            carol,
        ],
        groups: vec![
            group("g-all", "All Staff", true, &[u("alice"), g("g-inner")]),
            group("g-inner", "Inner Team", false, &[u("bob"), u("carol")]),
        ],
        domains: vec![
            domain("example.com", true),
            domain("example.onmicrosoft.com", false),
        ],
    }
}

fn status(snap: &TenantSnapshot, id: &str) -> UserStatus {
    snap.users
        .iter()
        .find(|(u, _)| u.id == id)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("{id} not in snapshot"))
}

fn inactive(reason: InactiveReason) -> UserStatus {
    UserStatus::Inactive(reason)
}

fn group_ids(snap: &TenantSnapshot) -> Vec<&str> {
    snap.groups.iter().map(|g| g.id.as_str()).collect()
}

fn members<'a>(snap: &'a TenantSnapshot, id: &str) -> &'a [MemberRef] {
    &snap.groups.iter().find(|g| g.id == id).unwrap().members
}

fn settings() -> SyncSettings {
    SyncSettings::default()
}

#[test]
fn disabled_users_are_inactive_and_others_active_by_default() {
    let snap = apply(&tenant(), &settings());
    assert_eq!(status(&snap, "alice"), UserStatus::Active);
    assert_eq!(status(&snap, "bob"), UserStatus::Active);
    assert_eq!(
        status(&snap, "carol"),
        inactive(InactiveReason::DisabledInEntra)
    );
    assert!(snap.users_synced);
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn groups_without_email_are_left_out_unless_asked_and_their_members_flattened() {
    let snap = apply(&tenant(), &settings());
    assert_eq!(group_ids(&snap), ["g-all"]);
    // g-inner is not imported, so its users become direct members of g-all.
    assert_eq!(members(&snap, "g-all"), [u("alice"), u("bob"), u("carol")]);

    let with = SyncSettings {
        groups_without_email: true,
        ..settings()
    };
    let snap = apply(&tenant(), &with);
    assert_eq!(group_ids(&snap), ["g-all", "g-inner"]);
    assert_eq!(members(&snap, "g-all"), [u("alice"), g("g-inner")]);
}

#[test]
fn group_prefixes_match_the_start_of_the_name_case_insensitively() {
    let s = SyncSettings {
        groups_without_email: true,
        group_prefixes: vec!["inner".into(), "nothing-".into()],
        ..settings()
    };
    let snap = apply(&tenant(), &s);
    assert_eq!(group_ids(&snap), ["g-inner"]);
    let s = SyncSettings {
        groups_without_email: true,
        group_prefixes: vec!["TEAM".into()],
        ..settings()
    };
    assert!(
        apply(&tenant(), &s).groups.is_empty(),
        "a prefix, not a substring"
    );
}

#[test]
fn group_sync_off_imports_no_group_but_still_evaluates_allowed_groups() {
    let s = SyncSettings {
        groups: false,
        allowed_groups: vec!["Inner Team".into()],
        ..settings()
    };
    let snap = apply(&tenant(), &s);
    assert!(snap.groups.is_empty());
    assert_eq!(status(&snap, "bob"), UserStatus::Active);
    assert_eq!(
        status(&snap, "alice"),
        inactive(InactiveReason::NotInAllowedGroup)
    );
}

#[test]
fn user_sync_off_hands_over_no_users_and_says_so() {
    let s = SyncSettings {
        users: false,
        ..settings()
    };
    let snap = apply(&tenant(), &s);
    assert!(snap.users.is_empty());
    assert!(!snap.users_synced);
    assert_eq!(group_ids(&snap), ["g-all"], "groups still synced");
}

#[test]
fn allowed_groups_are_transitive_and_match_by_name_or_id() {
    let by_name = SyncSettings {
        allowed_groups: vec!["all staff".into()],
        ..settings()
    };
    let snap = apply(&tenant(), &by_name);
    assert_eq!(status(&snap, "alice"), UserStatus::Active);
    assert_eq!(status(&snap, "bob"), UserStatus::Active, "through g-inner");
    let by_id = SyncSettings {
        allowed_groups: vec!["G-INNER".into()],
        ..settings()
    };
    let snap = apply(&tenant(), &by_id);
    assert_eq!(
        status(&snap, "alice"),
        inactive(InactiveReason::NotInAllowedGroup)
    );
    assert_eq!(status(&snap, "bob"), UserStatus::Active);
}

#[test]
fn denied_groups_deactivate_their_transitive_members() {
    let s = SyncSettings {
        denied_groups: vec!["All Staff".into()],
        ..settings()
    };
    let snap = apply(&tenant(), &s);
    assert_eq!(
        status(&snap, "alice"),
        inactive(InactiveReason::InDeniedGroup)
    );
    assert_eq!(
        status(&snap, "bob"),
        inactive(InactiveReason::InDeniedGroup)
    );
}

#[test]
fn reasons_follow_the_documented_precedence() {
    let mut raw = tenant();
    raw.users.push(user("eve", "eve@other.org"));
    let mut off = user("olga", "olga@other.org");
    off.account_enabled = false;
    raw.users.push(off);
    // Everyone is in g-deny; nobody is in the (empty) allowed group g-empty.
    raw.groups.push(group(
        "g-deny",
        "Deny",
        false,
        &[u("alice"), u("bob"), u("carol"), u("eve"), u("olga")],
    ));
    raw.groups.push(group("g-empty", "Nobody", false, &[]));
    let s = SyncSettings {
        denied_groups: vec!["g-deny".into()],
        allowed_groups: vec!["g-empty".into()],
        ..settings()
    };
    let snap = apply(&raw, &s);
    assert_eq!(
        status(&snap, "olga"),
        inactive(InactiveReason::DisabledInEntra)
    );
    assert_eq!(
        status(&snap, "eve"),
        inactive(InactiveReason::OutsideSelectedDomains)
    );
    assert_eq!(
        status(&snap, "alice"),
        inactive(InactiveReason::InDeniedGroup)
    );
    let s = SyncSettings {
        allowed_groups: vec!["g-empty".into()],
        ..settings()
    };
    assert_eq!(
        status(&apply(&raw, &s), "alice"),
        inactive(InactiveReason::NotInAllowedGroup)
    );
}

#[test]
fn entries_that_match_no_group_are_warnings() {
    let s = SyncSettings {
        allowed_groups: vec!["VPN Userz".into()],
        denied_groups: vec!["ghosts".into()],
        subdomains: vec!["eu.example.com".into()],
        ..settings()
    };
    let snap = apply(&tenant(), &s);
    let text = snap.warnings.join("\n");
    assert!(
        text.contains("allowed_groups: `VPN Userz` matches no group"),
        "{text}"
    );
    assert!(text.contains("every user is inactive"), "{text}");
    assert!(text.contains("denied_groups: `ghosts`"), "{text}");
    assert!(text.contains("subdomains: `eu.example.com`"), "{text}");
    assert_eq!(
        status(&snap, "alice"),
        inactive(InactiveReason::NotInAllowedGroup)
    );
}

#[test]
fn membership_cycles_terminate_in_evaluation_and_flattening() {
    let mut raw = tenant();
    // g-a ⊃ g-b ⊃ g-c ⊃ g-a, each with one user; none has mail except g-a.
    raw.groups
        .push(group("g-a", "A", true, &[u("alice"), g("g-b")]));
    raw.groups
        .push(group("g-b", "B", false, &[u("bob"), g("g-c")]));
    raw.groups
        .push(group("g-c", "C", false, &[u("carol"), g("g-a")]));
    let s = SyncSettings {
        allowed_groups: vec!["g-b".into()],
        ..settings()
    };
    let snap = apply(&raw, &s);
    // From g-b the cycle reaches everyone.
    assert_eq!(status(&snap, "alice"), UserStatus::Active);
    assert_eq!(status(&snap, "bob"), UserStatus::Active);
    // g-a is imported; g-b and g-c are flattened into it; the way back to g-a itself is
    // not a member (a group is not its own member).
    assert_eq!(members(&snap, "g-a"), [u("alice"), u("bob"), u("carol")]);
}

#[test]
fn members_that_are_not_users_or_groups_of_the_tenant_are_dropped() {
    let mut raw = tenant();
    raw.groups.push(group(
        "g-x",
        "X",
        true,
        &[u("alice"), u("ghost"), g("no-such-group"), u("alice")],
    ));
    let snap = apply(&raw, &settings());
    assert_eq!(members(&snap, "g-x"), [u("alice")]);
}

#[test]
fn only_the_default_domain_unless_subdomains_are_selected() {
    let mut raw = tenant();
    raw.domains.push(domain("eu.example.com", false));
    raw.domains.push(domain("us.example.com", false));
    raw.users.push(user("eu", "eu@eu.example.com"));
    raw.users.push(user("us", "us@us.example.com"));
    let mut mail_only = user("mo", "mo@example.onmicrosoft.com");
    mail_only.mail = Some("mo@EXAMPLE.com".into());
    raw.users.push(mail_only);
    let mut admin = user("adm", "adm@example.onmicrosoft.com");
    admin.mail = None;
    raw.users.push(admin);
    raw.users.push(user("evil", "evil@notexample.com"));

    let out = inactive(InactiveReason::OutsideSelectedDomains);
    let snap = apply(&raw, &settings());
    assert_eq!(status(&snap, "alice"), UserStatus::Active);
    assert_eq!(
        status(&snap, "mo"),
        UserStatus::Active,
        "mail domain counts"
    );
    assert_eq!(status(&snap, "eu"), out);
    assert_eq!(status(&snap, "adm"), out);

    let selected = SyncSettings {
        subdomains: vec!["EU.example.com".into()],
        ..settings()
    };
    let snap = apply(&raw, &selected);
    assert_eq!(status(&snap, "eu"), UserStatus::Active);
    assert_eq!(status(&snap, "us"), out);

    let all = SyncSettings {
        all_subdomains: true,
        ..settings()
    };
    let snap = apply(&raw, &all);
    assert_eq!(status(&snap, "eu"), UserStatus::Active);
    assert_eq!(status(&snap, "us"), UserStatus::Active);
    assert_eq!(
        status(&snap, "adm"),
        out,
        "onmicrosoft.com is not a subdomain"
    );
    assert_eq!(status(&snap, "evil"), out, "a suffix is not a subdomain");
}

#[test]
fn without_a_default_domain_there_is_no_domain_filter() {
    let mut raw = tenant();
    raw.domains.clear();
    raw.users.push(user("x", "x@anything.org"));
    let snap = apply(&raw, &settings());
    assert_eq!(status(&snap, "x"), UserStatus::Active);
}
