//! The employee self-service page `/me`: who I am in the directory (uid, uidNumber, groups),
//! the LDAP settings to use, setting my own LDAP password, and adding and removing my SSH
//! public keys (served as `sshPublicKey`).
//!
//! Why a page of its own, outside the console's frame: employees signed in with Microsoft
//! must see only their own entry and change only their own password. The person is the
//! session's (the verified id_token's object id), never a URL parameter, and the password
//! goes through the same path as the API and the admin console (`set_password_for_uid`:
//! its policy, its refusal of inactive users), with CSRF and an audit entry. SSH keys go
//! through `admin::ssh_keys::{add, remove}` with the session's object id, so a form can
//! only ever name keys of the signed-in person (a fingerprint of someone else's key is
//! "no such key").

use super::layout::{self, csrf_field};
use super::session::Session;
use super::{Console, Shared, SignedIn, access, audit};
use crate::admin::api::set_password_for_uid;
use crate::admin::ssh_keys;
use crate::directory::Viewer;
use crate::model::{DirectoryData, UserRecord};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/me", get(show))
        .route("/me/password", post(set_password))
        .route("/me/ssh-keys", post(add_ssh_key))
        .route("/me/ssh-keys/remove", post(remove_ssh_key))
}

/// The signed-in person's user record, or the page saying why there is none.
fn my_record<'a>(
    data: &'a DirectoryData,
    session: &Session,
) -> Result<&'a UserRecord, Box<Response>> {
    let Some(object_id) = session.identity.object_id() else {
        return Err(Box::new(layout::error_page(
            StatusCode::NOT_FOUND,
            "The admin token is not a person: sign in with Microsoft to see your own page.",
        )));
    };
    data.users
        .iter()
        .find(|u| u.entra.id == object_id)
        .ok_or_else(|| {
            Box::new(layout::error_page(
                StatusCode::NOT_FOUND,
                "Your account is not in the directory this server mirrors.",
            ))
        })
}

/// `GET /me`.
async fn show(State(console): Shared, session: SignedIn) -> Response {
    let data = match super::directory_data(&console).await {
        Ok(data) => data,
        Err(page) => return *page,
    };
    let user = match my_record(&data, &session) {
        Ok(user) => user,
        Err(page) => return *page,
    };
    let groups: Vec<String> = access::groups_of(&data, &user.entra.id)
        .iter()
        .map(|g| g.cn.clone())
        .collect();
    let snapshot = console.services.live.load();
    let dn = snapshot.dn_of(&Viewer::User {
        id: user.entra.id.clone(),
    });
    let flash = console.sessions.take_flash(&session.id);
    let title = format!(
        "{} — your directory account",
        user.entra.display_name.as_deref().unwrap_or(&user.uid)
    );
    let body = html! {
        div.self-service {
        div.toolbar {
            span.who { "Signed in as " (session.identity.who()) }
            @if session.identity.is_admin() { " · " a href="/console/sync" { "Admin console" } }
            form.inline.signout method="post" action="/console/sign-out" {
                (csrf_field(&session))
                button type="submit" #sign-out { "Sign out" }
            }
        }
        @if let Some(flash) = flash {
            div id="flash" class=(if flash.ok { "flash ok" } else { "flash error" }) { (flash.text) }
        }
        div.card {
            dl #account {
                dt { "uid" } dd #uid { (user.uid) }
                dt { "uidNumber / gidNumber" } dd #uid-number { (user.uid_number) " / " (user.gid_number) }
                dt { "Status" } dd #status {
                    @if user.status.is_active() { span.badge.ok { "active" } }
                    @else if let crate::model::UserStatus::Inactive(why) = user.status {
                        span.badge.bad { "inactive" } " " span.muted { (super::users::reason(why)) }
                    }
                }
                dt { "Groups" } dd #groups { @if groups.is_empty() { span.muted { "none" } } @else { (groups.join(", ")) } }
            }
        }
        (ldap_settings(&console, snapshot.base_dn(), dn.as_deref()))
        (password_section(&session, user))
        (ssh_keys_section(&console, &session, user))
        }
    };
    layout::bare(StatusCode::OK, &title, body)
}

/// Host, ports, base DN, the person's DN and an example bind.
fn ldap_settings(console: &Console, base_dn: &str, dn: Option<&str>) -> Markup {
    let endpoints = &console.services.ldap_endpoints;
    let host = &endpoints.host;
    html! {
        h2 { "LDAP settings" }
        div.card {
            dl #ldap-settings {
                dt { "Server" } dd.mono { (host) }
                @if let Some(port) = endpoints.ldap_port {
                    dt { "LDAP (StartTLS)" } dd.mono { "ldap://" (host) ":" (port) }
                }
                @if let Some(port) = endpoints.ldaps_port {
                    dt { "LDAPS" } dd.mono { "ldaps://" (host) ":" (port) }
                }
                dt { "Base DN" } dd.mono #base-dn { (base_dn) }
                dt { "Your DN" } dd.mono #my-dn { (dn.unwrap_or("(not served while your account is inactive)")) }
            }
            @if let (Some(dn), Some(port)) = (dn, endpoints.ldap_port) {
                p { "Check your password (it asks for it):" }
                pre #ldapwhoami { "ldapwhoami -x -ZZ -H ldap://" (host) ":" (port) " -D '" (dn) "' -W" }
            }
        }
    }
}

/// The set/change password form with its policy, or why there is none.
fn password_section(session: &Session, user: &UserRecord) -> Markup {
    html! {
        h2 { "LDAP password" }
        @if user.status.is_active() {
            form method="post" action="/me/password" {
                (csrf_field(session))
                p.muted #policy {
                    "Your LDAP password is separate from your Microsoft password. It must have at least "
                    (crate::auth::MIN_PASSWORD_CHARS)
                    " characters; the server may refuse passwords that are too weak and says why. "
                    "Setting a new one replaces the old one at once (VPN, Wi-Fi, Linux logins)."
                }
                label for="password" { "New password" }
                input #password type="password" name="password" autocomplete="new-password" required;
                label for="confirm" { "Repeat it" }
                input #confirm type="password" name="confirm" autocomplete="new-password" required;
                " "
                button.primary #set-password type="submit" { "Set password" }
            }
        } @else {
            p.muted #policy { "Inactive accounts cannot get an LDAP password." }
        }
    }
}

/// My SSH public keys (served as `sshPublicKey`) with a remove button each, and the add
/// form: the same table and form as the admin's user page, posting to `/me/ssh-keys`.
fn ssh_keys_section(console: &Console, session: &Session, user: &UserRecord) -> Markup {
    let keys = ssh_keys::list(&console.services, &user.entra.id).unwrap_or_default();
    html! {
        section #ssh-key-section {
            h2 { "SSH public keys" }
            p.muted {
                "Servers that read SSH keys from the directory (sshd's AuthorizedKeysCommand) "
                "let you in with these keys as soon as you add them."
            }
            (super::users::ssh_keys_section(session, "/me/ssh-keys", user.status.is_active(), &keys))
        }
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
    confirm: String,
}

/// `POST /me/password`: the signed-in person sets their own LDAP password.
async fn set_password(
    State(console): Shared,
    session: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Response {
    let data = match super::directory_data(&console).await {
        Ok(data) => data,
        Err(page) => return *page,
    };
    let user = match my_record(&data, &session) {
        Ok(user) => user,
        Err(page) => return *page,
    };
    let result = if form.password != form.confirm {
        Err("The two passwords differ: nothing was changed.".to_string())
    } else {
        set_password_for_uid(&console.services, &user.uid, &form.password)
            .await
            .map_err(|e| e.message().to_string())
    };
    audit::conclude(
        &console,
        &session,
        "user.set_password",
        &user.uid,
        result,
        "Your LDAP password is set.".to_string(),
        "/me",
    )
    .await
}

/// The signed-in person's `(uid, object id)`, or the page saying why there is none.
async fn me(console: &Console, session: &Session) -> Result<(String, String), Box<Response>> {
    let data = super::directory_data(console).await?;
    let user = my_record(&data, session)?;
    Ok((user.uid.clone(), user.entra.id.clone()))
}

/// How a key edit ends: audited with the signed-in person as actor and their uid as
/// target, the outcome shown on `/me`.
async fn conclude_key_edit(
    console: &Console,
    session: &Session,
    action: &str,
    uid: &str,
    result: Result<String, crate::admin::api::ApiError>,
) -> Response {
    let (result, ok) = match result {
        Ok(ok) => (Ok(()), ok),
        Err(e) => (Err(e.message().to_string()), String::new()),
    };
    audit::conclude(console, session, action, uid, result, ok, "/me").await
}

#[derive(Deserialize)]
struct KeyForm {
    key: String,
}

/// `POST /me/ssh-keys`: adds a key to the signed-in person's own keys (same checks as the
/// API: a valid, strong key, no duplicate, at most the maximum, active users only).
async fn add_ssh_key(
    State(console): Shared,
    session: SignedIn,
    Form(form): Form<KeyForm>,
) -> Response {
    let (uid, id) = match me(&console, &session).await {
        Ok(me) => me,
        Err(page) => return *page,
    };
    let result = crate::admin::off_runtime(console.services.clone(), move |services| {
        ssh_keys::add(services, &id, &form.key)
    })
    .await
    .map(|key| format!("SSH key {} added.", key.fingerprint));
    conclude_key_edit(&console, &session, "user.ssh_key.add", &uid, result).await
}

#[derive(Deserialize)]
struct FingerprintForm {
    fingerprint: String,
}

/// `POST /me/ssh-keys/remove`: removes one of the signed-in person's own keys by its
/// fingerprint (only their own keys are looked at).
async fn remove_ssh_key(
    State(console): Shared,
    session: SignedIn,
    Form(form): Form<FingerprintForm>,
) -> Response {
    let (uid, id) = match me(&console, &session).await {
        Ok(me) => me,
        Err(page) => return *page,
    };
    let fingerprint = form.fingerprint.trim().to_string();
    let result = crate::admin::off_runtime(console.services.clone(), move |services| {
        ssh_keys::remove(services, &id, &fingerprint)
    })
    .await
    .map(|key| format!("SSH key {} removed.", key.fingerprint));
    conclude_key_edit(&console, &session, "user.ssh_key.remove", &uid, result).await
}
