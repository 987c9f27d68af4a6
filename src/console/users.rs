//! The Users page (search, status filter, table) and each user's detail page: the LDAP
//! entry as the directory serves it, the set/reset LDAP password form (with the password
//! policy in words) and the user's SSH public keys (add, remove).

use super::layout::{self, Nav, Page, csrf_field};
use super::{Console, Shared, SignedIn, audit};
use crate::admin::api::set_password_for_uid;
use crate::admin::ssh_keys::{self, KeyView};
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
        .route("/console/users/{uid}/ssh-keys", post(add_ssh_key))
        .route("/console/users/{uid}/ssh-keys/remove", post(remove_ssh_key))
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
    let data = match super::directory_data(&console).await {
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
    let data = match super::directory_data(&console).await {
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
    let keys = ssh_keys::list(&console.services, &user.entra.id).unwrap_or_default();
    let policy = console.services.credentials.policy().describe();
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
                p.muted { "The user binds with it from now on (the old one stops working). The password policy:" }
                ul.muted #password-policy { @for rule in &policy { li { (rule) } } }
            }
        } @else {
            p.muted { "Inactive users cannot get an LDAP password." }
        }
        section #ssh-key-section {
            h2 { "SSH public keys" }
            (ssh_keys_section(&session, &format!("/console/users/{}/ssh-keys", layout::segment(&user.uid)), user.status.is_active(), &keys))
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

/// The user's keys (served as `sshPublicKey`) with a remove button each, and the add form;
/// the forms post to `base` (add) and `{base}/remove`. Shared with the self-service page.
pub(crate) fn ssh_keys_section(
    session: &super::session::Session,
    base: &str,
    active: bool,
    keys: &[KeyView],
) -> Markup {
    html! {
        @if keys.is_empty() {
            p.muted #no-ssh-keys { "No SSH public keys." }
        } @else {
            table #ssh-keys {
                thead { tr { th { "Type" } th { "Bits" } th { "Fingerprint" } th { "Comment" } th {} } }
                tbody {
                    @for key in keys {
                        tr {
                            td.mono { (key.algorithm) }
                            td.num { (key.bits) }
                            td.mono.fingerprint { (key.fingerprint) }
                            td { (key.comment.as_deref().unwrap_or("")) }
                            td {
                                form method="post" action=(format!("{base}/remove")) {
                                    (csrf_field(session))
                                    input type="hidden" name="fingerprint" value=(key.fingerprint);
                                    button.danger.remove-ssh-key type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if active {
            form method="post" action=(base) {
                (csrf_field(session))
                label for="ssh-key" { "Add a public key (one line of a .pub file)" }
                textarea #ssh-key name="key" rows="3" cols="80" required
                    placeholder="ssh-ed25519 AAAAC3Nza… name@laptop" {}
                " "
                button.primary #add-ssh-key type="submit" { "Add key" }
                p.muted { "ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more) or sk-… security keys; at most " (crate::ssh_key::MAX_KEYS_PER_USER) " per user." }
            }
        } @else {
            p.muted { "Inactive users cannot get SSH keys." }
        }
    }
}

#[derive(Deserialize)]
struct KeyForm {
    key: String,
}

#[derive(Deserialize)]
struct FingerprintForm {
    fingerprint: String,
}

/// `POST /console/users/{uid}/ssh-keys`: same checks as `POST /api/v1/users/{uid}/ssh-keys`.
async fn add_ssh_key(
    State(console): Shared,
    session: SignedIn,
    Path(uid): Path<String>,
    Form(form): Form<KeyForm>,
) -> Response {
    let target = uid.clone();
    let result = crate::admin::off_runtime(console.services.clone(), move |services| {
        ssh_keys::add(
            services,
            &ssh_keys::user_id_by_uid(services, &target)?,
            &form.key,
        )
    })
    .await;
    let message = match &result {
        Ok(key) => format!("SSH key {} added to {uid}", key.fingerprint),
        Err(_) => String::new(),
    };
    audit::conclude(
        &console,
        &session,
        "user.ssh_key.add",
        &uid,
        result.map(|_| ()).map_err(|e| e.message().to_string()),
        message,
        &format!("/console/users/{}", layout::segment(&uid)),
    )
    .await
}

/// `POST /console/users/{uid}/ssh-keys/remove`: same checks as
/// `DELETE /api/v1/users/{uid}/ssh-keys/{fingerprint}`.
async fn remove_ssh_key(
    State(console): Shared,
    session: SignedIn,
    Path(uid): Path<String>,
    Form(form): Form<FingerprintForm>,
) -> Response {
    let (target, fingerprint) = (uid.clone(), form.fingerprint.trim().to_string());
    let ok = format!("SSH key {fingerprint} removed from {uid}");
    let result = crate::admin::off_runtime(console.services.clone(), move |services| {
        ssh_keys::remove(
            services,
            &ssh_keys::user_id_by_uid(services, &target)?,
            &fingerprint,
        )
    })
    .await;
    audit::conclude(
        &console,
        &session,
        "user.ssh_key.remove",
        &uid,
        result.map(|_| ()).map_err(|e| e.message().to_string()),
        ok,
        &format!("/console/users/{}", layout::segment(&uid)),
    )
    .await
}
