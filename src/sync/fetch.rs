//! Reads a whole tenant from Graph: users, groups with their direct members, and domains.
//!
//! Why separate from the client and the scoping: this module knows *what* sync reads (the
//! `$select` lists, which member types matter, how Graph's JSON maps to our model); the
//! Graph client knows *how* to read safely, and [`super::scope`] decides who is active.

use super::error::SyncError;
use super::graph::GraphClient;
use crate::model::{EntraDomain, EntraGroup, EntraUser, MemberRef};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use std::sync::atomic::AtomicU64;

/// The user properties sync needs (several appear only when selected).
pub const USER_SELECT: &str = "id,userPrincipalName,displayName,givenName,surname,mail,mailNickname,onPremisesSamAccountName,accountEnabled,userType,createdDateTime,lastPasswordChangeDateTime";
/// The group properties sync needs.
pub const GROUP_SELECT: &str =
    "id,displayName,description,mail,mailEnabled,securityEnabled,groupTypes,createdDateTime";
/// Member pages: only ids (and Graph's `@odata.type`), as large as Graph allows.
const MEMBER_QUERY: &str = "$select=id&$top=999";
/// Member lists fetched at once (one request each, or more when paged).
const MEMBER_CONCURRENCY: usize = 8;

pub use crate::model::RawTenant;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: String,
    user_principal_name: String,
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

impl From<GraphUser> for EntraUser {
    fn from(u: GraphUser) -> EntraUser {
        EntraUser {
            id: u.id.to_ascii_lowercase(),
            user_principal_name: u.user_principal_name,
            display_name: u.display_name,
            given_name: u.given_name,
            surname: u.surname,
            mail: u.mail,
            mail_nickname: u.mail_nickname,
            on_premises_sam_account_name: u.on_premises_sam_account_name,
            // Absent means Graph did not tell us: fail closed (the user cannot bind).
            account_enabled: u.account_enabled.unwrap_or(false),
            user_type: u.user_type,
            created_date_time: u.created_date_time,
            last_password_change_date_time: u.last_password_change_date_time,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphGroup {
    id: String,
    display_name: Option<String>,
    description: Option<String>,
    mail: Option<String>,
    mail_enabled: Option<bool>,
    security_enabled: Option<bool>,
    group_types: Option<Vec<String>>,
    created_date_time: Option<String>,
}

impl From<GraphGroup> for EntraGroup {
    fn from(g: GraphGroup) -> EntraGroup {
        let id = g.id.to_ascii_lowercase();
        EntraGroup {
            display_name: g.display_name.unwrap_or_else(|| id.clone()),
            id,
            description: g.description,
            mail: g.mail,
            mail_enabled: g.mail_enabled.unwrap_or(false),
            security_enabled: g.security_enabled.unwrap_or(false),
            group_types: g.group_types.unwrap_or_default(),
            created_date_time: g.created_date_time,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct GraphMember {
    #[serde(rename = "@odata.type")]
    odata_type: Option<String>,
    id: String,
}

impl GraphMember {
    /// Users and groups; devices, contacts and service principals have no POSIX meaning.
    fn into_member_ref(self) -> Option<MemberRef> {
        let id = self.id.to_ascii_lowercase();
        match self.odata_type.as_deref() {
            Some("#microsoft.graph.user") => Some(MemberRef::User(id)),
            Some("#microsoft.graph.group") => Some(MemberRef::Group(id)),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphDomain {
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

/// Reads the tenant. `page_size` is the `$top` for users and groups (clamped to Graph's
/// 1..=999); every HTTP request is counted in `requests`.
pub async fn fetch_tenant(
    graph: &GraphClient,
    page_size: u32,
    requests: &AtomicU64,
) -> Result<RawTenant, SyncError> {
    let top = page_size.clamp(1, 999);
    let users_url = graph.url(&["users"], &format!("$select={USER_SELECT}&$top={top}"))?;
    let users: Vec<GraphUser> = graph.list(users_url, requests).await?;
    let groups_url = graph.url(&["groups"], &format!("$select={GROUP_SELECT}&$top={top}"))?;
    let groups: Vec<GraphGroup> = graph.list(groups_url, requests).await?;
    let domains: Vec<GraphDomain> = graph.list(graph.url(&["domains"], "")?, requests).await?;

    let groups: Vec<EntraGroup> = stream::iter(groups.into_iter().map(EntraGroup::from))
        .map(|group| with_members(graph, group, requests))
        .buffered(MEMBER_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(RawTenant {
        users: users.into_iter().map(EntraUser::from).collect(),
        groups,
        domains: domains.into_iter().map(EntraDomain::from).collect(),
    })
}

/// Fills in a group's direct user and group members (sorted, without duplicates).
async fn with_members(
    graph: &GraphClient,
    mut group: EntraGroup,
    requests: &AtomicU64,
) -> Result<EntraGroup, SyncError> {
    let url = graph.url(&["groups", group.id.as_str(), "members"], MEMBER_QUERY)?;
    let members: Vec<GraphMember> = graph.list(url, requests).await?;
    let mut refs: Vec<MemberRef> = members
        .into_iter()
        .filter_map(GraphMember::into_member_ref)
        .collect();
    refs.sort();
    refs.dedup();
    group.members = refs;
    Ok(group)
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
            .filter_map(GraphMember::into_member_ref)
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
        let e = EntraUser::from(u);
        assert_eq!(e.id, "a");
        assert!(!e.account_enabled);
    }

    #[test]
    fn user_without_upn_is_rejected() {
        let r: Result<GraphUser, _> = serde_json::from_str(r#"{"id":"a"}"#);
        assert!(r.is_err());
    }
}
