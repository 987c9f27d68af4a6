//! The simulated tenant's contents, shaped like Microsoft Graph objects.
//!
//! Why typed structs with Graph's property names: the server serialises them to exactly the
//! JSON Graph would send (camelCase names, `null` for unset values) and then applies
//! `$select` to that JSON, so what sync parses here is what it will parse from Microsoft.
//!
//! Every mutation method records a [`Change`] under a new sequence number, so the delta
//! endpoints can answer "what changed since position N" (graph.md §2.6). Changing fields
//! directly (through `user_mut`, `group_mut` or the public vectors) is seen by full reads
//! only; call [`Tenant::record`] afterwards to make delta queries see it too.

use serde::Serialize;
use std::collections::HashMap;

/// A user as `GET /v1.0/users` knows it (a subset of Graph's properties).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimUser {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    pub on_premises_sam_account_name: Option<String>,
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    pub user_type: String,
    pub created_date_time: String,
    pub last_password_change_date_time: Option<String>,
    pub job_title: Option<String>,
    pub business_phones: Vec<String>,
    pub mobile_phone: Option<String>,
    pub office_location: Option<String>,
    pub preferred_language: Option<String>,
}

/// The kind of a directory object that can be a group member (`@odata.type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemberKind {
    #[default]
    User,
    Group,
    /// `#microsoft.graph.orgContact` — sync must drop it.
    OrgContact,
    /// `#microsoft.graph.device` — sync must drop it.
    Device,
}

impl MemberKind {
    /// The `@odata.type` Graph tags such a member with.
    pub fn odata_type(self) -> &'static str {
        match self {
            MemberKind::User => "#microsoft.graph.user",
            MemberKind::Group => "#microsoft.graph.group",
            MemberKind::OrgContact => "#microsoft.graph.orgContact",
            MemberKind::Device => "#microsoft.graph.device",
        }
    }
}

/// A direct member of a group: its kind and object id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimMember {
    pub kind: MemberKind,
    pub id: String,
}

/// A group as `GET /v1.0/groups` knows it, plus its direct members (served only through
/// `/groups/{id}/members`, as in Graph).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimGroup {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub mail: Option<String>,
    pub mail_enabled: bool,
    pub mail_nickname: String,
    pub security_enabled: bool,
    /// `["Unified"]` for Microsoft 365 groups, `[]` for security groups.
    pub group_types: Vec<String>,
    pub created_date_time: String,
    pub visibility: Option<String>,
    #[serde(skip)]
    pub members: Vec<SimMember>,
}

/// A directory object that is neither user nor group (org contact, device): it exists only
/// to appear in member lists, so sync's filtering is exercised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimOtherObject {
    #[serde(skip)]
    pub kind: MemberKind,
    pub id: String,
    pub display_name: Option<String>,
}

/// A domain as `GET /v1.0/domains` returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimDomain {
    pub id: String,
    pub authentication_type: String,
    pub is_admin_managed: bool,
    pub is_default: bool,
    pub is_initial: bool,
    pub is_root: bool,
    pub is_verified: bool,
    pub supported_services: Vec<String>,
}

impl SimDomain {
    /// A managed, verified root domain.
    pub fn verified(name: &str, is_default: bool, is_initial: bool) -> SimDomain {
        SimDomain {
            id: name.to_string(),
            authentication_type: "Managed".to_string(),
            is_admin_managed: true,
            is_default,
            is_initial,
            is_root: true,
            is_verified: true,
            supported_services: vec![
                "Email".to_string(),
                "OfficeCommunicationsOnline".to_string(),
            ],
        }
    }
}

/// One recorded mutation. Only *which* object changed is kept: the delta endpoints render
/// the object as it is when served, as Graph does (a replayed or later state is allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A user was added, changed, soft- or hard-deleted (the id).
    User(String),
    /// A group was added, changed or deleted (the id).
    Group(String),
    /// A member was added to or removed from a group.
    Member {
        group: String,
        member: SimMember,
        removed: bool,
    },
    /// A domain was added (the name); domains are read in full, this only moves the sequence.
    Domain(String),
}

/// Members per `members@delta` slice by default: a group with more reappears on later pages.
pub const DEFAULT_MEMBER_SLICE: usize = 999;

/// A tenant's contents and its app credentials.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// Largest page the simulator serves, whatever `$top` asks (to exercise paging).
    pub max_page_size: usize,
    /// `expires_in` of issued access tokens (Entra: 3599).
    pub token_lifetime_secs: u64,
    /// When set, the token endpoint answers AADSTS7000222 (expired client secret).
    pub secret_expired: bool,
    pub users: Vec<SimUser>,
    pub groups: Vec<SimGroup>,
    pub others: Vec<SimOtherObject>,
    pub domains: Vec<SimDomain>,
    /// Soft-deleted users (Graph's `deletedItems`): gone from `/users`, restorable.
    pub deleted_users: Vec<SimUser>,
    /// The groups each soft-deleted user was a direct member of (restore puts it back).
    deleted_memberships: HashMap<String, Vec<String>>,
    /// Most member entries one group carries per appearance in a `/groups/delta` page; a
    /// larger group reappears with the next slice (graph.md §2.6 "Large groups").
    pub member_slice: usize,
    /// Sequence number of the latest change (0: none yet).
    sequence: u64,
    /// Every change with its sequence number, oldest first.
    changes: Vec<(u64, Change)>,
}

impl Tenant {
    /// An empty tenant with these credentials (Graph's default page size, Entra's token
    /// lifetime).
    pub fn new(tenant_id: &str, client_id: &str, client_secret: &str) -> Tenant {
        Tenant {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            max_page_size: 999,
            token_lifetime_secs: 3599,
            secret_expired: false,
            users: Vec::new(),
            groups: Vec::new(),
            others: Vec::new(),
            domains: Vec::new(),
            deleted_users: Vec::new(),
            deleted_memberships: HashMap::new(),
            member_slice: DEFAULT_MEMBER_SLICE,
            sequence: 0,
            changes: Vec::new(),
        }
    }

    /// Records a change under the next sequence number (the mutation methods call this; a
    /// test that edits fields directly calls it to make delta queries see the edit).
    pub fn record(&mut self, change: Change) {
        self.sequence += 1;
        self.changes.push((self.sequence, change));
    }

    /// The sequence number of the latest change: a delta link taken now covers up to it.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Changes with `after < sequence <= upto`, oldest first.
    pub fn changes_between(&self, after: u64, upto: u64) -> &[(u64, Change)] {
        let start = self.changes.partition_point(|(seq, _)| *seq <= after);
        let end = self.changes.partition_point(|(seq, _)| *seq <= upto);
        self.changes.get(start..end.max(start)).unwrap_or_default()
    }

    /// Adds a user (recorded).
    pub fn add_user(&mut self, user: SimUser) {
        let id = user.id.clone();
        self.users.push(user);
        self.record(Change::User(id));
    }

    /// Changes a user through `f` (recorded). Returns false when no such user exists.
    pub fn update_user(&mut self, upn: &str, f: impl FnOnce(&mut SimUser)) -> bool {
        let Some(user) = self.user_mut(upn) else {
            return false;
        };
        f(user);
        let id = user.id.clone();
        self.record(Change::User(id));
        true
    }

    /// Adds `member` to the group named `group` (recorded). False when there is no such
    /// group or the member is already in it.
    pub fn add_member(&mut self, group: &str, member: SimMember) -> bool {
        let Some(g) = self.group_mut(group) else {
            return false;
        };
        if g.members.iter().any(|m| m.id == member.id) {
            return false;
        }
        g.members.push(member.clone());
        let group = g.id.clone();
        self.record(Change::Member {
            group,
            member,
            removed: false,
        });
        true
    }

    /// Removes the member with object id `member_id` from the group named `group`
    /// (recorded). False when there is no such group or member.
    pub fn remove_member(&mut self, group: &str, member_id: &str) -> bool {
        let Some(g) = self.group_mut(group) else {
            return false;
        };
        let Some(pos) = g.members.iter().position(|m| m.id == member_id) else {
            return false;
        };
        let member = g.members.remove(pos);
        let group = g.id.clone();
        self.record(Change::Member {
            group,
            member,
            removed: true,
        });
        true
    }

    /// Adds a group with its members (recorded: the group and each membership).
    pub fn add_group(&mut self, group: SimGroup) {
        let id = group.id.clone();
        let members = group.members.clone();
        self.groups.push(group);
        self.record(Change::Group(id.clone()));
        for member in members {
            self.record(Change::Member {
                group: id.clone(),
                member,
                removed: false,
            });
        }
    }

    /// Renames a group (recorded). False when there is no group named `old`.
    pub fn rename_group(&mut self, old: &str, new: &str) -> bool {
        let Some(g) = self.group_mut(old) else {
            return false;
        };
        g.display_name = new.to_string();
        let id = g.id.clone();
        self.record(Change::Group(id));
        true
    }

    /// Deletes a group and its memberships in other groups (recorded). False when there is
    /// no such group.
    pub fn delete_group(&mut self, name: &str) -> bool {
        let Some(pos) = self.groups.iter().position(|g| g.display_name == name) else {
            return false;
        };
        let removed = self.groups.remove(pos);
        self.drop_memberships(&removed.id);
        self.record(Change::Group(removed.id));
        true
    }

    /// Adds a domain (recorded).
    pub fn add_domain(&mut self, domain: SimDomain) {
        let id = domain.id.clone();
        self.domains.push(domain);
        self.record(Change::Domain(id));
    }

    /// Permanently deletes a user, active or soft-deleted, with its memberships (recorded;
    /// delta reports it `@removed` with reason `deleted`). False when no such user exists.
    pub fn hard_delete_user(&mut self, upn: &str) -> bool {
        let matches = |u: &SimUser| u.user_principal_name.eq_ignore_ascii_case(upn);
        let removed = if let Some(pos) = self.users.iter().position(matches) {
            self.users.remove(pos)
        } else if let Some(pos) = self.deleted_users.iter().position(matches) {
            let user = self.deleted_users.remove(pos);
            self.deleted_memberships.remove(&user.id);
            user
        } else {
            return false;
        };
        self.drop_memberships(&removed.id);
        self.record(Change::User(removed.id));
        true
    }

    /// Removes object `id` from every group it is a direct member of (each recorded);
    /// returns those groups' ids.
    fn drop_memberships(&mut self, id: &str) -> Vec<String> {
        let mut dropped = Vec::new();
        for group in &mut self.groups {
            if let Some(pos) = group.members.iter().position(|m| m.id == id) {
                dropped.push((group.id.clone(), group.members.remove(pos)));
            }
        }
        let groups = dropped.iter().map(|(g, _)| g.clone()).collect();
        for (group, member) in dropped {
            self.record(Change::Member {
                group,
                member,
                removed: true,
            });
        }
        groups
    }

    /// The user with this UPN (case-insensitive), for tests that change it.
    pub fn user_mut(&mut self, upn: &str) -> Option<&mut SimUser> {
        self.users
            .iter_mut()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
    }

    /// The group with this display name, for tests that change it.
    pub fn group_mut(&mut self, display_name: &str) -> Option<&mut SimGroup> {
        self.groups
            .iter_mut()
            .find(|g| g.display_name == display_name)
    }

    /// Sets `accountEnabled: false` on a user, as an admin blocking sign-in would.
    /// Returns false when no such user exists.
    pub fn disable_user(&mut self, upn: &str) -> bool {
        self.set_enabled(upn, false)
    }

    /// Sets `accountEnabled` on a user. Returns false when no such user exists.
    pub fn set_enabled(&mut self, upn: &str, enabled: bool) -> bool {
        self.update_user(upn, |user| user.account_enabled = enabled)
    }

    /// Soft-deletes a user, as deleting it in the portal does: it leaves `/users` and its
    /// groups, and moves to `deleted_users` (delta reports it `@removed` with reason
    /// `changed`). Recorded. Returns false when no such user exists.
    pub fn remove_user(&mut self, upn: &str) -> bool {
        let Some(pos) = self
            .users
            .iter()
            .position(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
        else {
            return false;
        };
        let removed = self.users.remove(pos);
        let id = removed.id.clone();
        self.deleted_users.push(removed);
        let groups = self.drop_memberships(&id);
        self.deleted_memberships.insert(id.clone(), groups);
        self.record(Change::User(id));
        true
    }

    /// Restores a soft-deleted user into `/users` and the groups it was in (recorded; delta
    /// shows it again without annotation). False when no such soft-deleted user exists.
    pub fn restore_user(&mut self, upn: &str) -> bool {
        let Some(pos) = self
            .deleted_users
            .iter()
            .position(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
        else {
            return false;
        };
        let user = self.deleted_users.remove(pos);
        let id = user.id.clone();
        self.users.push(user);
        self.record(Change::User(id.clone()));
        for group in self.deleted_memberships.remove(&id).unwrap_or_default() {
            let member = SimMember {
                kind: MemberKind::User,
                id: id.clone(),
            };
            if let Some(g) = self.groups.iter_mut().find(|g| g.id == group) {
                g.members.push(member.clone());
                self.record(Change::Member {
                    group,
                    member,
                    removed: false,
                });
            }
        }
        true
    }

    /// The name the token endpoint accepts besides the tenant id: any verified domain.
    pub fn knows_tenant(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.tenant_id)
            || self
                .domains
                .iter()
                .any(|d| d.is_verified && d.id.eq_ignore_ascii_case(name))
    }

    /// What kind of object `id` is, if it exists.
    pub fn kind_of(&self, id: &str) -> Option<MemberKind> {
        if self.users.iter().any(|u| u.id == id) {
            Some(MemberKind::User)
        } else if self.groups.iter().any(|g| g.id == id) {
            Some(MemberKind::Group)
        } else {
            self.others.iter().find(|o| o.id == id).map(|o| o.kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_with_member() -> Tenant {
        let mut t = Tenant::new("t", "c", "s");
        t.users.push(SimUser {
            id: "u1".into(),
            user_principal_name: "Alice@example.com".into(),
            account_enabled: true,
            ..SimUser::default()
        });
        t.groups.push(SimGroup {
            id: "g1".into(),
            display_name: "G".into(),
            members: vec![SimMember {
                kind: MemberKind::User,
                id: "u1".into(),
            }],
            ..SimGroup::default()
        });
        t
    }

    #[test]
    fn disable_and_remove_find_users_case_insensitively() {
        let mut t = tenant_with_member();
        assert!(t.disable_user("alice@EXAMPLE.com"));
        assert!(!t.users[0].account_enabled);
        assert!(!t.disable_user("nobody@example.com"));
        assert!(t.remove_user("ALICE@example.com"));
        assert!(t.users.is_empty());
        assert!(t.groups[0].members.is_empty(), "membership removed too");
        assert_eq!(t.deleted_users.len(), 1, "soft delete keeps it restorable");
        assert!(t.restore_user("alice@example.com"));
        assert_eq!(t.users.len(), 1);
        assert_eq!(t.groups[0].members.len(), 1, "back in its group");
        assert!(t.remove_user("alice@example.com"));
        assert!(t.hard_delete_user("alice@example.com"));
        assert!(t.deleted_users.is_empty());
    }

    #[test]
    fn mutations_are_recorded_in_order() {
        let mut t = tenant_with_member();
        assert_eq!(t.sequence(), 0);
        assert!(t.disable_user("alice@example.com"));
        assert!(t.rename_group("G", "H"));
        assert!(t.remove_member("H", "u1"));
        assert!(!t.remove_member("H", "u1"), "no longer a member");
        assert_eq!(t.sequence(), 3);
        let between: Vec<_> = t
            .changes_between(1, 3)
            .iter()
            .map(|c| c.1.clone())
            .collect();
        assert_eq!(between.len(), 2);
        assert_eq!(between[0], Change::Group("g1".into()));
        assert!(matches!(&between[1], Change::Member { removed: true, .. }));
        assert!(t.changes_between(3, 3).is_empty());
    }

    #[test]
    fn user_serialises_with_graph_names_and_nulls() {
        let t = tenant_with_member();
        let v = serde_json::to_value(&t.users[0]).unwrap();
        assert_eq!(v["userPrincipalName"], "Alice@example.com");
        assert!(v.get("mail").is_some_and(|m| m.is_null()));
        assert!(v.get("onPremisesSamAccountName").is_some());
    }
}
