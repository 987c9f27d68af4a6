//! What the CLI prints for the read-only views the console has: users, one user, groups,
//! one group, the sync credentials and the logs.
//!
//! Why: "everything the console does is also in the CLI" (issue 4). Lists are aligned
//! tables an admin reads at a terminal; single objects are the API's JSON, pretty-printed,
//! so a script can use `jq`; log exports pass the API's JSON or CSV through unchanged.

use super::client::{AdminClient, ClientError, segment, with_query};
use serde_json::Value;
use std::fmt::Write;

/// A JSON value's text: strings without quotes, `null` as empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An aligned table of `columns` (header, JSON key) over `rows`.
pub fn table(columns: &[(&str, &str)], rows: &[Value]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|(_, key)| cell(&row[*key])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (header, _))| {
            cells
                .iter()
                .filter_map(|row| row.get(i).map(|c| c.chars().count()))
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let headers: Vec<String> = columns.iter().map(|(h, _)| h.to_string()).collect();
    for row in std::iter::once(&headers).chain(cells.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()) + "\n"
}

/// `entra-ldap user list`: synced users with status and why inactive.
pub async fn user_list(
    client: &AdminClient,
    status: Option<String>,
    search: Option<String>,
    limit: Option<usize>,
) -> Result<String, ClientError> {
    let path = with_query(
        "/api/v1/users",
        &[
            ("status", status),
            ("q", search),
            ("limit", limit.map(|l| l.to_string())),
        ],
    );
    let answer = client.get_json(&path).await?;
    let users = answer["users"].as_array().cloned().unwrap_or_default();
    let mut out = table(
        &[
            ("UID", "uid"),
            ("UIDNUMBER", "uid_number"),
            ("STATUS", "status"),
            ("REASON", "reason"),
            ("MAIL", "mail"),
            ("NAME", "display_name"),
        ],
        &users,
    );
    if answer["truncated"] == Value::Bool(true) {
        let _ = writeln!(
            out,
            "… {} matched in all (use --limit)",
            cell(&answer["total"])
        );
    }
    Ok(out)
}

/// `entra-ldap user show UID`: the user, groups and LDAP entry as JSON.
pub async fn user_show(client: &AdminClient, uid: &str) -> Result<String, ClientError> {
    let path = format!("/api/v1/users/{}", segment(uid));
    Ok(pretty(&client.get_json(&path).await?))
}

/// `entra-ldap group list`.
pub async fn group_list(client: &AdminClient) -> Result<String, ClientError> {
    let answer = client.get_json("/api/v1/groups").await?;
    let groups = answer["groups"].as_array().cloned().unwrap_or_default();
    Ok(table(
        &[
            ("CN", "cn"),
            ("GIDNUMBER", "gid_number"),
            ("KIND", "kind"),
            ("MEMBERS", "member_count"),
            ("MAIL", "mail"),
        ],
        &groups,
    ))
}

/// `entra-ldap group show CN`: the group and its members as JSON.
pub async fn group_show(client: &AdminClient, cn: &str) -> Result<String, ClientError> {
    let path = format!("/api/v1/groups/{}", segment(cn));
    Ok(pretty(&client.get_json(&path).await?))
}

/// `entra-ldap sync credentials`: what the sync may use, in order, with the green check.
pub async fn credentials(client: &AdminClient) -> Result<String, ClientError> {
    let answer = client.get_json("/api/v1/sync/credentials").await?;
    let rows = answer["credentials"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(table(
        &[
            ("SLOT", "slot"),
            ("PURPOSE", "purpose"),
            ("KIND", "kind"),
            ("WHO", "who"),
            ("VALIDATED", "validated_at"),
            ("LAST ERROR", "last_error"),
        ],
        &rows,
    ))
}

/// The filters of `entra-ldap logs ldap`.
#[derive(Default)]
pub struct LdapLogFilter {
    pub op: Option<String>,
    pub result: Option<i64>,
    pub search: Option<String>,
    pub since: Option<i64>,
    pub limit: Option<usize>,
    pub format: Option<String>,
}

/// `entra-ldap logs ldap`: the LDAP operation log, as the API's JSON or CSV.
pub async fn ldap_log(client: &AdminClient, filter: LdapLogFilter) -> Result<String, ClientError> {
    let path = with_query(
        "/api/v1/logs/ldap",
        &[
            ("op", filter.op),
            ("result", filter.result.map(|r| r.to_string())),
            ("q", filter.search),
            ("since", filter.since.map(|s| s.to_string())),
            ("limit", filter.limit.map(|l| l.to_string())),
            ("format", filter.format),
        ],
    );
    client.get_text(&path).await
}

/// `entra-ldap logs audit`: the audit trail, as the API's JSON or CSV.
pub async fn audit_log(
    client: &AdminClient,
    limit: Option<usize>,
    format: Option<String>,
) -> Result<String, ClientError> {
    let path = with_query(
        "/api/v1/logs/audit",
        &[("limit", limit.map(|l| l.to_string())), ("format", format)],
    );
    client.get_text(&path).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_and_show_nulls_as_empty() {
        let rows = [
            json!({"uid": "alice", "n": 100001, "reason": null}),
            json!({"uid": "bo", "n": 7, "reason": "deleted"}),
        ];
        let text = table(&[("UID", "uid"), ("N", "n"), ("REASON", "reason")], &rows);
        assert_eq!(
            text,
            "UID    N       REASON\nalice  100001\nbo     7       deleted\n"
        );
    }
}
