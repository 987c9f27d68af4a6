//! The configuration of `entra-ldap demo`: loopback only, the simulated tenant, a fresh
//! admin token.
//!
//! Why here: the demo must exercise the same validated structures as production, and the
//! simulated tenant must accept exactly the credentials this config presents, so both use
//! the constants below.

use super::raw::{RawAuth, RawDirectory, RawLdap};
use super::validate::{auth_unchecked, directory_unchecked, ldap_from};
use super::{AdminConfig, Config, EntraConfig, Secret};
use crate::sync::settings::SyncOptions;
use rand::RngCore;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Tenant id of the simulated demo tenant.
pub const DEMO_TENANT_ID: &str = "7c1e3f0a-5b2d-4e8f-9a61-0d3c2b1a4e5f";
/// Client (application) id of the demo app registration.
pub const DEMO_CLIENT_ID: &str = "3f2a9d4e-8b71-4c05-a6e2-91d0f7c3b8a4";
/// Client secret of the demo app registration (a demo value, not a real credential).
pub const DEMO_CLIENT_SECRET: &str = "demo-client-secret-Xq8~not-a-real-secret";

/// File (in the data directory) holding the demo's admin token, for the CLI clients.
pub const DEMO_TOKEN_FILE: &str = "admin-token";

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

pub fn config(data_dir: PathBuf, tenant_url: url::Url) -> Config {
    let token = demo_token(&data_dir);
    Config {
        base_dn: None,
        ldap: ldap_from(
            RawLdap::default(),
            Some(loopback(1389)),
            Some(loopback(1636)),
        ),
        entra: EntraConfig {
            tenant_id: DEMO_TENANT_ID.to_string(),
            client_id: DEMO_CLIENT_ID.to_string(),
            client_secret: Secret::new(DEMO_CLIENT_SECRET),
            authority_url: tenant_url.clone(),
            graph_url: tenant_url,
            sync_interval_secs: DEMO_INTERVAL_SECS,
            page_size: 999,
            request_timeout_secs: 30,
            keep_mirror_min_objects: crate::config::DEFAULT_KEEP_MIRROR_MIN_OBJECTS,
            client_certificate: None,
            backup: None,
        },
        admin: AdminConfig {
            listen: loopback(8080),
            token,
            public_url: None,
            transport: super::AdminTransport::Plain,
            ca_file: None,
            access: demo_admin_access(),
        },
        directory: directory_unchecked(RawDirectory::default()),
        auth: auth_unchecked(RawAuth::default()),
        sync: demo_sync(),
        secrets: super::SecretsConfig::default(),
        data_dir,
    }
}

/// The demo's `[sync]`: its security groups (VPN Users, Platform) have no email, so they
/// are imported explicitly; a sync every 30 s.
/// Nothing is managed by the demo's "file": its starting options are saved in the store
/// as if an admin had chosen them ([`demo_sync_options`]), so the API and console can change
/// them.
fn demo_sync() -> SyncOptions {
    SyncOptions::default()
}

/// The demo's starting sync options: the demo tenant's VPN Users and Platform are mail-less
/// security groups, so they are imported; a short schedule shows changes quickly.
pub fn demo_sync_options() -> SyncOptions {
    SyncOptions {
        groups_without_email: Some(true),
        interval: Some(DEMO_INTERVAL_SECS),
        ..SyncOptions::default()
    }
}

/// Who gets the demo's console after signing in with Microsoft: alice by name, and the
/// members of the (mail-less security) group Platform — erin and heidi.
pub fn demo_admin_access() -> super::AdminAccess {
    super::AdminAccess {
        admin_group: Some("Platform".to_string()),
        admins: vec!["alice@example.com".to_string()],
    }
}

/// The demo's sync schedule.
const DEMO_INTERVAL_SECS: u64 = 30;

/// The admin token in `data_dir/admin-token`, created (mode 0600) with 32 random bytes
/// when missing. If the file cannot be written the token still works for this process.
fn demo_token(data_dir: &Path) -> Secret {
    let path = data_dir.join(DEMO_TOKEN_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 16 {
            return Secret::new(existing);
        }
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    if let Err(e) = write_private(&path, &token) {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the demo admin token");
    }
    Secret::new(token)
}

/// Writes `text` to a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}
