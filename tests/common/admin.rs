//! Talking to a test server's admin surface: the HTTP API with the demo's bearer token, and
//! the `entra-ldap` CLI pointed at it through a generated config file.

use super::{TestServer, split};
use serde_json::Value;
use std::path::PathBuf;

/// The admin token the demo wrote into the server's data directory.
pub fn admin_token(server: &TestServer) -> String {
    let dir = server
        .app
        .tls_cert_path
        .parent()
        .and_then(|p| p.parent())
        .expect("data dir");
    std::fs::read_to_string(dir.join("admin-token"))
        .expect("demo writes the admin token into the data dir")
        .trim()
        .to_string()
}

/// A bearer-authenticated client of the admin API.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// With the server's own token.
    pub fn of(server: &TestServer) -> Api {
        Api::new(server, admin_token(server))
    }

    pub fn new(server: &TestServer, token: String) -> Api {
        Api {
            // No connection reuse: after a 413 the server closes the connection without reading
            // the rest of the body, and a pooled client would send the next request into it.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("http client"),
            base: format!("http://{}", server.app.admin_addr),
            token,
        }
    }

    /// (status, JSON body or `Null`).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin API reachable");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Polls run `id` until it is no longer running; returns its record.
    pub async fn wait_run(&self, id: u64) -> Value {
        for _ in 0..600 {
            let (status, run) = self.get(&format!("/api/v1/sync/runs/{id}")).await;
            assert_eq!(status, 200, "{run}");
            if run["outcome"] != "running" {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("run {id} still running after 30 s");
    }

    /// Starts a sync ("Sync now") and waits for it.
    pub async fn sync_now(&self) -> Value {
        let (status, body) = self.post("/api/v1/sync", None).await;
        assert_eq!(status, 202, "{body}");
        self.wait_run(body["run_id"].as_u64().expect("run id"))
            .await
    }
}

/// The `entra-ldap` CLI, configured to reach a test server's admin API.
pub struct Cli {
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    pub fn of(server: &TestServer) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let config = super::cli_config(dir.path(), server.app.admin_addr, &admin_token(server));
        Cli { config, _dir: dir }
    }

    /// The CLI with a given config file (kept alive with `dir`, which holds its files).
    pub fn with_config(config: PathBuf, dir: tempfile::TempDir) -> Cli {
        Cli { config, _dir: dir }
    }

    /// Runs `entra-ldap ARGS… --config FILE` with `stdin`; returns (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"));
        command
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("entra-ldap binary");
        let mut pipe = child.stdin.take().expect("stdin pipe");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(input.as_bytes()).await.unwrap();
        }
        drop(pipe);
        split(child.wait_with_output().await.unwrap())
    }
}
