//! Writes console actions to the audit trail (the same trail the API writes).
//!
//! Why explicit calls instead of a middleware: a console form posts to a URL, but the
//! trail should say what happened (`user.set_password` on `alice`) as the API's readers
//! expect, and who did it (the session's identity).

use super::session::Session;
use crate::activity::AuditEntry;
use crate::app::Services;
use crate::model::now;

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
    let store = services.store.clone();
    let written = tokio::task::spawn_blocking(move || store.append_audit(&entry)).await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(action, target, "cannot write the audit trail");
    }
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
