//! A small Microsoft Graph client: authenticated GETs with retries, and collection paging.
//!
//! Why its own module: the rules for talking to Graph safely (timeouts, Retry-After,
//! bounded retries, re-authentication after a 401, refusing nextLinks to other hosts so the
//! token never leaves for them, failing loudly on truncated JSON) are independent of what
//! sync reads, and are tested on their own.

use super::credentials::delegated::DelegatedStore;
use super::error::{SyncError, error_chain};
use super::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use super::token::TokenSource;
use crate::config::EntraConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

/// Longest error detail from a Graph error body kept in a message.
const MAX_DETAIL: usize = 300;

/// One page of a Graph collection.
#[derive(Debug, Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// One page of a delta round: more pages (`nextLink`) or the end (`deltaLink`).
#[derive(Debug, Deserialize)]
struct DeltaPage<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// Graph's error body: `{"error":{"code":…,"message":…}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

/// Authenticated access to one Graph endpoint (`entra.graph_url`).
pub struct GraphClient {
    http: reqwest::Client,
    graph_url: Url,
    tokens: TokenSource,
    retry: RetryPolicy,
}

impl GraphClient {
    /// Builds the HTTP client (rustls, per-request timeout, no redirects) and the token
    /// source for `entra`.
    pub fn new(entra: &EntraConfig) -> Result<GraphClient, SyncError> {
        let timeout = Duration::from_secs(entra.request_timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("entra-ldap/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        let tokens = TokenSource::new(entra, http.clone())?;
        Ok(GraphClient {
            http,
            graph_url: entra.graph_url.clone(),
            tokens,
            retry: RetryPolicy::default(),
        })
    }

    /// Also reads Graph with the delegated authorizations kept in `source` (see
    /// [`TokenSource`] for the order credentials are tried in).
    pub fn with_delegated(mut self, source: DelegatedStore) -> GraphClient {
        self.tokens = self.tokens.with_delegated(source);
        self
    }

    /// Starts a run's credential bookkeeping: the primary credential is tried first again.
    pub fn begin_run(&self) {
        self.tokens.begin_run();
    }

    /// Which credential the run used, and why those tried before it failed.
    pub fn credential_report(&self) -> (Option<String>, Vec<String>) {
        self.tokens.report()
    }

    /// Replaces the retry limits (tests use short ones).
    pub fn with_retry(mut self, retry: RetryPolicy) -> GraphClient {
        self.retry = retry;
        self
    }

    /// `{graph_url}/v1.0/{segments…}?{query}`; segments are escaped, `query` is used as is.
    pub fn url(&self, segments: &[&str], query: &str) -> Result<Url, SyncError> {
        let mut url = self.graph_url.clone();
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| {
                SyncError::Config(format!("graph_url {} cannot have a path", self.graph_url))
            })?
            .pop_if_empty()
            .push("v1.0")
            .extend(segments);
        url.set_query((!query.is_empty()).then_some(query));
        Ok(url)
    }

    /// Reads a whole collection: `first`, then every `@odata.nextLink` until there is none.
    /// Each HTTP request sent is added to `requests`.
    pub async fn list<T: DeserializeOwned>(
        &self,
        first: Url,
        requests: &AtomicU64,
    ) -> Result<Vec<T>, SyncError> {
        let mut items = Vec::new();
        let mut url = first;
        loop {
            let page: Page<T> = self.get_json(&url, requests).await?;
            items.extend(page.value);
            let Some(link) = page.next_link else {
                return Ok(items);
            };
            let next = self.follow(&link)?;
            if next == url {
                return Err(SyncError::Malformed {
                    path: url.path().to_string(),
                    reason: "@odata.nextLink repeats the current page".to_string(),
                });
            }
            url = next;
        }
    }

    /// Reads one delta round from `first` (an initial delta URL or a stored deltaLink):
    /// every page until the one carrying `@odata.deltaLink`, which is returned with the
    /// items. `page_size` is asked for with `Prefer: odata.maxpagesize` (delta ignores
    /// `$top`). A page with both links or neither is malformed, as is a nextLink that
    /// repeats the page or either link leaving the Graph origin. Each item is passed
    /// through `convert` as its page arrives (so Graph's shape is not kept beside ours); a
    /// conversion error makes the page malformed.
    pub async fn delta_round<T: DeserializeOwned, U>(
        &self,
        first: Url,
        page_size: u32,
        requests: &AtomicU64,
        mut convert: impl FnMut(T) -> Result<U, String>,
    ) -> Result<(Vec<U>, Url), SyncError> {
        let prefer = format!("odata.maxpagesize={}", page_size.clamp(1, 999));
        let mut items = Vec::new();
        let mut url = first;
        loop {
            let page: DeltaPage<T> = self.get(&url, requests, Some(&prefer)).await?;
            let malformed = |reason: &str| SyncError::Malformed {
                path: url.path().to_string(),
                reason: reason.to_string(),
            };
            for item in page.value {
                items.push(convert(item).map_err(|reason| malformed(&reason))?);
            }
            match (page.next_link, page.delta_link) {
                (Some(_), Some(_)) => {
                    return Err(malformed(
                        "a page carries both @odata.nextLink and @odata.deltaLink",
                    ));
                }
                (None, None) => {
                    return Err(malformed("the last page carries no @odata.deltaLink"));
                }
                (None, Some(delta)) => return Ok((items, self.follow(&delta)?)),
                (Some(next), None) => {
                    let next = self.follow(&next)?;
                    if next == url {
                        return Err(malformed("@odata.nextLink repeats the current page"));
                    }
                    url = next;
                }
            }
        }
    }

    /// Parses a nextLink (or a stored deltaLink) and checks it stays on the configured Graph
    /// origin, so the bearer token is never sent elsewhere.
    pub fn follow(&self, link: &str) -> Result<Url, SyncError> {
        let next = self
            .graph_url
            .join(link)
            .map_err(|e| SyncError::Malformed {
                path: self.graph_url.path().to_string(),
                reason: format!("unparseable @odata.nextLink: {e}"),
            })?;
        if next.origin() != self.graph_url.origin() {
            return Err(SyncError::ForeignLink {
                origin: next.origin().ascii_serialization(),
            });
        }
        Ok(next)
    }

    /// One GET with the bearer token, retried on 429/503/504 and transport errors within
    /// the retry policy, re-authenticated once after a 401; the body parsed as `T`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        requests: &AtomicU64,
    ) -> Result<T, SyncError> {
        self.get(url, requests, None).await
    }

    /// [`GraphClient::get_json`] with an optional `Prefer` header.
    async fn get<T: DeserializeOwned>(
        &self,
        url: &Url,
        requests: &AtomicU64,
        prefer: Option<&str>,
    ) -> Result<T, SyncError> {
        let path = url.path().to_string();
        let mut retries = 0u32;
        let mut waited = Duration::ZERO;
        let mut reauthenticated = false;
        loop {
            let (status, retry_after, reason) =
                match self.attempt(url, &path, requests, prefer).await? {
                    Attempt::Done(body) => return parse_body(&path, &body),
                    Attempt::Unauthorized(_, token) if !reauthenticated => {
                        // The token may have been revoked or expired early: get a new one.
                        self.tokens.invalidate(&token).await;
                        reauthenticated = true;
                        continue;
                    }
                    Attempt::Unauthorized(detail, token) | Attempt::Denied(detail, token) => {
                        // A fresh token refused (or access denied): the credential's fault,
                        // so the token layer moves on to the next one if there is one.
                        let status = if detail.starts_with("Authorization_RequestDenied") {
                            403
                        } else {
                            401
                        };
                        let why = format!("HTTP {status} {detail}");
                        if self.tokens.reject(&path, &token, &why).await {
                            reauthenticated = false;
                            continue;
                        }
                        return Err(SyncError::Status {
                            path,
                            status,
                            detail,
                        });
                    }
                    Attempt::Transient {
                        status,
                        retry_after,
                        reason,
                    } => (status, retry_after, reason),
                };
            retries += 1;
            let wait = self.retry.wait(retries, retry_after);
            if retries > self.retry.max_retries || waited + wait > self.retry.max_total_wait {
                return Err(match status {
                    None => SyncError::Transport { path, reason },
                    Some(status) => SyncError::GaveUp {
                        path,
                        status,
                        retries: retries - 1,
                    },
                });
            }
            tracing::debug!(path = %path, ?status, retry = retries, wait_ms = wait.as_millis() as u64, "retrying Graph request");
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// Sends one GET and classifies the answer; a non-retryable error status is an `Err`.
    async fn attempt(
        &self,
        url: &Url,
        path: &str,
        requests: &AtomicU64,
        prefer: Option<&str>,
    ) -> Result<Attempt, SyncError> {
        let token = self.tokens.get(path).await?;
        requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .get(url.clone())
            .bearer_auth(token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .header("client-request-id", uuid::Uuid::new_v4().to_string());
        if let Some(prefer) = prefer {
            request = request.header("Prefer", prefer);
        }
        let sent = request.send().await;
        let transport = |e: reqwest::Error| Attempt::Transient {
            status: None,
            retry_after: None,
            reason: error_chain(&e.without_url()),
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return Ok(transport(e)),
        };
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(match resp.bytes().await {
                Ok(body) => Attempt::Done(body),
                Err(e) => transport(e),
            });
        }
        if status == 401 {
            let body = resp.bytes().await.unwrap_or_default();
            return Ok(Attempt::Unauthorized(error_detail(&body), token));
        }
        if status == 403 {
            let body = resp.bytes().await.unwrap_or_default();
            let detail = error_detail(&body);
            if detail.starts_with("Authorization_RequestDenied") {
                return Ok(Attempt::Denied(detail, token));
            }
            return Err(SyncError::Status {
                path: path.to_string(),
                status,
                detail,
            });
        }
        if is_retryable_status(status) {
            crate::metrics::graph_throttled();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Ok(Attempt::Transient {
                status: Some(status),
                retry_after,
                reason: String::new(),
            });
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(SyncError::Status {
            path: path.to_string(),
            status,
            detail: error_detail(&body),
        })
    }
}

/// How one request went, when it is not a final error.
enum Attempt {
    /// A 2xx body.
    Done(bytes::Bytes),
    /// 401: this token was refused (with Graph's explanation).
    Unauthorized(String, oauth2::AccessToken),
    /// 403 `Authorization_RequestDenied`: the credential lacks the permission.
    Denied(String, oauth2::AccessToken),
    /// Worth retrying: 429/503/504 (`status`) or a transport failure (`None`).
    Transient {
        status: Option<u16>,
        retry_after: Option<Duration>,
        reason: String,
    },
}

/// Parses a 2xx body; a truncated or otherwise invalid one names the path, not the data.
fn parse_body<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, SyncError> {
    serde_json::from_slice(body).map_err(|e| SyncError::Malformed {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// `code: message` from a Graph error body, shortened; or a note that there was none.
fn error_detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => format!(
            "{}: {}",
            b.error.code.unwrap_or_default(),
            b.error.message.unwrap_or_default()
        ),
        Err(_) if body.is_empty() => "(empty body)".to_string(),
        Err(_) => "(no Graph error body)".to_string(),
    };
    text.chars().take(MAX_DETAIL).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn client(graph: &str) -> GraphClient {
        let entra = EntraConfig {
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            authority_url: Url::parse("http://127.0.0.1:9").unwrap(),
            graph_url: Url::parse(graph).unwrap(),
            sync_interval_secs: 0,
            page_size: 100,
            request_timeout_secs: 5,
            keep_mirror_min_objects: 0,
            client_certificate: None,
            backup: None,
        };
        GraphClient::new(&entra).unwrap()
    }

    #[test]
    fn urls_are_built_under_v1() {
        let c = client("https://graph.microsoft.com/");
        let u = c
            .url(&["groups", "a b", "members"], "$select=id&$top=999")
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://graph.microsoft.com/v1.0/groups/a%20b/members?$select=id&$top=999"
        );
    }

    #[test]
    fn next_links_must_stay_on_the_graph_origin() {
        let c = client("http://127.0.0.1:8000");
        assert!(
            c.follow("http://127.0.0.1:8000/v1.0/users?$skiptoken=x")
                .is_ok()
        );
        for bad in [
            "http://evil.example/v1.0/users?$skiptoken=x",
            "http://127.0.0.1:8001/v1.0/users",
            "https://127.0.0.1:8000/v1.0/users",
        ] {
            assert!(
                matches!(c.follow(bad), Err(SyncError::ForeignLink { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn truncated_body_is_malformed_and_names_the_path() {
        let r: Result<Page<serde_json::Value>, _> =
            parse_body("/v1.0/users", br#"{"value":[{"id":"1"},{"id""#);
        let e = r.unwrap_err();
        assert!(matches!(e, SyncError::Malformed { .. }));
        assert!(e.to_string().contains("/v1.0/users"), "{e}");
    }

    #[test]
    fn error_details_come_from_graph_error_bodies() {
        let body = br#"{"error":{"code":"Request_BadRequest","message":"Invalid page size"}}"#;
        assert_eq!(error_detail(body), "Request_BadRequest: Invalid page size");
        assert_eq!(error_detail(b""), "(empty body)");
        assert_eq!(error_detail(b"<html>"), "(no Graph error body)");
    }
}
