//! The admin HTTP API and the CLI that drives it, against a running server; effects are
//! checked with real LDAP clients.

mod common;

use common::{TestServer, split};
use serde_json::{Value, json};

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &TestServer, token: String) -> Api {
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

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
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
}

fn admin_token(server: &TestServer) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_and_checked() {
    let server = TestServer::start().await;
    let api = Api::new(&server, "not-the-token".into());
    let (status, _) = api.send(reqwest::Method::GET, "/healthz", None).await;
    assert_eq!(status, 200);
    let (status, body) = api.send(reqwest::Method::GET, "/api/v1/status", None).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap_or("").contains("token"));
    let api = Api::new(&server, admin_token(&server));
    let (status, body) = api.send(reqwest::Method::GET, "/api/v1/status", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["base_dn"], "dc=example,dc=com");
    assert_eq!(body["last_run"]["outcome"], "succeeded");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_runs_and_is_recorded() {
    let server = TestServer::start().await;
    let api = Api::new(&server, admin_token(&server));
    let (status, body) = api.send(reqwest::Method::POST, "/api/v1/sync", None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["message"], "Sync initiated successfully");
    let id = body["run_id"].as_u64().expect("run id");
    let run = server
        .app
        .services
        .sync
        .wait_for(id)
        .await
        .expect("run finishes");
    assert_eq!(
        run.outcome,
        entra_ldap::model::SyncOutcome::Succeeded,
        "{run:?}"
    );
    assert!(run.graph_requests > 0);
    let (status, body) = api
        .send(reqwest::Method::GET, "/api/v1/sync/runs?limit=5", None)
        .await;
    assert_eq!(status, 200);
    let runs = body["runs"].as_array().expect("runs");
    assert!(runs.len() >= 2, "startup run and manual run: {body}");
    assert_eq!(runs[0]["id"].as_u64(), Some(id));
    assert_eq!(runs[0]["trigger"], "manual");
    let (status, _) = api
        .send(reqwest::Method::GET, "/api/v1/sync/runs/999999", None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_a_clear_4xx_and_change_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server, admin_token(&server));
    let path = "/api/v1/users/alice/password";
    let cases = [
        (
            json!({"password": "long-enough-1", "extra": 1}),
            400,
            "extra",
        ),
        (json!({"password": 42}), 400, "password"),
        (json!({"password": "short"}), 400, "8"),
    ];
    for (body, want, mentions) in cases {
        let (status, answer) = api
            .send(reqwest::Method::PUT, path, Some(body.clone()))
            .await;
        assert_eq!(status, want, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(mentions),
            "{answer}"
        );
    }
    let huge = json!({"password": "x".repeat(64 * 1024)});
    let (status, _) = api.send(reqwest::Method::PUT, path, Some(huge)).await;
    assert_eq!(status, 413);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/nosuchuser/password",
            Some(json!({"password": "long-enough-1"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/carol/password",
            Some(json!({"password": "long-enough-1"})),
        )
        .await;
    assert_eq!(status, 409, "carol is disabled");
    // Nothing changed: alice's demo password still works.
    assert_eq!(
        server
            .whoami(&server.user_dn("alice"), common::DEMO_USER_PASSWORD)
            .await,
        0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_manages_binders_and_passwords() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::cli_config(dir.path(), server.app.admin_addr, &admin_token(&server));
    let cli = |args: Vec<String>, stdin: Option<&'static str>| {
        let config = config.clone();
        async move {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"));
            command
                .args(&args)
                .arg("--config")
                .arg(&config)
                .env("RUST_LOG", "warn")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = command.spawn().expect("entra-ldap binary");
            if let Some(input) = stdin {
                use tokio::io::AsyncWriteExt;
                let mut pipe = child.stdin.take().unwrap();
                pipe.write_all(input.as_bytes()).await.unwrap();
            } else {
                drop(child.stdin.take());
            }
            split(child.wait_with_output().await.unwrap())
        }
    };
    let (code, out, err) = cli(vec!["binder".into(), "add".into(), "grafana".into()], None).await;
    assert_eq!(code, 0, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret printed")
        .to_string();
    let dn = format!("cn=grafana,{}", server.base);
    assert!(out.contains(&format!("dn: {dn}")), "{out}");
    assert_eq!(server.whoami(&dn, &secret).await, 0);
    let (code, out, _) = cli(vec!["binder".into(), "list".into()], None).await;
    assert_eq!(code, 0);
    assert!(out.contains("grafana"), "{out}");
    let (code, out, err) = cli(
        vec!["binder".into(), "reset".into(), "grafana".into()],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let new_secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .to_string();
    assert_eq!(
        server.whoami(&dn, &secret).await,
        49,
        "old secret stops working"
    );
    assert_eq!(server.whoami(&dn, &new_secret).await, 0);
    let (code, _, err) = cli(
        vec!["binder".into(), "remove".into(), "grafana".into()],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        server.whoami(&dn, &new_secret).await,
        49,
        "removed binder cannot bind"
    );

    let (code, _, err) = cli(
        vec!["user".into(), "set-password".into(), "bob".into()],
        Some("bobs-new-password\n"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        server
            .whoami(&server.user_dn("bob"), "bobs-new-password")
            .await,
        0
    );

    let (code, out, err) = cli(vec!["sync".into()], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("succeeded"), "{out}");
    server.stop().await;
}
