//! What happened, for the Logs page: the recent LDAP operations (in memory) and the audit
//! trail of admin actions (durable, in the store), filterable and exportable as JSON or CSV.
//!
//! Why in memory for LDAP operations: they are many (thousands per second under load) and
//! the server log already keeps them for the long term; the console needs the recent ones
//! fast. Why durable for admin actions: they are few, and "who reset that password" must
//! survive a restart. Neither ever holds a password or secret: the records have no field
//! for one.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};

/// LDAP operations kept for the Logs page, at least: the log forgets its oldest a few hundred
/// at a time (see `op_ring`).
pub const LDAP_LOG_CAPACITY: usize = 10_000;

/// One finished LDAP operation (the fields of Foxpass's LDAP log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LdapLogEntry {
    /// Unix time in milliseconds.
    pub time_ms: i64,
    pub conn: u64,
    pub peer: String,
    /// Who the connection was bound as (empty: anonymous).
    pub bind_dn: String,
    pub op: String,
    /// Bind name, search base or compare DN.
    pub dn: String,
    /// LDAP result code (0 success, 49 invalid credentials, …).
    pub result: i64,
    /// Server-side reason, e.g. "inactive user" (never sent to the client).
    pub message: String,
    /// Search scope, filter and entry count, or an extended operation's OID.
    pub detail: String,
    pub duration_ms: f64,
}

/// One admin action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix time in seconds.
    pub time: i64,
    /// Who did it: `admin-token` (bearer token), or a signed-in admin's UPN.
    pub actor: String,
    /// e.g. `sync.trigger`, `user.set_password`, `binder.add`.
    pub action: String,
    /// What it was done to (a uid, binder name, run id…), empty when none.
    pub target: String,
    /// `ok`, or why it failed.
    pub outcome: String,
}

/// When each user last bound successfully, Unix seconds, since start-up; keyed by a keyed
/// 64-bit hash of the user's object id. Why a hash: one entry per user who bound (10,000
/// and more), and an owned id string per entry cost ~3x the memory of the table itself. Two
/// ids would need to share a hash (odds ~1 in 10^11 at 10,000 users) for a page to show one
/// user's last bind time for another; nothing is decided on it.
struct LastBinds {
    hasher: RandomState,
    times: HashMap<u64, i64>,
}

static LAST_BINDS: LazyLock<Mutex<LastBinds>> = LazyLock::new(|| {
    Mutex::new(LastBinds {
        hasher: RandomState::new(),
        times: HashMap::new(),
    })
});

fn last_binds() -> std::sync::MutexGuard<'static, LastBinds> {
    // Plain numbers: a panicking holder leaves nothing half-updated.
    LAST_BINDS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Notes a successful bind of the user with object id `user` (for the console's Users page).
pub fn record_bind(user: &str) {
    let time = crate::model::now();
    let mut binds = last_binds();
    let key = binds.hasher.hash_one(user);
    binds.times.insert(key, time);
}

/// When the user with object id `user` last bound successfully since start-up.
pub fn last_bind(user: &str) -> Option<i64> {
    let binds = last_binds();
    binds.times.get(&binds.hasher.hash_one(user)).copied()
}

/// Appends `entry` to the durable trail off the async threads. A failure is logged, never
/// turned into the answer of the action it describes (that action already happened).
pub async fn audit(store: &crate::store::Store, entry: AuditEntry) {
    let (action, target) = (entry.action.clone(), entry.target.clone());
    let store = store.clone();
    let written = tokio::task::spawn_blocking(move || store.append_audit(&entry)).await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(%action, %target, "cannot write the audit trail");
    }
}

/// One finished LDAP operation as the connection hands it to the log (borrowed: the log
/// copies what it keeps).
pub struct FinishedOp<'a> {
    /// Unix time in milliseconds.
    pub time_ms: i64,
    pub conn: u64,
    pub peer: SocketAddr,
    pub bind_dn: &'a str,
    pub op: &'static str,
    pub dn: &'a str,
    pub result: i64,
    pub message: &'static str,
    pub detail: &'a str,
    pub duration_ms: f64,
}

mod op_ring;

/// Memory bound of the LDAP log: [`LDAP_LOG_CAPACITY`] ordinary operations take ~1 MB; only
/// operations with kilobytes of filter each would reach this and be kept fewer.
const LDAP_LOG_MAX_BYTES: usize = 4 * 1024 * 1024;

impl FinishedOp<'_> {
    fn to_entry(&self) -> LdapLogEntry {
        LdapLogEntry {
            time_ms: self.time_ms,
            conn: self.conn,
            peer: self.peer.to_string(),
            bind_dn: self.bind_dn.to_string(),
            op: self.op.to_string(),
            dn: self.dn.to_string(),
            result: self.result,
            message: self.message.to_string(),
            detail: self.detail.to_string(),
            duration_ms: self.duration_ms,
        }
    }
}

static LDAP_LOG: LazyLock<Mutex<op_ring::OpRing>> =
    LazyLock::new(|| Mutex::new(op_ring::OpRing::new(LDAP_LOG_CAPACITY, LDAP_LOG_MAX_BYTES)));

fn ldap_log() -> std::sync::MutexGuard<'static, op_ring::OpRing> {
    // Recording only appends bytes (nothing in it panics), so a poisoned lock still guards
    // whole records.
    LDAP_LOG.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps `op` (at least the newest [`LDAP_LOG_CAPACITY`] are kept).
pub fn record_ldap(op: &FinishedOp<'_>) {
    ldap_log().push(op);
}

/// Which LDAP log entries to return.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapLogQuery {
    /// Operation name (`bind`, `search`, …).
    pub op: Option<String>,
    /// Result code.
    pub result: Option<i64>,
    /// Case-insensitive substring of peer, bind DN, DN, message or detail.
    pub q: Option<String>,
    /// Only entries at or after this Unix time (seconds).
    pub since: Option<i64>,
    /// Newest this many (default 200, at most the capacity).
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Matching entries, newest first.
pub fn ldap_entries(query: &LdapLogQuery) -> Vec<LdapLogEntry> {
    let limit = query.limit.unwrap_or(200).clamp(1, LDAP_LOG_CAPACITY);
    let needle = query.q.as_deref().map(str::to_lowercase);
    let since_ms = query.since.map(|s| s.saturating_mul(1000));
    ldap_log()
        .newest_first()
        .filter(|e| {
            query
                .op
                .as_deref()
                .is_none_or(|op| e.op.eq_ignore_ascii_case(op))
        })
        .filter(|e| query.result.is_none_or(|r| e.result == r))
        .filter(|e| since_ms.is_none_or(|t| e.time_ms >= t))
        .filter(|e| {
            needle.as_deref().is_none_or(|n| {
                let peer = e.peer.to_string();
                [peer.as_str(), e.bind_dn, e.dn, e.message, e.detail]
                    .iter()
                    .any(|field| field.to_lowercase().contains(n))
            })
        })
        .take(limit)
        .map(|e| e.to_entry())
        .collect()
}

/// The LDAP log as CSV (header row first).
pub fn ldap_csv(entries: &[LdapLogEntry]) -> String {
    let mut out =
        String::from("time_ms,conn,peer,bind_dn,op,dn,result,message,detail,duration_ms\n");
    for e in entries {
        let row = [
            e.time_ms.to_string(),
            e.conn.to_string(),
            e.peer.clone(),
            e.bind_dn.clone(),
            e.op.clone(),
            e.dn.clone(),
            e.result.to_string(),
            e.message.clone(),
            e.detail.clone(),
            format!("{:.3}", e.duration_ms),
        ];
        push_csv_row(&mut out, &row);
    }
    out
}

/// The audit trail as CSV (header row first).
pub fn audit_csv(entries: &[AuditEntry]) -> String {
    let mut out = String::from("time,actor,action,target,outcome\n");
    for e in entries {
        let row = [
            e.time.to_string(),
            e.actor.clone(),
            e.action.clone(),
            e.target.clone(),
            e.outcome.clone(),
        ];
        push_csv_row(&mut out, &row);
    }
    out
}

/// One RFC 4180 row. Fields an attacker may control (a bind DN, a filter) could start with
/// `=`, `+`, `-` or `@` and run as a formula when the export is opened in a spreadsheet, so
/// such fields get a leading `'`.
fn push_csv_row(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guarded = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{field}")
        } else {
            field.clone()
        };
        if guarded.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&guarded.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&guarded);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: &str, result: i64, dn: &str) -> LdapLogEntry {
        LdapLogEntry {
            time_ms: 1_000,
            conn: 1,
            peer: "127.0.0.1:5000".into(),
            bind_dn: String::new(),
            op: op.into(),
            dn: dn.into(),
            result,
            message: String::new(),
            detail: String::new(),
            duration_ms: 0.5,
        }
    }

    fn finished() -> FinishedOp<'static> {
        FinishedOp {
            time_ms: 1_000,
            conn: 1,
            peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
            bind_dn: "",
            op: "search",
            dn: "",
            result: 0,
            message: "",
            detail: "",
            duration_ms: 0.5,
        }
    }

    #[test]
    fn a_kept_operation_reads_back_as_it_was_recorded() {
        let cases = [
            ("", "", ""),
            (
                "cn=svc,dc=example,dc=com",
                "",
                "oid=1.3.6.1.4.1.4203.1.11.3",
            ),
            ("", "uid=jürgen,ou=people,dc=example,dc=com", ""),
            (
                "cn=a",
                "ou=groups,dc=example,dc=com",
                "scope=sub filter=(cn=é*) entries=2",
            ),
        ];
        for (bind_dn, dn, detail) in cases {
            let op = FinishedOp {
                bind_dn,
                dn,
                detail,
                message: "inactive user",
                result: 49,
                ..finished()
            };
            let mut ring = op_ring::OpRing::new(10, LDAP_LOG_MAX_BYTES);
            ring.push(&op);
            let got = ring.newest_first().next().map(|kept| kept.to_entry());
            let want = LdapLogEntry {
                time_ms: 1_000,
                conn: 1,
                peer: "127.0.0.1:5000".into(),
                bind_dn: bind_dn.into(),
                op: "search".into(),
                dn: dn.into(),
                result: 49,
                message: "inactive user".into(),
                detail: detail.into(),
                duration_ms: 0.5,
            };
            assert_eq!(got, Some(want));
        }
    }

    #[test]
    fn last_binds_are_per_user() {
        // Ids unique to this test: the table is process-wide.
        let (a, b) = ("last-bind-test-a", "last-bind-test-b");
        assert_eq!(last_bind(a), None);
        let before = crate::model::now();
        record_bind(a);
        let at = last_bind(a).unwrap_or(0);
        assert!(at >= before && at <= crate::model::now());
        assert_eq!(last_bind(b), None, "another user has not bound");
        assert_eq!(
            last_bind("LAST-BIND-TEST-A"),
            None,
            "ids are compared exactly"
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut e = entry("bind", 49, "=HYPERLINK(\"http://x\"),evil");
        e.message = "line\nbreak".into();
        let csv = ldap_csv(&[e]);
        let row = csv.lines().nth(1).unwrap();
        assert!(
            row.contains("\"'=HYPERLINK(\"\"http://x\"\"),evil\""),
            "{csv}"
        );
        assert!(csv.contains("\"line\nbreak\""), "{csv}");
        assert!(csv.starts_with("time_ms,conn,peer,bind_dn,op,dn,result"));
    }

    #[test]
    fn queries_filter_newest_first_and_the_log_is_bounded() {
        // Unique DNs: other tests in this process also write to the global log.
        let tag = "uid=activity-test-";
        for i in 0..LDAP_LOG_CAPACITY + 5 {
            let dn = format!("{tag}{i}");
            record_ldap(&FinishedOp {
                op: if i % 2 == 0 { "bind" } else { "search" },
                result: (i % 3) as i64,
                dn: &dn,
                ..finished()
            });
        }
        let kept = ldap_log().len();
        assert!(
            (LDAP_LOG_CAPACITY..2 * LDAP_LOG_CAPACITY).contains(&kept),
            "at least the capacity, at most a block more: {kept}"
        );
        let q = LdapLogQuery {
            op: Some("BIND".into()),
            result: Some(0),
            q: Some(tag.into()),
            limit: Some(3),
            ..LdapLogQuery::default()
        };
        let found = ldap_entries(&q);
        assert_eq!(found.len(), 3);
        assert!(found.iter().all(|e| e.op == "bind" && e.result == 0));
        let n: Vec<usize> = found
            .iter()
            .map(|e| e.dn.trim_start_matches(tag).parse().unwrap())
            .collect();
        assert!(n[0] > n[1] && n[1] > n[2], "newest first: {n:?}");
    }
}
