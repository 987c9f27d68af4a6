//! Admin API for what the console's Users and Groups pages show: one user as served over
//! LDAP (`GET /api/v1/users/{uid}`), the groups (`GET /api/v1/groups`) and one group with
//! its members (`GET /api/v1/groups/{cn}`).
//!
//! Why: everything the console shows is also in the API and the CLI (issue 4), so an admin
//! can script "why can't alice see the VPN group". The data comes from the same store and
//! snapshot functions the console pages use; this file only shapes it as JSON.

use super::api::ApiError;
use super::users::{UserView, view};
use crate::app::Services;
use crate::console::groups::kind;
use crate::console::users::{groups_by_user, served_entry};
use crate::model::{DirectoryData, GroupRecord, MemberRef, UnixTime};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

type Shared = State<Arc<Services>>;

/// One attribute of an entry as LDAP serves it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttributeView {
    pub name: String,
    pub values: Vec<String>,
}

/// A user with the groups they are in and their entry as LDAP clients see it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserView,
    pub gid_number: u32,
    pub entra_id: String,
    /// The cn of every group the user is a direct member of.
    pub groups: Vec<String>,
    /// Last successful LDAP bind since the server started.
    pub last_bind: Option<UnixTime>,
    /// `None` when the entry is not served (an inactive user, hidden by default).
    pub dn: Option<String>,
    pub attributes: Vec<AttributeView>,
}

/// A group as the Groups page lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupView {
    pub cn: String,
    pub gid_number: u32,
    pub mail: Option<String>,
    /// `Microsoft 365`, `Security`, `Mail-enabled security`, `Distribution` or `Other`.
    pub kind: String,
    pub description: Option<String>,
    pub entra_id: String,
    pub member_count: usize,
}

/// One member of a group: a synced user, a nested group, or an object not synced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberView {
    /// `user` or `group`.
    pub kind: String,
    pub entra_id: String,
    /// The uid or cn; `None` when the object is not synced.
    pub name: Option<String>,
    /// `active` or `inactive` for users.
    pub status: Option<String>,
    /// Members of a nested group.
    pub member_count: Option<usize>,
}

/// A group with its members.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupDetail {
    #[serde(flatten)]
    pub group: GroupView,
    pub members: Vec<MemberView>,
}

fn group_view(group: &GroupRecord) -> GroupView {
    GroupView {
        cn: group.cn.clone(),
        gid_number: group.gid_number,
        mail: group.entra.mail.clone(),
        kind: kind(&group.entra).to_string(),
        description: group.entra.description.clone(),
        entra_id: group.entra.id.clone(),
        member_count: group.entra.members.len(),
    }
}

/// The committed directory, read off the async runtime (a read of the whole store).
async fn load_directory(services: &Arc<Services>) -> Result<DirectoryData, ApiError> {
    super::off_runtime(services.clone(), |s| Ok(s.store.load_directory()?)).await
}

/// `GET /api/v1/users/{uid}`.
pub async fn user_detail(
    State(services): Shared,
    Path(uid): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let data = load_directory(&services).await?;
    let user = data.users.iter().find(|u| u.uid == uid).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("user `{uid}` not found"),
        )
    })?;
    let groups = groups_by_user(&data)
        .get(user.entra.id.as_str())
        .map(|cns| cns.iter().map(|cn| cn.to_string()).collect())
        .unwrap_or_default();
    let (dn, attributes) = match served_entry(&services, &data, user) {
        Some((dn, attrs)) => (
            Some(dn),
            attrs
                .into_iter()
                .map(|(name, values)| AttributeView { name, values })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(Json(UserDetail {
        user: view(user),
        gid_number: user.gid_number,
        entra_id: user.entra.id.clone(),
        groups,
        last_bind: crate::activity::last_bind(&user.entra.id),
        dn,
        attributes,
    }))
}

/// `GET /api/v1/groups`: every synced group, by cn.
pub async fn list_groups(State(services): Shared) -> Result<Json<serde_json::Value>, ApiError> {
    let data = load_directory(&services).await?;
    let mut groups: Vec<GroupView> = data.groups.iter().map(group_view).collect();
    groups.sort_by(|a, b| a.cn.cmp(&b.cn));
    Ok(Json(serde_json::json!({ "groups": groups })))
}

/// `GET /api/v1/groups/{cn}`: one group and its direct members (nested groups as groups).
pub async fn group_detail(
    State(services): Shared,
    Path(cn): Path<String>,
) -> Result<Json<GroupDetail>, ApiError> {
    let data = load_directory(&services).await?;
    let group = data.groups.iter().find(|g| g.cn == cn).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("group `{cn}` not found"),
        )
    })?;
    let users: HashMap<&str, _> = data
        .users
        .iter()
        .map(|u| (u.entra.id.as_str(), u))
        .collect();
    let groups: HashMap<&str, _> = data
        .groups
        .iter()
        .map(|g| (g.entra.id.as_str(), g))
        .collect();
    let members = group
        .entra
        .members
        .iter()
        .map(|member| match member {
            MemberRef::User(id) => {
                let user = users.get(id.as_str());
                MemberView {
                    kind: "user".to_string(),
                    entra_id: id.clone(),
                    name: user.map(|u| u.uid.clone()),
                    status: user.map(|u| {
                        if u.status.is_active() {
                            "active"
                        } else {
                            "inactive"
                        }
                        .to_string()
                    }),
                    member_count: None,
                }
            }
            MemberRef::Group(id) => {
                let nested = groups.get(id.as_str());
                MemberView {
                    kind: "group".to_string(),
                    entra_id: id.clone(),
                    name: nested.map(|g| g.cn.clone()),
                    status: None,
                    member_count: nested.map(|g| g.entra.members.len()),
                }
            }
        })
        .collect();
    Ok(Json(GroupDetail {
        group: group_view(group),
        members,
    }))
}
