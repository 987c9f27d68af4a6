//! Simple bind (RFC 4511 §4.2, RFC 4513 §5.1).
//!
//! Why: this is where identities are proven, so it must not leak which identities exist.
//! Unknown names, wrong passwords and inactive users all take the same path (a full
//! verification, against a dummy hash for unknown names) and get the same answer:
//! invalidCredentials, same message, empty matchedDN. The reason is logged server-side only.

use super::LdapContext;
use super::log::OpRecord;
use super::reply::Reply;
use super::reply::{RequestKind, result};
use super::session::SessionState;
use crate::auth::Principal;
use crate::directory::{BindTarget, Snapshot, Viewer};
use ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapBindResponse, LdapOp, LdapResultCode};

/// The one message every failed credential check gets.
pub(crate) const INVALID_CREDENTIALS: &str = "invalid credentials";

/// Answers a bind request; the session is anonymous unless the bind succeeds.
pub(crate) async fn handle(
    ctx: &LdapContext,
    state: &mut SessionState,
    req: &LdapBindRequest,
    snapshot: &Snapshot,
) -> Reply {
    // RFC 4511 §4.2.1: a bind (even a failing one) ends the previous authentication.
    state.set_anonymous();
    let name = req.dn.as_str();
    if req.version != 3 {
        return answer(
            name,
            LdapResultCode::ProtocolError,
            "only LDAP version 3 is supported",
            None,
        );
    }
    let password = match &req.cred {
        LdapBindCred::Simple(password) => password,
        _ => {
            return answer(
                name,
                LdapResultCode::AuthMethodNotSupported,
                "only simple bind is supported",
                None,
            );
        }
    };
    match (name.is_empty(), password.is_empty()) {
        (true, true) => return answer(name, LdapResultCode::Success, "", Some("anonymous")),
        // A password without a name cannot identify anyone.
        (true, false) => {
            return answer(
                name,
                LdapResultCode::InvalidCredentials,
                INVALID_CREDENTIALS,
                Some("password without a name"),
            );
        }
        // RFC 4513 §5.1.2 unauthenticated bind: refused, as slapd does by default.
        (false, true) => {
            return answer(
                name,
                LdapResultCode::UnwillingToPerform,
                "unauthenticated binds are not allowed",
                Some("unauthenticated bind"),
            );
        }
        (false, false) => {}
    }
    if state.is_plaintext_remote() && !ctx.config.allow_plaintext_bind {
        return answer(
            name,
            LdapResultCode::ConfidentialityRequired,
            "a simple bind with a password requires TLS (use StartTLS or LDAPS)",
            Some("plaintext bind from a remote peer"),
        );
    }

    let target = snapshot.resolve_bind(name);
    let (principal, success) = match target {
        BindTarget::User { id, dn, active } => (
            Some(Principal::User(id.clone())),
            active.then_some((Viewer::User { id }, dn)),
        ),
        BindTarget::Binder { name, dn } => (
            Some(Principal::Binder(name.clone())),
            Some((Viewer::Binder { name }, dn)),
        ),
        BindTarget::Unknown => (None, None),
    };
    let verified = match ctx
        .credentials
        .verify(principal.as_ref(), password.as_bytes())
        .await
    {
        Ok(verified) => verified,
        Err(err) => {
            // Answered like any failed bind so nothing about the identity leaks.
            tracing::error!(conn = state.conn.id, error = %err, "password verification failed");
            false
        }
    };
    match (verified, success, principal.is_some()) {
        (true, Some((viewer, dn)), _) => {
            if let Viewer::User { id } = &viewer {
                crate::activity::record_bind(id);
            }
            state.set_bound(viewer, dn);
            answer(name, LdapResultCode::Success, "", None)
        }
        (true, None, _) => answer(
            name,
            LdapResultCode::InvalidCredentials,
            INVALID_CREDENTIALS,
            Some("inactive user"),
        ),
        (false, _, true) => answer(
            name,
            LdapResultCode::InvalidCredentials,
            INVALID_CREDENTIALS,
            Some("wrong password"),
        ),
        (false, _, false) => answer(
            name,
            LdapResultCode::InvalidCredentials,
            INVALID_CREDENTIALS,
            Some("unknown identity"),
        ),
    }
}

fn answer(name: &str, code: LdapResultCode, message: &str, note: Option<&'static str>) -> Reply {
    let op = LdapOp::BindResponse(LdapBindResponse {
        res: result(code.clone(), "", message),
        saslcreds: None,
    });
    let mut record = OpRecord::new(RequestKind::Bind.name(), name, code);
    record.note = note;
    Reply::single(op, record)
}
