//! The Groups page (name, gidNumber, mail, kind, member count) and each group's members,
//! nested groups shown as groups.

use super::layout::{self, Nav, Page};
use super::{Console, Shared, SignedIn};
use crate::model::{EntraGroup, GroupRecord, MemberRef};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/groups", get(list))
        .route("/console/groups/{cn}", get(detail))
}

/// What kind of Entra group this is, as the Entra admin center names it.
pub fn kind(group: &EntraGroup) -> &'static str {
    if group
        .group_types
        .iter()
        .any(|t| t.eq_ignore_ascii_case("Unified"))
    {
        "Microsoft 365"
    } else if group.security_enabled && group.mail_enabled {
        "Mail-enabled security"
    } else if group.security_enabled {
        "Security"
    } else if group.mail_enabled {
        "Distribution"
    } else {
        "Other"
    }
}

async fn list(State(console): Shared, session: SignedIn) -> Response {
    let data = match super::directory_data(&console).await {
        Ok(data) => data,
        Err(page) => return *page,
    };
    let mut groups: Vec<&GroupRecord> = data.groups.iter().collect();
    groups.sort_by(|a, b| a.cn.cmp(&b.cn));
    let body = html! {
        p.muted { (groups.len()) " groups" }
        table #groups {
            thead { tr { th { "Name" } th { "gidNumber" } th { "Mail" } th { "Kind" } th { "Members" } } }
            tbody {
                @for group in &groups {
                    tr {
                        td { a href=(format!("/console/groups/{}", layout::segment(&group.cn))) { (group.cn) } }
                        td.num { (group.gid_number) }
                        td { (group.entra.mail.as_deref().unwrap_or("")) }
                        td { (kind(&group.entra)) }
                        td.num { (group.entra.members.len()) }
                    }
                }
            }
        }
    };
    layout::page(
        &console,
        &session,
        Page {
            nav: Nav::Groups,
            title: "Groups",
        },
        body,
    )
}

async fn detail(State(console): Shared, session: SignedIn, Path(cn): Path<String>) -> Response {
    let data = match super::directory_data(&console).await {
        Ok(data) => data,
        Err(page) => return *page,
    };
    let Some(group) = data.groups.iter().find(|g| g.cn == cn) else {
        return layout::error_page(StatusCode::NOT_FOUND, &format!("group `{cn}` not found"));
    };
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
    let body = html! {
        div.card { dl {
            dt { "Name" } dd { (group.cn) }
            dt { "gidNumber" } dd { (group.gid_number) }
            dt { "Mail" } dd { (group.entra.mail.as_deref().unwrap_or("")) }
            dt { "Kind" } dd { (kind(&group.entra)) }
            dt { "Description" } dd { (group.entra.description.as_deref().unwrap_or("")) }
            dt { "Entra object id" } dd.mono { (group.entra.id) }
        } }
        h2 { "Members (" (group.entra.members.len()) ")" }
        table #members {
            thead { tr { th { "Member" } th { "Type" } th { "Status" } } }
            tbody {
                @for member in &group.entra.members {
                    @match member {
                        MemberRef::User(id) => tr {
                            @match users.get(id.as_str()) {
                                Some(user) => {
                                    td { a href=(format!("/console/users/{}", layout::segment(&user.uid))) { (user.uid) } }
                                    td { "user" }
                                    td { (if user.status.is_active() { "active" } else { "inactive" }) }
                                }
                                None => { td.mono { (id) } td { "user" } td.muted { "not synced" } }
                            }
                        },
                        MemberRef::Group(id) => tr {
                            @match groups.get(id.as_str()) {
                                Some(nested) => {
                                    td { a href=(format!("/console/groups/{}", layout::segment(&nested.cn))) { (nested.cn) } }
                                    td { "nested group (" (nested.entra.members.len()) " members)" }
                                    td { }
                                }
                                None => { td.mono { (id) } td { "nested group" } td.muted { "not synced" } }
                            }
                        },
                    }
                }
            }
        }
    };
    let title = format!("Group {}", group.cn);
    layout::page(
        &console,
        &session,
        Page {
            nav: Nav::Groups,
            title: &title,
        },
        body,
    )
}
