//! The simulated tenant's contents, shaped like Microsoft Graph objects.
//!
//! Why typed structs with Graph's property names: the server serialises them to exactly the
//! JSON Graph would send (camelCase names, `null` for unset values) and then applies
//! `$select` to that JSON, so what sync parses here is what it will parse from Microsoft.

use serde::Serialize;

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
        }
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
        match self.user_mut(upn) {
            Some(user) => {
                user.account_enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// Deletes a user and its memberships, as Graph does on (soft) deletion.
    /// Returns false when no such user exists.
    pub fn remove_user(&mut self, upn: &str) -> bool {
        let Some(pos) = self
            .users
            .iter()
            .position(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
        else {
            return false;
        };
        let removed = self.users.remove(pos);
        for group in &mut self.groups {
            group.members.retain(|m| m.id != removed.id);
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
