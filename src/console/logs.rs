//! The Logs pages: recent LDAP operations (filter by operation, result code and text;
//! export as CSV or JSON) and the audit trail of admin actions.

use super::layout::{self, Nav, Page};
use super::{Shared, SignedIn};
use crate::activity::{self, LdapLogQuery};
use crate::admin::api::export;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

/// Entries shown on a page (exports may ask for more).
const PAGE_ROWS: usize = 200;

pub fn routes() -> Router<Arc<super::Console>> {
    Router::new()
        .route("/console/logs", get(ldap_page))
        .route("/console/logs/ldap.csv", get(|q| ldap_export(q, "csv")))
        .route("/console/logs/ldap.json", get(|q| ldap_export(q, "json")))
        .route("/console/logs/audit", get(audit_page))
        .route("/console/logs/audit.csv", get(|s| audit_export(s, "csv")))
        .route("/console/logs/audit.json", get(|s| audit_export(s, "json")))
}

/// The filter form's fields: all text, so an empty box means "any".
#[derive(Deserialize, Default, Clone)]
struct Filters {
    #[serde(default)]
    op: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    q: String,
}

impl Filters {
    fn query(&self, limit: usize, format: &str) -> LdapLogQuery {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        LdapLogQuery {
            op: text(&self.op),
            result: self.result.trim().parse().ok(),
            q: text(&self.q),
            since: None,
            limit: Some(limit),
            format: Some(format.to_string()),
        }
    }

    fn query_string(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("op", &self.op)
            .append_pair("result", &self.result)
            .append_pair("q", &self.q)
            .finish()
    }
}

const OPS: [&str; 8] = [
    "bind", "search", "compare", "extended", "unbind", "abandon", "modify", "add",
];

async fn ldap_page(
    State(console): Shared,
    session: SignedIn,
    Query(filters): Query<Filters>,
) -> Response {
    let entries = activity::ldap_entries(&filters.query(PAGE_ROWS, "json"));
    let qs = filters.query_string();
    let body = html! {
        (tabs(true))
        form.toolbar method="get" action="/console/logs" {
            select #op name="op" {
                option value="" { "Any operation" }
                @for op in OPS { option value=(op) selected[filters.op == op] { (op) } }
            }
            input #result type="text" name="result" value=(filters.result) placeholder="result code" size="10";
            input #q type="search" name="q" value=(filters.q) placeholder="peer, DN, message…";
            button #filter type="submit" { "Filter" }
            a.button href=(format!("/console/logs/ldap.csv?{qs}")) { "Export CSV" }
            a.button href=(format!("/console/logs/ldap.json?{qs}")) { "Export JSON" }
        }
        table #ldap-log {
            thead { tr {
                th { "Time (UTC)" } th { "Peer" } th { "Bound as" } th { "Operation" } th { "DN" }
                th { "Result" } th { "Message" } th { "Detail" } th { "ms" }
            } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (layout::time(e.time_ms.div_euclid(1000))) }
                        td.mono { (e.peer) }
                        td.mono { (e.bind_dn) }
                        td { (e.op) }
                        td.mono { (e.dn) }
                        td.num { (e.result) }
                        td { (e.message) }
                        td.mono { (e.detail) }
                        td.num { (format!("{:.1}", e.duration_ms)) }
                    }
                }
            }
        }
        @if entries.is_empty() { p.muted { "No matching operations." } }
    };
    layout::page(
        &console,
        &session,
        Page {
            nav: Nav::Logs,
            title: "LDAP operations",
        },
        body,
    )
}

fn tabs(ldap: bool) -> maud::Markup {
    html! {
        div.toolbar {
            a.button href="/console/logs" style=[ldap.then_some("font-weight:700")] { "LDAP operations" }
            a.button href="/console/logs/audit" style=[(!ldap).then_some("font-weight:700")] { "Audit trail" }
        }
    }
}

async fn ldap_export(Query(filters): Query<Filters>, format: &'static str) -> Response {
    let query = filters.query(activity::LDAP_LOG_CAPACITY, format);
    let entries = activity::ldap_entries(&query);
    export(Some(format), &entries, activity::ldap_csv, "ldap-log")
        .unwrap_or_else(IntoResponse::into_response)
}

async fn audit_page(State(console): Shared, session: SignedIn) -> Response {
    let entries = match audit_entries(&console, PAGE_ROWS).await {
        Ok(entries) => entries,
        Err(page) => return page,
    };
    let body = html! {
        (tabs(false))
        div.toolbar {
            a.button href="/console/logs/audit.csv" { "Export CSV" }
            a.button href="/console/logs/audit.json" { "Export JSON" }
        }
        table #audit-log {
            thead { tr { th { "Time (UTC)" } th { "Who" } th { "Action" } th { "Target" } th { "Outcome" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (layout::time(e.time)) }
                        td { (e.actor) }
                        td.mono { (e.action) }
                        td.mono { (e.target) }
                        td { (e.outcome) }
                    }
                }
            }
        }
        @if entries.is_empty() { p.muted { "No admin actions recorded yet." } }
    };
    layout::page(
        &console,
        &session,
        Page {
            nav: Nav::Logs,
            title: "Audit trail",
        },
        body,
    )
}

async fn audit_export(State(console): Shared, format: &'static str) -> Response {
    match audit_entries(&console, 10_000).await {
        Ok(entries) => export(Some(format), &entries, activity::audit_csv, "audit-log")
            .unwrap_or_else(IntoResponse::into_response),
        Err(page) => page,
    }
}

/// The newest `limit` audit entries, read off the async runtime; when the store fails, the
/// error page (the store error itself is logged where it is converted).
async fn audit_entries(
    console: &super::Console,
    limit: usize,
) -> Result<Vec<crate::activity::AuditEntry>, Response> {
    crate::admin::off_runtime(console.services.clone(), move |s| {
        Ok(s.store.list_audit(limit)?)
    })
    .await
    .map_err(|e| layout::error_page(e.status(), e.message()))
}
