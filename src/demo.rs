//! `entra-ldap demo`: the whole product against a simulated tenant, on loopback.
//!
//! Why: a newcomer must be able to `ldapsearch` a running server within a minute, with no
//! Entra account. The demo starts the simulator, runs the real server (real sync over real
//! HTTP, real store, real listeners) and then gives the synced users and a service account
//! known passwords — Entra never exposes passwords, so an admin would set them the same way.

use crate::app::{App, StartError};
use crate::auth::{AuthError, Principal};
use crate::config::Config;
use crate::model::BinderRecord;
use crate::simulator;
use crate::store::StoreError;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The password every user of the small demo tenant gets.
pub const DEMO_USER_PASSWORD: &str = "demo-password";
/// The demo service account (same name and secret as ../shared/bench's `svc-reader`).
pub const DEMO_BINDER: &str = "svc-reader";
pub const DEMO_BINDER_SECRET: &str = "svc-reader-secret";

/// What `entra-ldap demo` was asked to do.
pub struct DemoOptions {
    /// `Some((users, groups))` for a generated tenant shaped like the benchmark data.
    pub generated: Option<(usize, usize)>,
    pub ldap: SocketAddr,
    pub ldaps: SocketAddr,
    pub admin: SocketAddr,
    pub data_dir: Option<PathBuf>,
    /// Use a cheap argon2id cost (bulk demo data, tests). Production keeps the configured cost.
    pub fast_hashing: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the simulated tenant: {0}")]
    Simulator(std::io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("the first sync from the simulated tenant failed: {0}")]
    Sync(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// The password a generated user gets: `user0042` → `Secret-0042` (as gen_ldif.py).
pub fn generated_password(uid: &str) -> String {
    format!("Secret-{}", uid.trim_start_matches("user"))
}

/// Starts the simulator and the server, prepares credentials, prints how to connect, and
/// runs until SIGINT/SIGTERM.
pub async fn run(options: DemoOptions) -> Result<(), DemoError> {
    let (app, data_dir, temporary) = start(&options).await?;
    print_instructions(&app, &options, &data_dir);
    app.run_until_signal().await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}

/// Starts everything and waits for the first sync and the demo credentials; returns the
/// running app, its data directory and whether that directory is temporary.
pub async fn start(options: &DemoOptions) -> Result<(App, PathBuf, bool), DemoError> {
    let (app, data_dir, temporary, _sim) = start_with_simulator(options).await?;
    Ok((app, data_dir, temporary))
}

/// [`start`], also returning the simulated tenant's handle so tests can change the tenant
/// between runs (dropping the handle does not stop the simulator).
pub async fn start_with_simulator(
    options: &DemoOptions,
) -> Result<(App, PathBuf, bool, simulator::SimulatorHandle), DemoError> {
    let tenant = match options.generated {
        Some((users, groups)) => simulator::generated_tenant(users, groups),
        None => simulator::demo_tenant(),
    };
    let sim = simulator::start(tenant, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(DemoError::Simulator)?;
    let (data_dir, temporary) = match &options.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("entra-ldap-demo-{}", std::process::id())),
            true,
        ),
    };
    seed_sync_options(&data_dir)?;
    let mut config = Config::demo(data_dir.clone(), sim.url.clone());
    config.ldap.listen = Some(options.ldap);
    config.ldap.ldaps_listen = Some(options.ldaps);
    config.admin.listen = options.admin;
    if admin_over_https(options) {
        // The same rule as a config file: off loopback the admin listener speaks HTTPS.
        config.admin.transport = crate::config::AdminTransport::Tls { cert_and_key: None };
    }
    if options.fast_hashing {
        // Thousands of verifiers are hashed at start-up: use a cheap argon2id setting so the
        // demo is ready in seconds. Production keeps the configured (expensive) cost.
        config.auth.argon2_memory_kib = 1024;
        config.auth.argon2_iterations = 1;
    }
    let app = App::start(config).await?;
    // So `entra-ldap sync authorize` works against the demo: the simulated app registration
    // lists this server's callback.
    sim.register_redirect_uri(
        crate::config::DEMO_CLIENT_ID,
        &format!(
            "{}://{}/api/v1/sync/callback",
            admin_scheme(options),
            app.admin_addr
        ),
    );
    // … and "Sign in with Microsoft" on the console.
    sim.register_redirect_uri(
        crate::config::DEMO_CLIENT_ID,
        app.services.microsoft_sign_in.redirect_uri(),
    );
    let first = app
        .services
        .sync
        .wait_first_run()
        .await
        .ok_or_else(|| DemoError::Sync("the sync worker stopped".into()))?;
    if first.outcome != crate::model::SyncOutcome::Succeeded {
        return Err(DemoError::Sync(first.error.unwrap_or_default()));
    }
    set_demo_credentials(&app, options.generated.is_some()).await?;
    Ok((app, data_dir, temporary, sim))
}

/// Saves the demo's starting sync options in a new store, as an admin would through the API
/// (an existing demo store keeps what was saved there).
fn seed_sync_options(data_dir: &std::path::Path) -> Result<(), DemoError> {
    let store = crate::store::Store::open(&data_dir.join("store"))?;
    if store.load_sync_options()? == crate::sync::settings::SyncOptions::default() {
        store.save_sync_options(&crate::config::demo_sync_options())?;
    }
    Ok(())
}

async fn set_demo_credentials(app: &App, generated: bool) -> Result<(), DemoError> {
    let services = &app.services;
    let data = services.store.load_directory()?;
    let mut jobs = tokio::task::JoinSet::new();
    for user in data.users {
        let credentials = services.credentials.clone();
        let password = if generated {
            generated_password(&user.uid)
        } else {
            DEMO_USER_PASSWORD.to_string()
        };
        jobs.spawn(async move {
            credentials
                // Seeded, not chosen: the demo's passwords (`Secret-0042`) are shorter than the
                // policy asks, so people can try the demo with the documented ones.
                .seed_password(&Principal::User(user.entra.id), &password)
                .await
        });
    }
    while let Some(done) = jobs.join_next().await {
        match done {
            Ok(result) => result?,
            Err(join) => return Err(DemoError::Sync(format!("password task failed: {join}"))),
        }
    }
    let binder = BinderRecord {
        name: DEMO_BINDER.to_string(),
        description: Some("demo service account".to_string()),
        scope: Vec::new(),
        created: crate::model::now(),
    };
    let phc = services.credentials.hash(DEMO_BINDER_SECRET).await?;
    match services.store.add_binder(&binder, &phc) {
        Ok(()) => {}
        // A kept --data-dir already has it: make sure the secret is the demo's.
        Err(StoreError::AlreadyExists(_)) => {
            services.store.set_binder_verifier(DEMO_BINDER, &phc)?
        }
        Err(other) => return Err(other.into()),
    }
    services.republish()?;
    Ok(())
}

fn print_instructions(app: &App, options: &DemoOptions, data_dir: &std::path::Path) {
    let snapshot = app.services.live.load();
    let base = snapshot.base_dn().to_string();
    let ldap = app.ldap_addr.unwrap_or(options.ldap);
    let ldaps_port = app.ldaps_addr.unwrap_or(options.ldaps).port();
    let binder_dn = format!("cn={DEMO_BINDER},{base}");
    let (user, password) = if options.generated.is_some() {
        ("user0042".to_string(), generated_password("user0042"))
    } else {
        ("alice".to_string(), DEMO_USER_PASSWORD.to_string())
    };
    let user_dn = match snapshot.resolve_bind(&user) {
        crate::directory::BindTarget::User { dn, .. } => dn,
        _ => format!("uid={user},ou=people,{base}"),
    };
    let cert = app.tls_cert_path.display();
    println!();
    println!(
        "entra-ldap demo is ready: {} entries under {base}",
        snapshot.len()
    );
    println!("  data directory: {}", data_dir.display());
    println!(
        "  TLS certificate: {cert} (SHA-256 {})",
        app.tls_fingerprint
    );
    println!();
    println!("Search as the demo service account:");
    println!(
        "  ldapsearch -x -H ldap://{ldap} -D '{binder_dn}' -w {DEMO_BINDER_SECRET} -b '{base}' '(uid={user})'"
    );
    println!("Bind as a demo user ({user}, password {password}):");
    println!("  ldapwhoami -x -H ldap://{ldap} -D '{user_dn}' -w {password}");
    println!("Over LDAPS (or add -ZZ to the ldap:// commands for StartTLS):");
    println!(
        "  LDAPTLS_CACERT={cert} ldapsearch -x -H ldaps://localhost:{ldaps_port} -D '{binder_dn}' -w {DEMO_BINDER_SECRET} -b 'ou=groups,{base}' '(memberUid={user})' cn"
    );
    if options.generated.is_none() {
        println!("A disabled user gets error 49 even with the right password:");
        println!("  ldapwhoami -x -H ldap://{ldap} -D carol -w {DEMO_USER_PASSWORD}");
    }
    println!(
        "Admin API (token in {}):",
        data_dir.join("admin-token").display()
    );
    let scheme = admin_scheme(options);
    let cacert = if admin_over_https(options) {
        format!("--cacert {cert} ")
    } else {
        String::new()
    };
    println!(
        "  curl -s {cacert}-X POST -H \"Authorization: Bearer $(cat {})\" {scheme}://{}/api/v1/sync",
        data_dir.join("admin-token").display(),
        app.admin_addr
    );
    println!(
        "Web console (sign in with the same token): {scheme}://{}/",
        app.admin_addr
    );
    if options.generated.is_none() {
        println!(
            "  or \"Sign in with Microsoft\" (password {}): alice@example.com or heidi@example.com \
             (admins: [admin] admins, group Platform) get the console; bob@example.com gets \
             the self-service page http://{}/me",
            crate::simulator::DEFAULT_SIGN_IN_PASSWORD,
            app.admin_addr
        );
    }
    println!();
    println!("Press Ctrl-C to stop.");
}

/// Whether the demo's admin listener serves HTTPS: when it is not on loopback (see
/// config/admin_tls.rs).
fn admin_over_https(options: &DemoOptions) -> bool {
    !options.admin.ip().is_loopback()
}

fn admin_scheme(options: &DemoOptions) -> &'static str {
    if admin_over_https(options) {
        "https"
    } else {
        "http"
    }
}
