//! Search (RFC 4511 §4.5) with size and time limits and RFC 2696 paged results.
//!
//! Why: this is the hot path. The snapshot is loaded once per operation, the matching ids
//! come from its indexes, and the entries are rendered straight into response PDUs that
//! the session writes with one flush.
//!
//! Limits: the effective size limit is the smaller of the client's and the server's
//! (`ldap.size_limit`, 0 = none); when more entries match, that many are sent followed by
//! sizeLimitExceeded. The time limit works the same way, as a deadline handed to the
//! snapshot; when it passes, the entries found so far are sent with timeLimitExceeded.
//! With paged results the server size limit caps each *page* (a larger page size is
//! reduced to it, no error), while the client's size limit caps the whole paged result:
//! the page that reaches it ends with sizeLimitExceeded.

use super::LdapContext;
use super::ber;
use super::controls::PagedRequest;
use super::log::{self, Detail, OpRecord};
use super::paging::{PagedSearch, SearchKey};
use super::reply::{EncodedEntries, Reply, RequestKind, Then, result};
use super::session::SessionState;
use crate::config::LdapConfig;
use crate::directory::{AttrSelection, EntryId, SearchError, SearchQuery, Snapshot, Viewer};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{LdapOp, LdapResultCode, LdapSearchRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The limits that apply to one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// Entries a non-paged search may return (client's sizelimit for paged ones).
    client_size: Option<usize>,
    server_size: Option<usize>,
    deadline: Option<Instant>,
}

impl Limits {
    fn new(req: &LdapSearchRequest, config: &LdapConfig, now: Instant) -> Limits {
        let client_size = usize::try_from(req.sizelimit).ok().filter(|n| *n > 0);
        let server_size = Some(config.size_limit).filter(|n| *n > 0);
        let client_time = u64::try_from(req.timelimit).ok().filter(|n| *n > 0);
        let server_time = Some(config.time_limit_secs).filter(|n| *n > 0);
        let seconds = min_present(client_time, server_time);
        Limits {
            client_size,
            server_size,
            deadline: seconds.and_then(|s| now.checked_add(Duration::from_secs(s))),
        }
    }

    /// The cap on the entries of a non-paged search.
    fn total(&self) -> Option<usize> {
        min_present(self.client_size, self.server_size)
    }

    /// A paged request's page size, reduced to the server size limit.
    fn page(&self, requested: i64) -> usize {
        let requested = usize::try_from(requested).unwrap_or(0);
        match self.server_size {
            Some(cap) => requested.min(cap),
            None => requested,
        }
    }
}

fn min_present<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Answers one search request.
pub(crate) fn handle(
    ctx: &LdapContext,
    state: &mut SessionState,
    msgid: i32,
    req: LdapSearchRequest,
    paged: Option<PagedRequest>,
    snapshot: Arc<Snapshot>,
) -> Reply {
    let limits = Limits::new(&req, &ctx.config, Instant::now());
    let scope = log::scope_name(&req.scope);
    let filter = log::filter_for_log(&req.filter);
    let mut reply = match paged {
        Some(paged) if !paged.cookie.is_empty() => {
            continue_paged(state, msgid, &req, &paged, limits)
        }
        Some(paged) => start_paged(state, msgid, req, &paged, limits, snapshot),
        None => plain(&req, msgid, &state.viewer, limits, &snapshot),
    };
    let entries = reply.entries.count;
    reply.record.detail = Detail::Search {
        scope,
        filter,
        entries,
    };
    reply
}

/// A search without paging.
fn plain(
    req: &LdapSearchRequest,
    msgid: i32,
    viewer: &Viewer,
    limits: Limits,
    snapshot: &Snapshot,
) -> Reply {
    let (mut ids, mut code, mut message) = match run(req, viewer, limits.deadline, snapshot) {
        Ok(found) => found,
        Err(reply) => return *reply,
    };
    if let Some(cap) = limits.total()
        && ids.len() > cap
    {
        ids.truncate(cap);
        if code == LdapResultCode::Success {
            code = LdapResultCode::SizeLimitExceeded;
            message = "size limit exceeded";
        }
    }
    let attrs = AttrSelection::parse(&req.attrs);
    let ops = entries(snapshot, msgid, &ids, &attrs, req.typesonly);
    done(&req.base, ops, code, message, Vec::new())
}

/// The first request of a paged search: run it, send the first page, park the rest.
fn start_paged(
    state: &mut SessionState,
    msgid: i32,
    req: LdapSearchRequest,
    paged: &PagedRequest,
    limits: Limits,
    snapshot: Arc<Snapshot>,
) -> Reply {
    let page = limits.page(paged.size);
    if page == 0 {
        // Size 0 without a cookie: nothing to walk (RFC 2696 uses size 0 only to abandon).
        return done(
            &req.base,
            EncodedEntries::default(),
            LdapResultCode::Success,
            "",
            paged_control(0, Vec::new()),
        );
    }
    let (mut ids, code, message) = match run(&req, &state.viewer, limits.deadline, &snapshot) {
        Ok(found) => found,
        Err(reply) => return *reply,
    };
    let attrs = AttrSelection::parse(&req.attrs);
    if code != LdapResultCode::Success {
        // Time limit: the partial result, one page at most, no continuation.
        ids.truncate(page);
        let ops = entries(&snapshot, msgid, &ids, &attrs, req.typesonly);
        return done(&req.base, ops, code, message, paged_control(0, Vec::new()));
    }
    let truncated = limits.client_size.is_some_and(|cap| ids.len() > cap);
    if let Some(cap) = limits.client_size {
        ids.truncate(cap);
    }
    let key = SearchKey {
        base: req.base,
        scope: req.scope,
        filter: req.filter,
    };
    let search = PagedSearch::new(key, snapshot, ids, truncated, attrs, req.typesonly, msgid);
    next_page(state, search, page, msgid)
}

/// A later request of a paged search, identified by its cookie.
fn continue_paged(
    state: &mut SessionState,
    msgid: i32,
    req: &LdapSearchRequest,
    paged: &PagedRequest,
    limits: Limits,
) -> Reply {
    let Some(search) = state.paging.take(&paged.cookie) else {
        return RequestKind::Search.reply(
            &req.base,
            LdapResultCode::UnwillingToPerform,
            "",
            "paged results cookie is unknown or expired",
        );
    };
    let same = search.key.base == req.base
        && search.key.scope == req.scope
        && search.key.filter == req.filter;
    if !same {
        return RequestKind::Search.reply(
            &req.base,
            LdapResultCode::UnwillingToPerform,
            "",
            "paged results cookie belongs to a different search",
        );
    }
    let page = limits.page(paged.size);
    if page == 0 {
        // RFC 2696 §3: size 0 with a cookie abandons the paged search.
        let total = search.ids.len();
        return done(
            &req.base,
            EncodedEntries::default(),
            LdapResultCode::Success,
            "",
            paged_control(total, Vec::new()),
        );
    }
    next_page(state, search, page, msgid)
}

/// Sends the next `page` entries of `search`, parking it under a new cookie if more remain.
fn next_page(state: &mut SessionState, mut search: PagedSearch, page: usize, msgid: i32) -> Reply {
    let total = search.ids.len();
    let ids = search.take_page(page);
    let ops = entries(
        &search.snapshot,
        msgid,
        &ids,
        &search.attrs,
        search.types_only,
    );
    let base = search.key.base.clone();
    if search.is_done() {
        let (code, message) = if search.truncated {
            (LdapResultCode::SizeLimitExceeded, "size limit exceeded")
        } else {
            (LdapResultCode::Success, "")
        };
        return done(&base, ops, code, message, paged_control(total, Vec::new()));
    }
    search.msgid = msgid;
    let cookie = state.paging.park(search);
    done(
        &base,
        ops,
        LdapResultCode::Success,
        "",
        paged_control(total, cookie),
    )
}

/// Runs the search on the snapshot. `Ok` carries the ids and the result code to end with
/// (success, or timeLimitExceeded with a partial result); `Err` a finished error reply.
fn run(
    req: &LdapSearchRequest,
    viewer: &Viewer,
    deadline: Option<Instant>,
    snapshot: &Snapshot,
) -> Result<(Vec<EntryId>, LdapResultCode, &'static str), Box<Reply>> {
    let query = SearchQuery {
        base: &req.base,
        scope: req.scope.clone(),
        filter: &req.filter,
    };
    match snapshot.search(&query, viewer, deadline) {
        Ok(ids) => Ok((ids, LdapResultCode::Success, "")),
        Err(SearchError::TimeLimitExceeded { partial }) => Ok((
            partial,
            LdapResultCode::TimeLimitExceeded,
            "time limit exceeded",
        )),
        Err(err) => {
            let (code, matched, message) = error_result(&err);
            Err(Box::new(
                RequestKind::Search.reply(&req.base, code, &matched, &message),
            ))
        }
    }
}

/// The LDAP result for a snapshot error (shared with compare).
pub(crate) fn error_result(err: &SearchError) -> (LdapResultCode, String, String) {
    match err {
        SearchError::NoSuchObject { matched } => (
            LdapResultCode::NoSuchObject,
            matched.clone(),
            "no such object".to_string(),
        ),
        SearchError::InvalidDn(why) => {
            (LdapResultCode::InvalidDNSyntax, String::new(), why.clone())
        }
        SearchError::InsufficientAccess(why) => (
            LdapResultCode::InsufficentAccessRights,
            String::new(),
            why.clone(),
        ),
        SearchError::TimeLimitExceeded { .. } => (
            LdapResultCode::TimeLimitExceeded,
            String::new(),
            "time limit exceeded".to_string(),
        ),
        SearchError::Unwilling(why) => (
            LdapResultCode::UnwillingToPerform,
            String::new(),
            why.clone(),
        ),
    }
}

/// The entries `ids`, encoded straight from the snapshot into PDUs for message `msgid`.
fn entries(
    snapshot: &Snapshot,
    msgid: i32,
    ids: &[EntryId],
    attrs: &AttrSelection,
    types_only: bool,
) -> EncodedEntries {
    let mut out = EncodedEntries::default();
    for id in ids {
        let Some((dn, selected)) = snapshot.selected(*id, attrs) else {
            continue;
        };
        let encoded = selected.map(|(name, attr)| ber::EncodedAttr {
            name,
            values: attr.texts(),
        });
        ber::search_result_entry(&mut out.bytes, msgid, dn, encoded, types_only);
        out.count += 1;
    }
    out
}

fn paged_control(total: usize, cookie: Vec<u8>) -> Vec<LdapControl> {
    vec![LdapControl::SimplePagedResults {
        size: i64::try_from(total).unwrap_or(i64::MAX),
        cookie,
    }]
}

/// The entries followed by searchResultDone.
fn done(
    base: &str,
    entries: EncodedEntries,
    code: LdapResultCode,
    message: &str,
    controls: Vec<LdapControl>,
) -> Reply {
    let ops = vec![LdapOp::SearchResultDone(result(code.clone(), "", message))];
    Reply {
        entries,
        ops,
        final_controls: controls,
        record: OpRecord::new(RequestKind::Search.name(), base, code),
        then: Then::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::{LdapDerefAliases, LdapFilter, LdapSearchScope};

    fn config(size_limit: usize, time_limit_secs: u64) -> LdapConfig {
        LdapConfig {
            listen: None,
            ldaps_listen: None,
            tls_cert: None,
            tls_key: None,
            max_connections: 1,
            idle_timeout_secs: 1,
            tls_handshake_timeout_secs: 1,
            max_pdu_bytes: 1024,
            size_limit,
            time_limit_secs,
            allow_plaintext_bind: false,
            bind_by_uid: true,
            bind_by_mail: true,
            bind_by_upn: true,
        }
    }

    fn request(sizelimit: i32, timelimit: i32) -> LdapSearchRequest {
        LdapSearchRequest {
            base: String::new(),
            scope: LdapSearchScope::Base,
            aliases: LdapDerefAliases::Never,
            sizelimit,
            timelimit,
            typesonly: false,
            filter: LdapFilter::Present("objectClass".into()),
            attrs: Vec::new(),
        }
    }

    #[test]
    fn the_smaller_size_limit_wins_and_zero_means_none() {
        let now = Instant::now();
        assert_eq!(
            Limits::new(&request(0, 0), &config(0, 0), now).total(),
            None
        );
        assert_eq!(
            Limits::new(&request(4, 0), &config(0, 0), now).total(),
            Some(4)
        );
        assert_eq!(
            Limits::new(&request(4, 0), &config(3, 0), now).total(),
            Some(3)
        );
        assert_eq!(
            Limits::new(&request(-1, 0), &config(10, 0), now).total(),
            Some(10)
        );
    }

    #[test]
    fn server_size_limit_caps_pages() {
        let now = Instant::now();
        let limits = Limits::new(&request(0, 0), &config(5, 0), now);
        assert_eq!(limits.page(50), 5);
        assert_eq!(limits.page(2), 2);
        assert_eq!(limits.page(-3), 0);
        assert_eq!(Limits::new(&request(0, 0), &config(0, 0), now).page(50), 50);
    }

    #[test]
    fn the_earlier_deadline_wins() {
        let now = Instant::now();
        assert_eq!(
            Limits::new(&request(0, 0), &config(0, 0), now).deadline,
            None
        );
        let limits = Limits::new(&request(0, 10), &config(0, 3), now);
        assert_eq!(limits.deadline, Some(now + Duration::from_secs(3)));
        let limits = Limits::new(&request(0, 2), &config(0, 0), now);
        assert_eq!(limits.deadline, Some(now + Duration::from_secs(2)));
    }

    #[test]
    fn snapshot_errors_map_to_rfc_codes() {
        let (code, matched, _) = error_result(&SearchError::NoSuchObject {
            matched: "dc=example,dc=com".into(),
        });
        assert_eq!(code, LdapResultCode::NoSuchObject);
        assert_eq!(matched, "dc=example,dc=com");
        let (code, _, text) = error_result(&SearchError::InsufficientAccess("no".into()));
        assert_eq!(
            (code, text.as_str()),
            (LdapResultCode::InsufficentAccessRights, "no")
        );
        let (code, _, _) = error_result(&SearchError::InvalidDn("bad".into()));
        assert_eq!(code, LdapResultCode::InvalidDNSyntax);
        let (code, _, _) = error_result(&SearchError::Unwilling("deep".into()));
        assert_eq!(code, LdapResultCode::UnwillingToPerform);
    }
}
