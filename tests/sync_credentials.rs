//! Credentials over real HTTP against the simulated tenant: the certificate credential,
//! the delegated "Authorize Account" flow through the admin API, refresh-token rotation
//! persisted (sealed) across a restart, automatic failover to the backup credential for
//! each way Entra refuses the primary, per-purpose authorizations, and that no token or
//! secret shows up in API output or logs.

use entra_ldap::app::App;
use entra_ldap::config::{BackupApp, ClientCertificate, Config, Secret};
use entra_ldap::model::{SyncOutcome, SyncRun, SyncTrigger};
use entra_ldap::simulator::{self, SimulatorHandle};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const BACKUP_APP: &str = "9b1d7c55-0e6f-4a4b-8f2e-3c1a2b3d4e5f";
const BACKUP_SECRET: &str = "backup-app-secret-not-real";

// ---------------------------------------------------------------------------------------
// Log capture: everything the library logs, so tests can check no secret is ever written.

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide captured log (installed once, at debug level for this crate).
fn logs() -> LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("entra_ldap=debug"))
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
    .clone()
}

fn captured_logs() -> String {
    let buffer = logs();
    let bytes = buffer.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------------------------------
// Harness: a simulated tenant and the real server, configured per test.

struct Harness {
    sim: SimulatorHandle,
    app: Option<App>,
    config: Config,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn test_cert(name: &str) -> ClientCertificate {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test");
    let pem = std::fs::read(root.join(format!("{name}.crt"))).unwrap();
    ClientCertificate {
        cert_path: root.join(format!("{name}.crt")),
        cert_der: rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap()
            .to_vec(),
        key_pem: Secret::new(std::fs::read_to_string(root.join(format!("{name}.key"))).unwrap()),
    }
}

impl Harness {
    /// Starts the simulator (demo tenant), lets `edit` adjust the config, starts the server
    /// and waits for its start-up run.
    async fn start(edit: impl FnOnce(&mut Config, &SimulatorHandle)) -> (Harness, SyncRun) {
        logs();
        let sim = simulator::start(simulator::demo_tenant(), any_port())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::demo(dir.path().to_path_buf(), sim.url.clone());
        config.ldap.listen = Some(any_port());
        config.ldap.ldaps_listen = Some(any_port());
        config.admin.listen = any_port();
        config.entra.sync_interval_secs = 0;
        config.entra.request_timeout_secs = 5;
        edit(&mut config, &sim);
        let mut h = Harness {
            sim,
            app: None,
            config,
            dir,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        };
        let first = h.boot().await;
        (h, first)
    }

    /// (Re)starts the server on the same data directory; returns its start-up run.
    async fn boot(&mut self) -> SyncRun {
        let app = App::start(self.config.clone()).await.unwrap();
        let redirect = format!("http://{}/api/v1/sync/callback", app.admin_addr);
        self.sim
            .register_redirect_uri(&self.config.entra.client_id, &redirect);
        let first = app.services.sync.wait_first_run().await.unwrap();
        self.app = Some(app);
        first
    }

    async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }

    fn app(&self) -> &App {
        self.app.as_ref().expect("server running")
    }

    fn admin_base(&self) -> String {
        format!("http://{}", self.app().admin_addr)
    }

    fn admin_token(&self) -> String {
        self.app().services.admin_token.expose().to_string()
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, String) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.admin_base()))
            .bearer_auth(self.admin_token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Starts an authorization through the API and follows the browser's way: the
    /// simulator's authorize endpoint, then its redirect. Returns the callback URL.
    async fn authorize_redirect(&self, slot: &str, purpose: &str, upn: &str) -> String {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/sync/authorizations",
                Some(json!({"slot": slot, "purpose": purpose, "login_hint": upn})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let url = url::Url::parse(body["authorize_url"].as_str().unwrap()).unwrap();
        let query: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["response_type"], "code");
        assert!(query["scope"].split(' ').any(|s| s == "offline_access"));
        assert!(query["redirect_uri"].ends_with("/api/v1/sync/callback"));
        assert!(!query["state"].is_empty());
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            302,
            "authorize endpoint redirects"
        );
        response.headers()["location"].to_str().unwrap().to_string()
    }

    /// The callback, without any bearer token (as a browser calls it).
    async fn callback(&self, url: &str) -> (u16, Value) {
        let response = self.http.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The whole flow; asserts the green check.
    async fn authorize(&self, slot: &str, purpose: &str, upn: &str) -> Value {
        let callback = self.authorize_redirect(slot, purpose, upn).await;
        let (status, body) = self.callback(&callback).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "authorized");
        assert_eq!(body["authorization"]["who"], upn);
        assert!(
            body["authorization"]["validated_at"].is_i64(),
            "green check: {body}"
        );
        body
    }

    /// Triggers a run and waits for its record.
    async fn run(&self) -> SyncRun {
        let sync = &self.app().services.sync;
        let id = sync.trigger(SyncTrigger::Manual).unwrap();
        sync.wait_for(id).await.unwrap()
    }

    /// Every file under the data directory, concatenated (to grep for plaintext tokens).
    fn data_bytes(&self) -> Vec<u8> {
        fn walk(dir: &Path, out: &mut Vec<u8>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path: PathBuf = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.extend_from_slice(&bytes);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn succeeded(run: &SyncRun) {
    assert_eq!(run.outcome, SyncOutcome::Succeeded, "{run:?}");
}

fn with_backup_app(config: &mut Config, sim: &SimulatorHandle) {
    sim.register_app(BACKUP_APP, BACKUP_SECRET);
    config.entra.backup = Some(BackupApp {
        client_id: BACKUP_APP.to_string(),
        client_secret: Secret::new(BACKUP_SECRET),
        client_certificate: None,
    });
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_credential_syncs_and_a_wrong_certificate_is_explained() {
    let (mut h, first) = Harness::start(|config, sim| {
        sim.register_certificate(
            &config.entra.client_id,
            &std::fs::read(test_cert("app").cert_path).unwrap(),
        );
        config.entra.client_secret = Secret::default();
        config.entra.client_certificate = Some(test_cert("app"));
    })
    .await;
    succeeded(&first);
    assert_eq!(
        first.credential.as_deref(),
        Some(format!("primary: certificate (app {})", h.config.entra.client_id).as_str())
    );
    assert!(first.credential_failures.is_empty());
    assert!(h.app().services.live.load().len() > 5);
    h.stop().await;

    // A certificate the app registration does not know: refused with AADSTS700027.
    let (mut h, first) = Harness::start(|config, sim| {
        sim.register_certificate(
            &config.entra.client_id,
            &std::fs::read(test_cert("app").cert_path).unwrap(),
        );
        config.entra.client_secret = Secret::default();
        config.entra.client_certificate = Some(test_cert("other"));
    })
    .await;
    assert_eq!(first.outcome, SyncOutcome::Failed);
    let error = first.error.unwrap();
    assert!(error.contains("AADSTS700027"), "{error}");
    assert!(
        error.contains("client_certificate"),
        "hint names the key: {error}"
    );
    assert!(error.contains("no backup"), "{error}");
    assert_eq!(first.credential_failures.len(), 1);
    assert!(first.credential_failures[0].contains("primary: certificate"));
    assert!(!error.contains("PRIVATE KEY"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_flow_end_to_end_with_rotation_sealed_and_surviving_a_restart() {
    let (mut h, first) = Harness::start(|_, _| {}).await;
    succeeded(&first);
    h.sim.set_strict_rotation(true);

    let body = h.authorize("primary", "all", ALICE).await;
    assert_eq!(body["authorization"]["slot"], "primary");
    let issued = h.sim.latest_refresh_token(ALICE).unwrap();

    let (status, listed) = h
        .api(reqwest::Method::GET, "/api/v1/sync/credentials", None)
        .await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&listed).unwrap();
    let delegated: Vec<&Value> = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "delegated")
        .collect();
    assert_eq!(delegated.len(), 1, "{listed}");
    assert_eq!(delegated[0]["who"], ALICE);
    assert!(delegated[0]["validated_at"].is_i64());
    assert!(
        list["credentials"][1]["kind"] == "client_secret",
        "{listed}"
    );

    // A run uses the delegated authorization and rotates the refresh token.
    let run = h.run().await;
    succeeded(&run);
    assert_eq!(
        run.credential.as_deref(),
        Some("primary: delegated alice@example.com")
    );
    assert_eq!(h.sim.refreshes_for(ALICE), 1);
    let rotated = h.sim.latest_refresh_token(ALICE).unwrap();
    assert_ne!(rotated, issued);

    // Neither token is on disk in plaintext (the store holds them sealed).
    let disk = h.data_bytes();
    assert!(contains(&disk, "sealed.v1."), "a sealed token is stored");
    for token in [&issued, &rotated] {
        assert!(
            !contains(&disk, token),
            "refresh token found in plaintext on disk"
        );
    }

    // Restart on the same data directory: the rotated token (the old one is dead under
    // strict rotation) was persisted, so the start-up run still authenticates.
    h.stop().await;
    let again = h.boot().await;
    succeeded(&again);
    assert_eq!(
        again.credential.as_deref(),
        Some("primary: delegated alice@example.com")
    );
    assert_eq!(h.sim.refreshes_for(ALICE), 2);

    // Nothing secret in API output or logs.
    let (_, runs) = h.api(reqwest::Method::GET, "/api/v1/sync/runs", None).await;
    let (_, creds) = h
        .api(reqwest::Method::GET, "/api/v1/sync/credentials", None)
        .await;
    let logs = captured_logs();
    let newest = h.sim.latest_refresh_token(ALICE).unwrap();
    for text in [&runs, &creds, &logs] {
        for secret in [&issued, &rotated, &newest, &h.sim.client_secret] {
            assert!(!text.contains(secret.as_str()), "a secret leaked");
        }
        assert!(!text.contains("simrt."), "a refresh token leaked");
        assert!(!text.contains("simcode."), "an authorization code leaked");
    }

    // Removing the authorization returns the sync to the app credential.
    let (status, _) = h
        .api(
            reqwest::Method::DELETE,
            "/api/v1/sync/authorizations/primary/all",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = h
        .api(
            reqwest::Method::DELETE,
            "/api/v1/sync/authorizations/primary/all",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let run = h.run().await;
    succeeded(&run);
    assert!(
        run.credential
            .unwrap()
            .starts_with("primary: client secret")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_refuse_reused_codes_and_unknown_or_replayed_state() {
    let (mut h, _) = Harness::start(|_, _| {}).await;
    let callback = h.authorize_redirect("primary", "all", ALICE).await;
    let (status, body) = h.callback(&callback).await;
    assert_eq!(status, 200, "{body}");

    // The same callback again: its state was single-use.
    let (status, body) = h.callback(&callback).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("state"), "{body}");

    // A fresh state with the already redeemed code: the platform refuses (AADSTS54005).
    let fresh = h.authorize_redirect("backup", "all", BOB).await;
    let fresh = url::Url::parse(&fresh).unwrap();
    let old = url::Url::parse(&callback).unwrap();
    let old_code = old
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let fresh_state = fresh
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mut replay = old.clone();
    replay
        .query_pairs_mut()
        .clear()
        .append_pair("code", &old_code)
        .append_pair("state", &fresh_state);
    let (status, body) = h.callback(replay.as_str()).await;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("AADSTS54005"), "{error}");
    assert!(!error.contains(&old_code), "the code is not echoed");

    // Unknown and missing state.
    let mut unknown = old.clone();
    unknown
        .query_pairs_mut()
        .clear()
        .append_pair("code", "x")
        .append_pair("state", "not-a-state");
    assert_eq!(h.callback(unknown.as_str()).await.0, 400);
    let mut missing = old.clone();
    missing.set_query(Some("code=x"));
    assert_eq!(h.callback(missing.as_str()).await.0, 400);

    // A sign-in the platform refuses (disabled user) comes back as an error redirect.
    h.sim.with_tenant(|t| t.disable_user("erin@example.com"));
    let refused = h
        .authorize_redirect("backup", "all", "erin@example.com")
        .await;
    let (status, body) = h.callback(&refused).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("AADSTS50057"),
        "{body}"
    );

    // The authorization endpoints themselves need the bearer token.
    let response = h
        .http
        .post(format!("{}/api/v1/sync/authorizations", h.admin_base()))
        .json(&json!({"slot": "primary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_of_the_delegated_primary_fails_over_to_the_backup() {
    let (mut h, _) = Harness::start(|_, _| {}).await;
    h.authorize("primary", "all", ALICE).await;
    h.authorize("backup", "all", BOB).await;
    let run = h.run().await;
    succeeded(&run);
    assert_eq!(
        run.credential.as_deref(),
        Some("primary: delegated alice@example.com")
    );

    type Toggle = Box<dyn Fn(&SimulatorHandle, bool)>;
    let kinds: Vec<(&str, Toggle)> = vec![
        (
            "AADSTS50057",
            Box::new(|sim, on| {
                sim.with_tenant(|t| t.set_enabled(ALICE, !on));
            }),
        ),
        (
            "AADSTS65001",
            Box::new(|sim, on| {
                if on {
                    sim.revoke_consent(ALICE)
                } else {
                    sim.grant_consent(ALICE)
                }
            }),
        ),
        (
            "AADSTS53003",
            Box::new(|sim, on| sim.set_conditional_access_block(ALICE, on)),
        ),
    ];
    for (code, toggle) in &kinds {
        toggle(&h.sim, true);
        // Entra also revokes the issued access tokens (continuous access evaluation).
        h.sim.revoke_tokens();
        let run = h.run().await;
        succeeded(&run);
        assert_eq!(
            run.credential.as_deref(),
            Some("backup: delegated bob@example.com"),
            "{code}: {run:?}"
        );
        assert_eq!(run.credential_failures.len(), 1, "{run:?}");
        let failure = &run.credential_failures[0];
        assert!(
            failure.starts_with("primary: delegated alice@example.com"),
            "{failure}"
        );
        assert!(failure.contains(code), "{code}: {failure}");
        // The authorization list shows the primary's last error.
        let (_, listed) = h
            .api(reqwest::Method::GET, "/api/v1/sync/credentials", None)
            .await;
        assert!(listed.contains(code), "{listed}");

        // Fixed in Entra: the next run is back on the primary by itself.
        toggle(&h.sim, false);
        let run = h.run().await;
        succeeded(&run);
        assert_eq!(
            run.credential.as_deref(),
            Some("primary: delegated alice@example.com"),
            "{code}: {run:?}"
        );
        assert!(run.credential_failures.is_empty());
    }

    // Sessions revoked (AADSTS50173): re-authorizing is the fix.
    h.sim.revoke_sessions(ALICE);
    h.sim.revoke_tokens();
    let run = h.run().await;
    succeeded(&run);
    assert!(
        run.credential_failures[0].contains("AADSTS50173"),
        "{run:?}"
    );
    h.authorize("primary", "all", ALICE).await;
    let run = h.run().await;
    assert_eq!(
        run.credential.as_deref(),
        Some("primary: delegated alice@example.com")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_secret_fails_over_to_the_backup_app() {
    let (mut h, first) = Harness::start(with_backup_app).await;
    succeeded(&first);
    assert!(
        first
            .credential
            .unwrap()
            .starts_with("primary: client secret")
    );
    h.sim.revoke_secret();
    h.sim.revoke_tokens();
    let run = h.run().await;
    succeeded(&run);
    assert_eq!(
        run.credential.as_deref(),
        Some(format!("backup: client secret (app {BACKUP_APP})").as_str())
    );
    assert_eq!(run.credential_failures.len(), 1);
    assert!(
        run.credential_failures[0].contains("AADSTS7000222"),
        "{run:?}"
    );
    assert!(
        run.credential_failures[0].contains("invalid_client"),
        "{run:?}"
    );
    let (_, runs) = h.api(reqwest::Method::GET, "/api/v1/sync/runs", None).await;
    assert!(runs.contains("AADSTS7000222"));
    assert!(!runs.contains(BACKUP_SECRET) && !runs.contains(&h.sim.client_secret));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_access_denied_to_the_primary_app_fails_over_to_the_backup_app() {
    let (mut h, first) = Harness::start(with_backup_app).await;
    succeeded(&first);
    // The primary app loses its Graph permission: Graph answers 403 to its tokens.
    let primary = h.config.entra.client_id.clone();
    h.sim.deny_graph_access(&primary);
    let run = h.run().await;
    succeeded(&run);
    assert_eq!(
        run.credential.as_deref(),
        Some(format!("backup: client secret (app {BACKUP_APP})").as_str())
    );
    let failure = &run.credential_failures[0];
    assert!(failure.starts_with("primary: client secret"), "{failure}");
    assert!(
        failure.contains("403 Authorization_RequestDenied"),
        "{failure}"
    );

    // Throttling and 5xx are not credential failures: the primary stays in use.
    h.stop().await;
    let (mut h, _) = Harness::start(with_backup_app).await;
    h.sim.inject_faults(
        simulator::Fault::Unavailable {
            retry_after_secs: Some(0),
        },
        1,
    );
    h.sim.inject_faults(
        simulator::Fault::Throttle {
            retry_after_secs: 0,
        },
        1,
    );
    let run = h.run().await;
    succeeded(&run);
    assert!(
        run.credential
            .unwrap()
            .starts_with("primary: client secret")
    );
    assert!(run.credential_failures.is_empty());
    h.sim.inject_faults(simulator::Fault::InternalError, 1);
    let run = h.run().await;
    assert_eq!(run.outcome, SyncOutcome::Failed);
    assert!(
        run.credential_failures.is_empty(),
        "a 500 is not the credential's fault"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backup_the_run_fails_explained_and_serving_is_unchanged() {
    let (mut h, _) = Harness::start(|_, _| {}).await;
    h.authorize("primary", "all", ALICE).await;
    succeeded(&h.run().await);
    let before = h.app().services.live.load();
    let erin = h
        .app()
        .services
        .store
        .user_id_by_login("erin")
        .unwrap()
        .unwrap();
    assert!(before.is_user_active(&erin));

    // The tenant changes and the admin's account is disabled: the run cannot read it.
    h.sim.with_tenant(|t| {
        t.remove_user("erin@example.com");
        t.disable_user(ALICE);
    });
    h.sim.revoke_tokens();
    let run = h.run().await;
    assert_eq!(run.outcome, SyncOutcome::Failed);
    let error = run.error.clone().unwrap();
    assert!(error.contains("AADSTS50057"), "{error}");
    assert!(error.contains("no backup"), "{error}");
    assert!(run.credential_failures[0].contains("AADSTS50057"));
    let after = h.app().services.live.load();
    assert!(
        Arc::ptr_eq(&before, &after),
        "the served snapshot was not replaced"
    );
    assert!(after.is_user_active(&erin), "erin is still served");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_purpose_authorizations_read_their_own_collections() {
    let (mut h, _) = Harness::start(|_, _| {}).await;
    h.authorize("primary", "all", ALICE).await;
    h.authorize("primary", "groups", BOB).await;
    let run = h.run().await;
    succeeded(&run);
    let used = run.credential.unwrap();
    assert!(
        used.contains("primary: delegated alice@example.com ("),
        "{used}"
    );
    assert!(!used.contains("alice@example.com (groups"), "{used}");
    assert!(
        used.contains("primary: delegated bob@example.com for groups (groups)"),
        "{used}"
    );
    assert_eq!(h.sim.refreshes_for(BOB), 1);
    assert_eq!(h.sim.refreshes_for(ALICE), 1);

    // Bob's group authorization breaks. The purpose-specific authorization replaces `all`
    // in its slot, so groups would go to a backup; there is none, so the run fails.
    h.sim.revoke_consent(BOB);
    h.sim.revoke_tokens();
    let run = h.run().await;
    assert_eq!(
        run.outcome,
        SyncOutcome::Failed,
        "no backup configured: {run:?}"
    );
    assert!(run.error.unwrap().contains("AADSTS65001"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_prints_the_authorize_url_for_a_slot_and_purpose() {
    let (mut h, _) = Harness::start(|_, _| {}).await;
    let config = h.dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n\n[entra]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"unused-here\"\n\n[admin]\nlisten = \"{admin}\"\ntoken = \"{token}\"\n",
            data = h.dir.path().join("cli-data").display(),
            admin = h.app().admin_addr,
            token = h.admin_token(),
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"))
        .args([
            "sync",
            "authorize",
            "--slot",
            "backup",
            "--purpose",
            "users",
        ])
        .args(["--login-hint", BOB, "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = stdout
        .lines()
        .find(|l| l.starts_with("http"))
        .expect("the URL is printed");
    let response = h.http.get(url).send().await.unwrap();
    let callback = response.headers()["location"].to_str().unwrap().to_string();
    let (status, body) = h.callback(&callback).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["authorization"]["slot"], "backup");
    assert_eq!(body["authorization"]["purpose"], "users");
    assert_eq!(body["authorization"]["who"], BOB);

    // A bad slot is refused by the API with a message.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"))
        .args(["sync", "authorize", "--slot", "tertiary", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("slot"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_sealing_key_is_explained_and_the_backup_takes_over() {
    let (mut h, _) = Harness::start(with_backup_app).await;
    h.authorize("primary", "all", ALICE).await;
    succeeded(&h.run().await);
    h.stop().await;
    // Someone replaces data_dir/secret.key: the sealed refresh token no longer opens.
    std::fs::write(h.dir.path().join("secret.key"), [9u8; 32]).unwrap();
    let first = h.boot().await;
    succeeded(&first);
    assert_eq!(
        first.credential.as_deref(),
        Some(format!("backup: client secret (app {BACKUP_APP})").as_str())
    );
    let failure = &first.credential_failures[0];
    assert!(
        failure.starts_with("primary: delegated alice@example.com"),
        "{failure}"
    );
    assert!(failure.contains("wrong key file"), "{failure}");
    assert!(!failure.contains("simrt."), "{failure}");
    h.stop().await;
}
