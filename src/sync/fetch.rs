//! What sync reads from Graph and how Graph's JSON maps to our model: the `$select` lists,
//! the delta-round item shapes (`@removed`, `members@delta`), which member types matter.
//!
//! Why separate from the client, the rounds and the scoping: the Graph client knows *how*
//! to read safely, [`super::delta`] knows how rounds are read and merged into the mirror,
//! and [`super::scope`] decides who is active; this module only knows the shapes.

use super::delta;
use super::error::SyncError;
use super::graph::GraphClient;
use crate::model::{EntraDomain, EntraGroup, EntraUser, MemberRef, ObjectId};
use serde::Deserialize;
use std::sync::atomic::AtomicU64;

/// The user properties sync needs (several appear only when selected).
pub const USER_SELECT: &str = "id,userPrincipalName,displayName,givenName,surname,mail,mailNickname,onPremisesSamAccountName,accountEnabled,userType,createdDateTime,lastPasswordChangeDateTime";
/// The group properties sync needs; `members` makes `/groups/delta` carry `members@delta`.
pub const GROUP_SELECT: &str = "id,displayName,description,mail,mailEnabled,securityEnabled,groupTypes,createdDateTime,members";

pub use crate::model::RawTenant;

/// Graph's `@removed` annotation: the object left the collection (soft or hard deleted,
/// or, for a member, the membership ended).
#[derive(Debug, Deserialize)]
pub(crate) struct Removed {
    #[allow(dead_code)]
    reason: Option<String>,
}

/// One item of a delta round: an object's current state, or its removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaItem<T> {
    Upsert(T),
    Removed(ObjectId),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphUser {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<Removed>,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    mail: Option<String>,
    mail_nickname: Option<String>,
    on_premises_sam_account_name: Option<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
    created_date_time: Option<String>,
    last_password_change_date_time: Option<String>,
}

impl GraphUser {
    /// The user, or its removal; a present user without a UPN is malformed (it could not
    /// be given a login name), so the whole round fails rather than guessing.
    pub(crate) fn into_item(self) -> Result<DeltaItem<EntraUser>, String> {
        let id = self.id.to_ascii_lowercase();
        if self.removed.is_some() {
            return Ok(DeltaItem::Removed(id));
        }
        let Some(user_principal_name) = self.user_principal_name else {
            return Err(format!("user {id} has no userPrincipalName"));
        };
        Ok(DeltaItem::Upsert(EntraUser {
            id,
            user_principal_name,
            display_name: self.display_name,
            given_name: self.given_name,
            surname: self.surname,
            mail: self.mail,
            mail_nickname: self.mail_nickname,
            on_premises_sam_account_name: self.on_premises_sam_account_name,
            // Absent means Graph did not tell us: fail closed (the user cannot bind).
            account_enabled: self.account_enabled.unwrap_or(false),
            user_type: self.user_type,
            created_date_time: self.created_date_time,
            last_password_change_date_time: self.last_password_change_date_time,
        }))
    }
}

/// A group item of a delta round: its properties (members left empty) and the member
/// entries of this appearance (`true`: removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChange {
    pub group: EntraGroup,
    pub members: Vec<(MemberRef, bool)>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphGroup {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<Removed>,
    display_name: Option<String>,
    description: Option<String>,
    mail: Option<String>,
    mail_enabled: Option<bool>,
    security_enabled: Option<bool>,
    group_types: Option<Vec<String>>,
    created_date_time: Option<String>,
    #[serde(rename = "members@delta", default)]
    members_delta: Vec<GraphMember>,
}

impl GraphGroup {
    /// The group with its member changes, or its removal.
    pub(crate) fn into_item(self) -> DeltaItem<GroupChange> {
        let id = self.id.to_ascii_lowercase();
        if self.removed.is_some() {
            return DeltaItem::Removed(id);
        }
        let members = self
            .members_delta
            .into_iter()
            .filter_map(GraphMember::into_change)
            .collect();
        DeltaItem::Upsert(GroupChange {
            group: EntraGroup {
                display_name: self.display_name.unwrap_or_else(|| id.clone()),
                id,
                description: self.description,
                mail: self.mail,
                mail_enabled: self.mail_enabled.unwrap_or(false),
                security_enabled: self.security_enabled.unwrap_or(false),
                group_types: self.group_types.unwrap_or_default(),
                created_date_time: self.created_date_time,
                members: Vec::new(),
            },
            members,
        })
    }
}

#[derive(Debug, Deserialize)]
struct GraphMember {
    #[serde(rename = "@odata.type")]
    odata_type: Option<String>,
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<Removed>,
}

impl GraphMember {
    /// The member and whether this entry removes it: users and groups only; devices,
    /// contacts and service principals have no POSIX meaning.
    fn into_change(self) -> Option<(MemberRef, bool)> {
        let id = self.id.to_ascii_lowercase();
        let removed = self.removed.is_some();
        match self.odata_type.as_deref() {
            Some("#microsoft.graph.user") => Some((MemberRef::User(id), removed)),
            Some("#microsoft.graph.group") => Some((MemberRef::Group(id), removed)),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphDomain {
    id: String,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    is_initial: bool,
    #[serde(default)]
    is_verified: bool,
}

impl From<GraphDomain> for EntraDomain {
    fn from(d: GraphDomain) -> EntraDomain {
        EntraDomain {
            id: d.id.to_ascii_lowercase(),
            is_default: d.is_default,
            is_initial: d.is_initial,
            is_verified: d.is_verified,
        }
    }
}

/// `GET /domains` (one page in practice; paged like any collection).
pub async fn fetch_domains(
    graph: &GraphClient,
    requests: &AtomicU64,
) -> Result<Vec<EntraDomain>, SyncError> {
    let domains: Vec<GraphDomain> = graph.list(graph.url(&["domains"], "")?, requests).await?;
    Ok(domains.into_iter().map(EntraDomain::from).collect())
}

/// Reads the whole tenant: the initial delta rounds of users and of groups with their
/// members, and the domains. `page_size` is the page size asked of Graph (1..=999); every
/// HTTP request is counted in `requests`. The rounds' delta links are dropped: the worker
/// uses [`delta::read_full`] to keep them.
pub async fn fetch_tenant(
    graph: &GraphClient,
    page_size: u32,
    requests: &AtomicU64,
) -> Result<RawTenant, SyncError> {
    let rounds = delta::read_full(graph, page_size, requests).await?;
    let mirror = delta::merge_full(&delta::Mirror::default(), rounds, "").0;
    Ok(mirror.to_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_users_and_groups_only() {
        let page: Vec<GraphMember> = serde_json::from_str(
            r##"[{"@odata.type":"#microsoft.graph.user","id":"U1"},
                {"@odata.type":"#microsoft.graph.group","id":"g1"},
                {"@odata.type":"#microsoft.graph.orgContact","id":"c1"},
                {"@odata.type":"#microsoft.graph.device","id":"d1"},
                {"id":"x"}]"##,
        )
        .unwrap();
        let refs: Vec<_> = page
            .into_iter()
            .filter_map(|m| m.into_change().map(|c| c.0))
            .collect();
        assert_eq!(
            refs,
            vec![MemberRef::User("u1".into()), MemberRef::Group("g1".into())]
        );
    }

    #[test]
    fn users_without_account_enabled_fail_closed() {
        let u: GraphUser =
            serde_json::from_str(r#"{"id":"A","userPrincipalName":"a@example.com"}"#).unwrap();
        let DeltaItem::Upsert(e) = u.into_item().unwrap() else {
            panic!("not removed")
        };
        assert_eq!(e.id, "a");
        assert!(!e.account_enabled);
    }

    #[test]
    fn user_without_upn_is_rejected_unless_removed() {
        let u: GraphUser = serde_json::from_str(r#"{"id":"a"}"#).unwrap();
        assert!(u.into_item().is_err());
        let u: GraphUser =
            serde_json::from_str(r#"{"id":"A","@removed":{"reason":"changed"}}"#).unwrap();
        assert_eq!(u.into_item(), Ok(DeltaItem::Removed("a".into())));
    }

    #[test]
    fn group_items_carry_member_changes() {
        let g: GraphGroup = serde_json::from_str(
            r##"{"id":"G","displayName":"Eng","members@delta":[
                {"@odata.type":"#microsoft.graph.user","id":"U1"},
                {"@odata.type":"#microsoft.graph.user","id":"u2","@removed":{"reason":"deleted"}},
                {"@odata.type":"#microsoft.graph.device","id":"d"}]}"##,
        )
        .unwrap();
        let DeltaItem::Upsert(change) = g.into_item() else {
            panic!("not removed")
        };
        assert_eq!(change.group.display_name, "Eng");
        assert_eq!(
            change.members,
            vec![
                (MemberRef::User("u1".into()), false),
                (MemberRef::User("u2".into()), true)
            ]
        );
        let g: GraphGroup =
            serde_json::from_str(r#"{"id":"G","@removed":{"reason":"deleted"}}"#).unwrap();
        assert_eq!(g.into_item(), DeltaItem::Removed("g".into()));
    }
}
