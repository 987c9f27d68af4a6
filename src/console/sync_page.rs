//! The Sync page: the latest run, the running or held run with Approve / Discard, **Sync
//! now**, and the run history, reloading itself while a run is in progress.

use super::layout::{self, Nav, Page, csrf_field};
use super::session::Session;
use super::{Console, Shared, SignedIn, audit};
use crate::admin::api::recent_runs;
use crate::model::{SyncOutcome, SyncRun, SyncTrigger};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use std::sync::Arc;

/// Runs shown in the history table.
const HISTORY: usize = 25;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/sync", get(show))
        .route("/console/sync/live", get(live_fragment))
        .route("/console/sync/now", post(sync_now))
        .route("/console/sync/settings", post(super::settings_form::save))
        .route("/console/sync/runs/{id}/approve", post(approve))
        .route("/console/sync/runs/{id}/discard", post(discard))
}

/// While a run is in progress, the page re-fetches its live part every 2 s (a few lines of
/// script; without JavaScript a reload shows the same). It stops once no run is running.
const POLL_SCRIPT: &str = "(function poll(){var live=document.getElementById('live');\
if(!live||!live.dataset.running)return;setTimeout(function(){fetch('/console/sync/live',\
{credentials:'same-origin'}).then(function(r){return r.ok?r.text():Promise.reject(r.status)})\
.then(function(html){live.outerHTML=html;poll();});},2000);})();";

async fn show(State(console): Shared, session: SignedIn) -> Response {
    let runs = match recent_runs(&console.services, HISTORY) {
        Ok(runs) => runs,
        Err(e) => return layout::error_page(e.status(), e.message()),
    };
    let body = html! {
        (live(&console, &session, &runs))
        (super::credentials_section::render(&console, &session, &runs))
        (settings_section(&console, &session, &runs))
        script { (maud::PreEscaped(POLL_SCRIPT)) }
    };
    layout::page(
        &console,
        &session,
        Page {
            nav: Nav::Sync,
            title: "Sync with Microsoft Entra ID",
        },
        body,
    )
}

/// `GET /console/sync/live`: the live part alone, for the page's polling.
async fn live_fragment(State(console): Shared, session: SignedIn) -> Response {
    match recent_runs(&console.services, HISTORY) {
        Ok(runs) => layout::fragment(live(&console, &session, &runs)),
        Err(e) => layout::error_page(e.status(), e.message()),
    }
}

/// Sync now, the running and held runs, the last run and the history: the part of the
/// page that changes while a run progresses.
fn live(console: &Console, session: &Session, runs: &[SyncRun]) -> Markup {
    let status = console.services.sync.status();
    let in_progress =
        status.running.is_some() || runs.iter().any(|r| r.outcome == SyncOutcome::Running);
    let last = runs.iter().find(|r| r.outcome != SyncOutcome::Running);
    html! {
        div #live data-running=[in_progress.then_some("1")] {
            div.toolbar {
                form.inline method="post" action="/console/sync/now" {
                    (csrf_field(session))
                    button.primary #sync-now type="submit" disabled[status.running.is_some()] { "Sync now" }
                }
                @if let Some(id) = status.running {
                    span.badge.run #running { "Run " (id) " in progress…" }
                }
            }
            @if let Some(held) = &status.held { (held_card(session, held)) }
            h2 { "Last run" }
            @match last {
                Some(run) => div.card { (run_summary(run)) },
                None => p.muted { "No run has finished yet." },
            }
            h2 { "Run history" }
            (history(runs))
        }
    }
}

/// The sync options form, with the warnings of the last successful run (e.g. an allowed
/// group that matches nothing) above it.
fn settings_section(console: &Console, session: &Session, runs: &[SyncRun]) -> Markup {
    let warnings = runs
        .iter()
        .find(|r| r.outcome == SyncOutcome::Succeeded)
        .map(|r| r.warnings.as_slice())
        .unwrap_or_default();
    let view = console.services.sync.settings().view();
    html! {
        h2 { "Sync options" }
        (super::settings_form::render(session, &view, warnings))
        (domains_section(console, session))
    }
}

/// Subdomain Sync's domain list: the tenant's domains as the last run read them, and
/// "Refresh domain list", which starts a run (every run re-reads `GET /domains`, with the
/// domains credential, and commits the list with the directory).
fn domains_section(console: &Console, session: &Session) -> Markup {
    let domains = console.services.store.load_domains();
    html! {
        h2 { "Domains" }
        p.muted { "Users are imported from the default domain and the subdomains selected above (" code { "subdomains" } ", or " code { "all_subdomains" } " for every " code { "*.default" } " domain)." }
        @match domains {
            Err(e) => p.error { (e.to_string()) },
            Ok(list) if list.is_empty() => p.muted #domains { "No domain list yet: it arrives with the first sync." },
            Ok(list) => table #domains {
                thead { tr { th { "Domain" } th { "" } } }
                tbody {
                    @for d in &list {
                        tr data-domain=(d.id) {
                            td.mono { (d.id) }
                            td {
                                @if d.is_default { span.badge.ok { "default" } " " }
                                @if d.is_initial { span.badge { "initial" } " " }
                                @if !d.is_verified { span.badge.bad { "unverified" } }
                            }
                        }
                    }
                }
            },
        }
        form.inline method="post" action="/console/sync/now" {
            (csrf_field(session))
            button #refresh-domains type="submit" { "Refresh domain list" }
        }
    }
}

fn held_card(session: &Session, run: &SyncRun) -> Markup {
    html! {
        div.card #held {
            h2 { "Run " (run.id) " is held for approval" }
            p { "It would deactivate or remove more entries than the deletion guard allows. Nothing has changed yet." }
            (run_summary(run))
            div.toolbar {
                form.inline method="post" action=(format!("/console/sync/runs/{}/approve", run.id)) {
                    (csrf_field(session))
                    button.primary #approve type="submit" { "Approve" }
                }
                form.inline method="post" action=(format!("/console/sync/runs/{}/discard", run.id)) {
                    (csrf_field(session))
                    button.danger #discard type="submit" { "Discard" }
                }
            }
        }
    }
}

fn run_summary(run: &SyncRun) -> Markup {
    html! {
        dl {
            dt { "Run" } dd { (run.id) " · " (trigger(run.trigger)) }
            dt { "Outcome" } dd { (outcome(run.outcome)) }
            dt { "Started" } dd { (layout::time(run.started)) }
            dt { "Finished" } dd { (run.finished.map(layout::time).unwrap_or_default()) }
            dt { "Credential" } dd { (run.credential.as_deref().unwrap_or("—")) }
            dt { "Changes" } dd { (counts(run)) }
            @if let Some(error) = &run.error { dt { "Error" } dd.error { (error) } }
        }
    }
}

fn history(runs: &[SyncRun]) -> Markup {
    html! {
        table #runs {
            thead { tr {
                th { "Run" } th { "Trigger" } th { "Started" } th { "Finished" } th { "Outcome" }
                th { "Mode" } th { "Credential" } th { "Graph requests" } th { "Changes" } th { "Error" }
            } }
            tbody {
                @for run in runs {
                    tr data-run=(run.id) data-outcome=(outcome_key(run.outcome)) {
                        td.num { (run.id) }
                        td { (trigger(run.trigger)) }
                        td { (layout::time(run.started)) }
                        td { (run.finished.map(layout::time).unwrap_or_default()) }
                        td { (outcome(run.outcome)) }
                        td { (run.mode.map(|m| format!("{m:?}").to_lowercase()).unwrap_or_default()) }
                        td {
                            (run.credential.as_deref().unwrap_or(""))
                            @for failure in &run.credential_failures { div.muted { "failed: " (failure) } }
                        }
                        td.num { (run.graph_requests) }
                        td { (counts(run)) }
                        td { (run.error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        @if runs.is_empty() { p.muted { "No runs yet." } }
    }
}

fn counts(run: &SyncRun) -> String {
    let c = &run.changes;
    format!(
        "users +{} ~{} −{} deactivated {} · groups +{} ~{} −{}",
        c.users_added,
        c.users_changed,
        c.users_removed,
        c.users_deactivated,
        c.groups_added,
        c.groups_changed,
        c.groups_removed
    )
}

fn trigger(t: SyncTrigger) -> &'static str {
    match t {
        SyncTrigger::Startup => "start-up",
        SyncTrigger::Schedule => "schedule",
        SyncTrigger::Manual => "manual",
        SyncTrigger::SettingsChanged => "settings changed",
    }
}

fn outcome_key(o: SyncOutcome) -> &'static str {
    match o {
        SyncOutcome::Running => "running",
        SyncOutcome::Succeeded => "succeeded",
        SyncOutcome::Failed => "failed",
        SyncOutcome::Held => "held",
        SyncOutcome::Discarded => "discarded",
    }
}

fn outcome(o: SyncOutcome) -> Markup {
    let class = match o {
        SyncOutcome::Succeeded => "badge ok",
        SyncOutcome::Failed => "badge bad",
        SyncOutcome::Running | SyncOutcome::Held => "badge run",
        SyncOutcome::Discarded => "badge",
    };
    html! { span class=(class) { (outcome_key(o)) } }
}

/// `POST /console/sync/now`: starts a run, like `POST /api/v1/sync`.
async fn sync_now(State(console): Shared, session: SignedIn) -> Response {
    let result = console.services.sync.trigger(SyncTrigger::Manual);
    let (target, outcome) = match &result {
        Ok(id) => (id.to_string(), Ok(())),
        Err(busy) => (busy.0.to_string(), Err(busy.to_string())),
    };
    audit::conclude(
        &console,
        &session,
        "sync.trigger",
        &target,
        outcome,
        "Sync initiated successfully".to_string(),
        "/console/sync",
    )
    .await
}

/// `POST /console/sync/runs/{id}/approve`: commits a held run.
async fn approve(State(console): Shared, session: SignedIn, Path(id): Path<u64>) -> Response {
    let result = console
        .services
        .sync
        .approve(id)
        .map(|_| ())
        .map_err(|e| e.to_string());
    audit::conclude(
        &console,
        &session,
        "sync.approve",
        &id.to_string(),
        result,
        format!("Held run {id} approved; committing it"),
        "/console/sync",
    )
    .await
}

/// `POST /console/sync/runs/{id}/discard`: drops a held run.
async fn discard(State(console): Shared, session: SignedIn, Path(id): Path<u64>) -> Response {
    let result = console
        .services
        .sync
        .discard(id)
        .map(|_| ())
        .map_err(|e| e.to_string());
    audit::conclude(
        &console,
        &session,
        "sync.discard",
        &id.to_string(),
        result,
        format!("Held run {id} discarded"),
        "/console/sync",
    )
    .await
}
