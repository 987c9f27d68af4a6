//! Extended operations: StartTLS (RFC 4511 §4.14, RFC 4513 §3), Who am I? (RFC 4532) and
//! Password Modify (RFC 3062).
//!
//! Why together: they share the extended request/response envelope and are each small.
//! StartTLS only decides here; the session writes the response in clear and the connection
//! then upgrades the same socket. Password Modify lets a bound user change their own
//! password with the old one, the way `ldappasswd` does.

use super::bind::INVALID_CREDENTIALS;
use super::log::{Detail, OpRecord};
use super::reply::{Reply, RequestKind, Then, result};
use super::session::SessionState;
use super::{LdapContext, OID_PASSWORD_MODIFY, OID_START_TLS, OID_WHO_AM_I};
use crate::auth::{AuthError, Principal};
use crate::directory::{BindTarget, Snapshot, Viewer};
use ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapOp, LdapPasswordModifyRequest, LdapResultCode,
};

/// Answers one extended request. `buffered_input` says whether the client already sent
/// more bytes after this request (StartTLS must then be refused).
pub(crate) async fn handle(
    ctx: &LdapContext,
    state: &mut SessionState,
    req: &LdapExtendedRequest,
    buffered_input: bool,
    snapshot: &Snapshot,
) -> Reply {
    let mut reply = match req.name.as_str() {
        OID_START_TLS => start_tls(state, buffered_input),
        OID_WHO_AM_I => who_am_i(state, snapshot),
        OID_PASSWORD_MODIFY => password_modify(ctx, state, req, snapshot).await,
        other => answer(
            LdapResultCode::ProtocolError,
            &format!("unsupported extended operation {other}"),
            None,
        ),
    };
    reply.record.detail = Detail::Extended {
        oid: req.name.clone(),
    };
    reply
}

fn start_tls(state: &SessionState, buffered_input: bool) -> Reply {
    if state.tls {
        return answer(
            LdapResultCode::OperationsError,
            "TLS is already established",
            None,
        );
    }
    if !state.starttls_allowed {
        return answer(
            LdapResultCode::UnwillingToPerform,
            "StartTLS is not offered here",
            None,
        );
    }
    if buffered_input {
        // RFC 4511 §4.14.1: no other operation may be outstanding when TLS starts.
        return answer(
            LdapResultCode::OperationsError,
            "other operations are outstanding; StartTLS must be sent alone",
            None,
        );
    }
    let op = LdapOp::ExtendedResponse(LdapExtendedResponse {
        res: result(LdapResultCode::Success, "", ""),
        name: Some(OID_START_TLS.to_string()),
        value: None,
    });
    let mut reply = Reply::single(op, record(LdapResultCode::Success, None));
    reply.then = Then::StartTls;
    reply
}

fn who_am_i(state: &SessionState, snapshot: &Snapshot) -> Reply {
    let authz_id = snapshot
        .dn_of(&state.viewer)
        .map(|dn| format!("dn:{dn}"))
        .unwrap_or_default();
    let op = LdapOp::ExtendedResponse(LdapExtendedResponse {
        res: result(LdapResultCode::Success, "", ""),
        name: None,
        value: Some(authz_id.into_bytes()),
    });
    Reply::single(op, record(LdapResultCode::Success, None))
}

async fn password_modify(
    ctx: &LdapContext,
    state: &SessionState,
    req: &LdapExtendedRequest,
    snapshot: &Snapshot,
) -> Reply {
    let request = match &req.value {
        None => LdapPasswordModifyRequest {
            user_identity: None,
            old_password: None,
            new_password: None,
        },
        Some(_) => match LdapPasswordModifyRequest::try_from(req) {
            Ok(request) => request,
            Err(_) => {
                return answer(
                    LdapResultCode::ProtocolError,
                    "malformed password modify request",
                    None,
                );
            }
        },
    };
    let id = match &state.viewer {
        Viewer::User { id } => id.clone(),
        Viewer::Anonymous => {
            return answer(
                LdapResultCode::UnwillingToPerform,
                "only authenticated users may change their password",
                None,
            );
        }
        Viewer::Binder { .. } => {
            return answer(
                LdapResultCode::UnwillingToPerform,
                "service accounts cannot change user passwords; use the admin API",
                None,
            );
        }
    };
    if state.is_plaintext_remote() && !ctx.config.allow_plaintext_bind {
        return answer(
            LdapResultCode::ConfidentialityRequired,
            "changing a password requires TLS (use StartTLS or LDAPS)",
            None,
        );
    }
    if let Some(identity) = &request.user_identity
        && !names_user(snapshot, identity, &id)
    {
        return answer(
            LdapResultCode::InsufficentAccessRights,
            "you may change only your own password",
            Some("userIdentity is someone else"),
        );
    }
    let Some(old) = request.old_password.filter(|p| !p.is_empty()) else {
        return answer(
            LdapResultCode::UnwillingToPerform,
            "the old password is required",
            None,
        );
    };
    let Some(new) = request.new_password.filter(|p| !p.is_empty()) else {
        return answer(
            LdapResultCode::UnwillingToPerform,
            "a new password is required (this server does not generate passwords)",
            None,
        );
    };
    let principal = Principal::User(id);
    match ctx
        .credentials
        .verify(Some(&principal), old.as_bytes())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return answer(
                LdapResultCode::InvalidCredentials,
                INVALID_CREDENTIALS,
                Some("wrong old password"),
            );
        }
        Err(err) => {
            tracing::error!(conn = state.conn.id, error = %err, "password verification failed");
            return answer(
                LdapResultCode::InvalidCredentials,
                INVALID_CREDENTIALS,
                Some("verification error"),
            );
        }
    }
    match ctx.credentials.set_password(&principal, &new).await {
        Ok(()) => answer(LdapResultCode::Success, "", Some("password changed")),
        Err(AuthError::Policy(why)) => answer(
            LdapResultCode::ConstraintViolation,
            &format!("new password rejected: {why}"),
            Some("password policy"),
        ),
        Err(err) => {
            tracing::error!(conn = state.conn.id, error = %err, "storing a new password failed");
            answer(
                LdapResultCode::Other,
                "the new password could not be stored",
                None,
            )
        }
    }
}

/// Whether an RFC 3062 userIdentity (a DN, `dn:<DN>`, a bare name or `u:<name>`) names the
/// user `id`.
fn names_user(snapshot: &Snapshot, identity: &str, id: &str) -> bool {
    let name = identity
        .strip_prefix("dn:")
        .or_else(|| identity.strip_prefix("u:"))
        .unwrap_or(identity);
    matches!(snapshot.resolve_bind(name), BindTarget::User { id: found, .. } if found == id)
}

fn record(code: LdapResultCode, note: Option<&'static str>) -> OpRecord {
    let mut record = OpRecord::new(RequestKind::Extended.name(), "", code);
    record.note = note;
    record
}

fn answer(code: LdapResultCode, message: &str, note: Option<&'static str>) -> Reply {
    let op = LdapOp::ExtendedResponse(LdapExtendedResponse {
        res: result(code.clone(), "", message),
        name: None,
        value: None,
    });
    Reply::single(op, record(code, note))
}
