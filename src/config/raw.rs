//! The configuration file exactly as written: serde structs with defaults.
//!
//! Why separate from the public `Config`: serde can catch unknown keys and wrong types, but
//! not "both or neither", "exactly one of", loopback-only http, or ranges. Keeping the raw
//! shape private lets `Config` hold only validated values.

use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// Default plain-LDAP listener (all interfaces: a directory serves the network).
pub const DEFAULT_LDAP_LISTEN: &str = "0.0.0.0:389";
/// Default LDAPS listener.
pub const DEFAULT_LDAPS_LISTEN: &str = "0.0.0.0:636";
/// Default admin API listener (loopback only: the API is powerful).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8080";
/// [`DEFAULT_LDAP_LISTEN`] as an address.
pub fn default_ldap_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 389)
}
/// [`DEFAULT_LDAPS_LISTEN`] as an address.
pub fn default_ldaps_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 636)
}
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub base_dn: Option<String>,
    #[serde(default)]
    pub ldap: RawLdap,
    pub entra: Option<RawEntra>,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub directory: RawDirectory,
    #[serde(default)]
    pub auth: RawAuth,
    /// `[sync]`, kept as a table: each key is parsed on its own so every error names it
    /// (see `validate::sync`).
    pub sync: Option<toml::Table>,
    #[serde(default)]
    pub secrets: RawSecrets,
}

/// `[secrets]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSecrets {
    pub key_file: Option<PathBuf>,
}

/// `[entra.backup]`: a second app registration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackupApp {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<String>,
    pub client_key_file: Option<PathBuf>,
    pub client_key_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLdap {
    pub listen: String,
    pub ldaps_listen: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections: usize,
    pub idle_timeout_secs: u64,
    pub tls_handshake_timeout_secs: u64,
    pub max_pdu_bytes: usize,
    pub size_limit: usize,
    pub time_limit_secs: u64,
    pub allow_plaintext_bind: bool,
    pub bind_by_uid: bool,
    pub bind_by_mail: bool,
    pub bind_by_upn: bool,
}

impl Default for RawLdap {
    fn default() -> Self {
        RawLdap {
            listen: DEFAULT_LDAP_LISTEN.to_string(),
            ldaps_listen: DEFAULT_LDAPS_LISTEN.to_string(),
            tls_cert: None,
            tls_key: None,
            max_connections: 4096,
            idle_timeout_secs: 600,
            tls_handshake_timeout_secs: 10,
            max_pdu_bytes: 256 * 1024,
            size_limit: 0,
            time_limit_secs: 60,
            allow_plaintext_bind: false,
            bind_by_uid: true,
            bind_by_mail: true,
            bind_by_upn: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntra {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    #[serde(default = "default_authority")]
    pub authority_url: String,
    #[serde(default = "default_graph")]
    pub graph_url: String,
    /// Deprecated alias of `sync.interval`.
    #[serde(default, alias = "sync_interval")]
    pub sync_interval_secs: Option<u64>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    #[serde(default = "default_keep_mirror_min_objects")]
    pub keep_mirror_min_objects: usize,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<String>,
    pub client_key_file: Option<PathBuf>,
    pub client_key_env: Option<String>,
    pub backup: Option<RawBackupApp>,
}

fn default_authority() -> String {
    DEFAULT_AUTHORITY_URL.to_string()
}
fn default_graph() -> String {
    DEFAULT_GRAPH_URL.to_string()
}
fn default_page_size() -> u32 {
    999
}
fn default_request_timeout() -> u64 {
    30
}
fn default_keep_mirror_min_objects() -> usize {
    crate::config::DEFAULT_KEEP_MIRROR_MIN_OBJECTS
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    pub listen: String,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub public_url: Option<String>,
    /// HTTPS on the admin listener; unset: on when `listen` is not loopback.
    pub tls: Option<bool>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// CA the CLI trusts for an HTTPS admin listener.
    pub ca_file: Option<PathBuf>,
    /// Plain HTTP off loopback because a TLS-terminating proxy is in front.
    pub plaintext_behind_proxy: bool,
    pub admin_group: Option<String>,
    #[serde(default)]
    pub admins: Vec<String>,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            listen: DEFAULT_ADMIN_LISTEN.to_string(),
            token: None,
            token_file: None,
            token_env: None,
            public_url: None,
            tls: None,
            tls_cert: None,
            tls_key: None,
            ca_file: None,
            plaintext_behind_proxy: false,
            admin_group: None,
            admins: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDirectory {
    pub login_source: super::LoginSource,
    pub uid_number_min: u32,
    pub uid_number_max: u32,
    pub gid_number_min: u32,
    pub gid_number_max: u32,
    pub home_directory: String,
    pub login_shell: String,
    /// Deprecated alias of `sync.inactive_users`.
    pub show_inactive_users: Option<bool>,
}

impl Default for RawDirectory {
    fn default() -> Self {
        RawDirectory {
            login_source: super::LoginSource::Upn,
            uid_number_min: 100_000,
            uid_number_max: 199_999,
            gid_number_min: 200_000,
            gid_number_max: 299_999,
            home_directory: "/home/{uid}".to_string(),
            login_shell: "/bin/bash".to_string(),
            show_inactive_users: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// `None`: the number of CPUs.
    pub max_concurrent_hashes: Option<usize>,
    pub verified_cache_secs: u64,
    /// Shortest password a person may choose (default 12).
    pub min_password_length: usize,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: None,
            verified_cache_secs: 300,
            min_password_length: crate::auth::policy::DEFAULT_MIN_CHARS,
        }
    }
}

/// The number of CPUs (at least 1): the default for `auth.max_concurrent_hashes`.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
