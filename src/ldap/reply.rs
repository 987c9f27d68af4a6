//! What an operation handler hands back to the session, and LDAPResult builders.
//!
//! Why: handlers decide *what* to answer; the session decides *how* it goes on the wire
//! (message id, one flush, logging, StartTLS upgrade). Keeping that contract in one small
//! type lets every handler stay free of I/O and easy to read.

use super::OID_NOTICE_OF_DISCONNECTION;
use super::log::OpRecord;
use bytes::BytesMut;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{LdapExtendedResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode};

/// What the session does after writing a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    Continue,
    /// The StartTLS response was written: upgrade this socket to TLS now.
    StartTls,
}

/// An operation's answer: search entries already encoded, then response PDUs in order (the
/// last one carries the result), the controls for that last PDU, and the log record.
#[derive(Debug)]
pub(crate) struct Reply {
    /// SearchResultEntry PDUs already in wire form, stamped with the request's message id
    /// (see `super::ber`); written before `ops`.
    pub entries: EncodedEntries,
    pub ops: Vec<LdapOp>,
    pub final_controls: Vec<LdapControl>,
    pub record: OpRecord,
    pub then: Then,
}

impl Reply {
    /// A reply made of a single response PDU.
    pub(crate) fn single(op: LdapOp, record: OpRecord) -> Reply {
        Reply {
            entries: EncodedEntries::default(),
            ops: vec![op],
            final_controls: Vec::new(),
            record,
            then: Then::Continue,
        }
    }

    /// The PDUs to write (encoded entries first, then the others stamped with the
    /// request's message id), and the log record.
    pub(crate) fn into_messages(self, msgid: i32) -> (BytesMut, Vec<LdapMsg>, OpRecord) {
        let Reply {
            entries,
            ops,
            mut final_controls,
            record,
            ..
        } = self;
        let last = ops.len().saturating_sub(1);
        let messages = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| {
                let ctrl = if i == last {
                    std::mem::take(&mut final_controls)
                } else {
                    Vec::new()
                };
                LdapMsg::new_with_ctrls(msgid, op, ctrl)
            })
            .collect();
        (entries.bytes, messages, record)
    }
}

/// Search entries in wire form, and how many there are (for the log).
#[derive(Debug, Default)]
pub(crate) struct EncodedEntries {
    pub bytes: BytesMut,
    pub count: usize,
}

/// An LDAPResult with no referral.
pub(crate) fn result(code: LdapResultCode, matched: &str, message: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: matched.to_string(),
        message: message.to_string(),
        referral: Vec::new(),
    }
}

/// RFC 4511 §4.4.1: tells the client the server is about to close the connection.
pub(crate) fn notice_of_disconnection(code: LdapResultCode, message: &str) -> LdapMsg {
    LdapMsg::new(
        0,
        LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: result(code, "", message),
            name: Some(OID_NOTICE_OF_DISCONNECTION.to_string()),
            value: None,
        }),
    )
}

/// The kind of request a reply answers, so an error result is wrapped in the right PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Bind,
    Search,
    Modify,
    Add,
    Delete,
    ModifyDn,
    Compare,
    Extended,
}

impl RequestKind {
    /// The name used in logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RequestKind::Bind => "bind",
            RequestKind::Search => "search",
            RequestKind::Modify => "modify",
            RequestKind::Add => "add",
            RequestKind::Delete => "delete",
            RequestKind::ModifyDn => "modrdn",
            RequestKind::Compare => "compare",
            RequestKind::Extended => "extended",
        }
    }

    /// The response PDU of this kind carrying `res`.
    pub(crate) fn response(self, res: LdapResult) -> LdapOp {
        match self {
            RequestKind::Bind => LdapOp::BindResponse(ldap3_proto::proto::LdapBindResponse {
                res,
                saslcreds: None,
            }),
            RequestKind::Search => LdapOp::SearchResultDone(res),
            RequestKind::Modify => LdapOp::ModifyResponse(res),
            RequestKind::Add => LdapOp::AddResponse(res),
            RequestKind::Delete => LdapOp::DelResponse(res),
            RequestKind::ModifyDn => LdapOp::ModifyDNResponse(res),
            RequestKind::Compare => LdapOp::CompareResult(res),
            RequestKind::Extended => LdapOp::ExtendedResponse(LdapExtendedResponse {
                res,
                name: None,
                value: None,
            }),
        }
    }

    /// A complete reply that is just a result (error or otherwise) for this kind.
    pub(crate) fn reply(
        self,
        dn: &str,
        code: LdapResultCode,
        matched: &str,
        message: &str,
    ) -> Reply {
        let op = self.response(result(code.clone(), matched, message));
        Reply::single(op, OpRecord::new(self.name(), dn, code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_message_carries_the_controls() {
        let reply = Reply {
            entries: EncodedEntries {
                bytes: BytesMut::from(&b"entry"[..]),
                count: 1,
            },
            ops: vec![
                LdapOp::SearchResultReference(ldap3_proto::proto::LdapSearchResultReference {
                    uris: vec!["ldap://elsewhere".into()],
                }),
                LdapOp::SearchResultDone(result(LdapResultCode::Success, "", "")),
            ],
            final_controls: vec![LdapControl::SimplePagedResults {
                size: 0,
                cookie: Vec::new(),
            }],
            record: OpRecord::new("search", "", LdapResultCode::Success),
            then: Then::Continue,
        };
        let (entries, msgs, record) = reply.into_messages(7);
        assert_eq!(&entries[..], b"entry");
        assert_eq!(record.op, "search");
        assert_eq!(msgs.len(), 2);
        assert!(msgs.iter().all(|m| m.msgid == 7));
        assert!(msgs[0].ctrl.is_empty());
        assert_eq!(msgs[1].ctrl.len(), 1);
    }

    #[test]
    fn notice_of_disconnection_is_unsolicited() {
        let msg = notice_of_disconnection(LdapResultCode::ProtocolError, "bad");
        assert_eq!(msg.msgid, 0);
        match msg.op {
            LdapOp::ExtendedResponse(resp) => {
                assert_eq!(resp.name.as_deref(), Some(OID_NOTICE_OF_DISCONNECTION));
                assert_eq!(resp.res.code, LdapResultCode::ProtocolError);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
