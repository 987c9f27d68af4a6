//! The admin listener over HTTPS: reqwest and the `entra-ldap` CLI reach it trusting the
//! served certificate (verification on), a client that does not trust it is refused, plain
//! HTTP to the port gets a `400` pointing at https://, console sessions work (with the
//! client address reaching the audit trail), and plain HTTP off loopback is a config error.

mod common;

use common::admin::Cli;
use entra_ldap::app::App;
use entra_ldap::config::{AdminTransport, Config};
use entra_ldap::simulator::{self, SimulatorHandle};
use std::net::SocketAddr;
use std::path::PathBuf;

/// A server on loopback with `[admin] tls = true` (HTTPS with the generated LDAP pair).
struct TlsServer {
    app: App,
    token: String,
    data_dir: std::path::PathBuf,
    _sim: SimulatorHandle,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    async fn start() -> TlsServer {
        TlsServer::start_with(None).await
    }

    /// With `[admin] tls_cert`/`tls_key` = `pair` (`None`: the LDAP pair).
    async fn start_with(pair: Option<(PathBuf, PathBuf)>) -> TlsServer {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let sim = simulator::start(simulator::demo_tenant(), loopback)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut config = Config::demo(data_dir.clone(), sim.url.clone());
        config.ldap.listen = Some(loopback);
        config.ldap.ldaps_listen = None;
        config.admin.listen = loopback;
        config.admin.transport = AdminTransport::Tls { cert_and_key: pair };
        config.auth.argon2_memory_kib = 1024;
        config.auth.argon2_iterations = 1;
        let token = config.admin.token.expose().to_string();
        let app = App::start(config).await.expect("server starts");
        // The base DN comes from the tenant's default domain: wait for the first sync, as
        // every other test server does, so nothing races it.
        let first = app.services.sync.wait_first_run().await;
        let outcome = first.map(|run| run.outcome);
        assert_eq!(
            outcome,
            Some(entra_ldap::model::SyncOutcome::Succeeded),
            "the first sync"
        );
        TlsServer {
            app,
            token,
            data_dir,
            _sim: sim,
            _dir: dir,
        }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.app.admin_addr.port())
    }

    /// A reqwest client trusting the LDAP certificate (plus the public roots).
    fn trusting_client(&self) -> reqwest::Client {
        trusting(&self.app.tls_cert_path)
    }
}

/// A reqwest client trusting the certificate in `cert` (plus the public roots).
fn trusting(cert: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_admin_api_works_for_clients_that_trust_the_certificate() {
    let server = TlsServer::start().await;
    let http = server.trusting_client();
    for host in ["127.0.0.1", "localhost"] {
        let answer = http
            .get(server.url(host, "/api/v1/status"))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("HTTPS to {host}: {e:?}"));
        assert_eq!(answer.status(), 200);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert!(body["base_dn"].is_string(), "{body}");
        assert_eq!(body["sync_settings"]["users"], true, "{body}");
    }

    // Verification is on: a client that does not trust the self-signed certificate fails.
    let untrusting = reqwest::Client::new()
        .get(server.url("127.0.0.1", "/healthz"))
        .send()
        .await;
    let error = format!(
        "{:?}",
        untrusting.expect_err("self-signed cert must be refused")
    );
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    // Console over HTTPS: the session cookie stays Secure; a failed sign-in is audited
    // with the client's address (the peer address reaches handlers through TLS too).
    let answer = http
        .post(server.url("127.0.0.1", "/console/sign-in"))
        .form(&[("token", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let answer = http
        .post(server.url("127.0.0.1", "/console/sign-in"))
        .form(&[("token", server.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let audit: serde_json::Value = http
        .get(server.url("127.0.0.1", "/api/v1/logs/audit?limit=5"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"] != "ok")
        .unwrap_or_else(|| panic!("failed sign-in audited: {audit}"));
    assert_eq!(failed["actor"], "console:127.0.0.1", "{audit}");
    server.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_https_port_is_refused_with_a_hint() {
    let server = TlsServer::start().await;
    let url = format!("http://{}/api/v1/status", server.app.admin_addr);
    let answer = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("the port answers plain HTTP with an error, not a reset");
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("use https://"),
        "{body}"
    );
    server.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_talks_https_trusting_the_configured_certificate() {
    let server = TlsServer::start().await;
    let admin = server.app.admin_addr;

    // Default trust: the certificate the server serves, found through the same data_dir.
    let dir = tempfile::tempdir().unwrap();
    let config = common::cli_config_with(
        dir.path(),
        &server.data_dir,
        admin,
        &server.token,
        "tls = true",
    );
    let cli = Cli::with_config(config, dir);
    let (code, out, err) = cli.run(&["binder", "add", "grafana"], None).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dn: cn=grafana,dc=example,dc=com"), "{out}");
    let (code, out, err) = cli.run(&["binder", "list"], None).await;
    assert_eq!((code, out.contains("grafana")), (0, true), "{out}{err}");

    // An explicit ca_file that is the served certificate works too.
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "tls = true\nca_file = \"{}\"",
        server.app.tls_cert_path.display()
    );
    let config = common::cli_config_with(dir.path(), dir.path(), admin, &server.token, &extra);
    let (code, out, err) = Cli::with_config(config, dir)
        .run(&["sync", "status"], None)
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Running:"), "{out}");

    // Trusting another certificate: refused, and the error says it is the certificate.
    let other = tempfile::tempdir().unwrap();
    let other_cert = entra_ldap::tls::load_or_generate(None, None, other.path())
        .unwrap()
        .cert_path;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("tls = true\nca_file = \"{}\"", other_cert.display());
    let config = common::cli_config_with(dir.path(), dir.path(), admin, &server.token, &extra);
    let (code, out, err) = Cli::with_config(config, dir)
        .run(&["binder", "list"], None)
        .await;
    assert_ne!(code, 0, "{out}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // A missing CA file is named.
    let dir = tempfile::tempdir().unwrap();
    let config = common::cli_config_with(
        dir.path(),
        dir.path(),
        admin,
        &server.token,
        "tls = true\nca_file = \"/nonexistent/ca.pem\"",
    );
    let (code, _, err) = Cli::with_config(config, dir)
        .run(&["binder", "list"], None)
        .await;
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    server.app.shutdown().await;
}

/// `entra-ldap check-config` on a file asking for plain HTTP off loopback.
async fn check_config(admin_section: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}\"\n\n[entra]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\n[admin]\ntoken = \"0123456789abcdef0123\"\n{admin_section}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    let (code, out, err) = common::split(output);
    (code, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_off_loopback_is_a_config_error_naming_the_key() {
    let (code, text) = check_config("listen = \"0.0.0.0:8443\"\ntls = false").await;
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("`admin.tls`")
            && text.contains("0.0.0.0:8443")
            && text.contains("plaintext_behind_proxy = true"),
        "{text}"
    );
    // The documented opt-out, and the default (HTTPS off loopback), both pass.
    let (code, text) =
        check_config("listen = \"0.0.0.0:8080\"\nplaintext_behind_proxy = true").await;
    assert_eq!(code, 0, "{text}");
    let (code, text) = check_config("listen = \"0.0.0.0:8443\"").await;
    assert_eq!(code, 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_can_have_its_own_certificate() {
    let pair_dir = tempfile::tempdir().unwrap();
    let own = entra_ldap::tls::load_or_generate(None, None, pair_dir.path()).unwrap();
    let key = own.cert_path.with_file_name("key.pem");
    let server = TlsServer::start_with(Some((own.cert_path.clone(), key))).await;
    let url = server.url("localhost", "/healthz");
    let answer = trusting(&own.cert_path).get(&url).send().await;
    assert_eq!(answer.expect("admin cert trusted").status(), 200);
    // The LDAP certificate is not what the admin listener serves.
    let error = server
        .trusting_client()
        .get(&url)
        .send()
        .await
        .expect_err("served with the admin pair, not the LDAP one");
    assert!(
        format!("{error:?}").to_lowercase().contains("certificate"),
        "{error:?}"
    );
    server.app.shutdown().await;
}
