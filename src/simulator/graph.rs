//! The Graph v1.0 endpoints sync reads: `/users`, `/groups`, `/groups/{id}/members`,
//! `/domains`, with bearer-token checks, `$select`, `$top`, opaque `$skiptoken` paging,
//! Graph's error bodies and injected faults.
//!
//! Why this much fidelity: sync is only trustworthy if it has been run against the same
//! shapes and failure modes Microsoft produces (graph.md §2-§3): properties that appear only
//! when selected, absolute nextLinks, 400 on `$top=1000`, 401/429/503 error JSON.

use super::clock::graph_date;
use super::server::{Fault, SimState, lock};
use super::tenant::{MemberKind, SimDomain, SimGroup, SimMember, SimUser, Tenant};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Graph's default page size for directory collections.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Graph's largest `$top` for directory collections.
const MAX_TOP: usize = 999;
/// `GET /users` returns only these when there is no `$select` (graph.md §2.2).
const USER_DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];
/// Where [`Fault::ForeignNextLink`] points nextLinks (a reserved, unresolvable name).
const FOREIGN_ORIGIN: &str = "http://graph.attacker.invalid";
const CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A Graph error response: status, `error.code`, `error.message`, optional Retry-After.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    fn unauthenticated(message: &str) -> Self {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    fn into_response(self, client_request_id: Option<&HeaderValue>) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = client_request_id
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        let mut inner = json!({
            "date": graph_date(),
            "request-id": request_id,
            "client-request-id": client_request_id,
        });
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            inner["code"] = json!("429");
            inner["status"] = json!("429");
            inner["message"] = json!("Please retry after");
        }
        let body =
            json!({"error": {"code": self.code, "message": self.message, "innerError": inner}});
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("request-id", v);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"\", error=\"invalid_token\""),
            );
        }
        response
    }
}

/// The query options the simulator understands.
#[derive(Debug, Default, PartialEq, Eq)]
struct Query {
    select: Option<Vec<String>>,
    top: Option<usize>,
    offset: usize,
    /// Every parameter but `$skiptoken`, as received, to carry into the nextLink.
    carried: Vec<(String, String)>,
}

fn parse_query(raw: Option<&str>, salt: u64) -> Result<Query, GraphError> {
    let mut q = Query::default();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let name = key.trim_start_matches('$').to_ascii_lowercase();
        match name.as_str() {
            "skiptoken" => {
                q.offset = decode_skiptoken(&value, salt)
                    .ok_or_else(|| GraphError::bad_request("Invalid syntax for skip token."))?;
                continue;
            }
            "select" => {
                q.select = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
            }
            "top" => {
                let top = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|t| (1..=MAX_TOP).contains(t));
                q.top = Some(top.ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Invalid page size specified: '{value}'. Must be between 1 and 999 inclusive."
                    ))
                })?);
            }
            _ => {}
        }
        q.carried.push((key.into_owned(), value.into_owned()));
    }
    Ok(q)
}

/// An opaque continuation token: the offset, bound to this server's salt.
fn encode_skiptoken(offset: usize, salt: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sim1:{salt:016x}:{offset}"))
}

fn decode_skiptoken(token: &str, salt: u64) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("sim1:")?;
    let (token_salt, offset) = rest.split_once(':')?;
    if u64::from_str_radix(token_salt, 16).ok()? != salt {
        return None;
    }
    offset.parse().ok()
}

/// Property names an entity type has (the keys of its JSON form).
fn property_names<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Maps each selected name to the property's canonical spelling (Graph matches
/// case-insensitively) or fails like Graph on an unknown property.
fn resolve_select(
    select: &[String],
    known: &[String],
    type_name: &str,
) -> Result<Vec<String>, GraphError> {
    select
        .iter()
        .map(|wanted| {
            known
                .iter()
                .find(|k| k.eq_ignore_ascii_case(wanted))
                .cloned()
                .ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Could not find a property named '{wanted}' on type '{type_name}'."
                    ))
                })
        })
        .collect()
}

/// Keeps the selected properties, or the default set (all when `defaults` is empty).
fn project(value: Value, select: Option<&[String]>, defaults: &[&str]) -> Map<String, Value> {
    let Value::Object(map) = value else {
        return Map::new();
    };
    map.into_iter()
        .filter(|(k, _)| match select {
            Some(sel) => sel.iter().any(|s| s == k),
            None => defaults.is_empty() || defaults.contains(&k.as_str()),
        })
        .collect()
}

/// One page of a collection, as Graph frames it.
struct Page<'a> {
    /// Path after `/v1.0/` (e.g. `users`, `groups/{id}/members`).
    path: &'a str,
    /// Entity set named in `@odata.context` (e.g. `users`, `directoryObjects`).
    entity_set: &'a str,
    query: &'a Query,
    select: Option<&'a [String]>,
    max_page_size: usize,
}

impl Page<'_> {
    /// The window of `total` items this request serves.
    fn window(&self, total: usize) -> std::ops::Range<usize> {
        let size = self
            .query
            .top
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(self.max_page_size)
            .max(1);
        let start = self.query.offset.min(total);
        start..start.saturating_add(size).min(total)
    }

    fn render(&self, state: &SimState, items: Vec<Value>, next: Option<usize>) -> Value {
        let base = &state.base;
        let context = match self.select {
            Some(sel) => format!(
                "{base}/v1.0/$metadata#{}({})",
                self.entity_set,
                sel.join(",")
            ),
            None => format!("{base}/v1.0/$metadata#{}", self.entity_set),
        };
        let mut body = Map::new();
        body.insert("@odata.context".into(), Value::String(context));
        if let Some(offset) = next {
            let mut params: Vec<String> = self
                .query
                .carried
                .iter()
                .map(|(k, v)| format!("{}={}", encode_value(k), encode_value(v)))
                .collect();
            params.push(format!(
                "$skiptoken={}",
                encode_skiptoken(offset, state.skiptoken_salt)
            ));
            body.insert(
                "@odata.nextLink".into(),
                Value::String(format!("{base}/v1.0/{}?{}", self.path, params.join("&"))),
            );
        }
        body.insert("value".into(), Value::Array(items));
        Value::Object(body)
    }
}

/// Percent-encodes a query key or value but keeps `,` and `$` readable, as Graph's links do.
fn encode_value(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes())
        .collect::<String>()
        .replace("%2C", ",")
        .replace("%24", "$")
}

/// Serves one page of a plain entity collection (users, groups, domains).
fn entity_page<T: Serialize + Default + Clone>(
    state: &SimState,
    query: &Query,
    list: fn(&Tenant) -> &[T],
    name: (&str, &str),
    defaults: &[&str],
) -> Result<Value, GraphError> {
    let (entity_set, type_name) = name;
    let select = match &query.select {
        Some(sel) => Some(resolve_select(sel, &property_names::<T>(), type_name)?),
        None => None,
    };
    let (window_items, total, page) = {
        let t = lock(&state.tenant);
        let page = Page {
            path: entity_set,
            entity_set,
            query,
            select: select.as_deref(),
            max_page_size: t.max_page_size,
        };
        let all = list(&t);
        let window = page.window(all.len());
        let items: Vec<T> = all
            .get(window.clone())
            .map(<[T]>::to_vec)
            .unwrap_or_default();
        (items, (window.end, all.len()), page)
    };
    let values = window_items
        .into_iter()
        .map(|item| {
            let v = serde_json::to_value(item).unwrap_or(Value::Null);
            Value::Object(project(v, select.as_deref(), defaults))
        })
        .collect();
    let next = (total.0 < total.1).then_some(total.0);
    Ok(page.render(state, values, next))
}

/// `GET /v1.0/users`.
pub(crate) async fn users(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    serve(&state, &headers, raw.as_deref(), |q| {
        entity_page::<SimUser>(
            &state,
            q,
            |t| &t.users,
            ("users", "microsoft.graph.user"),
            USER_DEFAULT_PROPERTIES,
        )
    })
}

/// `GET /v1.0/groups`.
pub(crate) async fn groups(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    serve(&state, &headers, raw.as_deref(), |q| {
        entity_page::<SimGroup>(
            &state,
            q,
            |t| &t.groups,
            ("groups", "microsoft.graph.group"),
            &[],
        )
    })
}

/// `GET /v1.0/domains`.
pub(crate) async fn domains(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    serve(&state, &headers, raw.as_deref(), |q| {
        entity_page::<SimDomain>(
            &state,
            q,
            |t| &t.domains,
            ("domains", "microsoft.graph.domain"),
            &[],
        )
    })
}

/// `GET /v1.0/groups/{id}/members`: direct members, each tagged with its `@odata.type`.
pub(crate) async fn members(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    serve(&state, &headers, raw.as_deref(), |q| {
        member_page(&state, &id, q)
    })
}

fn member_page(state: &SimState, group_id: &str, query: &Query) -> Result<Value, GraphError> {
    let select = match &query.select {
        Some(sel) => {
            let mut known = property_names::<SimUser>();
            known.extend(property_names::<SimGroup>());
            Some(resolve_select(
                sel,
                &known,
                "microsoft.graph.directoryObject",
            )?)
        }
        None => None,
    };
    let only_id = select.as_deref() == Some(&["id".to_string()][..]);
    let path = format!("groups/{group_id}/members");
    let t = lock(&state.tenant);
    let group = t.groups.iter().find(|g| g.id == group_id).ok_or_else(|| {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{group_id}' does not exist or one of its queried reference-property objects are not present."),
        )
    })?;
    let page = Page {
        path: &path,
        entity_set: "directoryObjects",
        query,
        select: select.as_deref(),
        max_page_size: t.max_page_size,
    };
    let window = page.window(group.members.len());
    let next = (window.end < group.members.len()).then_some(window.end);
    let values = group
        .members
        .get(window)
        .unwrap_or_default()
        .iter()
        .map(|m| member_json(&t, m, select.as_deref(), only_id))
        .collect();
    Ok(page.render(state, values, next))
}

/// One member as Graph lists it: `@odata.type` first, then the selected properties.
fn member_json(t: &Tenant, m: &SimMember, select: Option<&[String]>, only_id: bool) -> Value {
    let full = if only_id {
        json!({"id": m.id})
    } else {
        let found = match m.kind {
            MemberKind::User => t
                .users
                .iter()
                .find(|u| u.id == m.id)
                .and_then(|u| serde_json::to_value(u).ok()),
            MemberKind::Group => t
                .groups
                .iter()
                .find(|g| g.id == m.id)
                .and_then(|g| serde_json::to_value(g).ok()),
            MemberKind::OrgContact | MemberKind::Device => t
                .others
                .iter()
                .find(|o| o.id == m.id)
                .and_then(|o| serde_json::to_value(o).ok()),
        };
        found.unwrap_or_else(|| json!({"id": m.id}))
    };
    let defaults: &[&str] = if m.kind == MemberKind::User {
        USER_DEFAULT_PROPERTIES
    } else {
        &[]
    };
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        Value::String(m.kind.odata_type().into()),
    );
    out.extend(project(full, select, defaults));
    Value::Object(out)
}

/// Unknown paths: Graph's 404 body.
pub(crate) async fn not_found(uri: Uri, headers: HeaderMap) -> Response {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource not found for the segment '{}'.",
            uri.path().trim_start_matches('/')
        ),
    )
    .into_response(headers.get("client-request-id"))
}

/// The common frame of every Graph request: count it, serve an injected fault, check the
/// bearer token, parse the query, then build the body (truncating it if asked to).
fn serve(
    state: &SimState,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    build: impl FnOnce(&Query) -> Result<Value, GraphError>,
) -> Response {
    state.graph_requests.fetch_add(1, Ordering::Relaxed);
    let client_request_id = headers.get("client-request-id");
    let fault = state.next_fault();
    let result = match fault {
        Some(Fault::Throttle { retry_after_secs }) => Err(GraphError {
            retry_after: Some(retry_after_secs),
            ..GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Please retry again later.",
            )
        }),
        Some(Fault::Unavailable { retry_after_secs }) => Err(GraphError {
            retry_after: retry_after_secs,
            ..GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "Service unavailable",
            )
        }),
        Some(Fault::InternalError) => Err(GraphError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An internal server error occurred.",
        )),
        _ => authorize(state, headers)
            .and_then(|()| parse_query(raw_query, state.skiptoken_salt))
            .and_then(|q| build(&q)),
    };
    match result {
        Err(e) => e.into_response(client_request_id),
        Ok(mut body) => {
            if fault == Some(Fault::ForeignNextLink)
                && let Some(Value::String(link)) = body.get_mut("@odata.nextLink")
            {
                *link = link.replacen(&state.base, FOREIGN_ORIGIN, 1);
            }
            let mut text = body.to_string();
            if fault == Some(Fault::TruncatedBody) {
                let mut cut = text.len() / 2;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            let mut response = (StatusCode::OK, text).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
    }
}

/// Checks `Authorization: Bearer` against the tokens the identity endpoint issued.
fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), GraphError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Err(GraphError::unauthenticated("Access token is empty."));
    }
    match lock(&state.tokens).get(token) {
        None => Err(GraphError::unauthenticated(
            "Access token validation failure. Invalid audience.",
        )),
        Some(expiry) if *expiry <= Instant::now() => Err(GraphError::unauthenticated(
            "Access token has expired or is not yet valid.",
        )),
        Some(_) if super::delegation::is_denied(state, token) => Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skiptoken_round_trips_and_rejects_foreign_or_garbage() {
        let t = encode_skiptoken(42, 7);
        assert_eq!(decode_skiptoken(&t, 7), Some(42));
        assert_eq!(decode_skiptoken(&t, 8), None, "other server's token");
        assert_eq!(decode_skiptoken("not-a-token!", 7), None);
        assert!(!t.contains("42"), "opaque: {t}");
    }

    #[test]
    fn top_must_be_between_1_and_999() {
        assert_eq!(parse_query(Some("$top=999"), 1).unwrap().top, Some(999));
        for bad in ["$top=1000", "$top=0", "$top=x"] {
            let e = parse_query(Some(bad), 1).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains("Must be between 1 and 999 inclusive"));
        }
        let e = parse_query(Some("$skiptoken=zzz"), 1).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn select_is_resolved_case_insensitively_and_validated() {
        let known = property_names::<SimUser>();
        let sel = vec!["ACCOUNTENABLED".to_string(), "id".to_string()];
        assert_eq!(
            resolve_select(&sel, &known, "microsoft.graph.user").unwrap(),
            vec!["accountEnabled", "id"]
        );
        let e = resolve_select(&["nope".into()], &known, "microsoft.graph.user").unwrap_err();
        assert!(e.message.contains("'nope'"));
    }

    #[test]
    fn default_user_projection_hides_select_only_properties() {
        let user = SimUser {
            id: "1".into(),
            account_enabled: true,
            ..SimUser::default()
        };
        let v = serde_json::to_value(user).unwrap();
        let p = project(v.clone(), None, USER_DEFAULT_PROPERTIES);
        assert!(p.contains_key("userPrincipalName"));
        assert!(!p.contains_key("accountEnabled"));
        assert!(!p.contains_key("mailNickname"));
        let sel = vec!["accountEnabled".to_string()];
        let p = project(v, Some(&sel), USER_DEFAULT_PROPERTIES);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn window_is_capped_by_top_and_max_page_size() {
        let q = Query {
            top: Some(10),
            offset: 4,
            ..Query::default()
        };
        let page = Page {
            path: "users",
            entity_set: "users",
            query: &q,
            select: None,
            max_page_size: 3,
        };
        assert_eq!(page.window(100), 4..7);
        assert_eq!(page.window(5), 4..5);
        assert_eq!(page.window(2), 2..2);
    }
}
