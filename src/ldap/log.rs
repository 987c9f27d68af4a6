//! One log line per operation, and the filter's string form for it.
//!
//! Why: operators diagnose clients from the server log (the same fields Foxpass's LDAP log
//! has: connection, peer, operation, bind DN, result, duration). Every operation handler
//! fills an [`OpRecord`]; the session adds the connection facts and the timing and emits
//! it here, so no handler can forget a field or log a password by accident: the record has
//! no place for one.

use super::session::ConnInfo;
use ldap3_proto::proto::{LdapFilter, LdapResultCode, LdapSearchScope, LdapSubstringFilter};
use std::fmt::Write as _;
use std::time::Instant;

/// Longest filter text we log; longer filters are cut with an ellipsis.
const MAX_FILTER_LOG_CHARS: usize = 200;

/// What one operation did, as the log shows it.
#[derive(Debug)]
pub(crate) struct OpRecord {
    /// `bind`, `search`, `compare`, `extended`, `add`, …
    pub op: &'static str,
    /// The operation's target: bind name, search base or compare DN.
    pub dn: String,
    pub code: LdapResultCode,
    /// A short server-side reason (e.g. "inactive user"), never shown to the client.
    pub note: Option<&'static str>,
    pub detail: Detail,
}

/// Operation-specific fields.
#[derive(Debug, Default)]
pub(crate) enum Detail {
    #[default]
    None,
    Search {
        scope: &'static str,
        filter: String,
        entries: usize,
    },
    Extended {
        oid: String,
    },
}

impl OpRecord {
    /// A record with no operation-specific detail.
    pub(crate) fn new(op: &'static str, dn: impl Into<String>, code: LdapResultCode) -> OpRecord {
        OpRecord {
            op,
            dn: dn.into(),
            code,
            note: None,
            detail: Detail::None,
        }
    }
}

/// Emits the INFO line for a finished operation.
pub(crate) fn emit(conn: &ConnInfo, bind_dn: &str, record: &OpRecord, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let duration_ms = seconds * 1000.0;
    let code = result_number(&record.code);
    crate::metrics::ldap_operation(record.op, code, seconds);
    remember(conn, bind_dn, record, code, duration_ms);
    let note = record.note;
    match &record.detail {
        Detail::Search {
            scope,
            filter,
            entries,
        } => tracing::info!(
            conn = conn.id,
            peer = %conn.peer,
            op = record.op,
            bind_dn,
            dn = %record.dn,
            scope,
            filter = %filter,
            entries,
            result = code,
            duration_ms,
            note,
            "ldap operation"
        ),
        Detail::Extended { oid } => tracing::info!(
            conn = conn.id,
            peer = %conn.peer,
            op = record.op,
            bind_dn,
            dn = %record.dn,
            oid = %oid,
            result = code,
            duration_ms,
            note,
            "ldap operation"
        ),
        Detail::None => tracing::info!(
            conn = conn.id,
            peer = %conn.peer,
            op = record.op,
            bind_dn,
            dn = %record.dn,
            result = code,
            duration_ms,
            note,
            "ldap operation"
        ),
    }
}

/// Keeps the operation for the console's Logs page ([`crate::activity`]).
fn remember(conn: &ConnInfo, bind_dn: &str, record: &OpRecord, code: i64, duration_ms: f64) {
    let detail = match &record.detail {
        Detail::Search {
            scope,
            filter,
            entries,
        } => format!("scope={scope} filter={filter} entries={entries}"),
        Detail::Extended { oid } => format!("oid={oid}"),
        Detail::None => String::new(),
    };
    let time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    crate::activity::record_ldap(&crate::activity::FinishedOp {
        time_ms,
        conn: conn.id,
        peer: conn.peer,
        bind_dn,
        op: record.op,
        dn: &record.dn,
        result: code,
        message: record.note.unwrap_or_default(),
        detail: &detail,
        duration_ms,
    });
}

/// The numeric LDAP result code (what clients and RFCs show).
pub(crate) fn result_number(code: &LdapResultCode) -> i64 {
    code.clone() as i64
}

/// The scope's name as in an LDAP URL.
pub(crate) fn scope_name(scope: &LdapSearchScope) -> &'static str {
    match scope {
        LdapSearchScope::Base => "base",
        LdapSearchScope::OneLevel => "one",
        LdapSearchScope::Subtree => "sub",
        LdapSearchScope::Children => "children",
    }
}

/// The RFC 4515 string form of `filter`, cut to [`MAX_FILTER_LOG_CHARS`] characters.
/// Stops building as soon as the limit is passed, so a huge filter costs little.
pub(crate) fn filter_for_log(filter: &LdapFilter) -> String {
    let mut out = String::new();
    write_filter(filter, &mut out);
    if out.chars().count() > MAX_FILTER_LOG_CHARS {
        let cut: String = out.chars().take(MAX_FILTER_LOG_CHARS).collect();
        return format!("{cut}…");
    }
    out
}

fn write_filter(filter: &LdapFilter, out: &mut String) {
    // Byte length is an upper bound of the char count: enough to stop early.
    if out.len() > MAX_FILTER_LOG_CHARS {
        return;
    }
    match filter {
        LdapFilter::And(parts) => write_set(out, '&', parts),
        LdapFilter::Or(parts) => write_set(out, '|', parts),
        LdapFilter::Not(inner) => {
            out.push_str("(!");
            write_filter(inner, out);
            out.push(')');
        }
        LdapFilter::Equality(attr, value) => write_item(out, attr, "=", value),
        LdapFilter::GreaterOrEqual(attr, value) => write_item(out, attr, ">=", value),
        LdapFilter::LessOrEqual(attr, value) => write_item(out, attr, "<=", value),
        LdapFilter::Approx(attr, value) => write_item(out, attr, "~=", value),
        LdapFilter::Present(attr) => {
            let _ = write!(out, "({attr}=*)");
        }
        LdapFilter::Substring(attr, sub) => write_substring(out, attr, sub),
        LdapFilter::Extensible(mra) => {
            out.push('(');
            if let Some(attr) = &mra.type_ {
                out.push_str(attr);
            }
            if mra.dn_attributes {
                out.push_str(":dn");
            }
            if let Some(rule) = &mra.matching_rule {
                out.push(':');
                out.push_str(rule);
            }
            out.push_str(":=");
            escape_into(out, &mra.match_value);
            out.push(')');
        }
    }
}

fn write_set(out: &mut String, op: char, parts: &[LdapFilter]) {
    out.push('(');
    out.push(op);
    for part in parts {
        if out.len() > MAX_FILTER_LOG_CHARS {
            break;
        }
        write_filter(part, out);
    }
    out.push(')');
}

fn write_item(out: &mut String, attr: &str, op: &str, value: &str) {
    out.push('(');
    out.push_str(attr);
    out.push_str(op);
    escape_into(out, value);
    out.push(')');
}

fn write_substring(out: &mut String, attr: &str, sub: &LdapSubstringFilter) {
    out.push('(');
    out.push_str(attr);
    out.push('=');
    if let Some(initial) = &sub.initial {
        escape_into(out, initial);
    }
    out.push('*');
    for any in &sub.any {
        escape_into(out, any);
        out.push('*');
    }
    if let Some(last) = &sub.final_ {
        escape_into(out, last);
    }
    out.push(')');
}

/// RFC 4515 §3 value escaping, so the logged filter can be pasted back into ldapsearch.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::LdapMatchingRuleAssertion;

    #[test]
    fn filter_round_trips_to_rfc4515_text() {
        let filter = LdapFilter::And(vec![
            LdapFilter::Equality("objectClass".into(), "posixAccount".into()),
            LdapFilter::Or(vec![
                LdapFilter::Substring(
                    "cn".into(),
                    LdapSubstringFilter {
                        initial: Some("a".into()),
                        any: vec!["b".into()],
                        final_: Some("c".into()),
                    },
                ),
                LdapFilter::Not(Box::new(LdapFilter::Present("mail".into()))),
            ]),
            LdapFilter::GreaterOrEqual("uidNumber".into(), "1000".into()),
            LdapFilter::Extensible(LdapMatchingRuleAssertion {
                matching_rule: Some("1.2.840.113556.1.4.1941".into()),
                type_: Some("memberOf".into()),
                match_value: "cn=g,dc=x".into(),
                dn_attributes: false,
            }),
        ]);
        assert_eq!(
            filter_for_log(&filter),
            "(&(objectClass=posixAccount)(|(cn=a*b*c)(!(mail=*)))(uidNumber>=1000)\
             (memberOf:1.2.840.113556.1.4.1941:=cn=g,dc=x))"
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        let filter = LdapFilter::Equality("cn".into(), "a*(b)\\".into());
        assert_eq!(filter_for_log(&filter), "(cn=a\\2a\\28b\\29\\5c)");
    }

    #[test]
    fn long_filters_are_truncated() {
        let parts = (0..100)
            .map(|i| LdapFilter::Equality("uid".into(), format!("user{i:04}")))
            .collect();
        let text = filter_for_log(&LdapFilter::Or(parts));
        assert!(text.ends_with('…'));
        assert_eq!(text.chars().count(), MAX_FILTER_LOG_CHARS + 1);
    }

    #[test]
    fn result_numbers_match_rfc4511() {
        assert_eq!(result_number(&LdapResultCode::InvalidCredentials), 49);
        assert_eq!(
            result_number(&LdapResultCode::UnavailableCriticalExtension),
            12
        );
    }
}
