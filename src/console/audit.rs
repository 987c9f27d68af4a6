//! Writes console actions to the audit trail (the same trail the API writes).
//!
//! Why explicit calls instead of a middleware: a console form posts to a URL, but the
//! trail should say what happened (`user.set_password` on `alice`) as the API's readers
//! expect, and who did it (the session's identity).

use super::Console;
use super::session::Session;
use crate::activity::AuditEntry;
use crate::app::Services;
use crate::model::now;
use axum::response::{IntoResponse, Redirect, Response};

/// Records `action` on `target` by the session's holder; `outcome` is `Ok` or why not.
pub async fn record(
    services: &Services,
    actor: String,
    action: &str,
    target: &str,
    outcome: Result<(), String>,
) {
    let entry = AuditEntry {
        time: now(),
        actor,
        action: action.to_string(),
        target: target.to_string(),
        outcome: match outcome {
            Ok(()) => "ok".to_string(),
            Err(why) => why,
        },
    };
    crate::activity::audit(&services.store, entry).await;
}

/// [`record`] for a signed-in session.
pub async fn by(
    services: &Services,
    session: &Session,
    action: &str,
    target: &str,
    outcome: Result<(), String>,
) {
    record(services, session.identity.actor(), action, target, outcome).await;
}

/// The end of every console form action: audits it, shows `ok` (or why it failed) as the
/// next page's message, and sends the browser back to `page`.
pub async fn conclude(
    console: &Console,
    session: &Session,
    action: &str,
    target: &str,
    result: Result<(), String>,
    ok: String,
    page: &str,
) -> Response {
    by(&console.services, session, action, target, result.clone()).await;
    flash_result(console, session, result, ok);
    Redirect::to(page).into_response()
}

/// Shows `ok`, or why the action failed, as the session's next message.
fn flash_result(console: &Console, session: &Session, result: Result<(), String>, ok: String) {
    match result {
        Ok(()) => console.sessions.set_flash(&session.id, true, ok),
        Err(why) => console.sessions.set_flash(&session.id, false, why),
    }
}
