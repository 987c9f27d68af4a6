//! CLI client of the admin API.
//!
//! Why: `entra-ldap sync`, `user set-password` and `binder …` act on a *running* server, so
//! they talk to its admin API (address and token from the same config file) rather than
//! opening the store behind the server's back.

use crate::admin::api::BinderView;
use crate::admin::ssh_keys::{KeyView, KeysAnswer};
use crate::config::Config;
use crate::model::{SyncOutcome, SyncRun};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// A failed admin call, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the admin API at {url}: {reason} (is `entra-ldap serve` running?)")]
    Connect {
        url: String,
        /// The error with its causes (a certificate problem hides two levels down).
        reason: String,
        source: reqwest::Error,
    },
    #[error("admin API client setup: {0}")]
    Setup(String),
    #[error("admin API answered {status}: {message}")]
    Api { status: StatusCode, message: String },
    #[error("unexpected answer from the admin API: {0}")]
    Decode(String),
}

/// Talks to one server's admin API.
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Why the client could not be set up (e.g. an unreadable CA file), reported by the
    /// first call instead of connecting without the trust the config asked for.
    setup_error: Option<String>,
}

/// A wildcard listen address is reached through loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

impl AdminClient {
    /// A client for the server described by `config` (`[admin] listen` and token). Over
    /// HTTPS when the listener serves it, trusting [`Config::admin_ca_path`] (certificate
    /// verification stays on) and reaching `[admin] public_url` when set, so the name
    /// matches the certificate.
    pub fn from_config(config: &Config) -> AdminClient {
        if !config.admin.transport.is_tls() {
            return AdminClient::new(config.admin.listen, config.admin.token.expose());
        }
        let base = match &config.admin.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => format!("https://{}", reachable(config.admin.listen)),
        };
        let ca = config.admin_ca_path();
        let trusted = std::fs::read(&ca)
            .map_err(|e| e.to_string())
            .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string()))
            .map_err(|e| {
                format!(
                    "cannot load the CA file {} to trust the admin listener's certificate \
                     (set [admin] ca_file): {e}",
                    ca.display()
                )
            });
        let (http, setup_error) = match trusted {
            Ok(certificates) => {
                let builder = certificates
                    .into_iter()
                    .fold(http_builder(), |b, c| b.add_root_certificate(c));
                match builder.build() {
                    Ok(http) => (http, None),
                    Err(e) => (reqwest::Client::new(), Some(e.to_string())),
                }
            }
            Err(message) => (reqwest::Client::new(), Some(message)),
        };
        AdminClient {
            http,
            base,
            token: config.admin.token.expose().to_string(),
            setup_error,
        }
    }

    /// A plain-HTTP client for the listener at `listen` (loopback).
    pub fn new(listen: SocketAddr, token: &str) -> AdminClient {
        let http = http_builder()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        AdminClient {
            http,
            base: format!("http://{}", reachable(listen)),
            token: token.to_string(),
            setup_error: None,
        }
    }

    /// Sends one request; the status and body of a success (or a `409`, which carries a
    /// run id), or the API's error message.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, bytes::Bytes), ClientError> {
        if let Some(message) = &self.setup_error {
            return Err(ClientError::Setup(message.clone()));
        }
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Connect {
                url,
                reason: error_chain(&source),
                source,
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        if !status.is_success() && status != StatusCode::CONFLICT {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Api { status, message });
        }
        Ok((status, bytes))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Option<T>), ClientError> {
        let (status, bytes) = self.send(method, path, body).await?;
        if bytes.is_empty() {
            return Ok((status, None));
        }
        let value =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((status, Some(value)))
    }

    async fn expect<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        match self.call(method, path, body).await? {
            (_, Some(value)) => Ok(value),
            (status, None) => Err(ClientError::Decode(format!("empty body with {status}"))),
        }
    }

    /// Starts a sync; when one is already running, returns that run's id instead.
    /// The bool says whether this call started it.
    pub async fn trigger_sync(&self) -> Result<(u64, bool), ClientError> {
        self.trigger_sync_with(false).await
    }

    /// [`AdminClient::trigger_sync`]; with `full`, the run reads the whole tenant even
    /// when a delta sync is possible.
    pub async fn trigger_sync_with(&self, full: bool) -> Result<(u64, bool), ClientError> {
        let body = full.then(|| serde_json::json!({ "full": true }));
        let (status, body): (StatusCode, Option<Value>) = self
            .call(reqwest::Method::POST, "/api/v1/sync", body)
            .await?;
        let id = body
            .as_ref()
            .and_then(|b| b.get("run_id"))
            .and_then(Value::as_u64)
            .ok_or_else(|| ClientError::Decode("no run_id in answer".into()))?;
        Ok((id, status != StatusCode::CONFLICT))
    }

    pub async fn run(&self, id: u64) -> Result<SyncRun, ClientError> {
        self.expect(
            reqwest::Method::GET,
            &format!("/api/v1/sync/runs/{id}"),
            None,
        )
        .await
    }

    /// Polls run `id` until it is no longer running (or `timeout` passes).
    pub async fn wait_run(&self, id: u64, timeout: Duration) -> Result<SyncRun, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let run = self.run(id).await?;
            if run.outcome != SyncOutcome::Running || tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The worker's state and the latest runs (`GET /api/v1/sync/status`).
    pub async fn sync_status(&self) -> Result<Value, ClientError> {
        self.expect(reqwest::Method::GET, "/api/v1/sync/status", None)
            .await
    }

    /// The newest `limit` runs, newest first.
    pub async fn runs(&self, limit: usize) -> Result<Vec<SyncRun>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Runs {
            runs: Vec<SyncRun>,
        }
        let path = format!("/api/v1/sync/runs?limit={limit}");
        let runs: Runs = self.expect(reqwest::Method::GET, &path, None).await?;
        Ok(runs.runs)
    }

    /// Approves (`approve = true`) or discards a held run.
    pub async fn decide_held_run(&self, id: u64, approve: bool) -> Result<Value, ClientError> {
        let verb = if approve { "approve" } else { "discard" };
        let path = format!("/api/v1/sync/runs/{id}/{verb}");
        self.expect(reqwest::Method::POST, &path, None).await
    }

    /// Every sync option with its value and source (`GET /api/v1/sync/settings`).
    pub async fn sync_settings(&self) -> Result<Value, ClientError> {
        self.expect(reqwest::Method::GET, "/api/v1/sync/settings", None)
            .await
    }

    /// Changes sync options (`PATCH /api/v1/sync/settings`); `null` resets one.
    pub async fn patch_sync_settings(&self, patch: Value) -> Result<Value, ClientError> {
        self.expect(reqwest::Method::PATCH, "/api/v1/sync/settings", Some(patch))
            .await
    }

    /// Starts a delegated authorization; returns the URL to open and the redirect URI the
    /// app registration must list.
    pub async fn authorize(
        &self,
        slot: &str,
        purpose: &str,
        login_hint: Option<&str>,
    ) -> Result<(String, String), ClientError> {
        let body: Value = self
            .expect(
                reqwest::Method::POST,
                "/api/v1/sync/authorizations",
                Some(json!({ "slot": slot, "purpose": purpose, "login_hint": login_hint })),
            )
            .await?;
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| ClientError::Decode(format!("no {key} in answer")))
        };
        Ok((text("authorize_url")?, text("redirect_uri")?))
    }

    pub async fn set_user_password(&self, uid: &str, password: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/users/{}/password", urlencode(uid));
        self.call::<Value>(
            reqwest::Method::PUT,
            &path,
            Some(json!({ "password": password })),
        )
        .await
        .map(|_| ())
    }

    /// A user's SSH public keys (`GET /api/v1/users/{uid}/ssh-keys`).
    pub async fn list_ssh_keys(&self, uid: &str) -> Result<KeysAnswer, ClientError> {
        let path = format!("/api/v1/users/{}/ssh-keys", urlencode(uid));
        self.expect(reqwest::Method::GET, &path, None).await
    }

    /// Adds one public key (a `.pub` line) to a user; the server validates it.
    pub async fn add_ssh_key(&self, uid: &str, key: &str) -> Result<KeyView, ClientError> {
        let path = format!("/api/v1/users/{}/ssh-keys", urlencode(uid));
        let (status, body): (StatusCode, Option<Value>) = self
            .call(reqwest::Method::POST, &path, Some(json!({ "key": key })))
            .await?;
        let body = body.unwrap_or_default();
        // `call` lets 409 through (for `sync`); here it means the key was refused.
        if status == StatusCode::CONFLICT {
            let message = body["error"].as_str().unwrap_or_default().to_string();
            return Err(ClientError::Api { status, message });
        }
        serde_json::from_value(body).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Removes the key with this fingerprint (`SHA256:…`) from a user.
    pub async fn remove_ssh_key(&self, uid: &str, fingerprint: &str) -> Result<(), ClientError> {
        let path = format!(
            "/api/v1/users/{}/ssh-keys/{}",
            urlencode(uid),
            urlencode(fingerprint)
        );
        self.call::<Value>(reqwest::Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }

    pub async fn add_binder(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<BinderView, ClientError> {
        self.add_binder_with_scope(name, description, &[]).await
    }

    /// Creates a binder that may read only the subtrees in `scope` (empty: everything).
    pub async fn add_binder_with_scope(
        &self,
        name: &str,
        description: Option<&str>,
        scope: &[String],
    ) -> Result<BinderView, ClientError> {
        self.expect(
            reqwest::Method::POST,
            "/api/v1/binders",
            Some(json!({ "name": name, "description": description, "scope": scope })),
        )
        .await
    }

    /// Removes the delegated authorization of `slot` for `purpose`.
    pub async fn remove_authorization(&self, slot: &str, purpose: &str) -> Result<(), ClientError> {
        let path = format!(
            "/api/v1/sync/authorizations/{}/{}",
            urlencode(slot),
            urlencode(purpose)
        );
        self.call::<Value>(reqwest::Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }

    pub async fn list_binders(&self) -> Result<Vec<BinderView>, ClientError> {
        self.expect(reqwest::Method::GET, "/api/v1/binders", None)
            .await
    }

    pub async fn reset_binder(&self, name: &str) -> Result<BinderView, ClientError> {
        let path = format!("/api/v1/binders/{}/reset", urlencode(name));
        self.expect(reqwest::Method::POST, &path, None).await
    }

    pub async fn remove_binder(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/binders/{}", urlencode(name));
        self.call::<Value>(reqwest::Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }
}

impl AdminClient {
    /// `GET path` as JSON (any endpoint; the CLI's read-only views use it).
    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        self.expect(reqwest::Method::GET, path, None).await
    }

    /// `GET path` as text (CSV exports of the logs).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let (_, bytes) = self.send(reqwest::Method::GET, path, None).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// `path?key=value&…` with the pairs whose value is set, percent-encoded.
pub fn with_query(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// Percent-encodes one path segment (a uid, a group cn).
pub fn segment(value: &str) -> String {
    urlencode(value)
}

/// The client settings shared by plain and HTTPS clients.
fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().timeout(Duration::from_secs(30))
}

/// `error: cause: cause…`, so the terminal shows e.g. an unknown-issuer certificate error.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Percent-encodes a path segment.
fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
