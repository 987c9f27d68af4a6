//! Compare (RFC 4511 §4.10).
//!
//! Why: some clients (and ldapcompare) test group membership or an attribute value without
//! reading the entry. Access is the snapshot's decision, exactly as for a search, so
//! anonymous clients are refused the same way. The asserted value is never logged: a
//! client could compare a password-like attribute.

use super::log::OpRecord;
use super::reply::{Reply, RequestKind, result};
use super::search::error_result;
use super::session::SessionState;
use crate::directory::Snapshot;
use ldap3_proto::proto::{LdapCompareRequest, LdapOp, LdapResultCode};

/// Answers a compare request with compareTrue, compareFalse or the search error codes.
pub(crate) fn handle(state: &SessionState, req: &LdapCompareRequest, snapshot: &Snapshot) -> Reply {
    let (code, matched, message) =
        match snapshot.compare(&req.dn, &req.atype, &req.val, &state.viewer) {
            Ok(true) => (LdapResultCode::CompareTrue, String::new(), String::new()),
            Ok(false) => (LdapResultCode::CompareFalse, String::new(), String::new()),
            Err(err) => error_result(&err),
        };
    let op = LdapOp::CompareResult(result(code.clone(), &matched, &message));
    Reply::single(
        op,
        OpRecord::new(RequestKind::Compare.name(), req.dn.as_str(), code),
    )
}
