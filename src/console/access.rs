//! Who may do what after signing in with Microsoft: admins get the console, employees
//! (active synced users) the self-service page, everyone else nothing.
//!
//! Why from the synced directory: group membership (nested groups included) and a user's
//! status are what the LDAP directory already knows and serves, so the console follows the
//! same truth; an id_token's claims only say who signed in. `[admin] admins` matches the
//! UPN or object id; `[admin] admin_group` matches a group's object id, name or `cn`.

use super::session::Role;
use crate::admin::oidc::SignedInPerson;
use crate::config::AdminAccess;
use crate::model::{DirectoryData, GroupRecord, InactiveReason, MemberRef, UserStatus};
use std::collections::HashSet;

/// The groups `user_id` belongs to, directly or through nested groups, in directory order.
pub fn groups_of<'a>(data: &'a DirectoryData, user_id: &str) -> Vec<&'a GroupRecord> {
    let mut member_of: HashSet<&str> = HashSet::new();
    // Grow the set until no group joins: a group joins when it contains the user or a
    // group already in the set (cycles end because each group joins once).
    loop {
        let before = member_of.len();
        for group in &data.groups {
            if member_of.contains(group.entra.id.as_str()) {
                continue;
            }
            let contains = group.entra.members.iter().any(|m| match m {
                MemberRef::User(id) => id == user_id,
                MemberRef::Group(id) => member_of.contains(id.as_str()),
            });
            if contains {
                member_of.insert(group.entra.id.as_str());
            }
        }
        if member_of.len() == before {
            break;
        }
    }
    data.groups
        .iter()
        .filter(|g| member_of.contains(g.entra.id.as_str()))
        .collect()
}

/// Whether `group` is the one `[admin] admin_group` names.
fn is_named(group: &GroupRecord, name: &str) -> bool {
    group.entra.id.eq_ignore_ascii_case(name)
        || group.entra.display_name.eq_ignore_ascii_case(name)
        || group.cn.eq_ignore_ascii_case(name)
}

/// The role of `person`, or why they are refused (a sentence for them to read).
pub fn role_of(
    access: &AdminAccess,
    data: &DirectoryData,
    person: &SignedInPerson,
) -> Result<Role, String> {
    let user = data.users.iter().find(|u| u.entra.id == person.object_id);
    let upn = user
        .map(|u| u.entra.user_principal_name.as_str())
        .unwrap_or(person.username.as_str());
    if let Some(UserStatus::Inactive(
        why @ (InactiveReason::DisabledInEntra | InactiveReason::Deleted),
    )) = user.map(|u| u.status)
    {
        return Err(format!(
            "Your account is {} and cannot sign in here.",
            super::users::reason(why)
        ));
    }
    let listed = access.admins.iter().any(|a| {
        a.eq_ignore_ascii_case(&person.object_id)
            || (!upn.is_empty() && a.eq_ignore_ascii_case(upn))
    });
    let in_admin_group = access.admin_group.as_deref().is_some_and(|name| {
        groups_of(data, &person.object_id)
            .iter()
            .any(|g| is_named(g, name))
    });
    if listed || in_admin_group {
        return Ok(Role::Admin);
    }
    match user.map(|u| u.status) {
        Some(UserStatus::Active) => Ok(Role::Employee),
        Some(UserStatus::Inactive(why)) => Err(format!(
            "Your account is not active in the directory ({}), so there is nothing for you here. Ask your IT admin.",
            super::users::reason(why)
        )),
        None => Err(
            "Your account is not in the directory this server mirrors. Ask your IT admin."
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntraGroup, EntraUser, UserRecord};

    fn user(id: &str, upn: &str, status: UserStatus) -> UserRecord {
        UserRecord {
            entra: EntraUser {
                id: id.into(),
                user_principal_name: upn.into(),
                ..Default::default()
            },
            uid: upn.split('@').next().unwrap().into(),
            uid_number: 10000,
            gid_number: 10000,
            status,
            ssh_public_keys: Vec::new(),
            created: 0,
            modified: 0,
        }
    }

    fn group(id: &str, name: &str, members: Vec<MemberRef>) -> GroupRecord {
        GroupRecord {
            entra: EntraGroup {
                id: id.into(),
                display_name: name.into(),
                members,
                ..Default::default()
            },
            cn: name.to_lowercase().replace(' ', "-"),
            gid_number: 20000,
            created: 0,
            modified: 0,
        }
    }

    fn person(id: &str, upn: &str) -> SignedInPerson {
        SignedInPerson {
            object_id: id.into(),
            username: upn.into(),
            name: None,
        }
    }

    /// alice (active), bob (active), carol (disabled), dan (not allowed); group "Ops"
    /// contains group "Platform", which contains bob; "Loop" contains itself.
    fn data() -> DirectoryData {
        DirectoryData {
            users: vec![
                user("a", "alice@example.com", UserStatus::Active),
                user("b", "bob@example.com", UserStatus::Active),
                user(
                    "c",
                    "carol@example.com",
                    UserStatus::Inactive(InactiveReason::DisabledInEntra),
                ),
                user(
                    "d",
                    "dan@example.com",
                    UserStatus::Inactive(InactiveReason::NotInAllowedGroup),
                ),
            ],
            groups: vec![
                group("g-ops", "Ops", vec![MemberRef::Group("g-platform".into())]),
                group("g-platform", "Platform", vec![MemberRef::User("b".into())]),
                group(
                    "g-loop",
                    "Loop",
                    vec![
                        MemberRef::Group("g-loop".into()),
                        MemberRef::User("c".into()),
                    ],
                ),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn nested_groups_count_and_cycles_end() {
        let d = data();
        let names = |id: &str| -> Vec<String> {
            groups_of(&d, id)
                .iter()
                .map(|g| g.entra.display_name.clone())
                .collect()
        };
        assert_eq!(names("b"), ["Ops", "Platform"]);
        assert_eq!(names("c"), ["Loop"]);
        assert!(names("a").is_empty());
    }

    #[test]
    fn admins_by_list_or_transitive_group_employees_by_status() {
        let d = data();
        let access = AdminAccess {
            admin_group: Some("ops".into()),
            admins: vec!["ALICE@example.com".into()],
        };
        assert_eq!(
            role_of(&access, &d, &person("a", "alice@example.com")),
            Ok(Role::Admin)
        );
        assert_eq!(
            role_of(&access, &d, &person("b", "bob@example.com")),
            Ok(Role::Admin),
            "via Platform in Ops"
        );
        let by_id = AdminAccess {
            admin_group: Some("g-platform".into()),
            admins: vec![],
        };
        assert_eq!(role_of(&by_id, &d, &person("b", "")), Ok(Role::Admin));
        let nobody = AdminAccess::default();
        assert_eq!(
            role_of(&nobody, &d, &person("b", "bob@example.com")),
            Ok(Role::Employee)
        );
        let refused = role_of(&nobody, &d, &person("d", "dan@example.com")).unwrap_err();
        assert!(refused.contains("not in an allowed group"), "{refused}");
        let unknown = role_of(&nobody, &d, &person("x", "x@example.com")).unwrap_err();
        assert!(unknown.contains("not in the directory"), "{unknown}");
        let listed_but_disabled = AdminAccess {
            admin_group: None,
            admins: vec!["carol@example.com".into()],
        };
        let disabled =
            role_of(&listed_but_disabled, &d, &person("c", "carol@example.com")).unwrap_err();
        assert!(disabled.contains("disabled in Entra"), "{disabled}");
        // A listed admin who is not synced (e.g. outside the sync scope) still gets the console.
        let outside = AdminAccess {
            admin_group: None,
            admins: vec!["it@example.com".into()],
        };
        assert_eq!(
            role_of(&outside, &d, &person("z", "it@example.com")),
            Ok(Role::Admin)
        );
    }
}
