//! Crash safety of the whole server process: `entra-ldap serve` is killed with SIGKILL at
//! random moments while a sync is committing two very different versions of the tenant,
//! restarted on the same data directory, and must then serve over LDAP exactly the state of
//! the last run its history calls committed — never a mix, never a half-written store.

mod common;

use common::split;
use entra_ldap::simulator::{self, SimulatorHandle};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const USERS: usize = 1500;
const GROUPS: usize = 100;
const TOKEN: &str = "crash-test-admin-token-0123456789";
const KILLS: usize = 6;

/// Every user's displayName and every group's description say which version they are.
fn set_version(sim: &SimulatorHandle, version: char) {
    sim.with_tenant(|t| {
        for (i, u) in t.users.iter_mut().enumerate() {
            u.display_name = Some(format!("{version} user {i}"));
            // Version B also disables every tenth user (deactivations are part of a commit).
            u.account_enabled = version == 'A' || i % 10 != 0;
        }
        for g in t.groups.iter_mut() {
            g.description = Some(format!("{version} group"));
        }
    });
}

/// Three distinct free loopback ports (held together while chosen, so none is picked twice).
fn free_ports() -> (SocketAddr, SocketAddr, SocketAddr) {
    let take = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b, c) = (take(), take(), take());
    let addr = |l: &std::net::TcpListener| l.local_addr().unwrap();
    (addr(&a), addr(&b), addr(&c))
}

struct Server {
    child: tokio::process::Child,
    ldap: SocketAddr,
    admin: SocketAddr,
}

async fn start_server(dir: &Path, sim: &SimulatorHandle) -> Server {
    let (ldap, ldaps, admin) = free_ports();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n\n[ldap]\nlisten = \"{ldap}\"\nldaps_listen = \"{ldaps}\"\n\n\
             [entra]\ntenant_id = \"{tenant}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n\
             authority_url = \"{url}\"\ngraph_url = \"{url}\"\n\n[admin]\nlisten = \"{admin}\"\ntoken = \"{TOKEN}\"\n\n\
             [auth]\nargon2_memory_kib = 1024\nargon2_iterations = 1\n",
            data = dir.join("data").display(),
            tenant = sim.tenant_id,
            client = sim.client_id,
            secret = sim.client_secret,
            url = sim.url.as_str().trim_end_matches('/'),
        ),
    )
    .unwrap();
    // Each start's log is kept beside the data, so a start-up failure shows its cause.
    let log_path = dir.join(format!("server-{}.log", ldap.port()));
    let log = std::fs::File::create(&log_path).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("entra-ldap binary");
    let server = Server { child, ldap, admin };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if server.get("/api/v1/sync/status").await.is_some() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    panic!("server did not come up; its log:\n{log}");
}

impl Server {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method, format!("http://{}{}", self.admin, path))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.ok()?;
        response.json().await.ok()
    }

    async fn get(&self, path: &str) -> Option<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn wait_idle(&self) {
        for _ in 0..1200 {
            if let Some(s) = self.get("/api/v1/sync/status").await
                && s["running"].is_null()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sync never finished");
    }

    /// Starts a full sync; returns its run id.
    async fn trigger(&self) -> u64 {
        let body = self
            .call(
                reqwest::Method::POST,
                "/api/v1/sync",
                Some(serde_json::json!({ "full": true })),
            )
            .await
            .expect("trigger answered");
        body["run_id"].as_u64().expect("run id")
    }

    /// SIGKILL: no chance to finish anything.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then wait for the graceful shutdown.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        // A shutdown that hangs must not leave a process holding the store for the next start.
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await.unwrap();
            panic!("graceful shutdown took over 30 s");
        }
    }
}

/// The served state: per user (uid, displayName) for active users, and group descriptions.
async fn served(
    server: &Server,
    binder_dn: &str,
    secret: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let url = format!("ldap://{}", server.ldap);
    let out = tokio::process::Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &url,
            "-D",
            binder_dn,
            "-w",
            secret,
            "-b",
            "dc=example,dc=com",
            "-E",
            "pr=500/noprompt",
            "(|(objectClass=posixAccount)(objectClass=posixGroup))",
            "displayName",
            "description",
        ])
        .env("LDAPCONF", "/dev/null")
        .env("LDAPRC", "/dev/null")
        .output()
        .await
        .expect("ldapsearch");
    let (code, ldif, err) = split(out);
    assert_eq!(code, 0, "{err}");
    let names = common::values(&ldif, "displayName").into_iter().collect();
    let descriptions = common::values(&ldif, "description").into_iter().collect();
    (names, descriptions)
}

/// What version `v` looks like over LDAP (inactive users hidden).
fn expected(v: char) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = (0..USERS)
        .filter(|i| v == 'A' || i % 10 != 0)
        .map(|i| format!("{v} user {i}"))
        .collect();
    let descriptions = [format!("{v} group")].into_iter().collect();
    (names, descriptions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sync_leaves_the_last_committed_state() {
    let mut tenant = simulator::generated_tenant(USERS, GROUPS);
    tenant.max_page_size = 100;
    // Groups get an email, so they are imported whatever the group filters say.
    for g in tenant.groups.iter_mut() {
        g.mail = Some(format!("{}@example.com", g.display_name));
        g.mail_enabled = true;
    }
    let sim = simulator::start(tenant, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    set_version(&sim, 'A');
    let server = start_server(dir.path(), &sim).await;
    server.wait_idle().await;
    // A binder to read with (it lives in the store, so it survives every kill).
    let binder = server
        .call(
            reqwest::Method::POST,
            "/api/v1/binders",
            Some(serde_json::json!({ "name": "crash-reader" })),
        )
        .await
        .expect("binder created");
    let binder_dn = binder["dn"].as_str().unwrap().to_string();
    let secret = binder["secret"].as_str().unwrap().to_string();
    assert!(served(&server, &binder_dn, &secret).await == expected('A'));

    // How long a full sync takes here, to spread the kills over it.
    set_version(&sim, 'B');
    let clock = Instant::now();
    server.trigger().await;
    server.wait_idle().await;
    let sync_time = clock.elapsed();
    assert!(served(&server, &binder_dn, &secret).await == expected('B'));
    server.stop().await;

    let mut version = 'B';
    let mut outcomes = Vec::new();
    for round in 0..KILLS {
        let server = start_server(dir.path(), &sim).await;
        server.wait_idle().await; // the start-up run (tenant unchanged: commits nothing new)
        version = if version == 'A' { 'B' } else { 'A' };
        set_version(&sim, version);
        let run = server.trigger().await;
        // Spread over [0, 1.2 × sync time]: some kills land before, some in, some after the commit.
        let delay = sync_time.mul_f64(1.2 * (round as f64 + rand_fraction()) / KILLS as f64);
        tokio::time::sleep(delay).await;
        server.kill().await;

        // Restart with Graph unreachable (secret revoked) so the start-up run cannot change
        // anything: what is served comes from the store alone.
        sim.revoke_secret();
        let server = start_server(dir.path(), &sim).await;
        server.wait_idle().await;
        let record = server
            .get(&format!("/api/v1/sync/runs/{run}"))
            .await
            .unwrap();
        let committed = record["outcome"] == "succeeded";
        let state = served(&server, &binder_dn, &secret).await;
        let other = if version == 'A' { 'B' } else { 'A' };
        if !committed {
            assert_eq!(record["outcome"], "failed", "{record}");
            version = other;
        }
        assert!(
            state == expected(version),
            "run {run} (committed: {committed}) should leave version {version} served, found {}",
            summary(&state)
        );
        // The tenant goes back to what is served, so the next start-up run changes nothing.
        set_version(&sim, version);
        outcomes.push(committed);
        server.stop().await;
        sim.with_tenant(|t| t.secret_expired = false);
    }
    eprintln!("committed before the kill: {outcomes:?} (sync time {sync_time:?})");
}

/// How many served values carry each version letter (a readable failure message).
fn summary((names, descriptions): &(BTreeSet<String>, BTreeSet<String>)) -> String {
    let count = |set: &BTreeSet<String>, v: char| set.iter().filter(|s| s.starts_with(v)).count();
    format!(
        "users A={} B={}, groups A={} B={}",
        count(names, 'A'),
        count(names, 'B'),
        count(descriptions, 'A'),
        count(descriptions, 'B')
    )
}

/// A number in [0, 1) that differs between test runs.
fn rand_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}
