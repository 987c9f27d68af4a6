//! Test harness: starts the real server (simulated tenant → real sync → store → listeners)
//! on loopback with ephemeral ports, and runs the real OpenLDAP command-line clients against it.
//!
//! Each test gets its own server and temporary data directory, so tests run in parallel.

#![allow(dead_code)]

pub mod admin;
pub mod browser;
pub mod console;
pub mod microsoft;

use entra_ldap::app::App;
use entra_ldap::config::{DirectoryConfig, EntraConfig, LoginSource, Secret};
use entra_ldap::demo::{self, DemoOptions};
use entra_ldap::simulator::SimulatorHandle;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;

/// Demo credentials, re-exported for readability in tests.
#[allow(unused_imports)]
pub use entra_ldap::demo::{DEMO_BINDER_SECRET, DEMO_USER_PASSWORD};

/// A running server plus what clients need to reach it.
pub struct TestServer {
    pub app: App,
    pub base: String,
    pub ldap: SocketAddr,
    pub ldaps: SocketAddr,
    pub cert: PathBuf,
    /// The simulated tenant: change it between sync runs.
    pub sim: entra_ldap::simulator::SimulatorHandle,
    _dir: tempfile::TempDir,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl TestServer {
    /// The small demo tenant (alice, bob, carol-disabled, …).
    pub async fn start() -> TestServer {
        TestServer::start_with(None).await
    }

    /// A generated tenant shaped like the benchmark data.
    pub async fn start_generated(users: usize, groups: usize) -> TestServer {
        TestServer::start_with(Some((users, groups))).await
    }

    /// The demo tenant with plain LDAP listening on `ip` (e.g. a non-loopback address).
    pub async fn start_ldap_on(ip: std::net::IpAddr) -> TestServer {
        TestServer::start_full(None, SocketAddr::new(ip, 0)).await
    }

    async fn start_with(generated: Option<(usize, usize)>) -> TestServer {
        TestServer::start_full(generated, any_port()).await
    }

    async fn start_full(generated: Option<(usize, usize)>, ldap: SocketAddr) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = DemoOptions {
            generated,
            ldap,
            ldaps: any_port(),
            admin: any_port(),
            data_dir: Some(dir.path().to_path_buf()),
            fast_hashing: true,
        };
        let (app, _, _, sim) = demo::start_with_simulator(&options)
            .await
            .expect("demo server starts");
        let base = app.services.live.load().base_dn().to_string();
        TestServer {
            ldap: app.ldap_addr.expect("ldap listener"),
            ldaps: app.ldaps_addr.expect("ldaps listener"),
            cert: app.tls_cert_path.clone(),
            sim,
            app,
            base,
            _dir: dir,
        }
    }

    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap.port())
    }

    /// `localhost`, so the hostname check against the self-signed certificate passes.
    pub fn ldap_tls_url(&self) -> String {
        format!("ldap://localhost:{}", self.ldap.port())
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://localhost:{}", self.ldaps.port())
    }

    pub fn binder_dn(&self) -> String {
        format!("cn={},{}", demo::DEMO_BINDER, self.base)
    }

    pub fn user_dn(&self, uid: &str) -> String {
        format!("uid={uid},ou=people,{}", self.base)
    }

    /// Runs an OpenLDAP client (`ldapsearch`, `ldapwhoami`, …) trusting our certificate.
    pub async fn tool(&self, program: &str, args: &[&str]) -> Output {
        tokio::process::Command::new(program)
            .args(args)
            .env("LDAPTLS_CACERT", &self.cert)
            .env("LDAPTLS_REQCERT", "demand")
            .env("LDAPCONF", "/dev/null")
            .env("LDAPRC", "/dev/null")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap_or_else(|e| {
                panic!("cannot run {program} (scripts/install-test-deps installs it): {e}")
            })
    }

    /// `ldapsearch` bound as the demo service account; returns (exit code, stdout, stderr).
    pub async fn search_as_binder(&self, url: &str, extra: &[&str]) -> (i32, String, String) {
        let binder = self.binder_dn();
        let mut args = vec![
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            url,
            "-D",
            &binder,
            "-w",
            DEMO_BINDER_SECRET,
            "-b",
            &self.base,
        ];
        args.extend_from_slice(extra);
        split(self.tool("ldapsearch", &args).await)
    }

    /// Exit code of `ldapwhoami` bound as `dn` with `password` over plain LDAP (0 or 49…).
    pub async fn whoami(&self, dn: &str, password: &str) -> i32 {
        let url = self.ldap_url();
        split(
            self.tool("ldapwhoami", &["-x", "-H", &url, "-D", dn, "-w", password])
                .await,
        )
        .0
    }

    pub async fn stop(self) {
        self.app.shutdown().await;
    }
}

/// This machine's address on the interface that routes outward, if it has one that is not
/// loopback (found by "connecting" a UDP socket: no packet is sent).
pub fn non_loopback_ipv4() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// (exit code, stdout, stderr) of a finished client.
pub fn split(output: Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `dn:` lines of LDIF output, lowercased.
pub fn dns(ldif: &str) -> Vec<String> {
    ldif.lines()
        .filter_map(|l| l.strip_prefix("dn: "))
        .map(|dn| dn.to_ascii_lowercase())
        .collect()
}

/// Values of `attr` in LDIF output (case-insensitive attribute name).
pub fn values(ldif: &str, attr: &str) -> Vec<String> {
    let prefix = format!("{}: ", attr.to_ascii_lowercase());
    ldif.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].to_string())
        .collect()
}

/// Entra settings for syncing from a simulator with client secret `secret` (no schedule,
/// page size 100, 5 s timeouts).
pub fn entra_config(sim: &SimulatorHandle, secret: &str) -> EntraConfig {
    EntraConfig {
        tenant_id: sim.tenant_id.clone(),
        client_id: sim.client_id.clone(),
        client_secret: Secret::new(secret),
        authority_url: sim.url.clone(),
        graph_url: sim.url.clone(),
        sync_interval_secs: 0,
        page_size: 100,
        request_timeout_secs: 5,
        keep_mirror_min_objects: entra_ldap::config::DEFAULT_KEEP_MIRROR_MIN_OBJECTS,
        client_certificate: None,
        backup: None,
    }
}

/// Directory rules for sync tests: logins from UPNs, numbers from 10,000 to 60,000.
pub fn directory_rules() -> DirectoryConfig {
    DirectoryConfig {
        login_source: LoginSource::Upn,
        uid_number_min: 10_000,
        uid_number_max: 60_000,
        gid_number_min: 10_000,
        gid_number_max: 60_000,
        home_directory: "/home/{uid}".into(),
        login_shell: "/bin/bash".into(),
        show_inactive_users: false,
    }
}

/// An access token from the simulator's token endpoint (client credentials), with its
/// `expires_in`, for raw Graph requests.
pub async fn graph_token(sim: &SimulatorHandle) -> (String, u64) {
    let url = sim
        .url
        .join(&format!("{}/oauth2/v2.0/token", sim.tenant_id))
        .unwrap();
    let resp: serde_json::Value = reqwest::Client::new()
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id.as_str()),
            ("client_secret", sim.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["token_type"], "Bearer");
    assert_eq!(resp["ext_expires_in"], resp["expires_in"]);
    (
        resp["access_token"].as_str().unwrap().to_string(),
        resp["expires_in"].as_u64().unwrap(),
    )
}

/// Writes a configuration file in `dir` that points the CLI clients (`entra-ldap sync`,
/// `user …`, `binder …`) at a running server's admin API; returns its path.
pub fn cli_config(dir: &std::path::Path, admin: SocketAddr, token: &str) -> PathBuf {
    cli_config_with(dir, &dir.join("data"), admin, token, "")
}

/// [`cli_config`] with another data directory and extra `[admin]` lines (e.g. `tls = true`,
/// `ca_file = "…"`), for a server whose admin listener speaks HTTPS.
pub fn cli_config_with(
    dir: &std::path::Path,
    data_dir: &std::path::Path,
    admin: SocketAddr,
    token: &str,
    admin_extra: &str,
) -> PathBuf {
    let token_file = dir.join("token");
    std::fs::write(&token_file, token).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n\n[entra]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"unused-here\"\n\n[admin]\nlisten = \"{admin}\"\ntoken_file = \"{token}\"\n{admin_extra}\n",
            data = data_dir.display(),
            token = token_file.display()
        ),
    )
    .unwrap();
    config
}
