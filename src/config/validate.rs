//! Turns the raw file into the validated public [`Config`](super::Config).
//!
//! Why: each section is checked in one function that names every key it rejects, so the
//! rules live next to each other and each has a test in `config::tests`.

use super::checks::{
    at_least, base_dn, invalid, listener, optional_listener, required, secret, service_url,
    tenant_id, within,
};
use super::credentials::{admin_public_url, app_credential, backup_app};
use super::raw::{RawAdmin, RawAuth, RawConfig, RawDirectory, RawEntra, RawLdap, cpu_count};
use super::{
    AdminAccess, AdminConfig, AuthConfig, Config, ConfigError, DirectoryConfig, EntraConfig,
    LdapConfig, SecretSource,
};
use crate::sync::settings::{InactiveUsers, SettingsError, SyncOptions, SyncSettings};
use serde_json::{Map, Value};
use std::net::SocketAddr;

/// Largest PDU a client may send (a defence, not a feature: 64 MiB).
const MAX_PDU_CEILING: usize = 64 * 1024 * 1024;
/// Lowest uid/gidNumber we hand out: below it live system accounts (0 is root).
const MIN_ID_NUMBER: u32 = 1000;
/// Highest: ids above 2^31-1 break tools that store them as signed 32-bit.
const MAX_ID_NUMBER: u32 = i32::MAX as u32;
/// Shortest admin token accepted.
const MIN_TOKEN_LEN: usize = 16;

pub fn config(raw: RawConfig) -> Result<Config, ConfigError> {
    let data_dir = match raw.data_dir {
        Some(d) if !d.as_os_str().is_empty() => d,
        Some(_) => return Err(invalid("data_dir", "must not be empty")),
        None => return Err(invalid("data_dir", "is required")),
    };
    let base_dn = raw
        .base_dn
        .as_deref()
        .map(|dn| base_dn("base_dn", dn))
        .transpose()?;
    let Some(entra_raw) = raw.entra else {
        return Err(invalid("entra", "the [entra] section is required"));
    };
    let sync = sync(raw.sync, &entra_raw, &raw.directory)?;
    let file_settings = SyncSettings::from_options(&sync);
    let mut directory = directory(raw.directory)?;
    directory.show_inactive_users = file_settings.inactive_users == InactiveUsers::Show;
    Ok(Config {
        data_dir,
        base_dn,
        ldap: ldap(raw.ldap)?,
        entra: entra(entra_raw, file_settings.interval_secs)?,
        admin: admin(raw.admin)?,
        directory,
        auth: auth(raw.auth)?,
        sync,
        secrets: crate::config::SecretsConfig {
            key_file: raw.secrets.key_file,
        },
    })
}

/// `[sync]`, plus the deprecated keys it replaces (`entra.sync_interval_secs`,
/// `directory.show_inactive_users`). Each key is parsed and checked on its own, by the same
/// code that checks an admin's run-time change, so both give the same messages.
fn sync(
    table: Option<toml::Table>,
    entra: &RawEntra,
    directory: &RawDirectory,
) -> Result<SyncOptions, ConfigError> {
    let map = match table.map(serde_json::to_value).transpose() {
        Ok(None) => Map::new(),
        Ok(Some(Value::Object(map))) => map,
        Ok(Some(_)) | Err(_) => return Err(invalid("sync", "must be a table of options")),
    };
    let mut options = SyncOptions::from_map(&map).map_err(|e| settings_error("sync.", e))?;
    if let Some(secs) = entra.sync_interval_secs {
        let alias = SyncOptions {
            interval: Some(secs),
            ..SyncOptions::default()
        };
        deprecated_alias(&options, "interval", "entra.sync_interval_secs", &alias)?;
        options.interval = Some(secs);
    }
    if let Some(show) = directory.show_inactive_users {
        let alias = SyncOptions {
            inactive_users: Some(if show {
                InactiveUsers::Show
            } else {
                InactiveUsers::Hide
            }),
            ..SyncOptions::default()
        };
        deprecated_alias(
            &options,
            "inactive_users",
            "directory.show_inactive_users",
            &alias,
        )?;
        options.inactive_users = alias.inactive_users;
    }
    SyncSettings::from_options(&options)
        .check()
        .map_err(|e| settings_error("sync.", e))?;
    Ok(options)
}

/// An old key that now means `sync.<key>`: checked under its own name, refused when the
/// new key is set too, and reported as deprecated.
fn deprecated_alias(
    options: &SyncOptions,
    key: &str,
    old: &str,
    alias: &SyncOptions,
) -> Result<(), ConfigError> {
    if options.is_set(key) {
        return Err(invalid(
            &format!("sync.{key}"),
            format!("set together with its deprecated alias `{old}`; keep only `sync.{key}`"),
        ));
    }
    alias.validate().map_err(|e| invalid(old, e.reason))?;
    tracing::warn!(key = old, replacement = %format!("sync.{key}"), "deprecated config key");
    Ok(())
}

/// A sync option error as a config error (`sync.group_prefixes[2]: …`).
fn settings_error(prefix: &str, e: SettingsError) -> ConfigError {
    let e = e.prefixed(prefix);
    invalid(&e.key, e.reason)
}

pub fn ldap(raw: RawLdap) -> Result<LdapConfig, ConfigError> {
    let listen = optional_listener("ldap.listen", &raw.listen)?;
    let ldaps = optional_listener("ldap.ldaps_listen", &raw.ldaps_listen)?;
    if listen.is_none() && ldaps.is_none() {
        return Err(invalid(
            "ldap.listen",
            "both ldap.listen and ldap.ldaps_listen are off; enable at least one",
        ));
    }
    if let (Some(a), Some(b)) = (listen, ldaps)
        && a == b
    {
        return Err(invalid(
            "ldap.ldaps_listen",
            format!("is the same address as ldap.listen ({a})"),
        ));
    }
    match (&raw.tls_cert, &raw.tls_key) {
        (Some(_), None) => {
            return Err(invalid(
                "ldap.tls_key",
                "is required when ldap.tls_cert is set",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "ldap.tls_cert",
                "is required when ldap.tls_key is set",
            ));
        }
        _ => {}
    }
    at_least("ldap.max_connections", raw.max_connections, 1)?;
    at_least("ldap.idle_timeout_secs", raw.idle_timeout_secs, 1)?;
    at_least(
        "ldap.tls_handshake_timeout_secs",
        raw.tls_handshake_timeout_secs,
        1,
    )?;
    within(
        "ldap.max_pdu_bytes",
        raw.max_pdu_bytes,
        1024,
        MAX_PDU_CEILING,
    )?;
    Ok(ldap_from(raw, listen, ldaps))
}

/// Builds the section from already-checked values (also used for `Default`).
pub fn ldap_from(
    raw: RawLdap,
    listen: Option<SocketAddr>,
    ldaps: Option<SocketAddr>,
) -> LdapConfig {
    LdapConfig {
        listen,
        ldaps_listen: ldaps,
        tls_cert: raw.tls_cert,
        tls_key: raw.tls_key,
        max_connections: raw.max_connections,
        idle_timeout_secs: raw.idle_timeout_secs,
        tls_handshake_timeout_secs: raw.tls_handshake_timeout_secs,
        max_pdu_bytes: raw.max_pdu_bytes,
        size_limit: raw.size_limit,
        time_limit_secs: raw.time_limit_secs,
        allow_plaintext_bind: raw.allow_plaintext_bind,
        bind_by_uid: raw.bind_by_uid,
        bind_by_mail: raw.bind_by_mail,
        bind_by_upn: raw.bind_by_upn,
    }
}

/// `[entra]`; `sync_interval_secs` is the file's effective `sync.interval` (its deprecated
/// alias here was folded into that by [`sync`]).
fn entra(raw: RawEntra, sync_interval_secs: u64) -> Result<EntraConfig, ConfigError> {
    let source = SecretSource {
        value: raw.client_secret,
        file: raw.client_secret_file,
        env: raw.client_secret_env,
    };
    let key = SecretSource {
        value: raw.client_key,
        file: raw.client_key_file,
        env: raw.client_key_env,
    };
    let (client_secret, client_certificate) =
        app_credential("entra", &source, raw.client_certificate.as_deref(), &key)?;
    Ok(EntraConfig {
        tenant_id: tenant_id("entra.tenant_id", raw.tenant_id)?,
        client_id: required("entra.client_id", raw.client_id)?,
        client_secret,
        client_certificate,
        backup: raw.backup.map(backup_app).transpose()?,
        authority_url: service_url("entra.authority_url", &raw.authority_url)?,
        graph_url: service_url("entra.graph_url", &raw.graph_url)?,
        sync_interval_secs,
        page_size: within("entra.page_size", raw.page_size, 1, 999)?,
        request_timeout_secs: at_least("entra.request_timeout_secs", raw.request_timeout_secs, 1)?,
        keep_mirror_min_objects: raw.keep_mirror_min_objects,
    })
}

fn admin(raw: RawAdmin) -> Result<AdminConfig, ConfigError> {
    let source = SecretSource {
        value: raw.token,
        file: raw.token_file,
        env: raw.token_env,
    };
    let token = secret("admin.token", &source)?;
    let listen = listener("admin.listen", &raw.listen)?;
    let transport = super::admin_tls::transport(
        listen,
        raw.tls,
        raw.tls_cert,
        raw.tls_key,
        raw.plaintext_behind_proxy,
    )?;
    let public_url = raw
        .public_url
        .as_deref()
        .map(admin_public_url)
        .transpose()?;
    if token.expose().chars().count() < MIN_TOKEN_LEN {
        return Err(invalid(
            "admin.token",
            format!("must be at least {MIN_TOKEN_LEN} characters"),
        ));
    }
    Ok(AdminConfig {
        listen,
        token,
        public_url,
        transport,
        ca_file: raw.ca_file,
        access: admin_access(raw.admin_group, raw.admins)?,
    })
}

/// `[admin] admin_group` and `admins`: names, ids or UPNs, none empty.
fn admin_access(group: Option<String>, admins: Vec<String>) -> Result<AdminAccess, ConfigError> {
    let admin_group = match group.map(|g| g.trim().to_string()) {
        Some(g) if g.is_empty() => {
            return Err(invalid(
                "admin.admin_group",
                "must name a group (its name or object id)",
            ));
        }
        other => other,
    };
    let admins: Vec<String> = admins.into_iter().map(|a| a.trim().to_string()).collect();
    if admins.iter().any(String::is_empty) {
        return Err(invalid(
            "admin.admins",
            "entries must be UPNs or object ids, not empty",
        ));
    }
    Ok(AdminAccess {
        admin_group,
        admins,
    })
}

fn directory(raw: RawDirectory) -> Result<DirectoryConfig, ConfigError> {
    within(
        "directory.uid_number_min",
        raw.uid_number_min,
        MIN_ID_NUMBER,
        MAX_ID_NUMBER,
    )?;
    within(
        "directory.uid_number_max",
        raw.uid_number_max,
        raw.uid_number_min,
        MAX_ID_NUMBER,
    )?;
    within(
        "directory.gid_number_min",
        raw.gid_number_min,
        MIN_ID_NUMBER,
        MAX_ID_NUMBER,
    )?;
    within(
        "directory.gid_number_max",
        raw.gid_number_max,
        raw.gid_number_min,
        MAX_ID_NUMBER,
    )?;
    // A user's private group has gidNumber = uidNumber, so the ranges must not overlap.
    if raw.uid_number_min <= raw.gid_number_max && raw.gid_number_min <= raw.uid_number_max {
        return Err(invalid(
            "directory.gid_number_min",
            "the gidNumber range overlaps the uidNumber range (users' private groups use their uidNumber as gidNumber)",
        ));
    }
    if !raw.home_directory.starts_with('/') {
        return Err(invalid(
            "directory.home_directory",
            "must be an absolute path such as /home/{uid}",
        ));
    }
    if !raw.login_shell.starts_with('/') {
        return Err(invalid(
            "directory.login_shell",
            "must be an absolute path such as /bin/bash",
        ));
    }
    Ok(directory_unchecked(raw))
}

/// Builds the section without checks (used for `Default`, whose values are valid).
pub fn directory_unchecked(raw: RawDirectory) -> DirectoryConfig {
    DirectoryConfig {
        login_source: raw.login_source,
        uid_number_min: raw.uid_number_min,
        uid_number_max: raw.uid_number_max,
        gid_number_min: raw.gid_number_min,
        gid_number_max: raw.gid_number_max,
        home_directory: raw.home_directory,
        login_shell: raw.login_shell,
        show_inactive_users: raw.show_inactive_users.unwrap_or(false),
    }
}

fn auth(raw: RawAuth) -> Result<AuthConfig, ConfigError> {
    within("auth.argon2_parallelism", raw.argon2_parallelism, 1, 64)?;
    at_least("auth.argon2_iterations", raw.argon2_iterations, 1)?;
    within(
        "auth.argon2_memory_kib",
        raw.argon2_memory_kib,
        8 * raw.argon2_parallelism,
        4 * 1024 * 1024,
    )?;
    within(
        "auth.min_password_length",
        raw.min_password_length,
        crate::auth::MIN_PASSWORD_CHARS,
        crate::auth::policy::MAX_MIN_CHARS,
    )?;
    if let Some(n) = raw.max_concurrent_hashes {
        within("auth.max_concurrent_hashes", n, 1, 1024)?;
    }
    argon2::Params::new(
        raw.argon2_memory_kib,
        raw.argon2_iterations,
        raw.argon2_parallelism,
        None,
    )
    .map_err(|e| invalid("auth", format!("argon2 parameters rejected: {e}")))?;
    Ok(auth_unchecked(raw))
}

/// Builds the section without checks (used for `Default`, whose values are valid).
pub fn auth_unchecked(raw: RawAuth) -> AuthConfig {
    AuthConfig {
        argon2_memory_kib: raw.argon2_memory_kib,
        argon2_iterations: raw.argon2_iterations,
        argon2_parallelism: raw.argon2_parallelism,
        max_concurrent_hashes: raw.max_concurrent_hashes.unwrap_or_else(cpu_count),
        verified_cache_secs: raw.verified_cache_secs,
        min_password_length: raw.min_password_length,
    }
}
