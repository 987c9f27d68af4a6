//! Plain-text rendering of the sync status and run history for `entra-ldap sync status`.
//!
//! Why not just print JSON: an admin at a terminal wants to see at a glance whether the last
//! run worked, which credential it used, what it changed and why a run is held; the API
//! keeps the JSON for scripts.

use crate::model::{SyncMode, SyncOutcome, SyncRun, UnixTime};
use std::fmt::Write;

/// `2026-11-27 05:31:02Z` (UTC).
pub fn format_time(t: UnixTime) -> String {
    format!("{}Z", crate::directory::values::format_utc(t))
}

/// The status block: running and held runs, then the history table.
pub fn status_report(running: Option<u64>, held: Option<&SyncRun>, runs: &[SyncRun]) -> String {
    let mut out = String::new();
    match running {
        Some(id) => {
            let _ = writeln!(out, "Running: run {id}");
        }
        None => out.push_str("Running: none\n"),
    }
    if let Some(h) = held {
        let _ = writeln!(
            out,
            "HELD: run {} — {}\n      approve: entra-ldap sync approve {id}   discard: entra-ldap sync discard {id}",
            h.id,
            h.error.as_deref().unwrap_or("held by the deletion guard"),
            id = h.id
        );
    }
    out.push('\n');
    out.push_str(&runs_table(runs));
    out
}

/// One line per run, newest first, then each run's error or credential failures.
pub fn runs_table(runs: &[SyncRun]) -> String {
    let mut out = format!(
        "{:>6}  {:<15}  {:<20}  {:>6}  {:<9}  {:<5}  {:>8}  {:>5} {:>5} {:>5}  {:>5} {:>5} {:>5}  {}\n",
        "RUN",
        "TRIGGER",
        "STARTED",
        "SECS",
        "OUTCOME",
        "MODE",
        "REQUESTS",
        "U+",
        "U~",
        "U-",
        "G+",
        "G~",
        "G-",
        "CREDENTIAL"
    );
    for run in runs {
        let c = &run.changes;
        let secs = run
            .finished
            .map(|f| (f - run.started).max(0).to_string())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:>6}  {:<15}  {:<20}  {:>6}  {:<9}  {:<5}  {:>8}  {:>5} {:>5} {:>5}  {:>5} {:>5} {:>5}  {}",
            run.id,
            label(&run.trigger),
            format_time(run.started),
            secs,
            outcome(run.outcome),
            run.mode.map(mode).unwrap_or("-"),
            run.graph_requests,
            c.users_added,
            c.users_changed,
            c.users_deactivated + c.users_removed,
            c.groups_added,
            c.groups_changed,
            c.groups_removed,
            run.credential.as_deref().unwrap_or("-"),
        );
        for failure in &run.credential_failures {
            let _ = writeln!(out, "        credential failed: {failure}");
        }
        if let Some(error) = &run.error {
            let _ = writeln!(out, "        {error}");
        }
        for warning in &run.warnings {
            let _ = writeln!(out, "        warning: {warning}");
        }
    }
    out
}

/// A serde-named enum's wire name (`manual`, `schedule`, …).
fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn outcome(o: SyncOutcome) -> &'static str {
    match o {
        SyncOutcome::Running => "running",
        SyncOutcome::Succeeded => "succeeded",
        SyncOutcome::Failed => "FAILED",
        SyncOutcome::Held => "HELD",
        SyncOutcome::Discarded => "discarded",
    }
}

fn mode(m: SyncMode) -> &'static str {
    match m {
        SyncMode::Full => "full",
        SyncMode::Delta => "delta",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChangeCounts, SyncTrigger};

    #[test]
    fn times_are_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_time(1_796_000_000), "2026-11-30 00:53:20Z");
    }

    #[test]
    fn table_shows_counts_errors_and_held_runs() {
        let run = SyncRun {
            id: 7,
            trigger: SyncTrigger::Manual,
            started: 100,
            finished: Some(103),
            outcome: SyncOutcome::Held,
            credential: Some("primary: client_secret".into()),
            credential_failures: vec!["backup: AADSTS7000222 expired".into()],
            mode: Some(SyncMode::Delta),
            graph_requests: 4,
            changes: ChangeCounts {
                users_deactivated: 600,
                ..ChangeCounts::default()
            },
            error: Some("would deactivate 600 of 1000".into()),
            warnings: Vec::new(),
        };
        let text = status_report(None, Some(&run), std::slice::from_ref(&run));
        assert!(
            text.contains("HELD: run 7 — would deactivate 600 of 1000"),
            "{text}"
        );
        assert!(text.contains("entra-ldap sync approve 7"), "{text}");
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("7 "))
            .unwrap();
        for field in ["manual", "HELD", "delta", "600", "primary: client_secret"] {
            assert!(line.contains(field), "{field} missing in {line}");
        }
        assert!(
            text.contains("credential failed: backup: AADSTS7000222"),
            "{text}"
        );
    }
}
