//! The Users page (search, status filter, table) and each user's detail page: the LDAP
//! entry as the directory serves it, and the set/reset LDAP password form.

use super::layout::{self, Nav, Page, csrf_field};
use super::{Console, Shared, SignedIn, audit};
use crate::admin::api::set_password_for_uid;
use crate::directory::{AttrSelection, SearchQuery, Viewer};
use crate::model::{DirectoryData, InactiveReason, MemberRef, UserRecord, UserStatus};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use ldap3_proto::proto::{LdapFilter, LdapSearchScope};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Rows shown at most (search narrows it down).
const MAX_ROWS: usize = 500;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/users", get(list))
        .route("/console/users/{uid}", get(detail))
        .route("/console/users/{uid}/password", post(set_password))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
}

/// Why a user is inactive, in words.
pub fn reason(reason: InactiveReason) -> &'static str {
    match reason {
        InactiveReason::DisabledInEntra => "disabled in Entra",
        InactiveReason::NotInAllowedGroup => "not in an allowed group",
        InactiveReason::InDeniedGroup => "in a denied group",
        InactiveReason::OutsideSelectedDomains => "outside the selected domains",
        InactiveReason::Deleted => "deleted in Entra",
    }
}

fn status_badge(status: UserStatus) -> Markup {
    match status {
        UserStatus::Active => html! { span.badge.ok { "active" } },
        UserStatus::Inactive(why) => {
            html! { span.badge.bad { "inactive" } " " span.muted { (reason(why)) } }
        }
    }
}

/// Group names each user is a direct member of, by user object id.
pub(crate) fn groups_by_user(data: &DirectoryData) -> HashMap<&str, Vec<&str>> {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for group in &data.groups {
        for member in &group.entra.members {
            if let MemberRef::User(id) = member {
                map.entry(id.as_str()).or_default().push(group.cn.as_str());
            }
        }
    }
    map
}

fn matches(user: &UserRecord, needle: &str) -> bool {
    needle.is_empty()
        || [
            Some(user.uid.as_str()),
            user.entra.display_name.as_deref(),
            user.entra.mail.as_deref(),
            Some(user.entra.user_principal_name.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|field| field.to_lowercase().contains(needle))
}

async fn list(
    State(console): Shared,
    session: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    let data = match super::directory_data(&console) {
        Ok(data) => data,
        Err(page) => return *page,
    };
    let groups = groups_by_user(&data);
    let needle = query.q.trim().to_lowercase();
    let mut users: Vec<&UserRecord> = data
        .users
        .iter()
        .filter(|u| matches(u, &needle))
        .filter(|u| match query.status.as_str() {
            "active" => u.status.is_active(),
            "inactive" => !u.status.is_active(),
            _ => true,
        })
        .collect();
    users.sort_by(|a, b| a.uid.cmp(&b.uid));
    let total = users.len();
    let body = html! {
        form.toolbar method="get" action="/console/users" {
            input #search type="search" name="q" value=(query.q) placeholder="uid, name or mail";
            select name="status" {
                option value="" selected[query.status.is_empty()] { "All" }
                option value="active" selected[query.status == "active"] { "Active" }
                option value="inactive" selected[query.status == "inactive"] { "Inactive" }
            }
            button #filter type="submit" { "Search" }
            span.muted { (total) " users" }
        }
        table #users {
            thead { tr {
                th { "uid" } th { "Display name" } th { "Mail" } th { "uidNumber" } th { "Status" } th { "Groups" }
            } }
            tbody {
                @for user in users.iter().take(MAX_ROWS) {
                    tr {
                        td { a href=(format!("/console/users/{}", layout::segment(&user.uid))) { (user.uid) } }
                        td { (user.entra.display_name.as_deref().unwrap_or("")) }
                        td { (user.entra.mail.as_deref().unwrap_or("")) }
                        td.num { (user.uid_number) }
                        td { (status_badge(user.status)) }
                        td { (groups.get(user.entra.id.as_str()).map(|g| g.join(", ")).unwrap_or_default()) }
                    }
                }
            }
        }
        @if total > MAX_ROWS { p.muted { "Showing the first " (MAX_ROWS) "; search to narrow down." } }
    };
    layout::page(
        &console,
        &session,
        Page {
            nav: Nav::Users,
            title: "Users",
        },
        body,
    )
}

/// A DN and its attributes with their values.
pub(crate) type ServedEntry = (String, Vec<(String, Vec<String>)>);

/// The user's entry as an LDAP reader sees it: (DN, attributes). Viewed as an active user
/// (the user themself when active), so the result is exactly what clients are served;
/// `None` when the entry is not served (e.g. an inactive user, hidden by default).
/// Password verifiers are never part of an entry.
pub(crate) fn served_entry(
    services: &crate::app::Services,
    data: &DirectoryData,
    user: &UserRecord,
) -> Option<ServedEntry> {
    let snapshot = services.live.load();
    let dn = snapshot.dn_of(&Viewer::User {
        id: user.entra.id.clone(),
    })?;
    let viewer_id = if snapshot.is_user_active(&user.entra.id) {
        user.entra.id.clone()
    } else {
        data.users
            .iter()
            .find(|u| snapshot.is_user_active(&u.entra.id))?
            .entra
            .id
            .clone()
    };
    let filter = LdapFilter::Present("objectClass".to_string());
    let query = SearchQuery {
        base: &dn,
        scope: LdapSearchScope::Base,
        filter: &filter,
    };
    let ids = snapshot
        .search(&query, &Viewer::User { id: viewer_id }, None)
        .ok()?;
    let id = *ids.first()?;
    let entry = snapshot.render(
        id,
        &AttrSelection::parse(&["*".to_string(), "+".to_string()]),
        false,
    );
    let attrs = entry
        .attributes
        .into_iter()
        .map(|a| {
            (
                a.atype,
                a.vals
                    .iter()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect(),
            )
        })
        .collect();
    Some((entry.dn, attrs))
}

async fn detail(State(console): Shared, session: SignedIn, Path(uid): Path<String>) -> Response {
    let data = match super::directory_data(&console) {
        Ok(data) => data,
        Err(page) => return *page,
    };
    let Some(user) = data.users.iter().find(|u| u.uid == uid) else {
        return layout::error_page(
            axum::http::StatusCode::NOT_FOUND,
            &format!("user `{uid}` not found"),
        );
    };
    let groups = groups_by_user(&data);
    let entry = served_entry(&console.services, &data, user);
    let last_bind = crate::activity::last_bind(&user.entra.id);
    let body = html! {
        div.card {
            dl {
                dt { "uid" } dd { (user.uid) }
                dt { "Display name" } dd { (user.entra.display_name.as_deref().unwrap_or("")) }
                dt { "userPrincipalName" } dd { (user.entra.user_principal_name) }
                dt { "Mail" } dd { (user.entra.mail.as_deref().unwrap_or("")) }
                dt { "uidNumber / gidNumber" } dd { (user.uid_number) " / " (user.gid_number) }
                dt { "Status" } dd { (status_badge(user.status)) }
                dt { "Groups" } dd { (groups.get(user.entra.id.as_str()).map(|g| g.join(", ")).unwrap_or_default()) }
                dt { "Last LDAP bind" } dd #last-bind { (last_bind.map(layout::time).unwrap_or_else(|| "not since the server started".to_string())) }
                dt { "Entra object id" } dd.mono { (user.entra.id) }
            }
        }
        h2 { "LDAP password" }
        @if user.status.is_active() {
            form method="post" action=(format!("/console/users/{}/password", layout::segment(&user.uid))) {
                (csrf_field(&session))
                label for="password" { "New password" }
                input #password type="password" name="password" autocomplete="new-password" required;
                " "
                button.primary #set-password type="submit" { "Set password" }
                p.muted { "At least " (crate::auth::MIN_PASSWORD_CHARS) " characters; the user binds with it from now on (the old one stops working)." }
            }
        } @else {
            p.muted { "Inactive users cannot get an LDAP password." }
        }
        h2 { "As served over LDAP" }
        @match entry {
            Some((dn, attrs)) => {
                p { "DN: " code #dn { (dn) } }
                table #attributes {
                    thead { tr { th { "Attribute" } th { "Values" } } }
                    tbody {
                        @for (name, vals) in attrs {
                            tr { td.mono { (name) } td.mono { @for v in vals { div { (v) } } } }
                        }
                    }
                }
            }
            None => p.muted #dn { "Not served over LDAP right now (inactive users are hidden)." },
        }
    };
    let title = format!("User {}", user.uid);
    layout::page(
        &console,
        &session,
        Page {
            nav: Nav::Users,
            title: &title,
        },
        body,
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

/// `POST /console/users/{uid}/password`: same policy and checks as
/// `PUT /api/v1/users/{uid}/password`.
async fn set_password(
    State(console): Shared,
    session: SignedIn,
    Path(uid): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let result = set_password_for_uid(&console.services, &uid, &form.password)
        .await
        .map_err(|e| e.message().to_string());
    audit::conclude(
        &console,
        &session,
        "user.set_password",
        &uid,
        result,
        format!("LDAP password of {uid} set"),
        &format!("/console/users/{}", layout::segment(&uid)),
    )
    .await
}
