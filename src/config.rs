//! Configuration: the TOML file, its defaults, and where secrets come from.
//!
//! Why: an admin's typo must be caught at start-up with the key and the reason, not show up
//! later as a mysterious runtime failure. Every struct denies unknown keys, and
//! [`Config::load`] validates what serde cannot (URLs, ranges, secret sources).
//! See docs/configuration.md for every key with its default.

mod admin_tls;
mod checks;
mod credentials;
mod demo;
mod raw;
mod validate;

pub use demo::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID, DEMO_TOKEN_FILE, demo_sync_options,
};

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret value (client secret, admin token). Never printed: `Debug` shows `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself: call only where it is sent to its one legitimate consumer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret comes from in the file: inline `key = "…"`, `key_file = "path"`, or
/// `key_env = "VAR"`. Exactly one must be given where the secret is required.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub value: Option<String>,
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

/// The whole configuration file.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// When `None`, derived from the tenant's default verified domain.
    pub base_dn: Option<String>,
    pub ldap: LdapConfig,
    pub entra: EntraConfig,
    pub admin: AdminConfig,
    pub directory: DirectoryConfig,
    pub auth: AuthConfig,
    /// `[sync]`: the sync options the file manages (the others are editable at run time).
    pub sync: crate::sync::settings::SyncOptions,
    pub secrets: SecretsConfig,
}

/// `[ldap]`: listeners, TLS and connection hygiene.
#[derive(Clone, Debug)]
pub struct LdapConfig {
    /// Plain LDAP (StartTLS available). `None` disables it.
    pub listen: Option<SocketAddr>,
    /// LDAPS. `None` disables it.
    pub ldaps_listen: Option<SocketAddr>,
    /// PEM certificate chain and key. When both are absent a self-signed pair is generated
    /// into `data_dir` on first start.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections: usize,
    pub idle_timeout_secs: u64,
    pub tls_handshake_timeout_secs: u64,
    pub max_pdu_bytes: usize,
    /// Server-side caps on searches (0 = none).
    pub size_limit: usize,
    pub time_limit_secs: u64,
    /// Allow simple binds without TLS from non-loopback peers (default false).
    pub allow_plaintext_bind: bool,
    /// Which names a simple bind accepts besides a full DN.
    pub bind_by_uid: bool,
    pub bind_by_mail: bool,
    pub bind_by_upn: bool,
}

/// Default of `[entra] keep_mirror_min_objects`. Why 50,000: keeping the mirror costs about
/// 1.5 KB of memory per object (15 MB at 10,000), reading it back costs about 15 µs per
/// object (0.15 s at 10,000, 1.6 s at 100,000). Below this size the memory matters more
/// than a fraction of a second once per changed delta run; above it a delta run must stay
/// around a second.
pub const DEFAULT_KEEP_MIRROR_MIN_OBJECTS: usize = 50_000;

/// `[entra]`: where and how to read the tenant.
#[derive(Clone, Debug)]
pub struct EntraConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub authority_url: url::Url,
    pub graph_url: url::Url,
    /// The schedule the file implies (`sync.interval`, or its deprecated alias here, or
    /// the default). The server schedules by the effective `interval` of the sync settings
    /// instead, which an admin may change at run time when the file does not set it.
    pub sync_interval_secs: u64,
    /// `$top` for Graph collections (1..=999).
    pub page_size: u32,
    pub request_timeout_secs: u64,
    /// From this many mirrored users + groups on, the sync keeps the Graph mirror and the
    /// scoped tenant in memory between runs; below it they stay in the store and a delta
    /// run that carries changes reads them back. 0: always keep.
    pub keep_mirror_min_objects: usize,
    /// `client_certificate` + `client_key`: the app authenticates with a signed assertion
    /// instead of `client_secret` (which is then empty). Exactly one of the two is set.
    pub client_certificate: Option<ClientCertificate>,
    /// `[entra.backup]`: a second app registration the sync falls back to when the primary
    /// credential is refused.
    pub backup: Option<BackupApp>,
}

/// A certificate credential of an app registration (PEM files read at start-up).
#[derive(Clone, Debug)]
pub struct ClientCertificate {
    /// Where the certificate came from (for messages).
    pub cert_path: PathBuf,
    /// DER of the certificate (its SHA-256 is the `x5t#S256` Entra matches).
    pub cert_der: Vec<u8>,
    /// The PKCS#8 private key, PEM (a secret: never logged).
    pub key_pem: Secret,
}

/// `[entra.backup]`: another app registration in the same tenant.
#[derive(Clone, Debug)]
pub struct BackupApp {
    pub client_id: String,
    /// Empty when `client_certificate` is set.
    pub client_secret: Secret,
    pub client_certificate: Option<ClientCertificate>,
}

/// `[secrets]`: the key that seals secrets persisted in the store (refresh tokens).
#[derive(Clone, Debug, Default)]
pub struct SecretsConfig {
    /// Default: `data_dir/secret.key`, created (mode 0600) on first use.
    pub key_file: Option<PathBuf>,
}

impl Config {
    /// The file holding the sealing key: `[secrets] key_file` or `data_dir/secret.key`.
    pub fn secret_key_path(&self) -> PathBuf {
        self.secrets
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }
}

/// `[admin]`: the HTTP API.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: Secret,
    /// How browsers reach this API (`[admin] public_url`; `None`: `http://{bound address}`):
    /// the delegated authorization's redirect URI is `{public_url}/api/v1/sync/callback`.
    pub public_url: Option<url::Url>,
    /// Who gets the console after signing in with Microsoft.
    pub access: AdminAccess,
    /// How the listener speaks: HTTPS (default off loopback) or plain HTTP (loopback, or
    /// behind a TLS-terminating proxy). See `config/admin_tls.rs`.
    pub transport: AdminTransport,
    /// PEM CA certificate(s) the CLI trusts for an HTTPS admin listener (`[admin] ca_file`);
    /// `None`: the served certificate itself ([`Config::admin_ca_path`]).
    pub ca_file: Option<PathBuf>,
}

/// How the admin listener speaks. Why an enum: plain HTTP off loopback is only reachable
/// through the explicit `plaintext_behind_proxy` opt-out, which validation enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminTransport {
    /// Plain HTTP: loopback (the default there), or `plaintext_behind_proxy = true`.
    Plain,
    /// HTTPS with `[admin] tls_cert`/`tls_key`, or (`None`) the LDAP certificate pair.
    Tls {
        cert_and_key: Option<(PathBuf, PathBuf)>,
    },
}

impl AdminTransport {
    /// True when the listener serves HTTPS.
    pub fn is_tls(&self) -> bool {
        matches!(self, AdminTransport::Tls { .. })
    }
    /// `https` or `http`, for URLs of this listener.
    pub fn scheme(&self) -> &'static str {
        if self.is_tls() { "https" } else { "http" }
    }
}

/// `[admin] admin_group` and `[admin] admins`: which people signed in with Microsoft are
/// admins (everyone else who is an active synced user gets only the self-service page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminAccess {
    /// A group (name or object id); its members, nested included, are admins.
    pub admin_group: Option<String>,
    /// UPNs or object ids of admins.
    pub admins: Vec<String>,
}

/// Which Entra property becomes the login name (`uid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginSource {
    /// Local part of the userPrincipalName, lowercased (default).
    Upn,
    MailNickname,
    OnPremisesSamAccountName,
}

/// `[directory]`: how Entra objects become POSIX entries.
#[derive(Clone, Debug)]
pub struct DirectoryConfig {
    pub login_source: LoginSource,
    pub uid_number_min: u32,
    pub uid_number_max: u32,
    pub gid_number_min: u32,
    pub gid_number_max: u32,
    /// `{uid}` is replaced by the login name.
    pub home_directory: String,
    pub login_shell: String,
    /// Serve inactive users in searches (default false: hidden). The file's value of
    /// `sync.inactive_users` (or its deprecated alias here); the server follows the
    /// effective sync setting, which an admin may change when the file does not set it.
    pub show_inactive_users: bool,
}

/// `[auth]`: password verifier cost and the verification pool.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// At most this many verifications run at once on the blocking pool.
    pub max_concurrent_hashes: usize,
    /// How long a successful (identity, password) verification is remembered, so repeated
    /// binds of the same identity skip the slow hash. 0 disables the cache.
    pub verified_cache_secs: u64,
    /// Shortest password a person may choose, in characters (see `auth::policy`).
    pub min_password_length: usize,
}

/// A configuration problem, naming the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl Config {
    /// Reads, parses and validates a config file; secrets are resolved (files read,
    /// environment variables looked up) here so a missing one fails at start-up.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text (`origin` is only used in error messages).
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        validate::config(raw)
    }

    /// The configuration `entra-ldap demo` runs with: everything on loopback, data in
    /// `data_dir`, the simulated tenant at `tenant_url`.
    pub fn demo(data_dir: PathBuf, tenant_url: url::Url) -> Config {
        demo::config(data_dir, tenant_url)
    }
}

impl Default for LdapConfig {
    /// The documented defaults of `[ldap]`.
    fn default() -> Self {
        let raw = raw::RawLdap::default();
        validate::ldap_from(
            raw,
            Some(raw::default_ldap_addr()),
            Some(raw::default_ldaps_addr()),
        )
    }
}

impl Default for DirectoryConfig {
    /// The documented defaults of `[directory]`.
    fn default() -> Self {
        validate::directory_unchecked(raw::RawDirectory::default())
    }
}

impl Default for AuthConfig {
    /// The documented defaults of `[auth]`.
    fn default() -> Self {
        validate::auth_unchecked(raw::RawAuth::default())
    }
}

#[cfg(test)]
mod tests;
