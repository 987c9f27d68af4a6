//! The Sync page's credentials: which accounts and apps the sync may use (with the green
//! check once an authorization passed its test read), and "Authorize Account for User
//! Sync" / "… for Group Sync", which start the delegated flow of `admin/authorize.rs`.
//!
//! Why here and so small: the flow itself (PKCE, state, test read, sealed refresh token)
//! is the API's; the console only starts it for the signed-in admin and lists the result.
//! The identity platform sends the browser back to the API's callback, which answers
//! browsers with a page leading back to the Sync page.

use super::layout::{self, csrf_field};
use super::session::Session;
use super::{Console, Shared, SignedIn, audit};
use crate::model::{CredentialPurpose, CredentialSlot, SyncRun};
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().route("/console/sync/authorize", post(authorize))
}

fn purpose_label(purpose: CredentialPurpose) -> &'static str {
    match purpose {
        CredentialPurpose::All => "everything",
        CredentialPurpose::Users => "users",
        CredentialPurpose::Groups => "groups",
        CredentialPurpose::Domains => "domains",
    }
}

/// The credentials table and the authorize buttons; `runs` (newest first, as the page
/// already loaded them) tell which credential the last run used.
pub fn render(console: &Console, session: &Session, runs: &[SyncRun]) -> Markup {
    let services = &console.services;
    let credentials = services.authorizer.list(&services.entra);
    html! {
        h2 { "Credentials" }
        @match credentials {
            Err(e) => p.error { (e.message) },
            Ok(list) => table #credentials {
                thead { tr { th { "Slot" } th { "For" } th { "Kind" } th { "Account or app" } th { "Status" } } }
                tbody {
                    @for c in list {
                        tr data-kind=(c.kind) {
                            td { (format!("{:?}", c.slot).to_lowercase()) }
                            td { (purpose_label(c.purpose)) }
                            td { (c.kind) }
                            td.mono { (c.who) }
                            td {
                                @if let Some(error) = &c.last_error { span.badge.bad { "failing" } " " span.muted { (error) } }
                                @else if let Some(at) = c.validated_at { span.badge.ok.validated { "✓ validated " (layout::time(at)) } }
                                @else { span.muted { "—" } }
                            }
                        }
                    }
                }
            },
        }
        @if let Some(used) = runs.iter().find_map(|r| r.credential.as_deref()) {
            p #credential-in-use { "The last run used: " strong.mono { (used) } }
        }
        div.toolbar {
            @for (id, slot, purpose, label) in [
                ("authorize-users", "primary", "users", "Authorize Account for User Sync"),
                ("authorize-groups", "primary", "groups", "Authorize Account for Group Sync"),
                ("authorize-backup", "backup", "all", "Authorize another account (backup)"),
            ] {
                form.inline method="post" action="/console/sync/authorize" {
                    (csrf_field(session))
                    input type="hidden" name="slot" value=(slot);
                    input type="hidden" name="purpose" value=(purpose);
                    button #(id) type="submit" { (label) }
                }
            }
        }
        p.muted { "You sign in with Microsoft as the account whose permissions the sync should use; its refresh token is stored encrypted. The backup account takes over by itself when the primary is refused (revoked consent, disabled admin, expired secret, Conditional Access)." }
    }
}

#[derive(Deserialize)]
struct AuthorizeForm {
    /// `primary` unless the backup button was used.
    #[serde(default = "primary_slot")]
    slot: CredentialSlot,
    purpose: CredentialPurpose,
}

fn primary_slot() -> CredentialSlot {
    CredentialSlot::Primary
}

/// `POST /console/sync/authorize`: off to the identity platform to authorize an account.
async fn authorize(
    State(console): Shared,
    session: SignedIn,
    Form(form): Form<AuthorizeForm>,
) -> Response {
    let started = console
        .services
        .authorizer
        .start(form.slot, form.purpose, None);
    let target = match form.slot {
        CredentialSlot::Primary => purpose_label(form.purpose).to_string(),
        CredentialSlot::Backup => format!("backup {}", purpose_label(form.purpose)),
    };
    let target = target.as_str();
    match started {
        Ok(url) => {
            audit::by(
                &console.services,
                &session,
                "sync.authorize",
                target,
                Ok(()),
            )
            .await;
            Redirect::to(url.as_str()).into_response()
        }
        Err(e) => {
            audit::conclude(
                &console,
                &session,
                "sync.authorize",
                target,
                Err(e.message),
                String::new(),
                "/console/sync",
            )
            .await
        }
    }
}

/// The page a browser gets at the end of "Authorize Account" (from the API's callback):
/// who was authorized for what, or why not, and the way back to the Sync page.
pub fn authorized_page(
    outcome: Result<crate::model::AuthorizationInfo, (axum::http::StatusCode, String)>,
) -> Response {
    match outcome {
        Ok(info) => layout::bare(
            axum::http::StatusCode::OK,
            "Account authorized",
            html! {
                p #authorized {
                    span.badge.ok { "✓" } " " strong { (info.who) }
                    " is authorized for syncing " (purpose_label(info.purpose))
                    "; its test read of Microsoft Graph passed."
                }
                p { a #back href="/console/sync" { "Back to the Sync page" } }
            },
        ),
        Err((status, message)) => layout::bare(
            status,
            "Authorization failed",
            html! {
                p.error #error { (message) }
                p { a #back href="/console/sync" { "Back to the Sync page" } }
            },
        ),
    }
}
