//! Validation rules that serde cannot express, each naming the key it checks.
//!
//! Why: "config key `entra.graph_url`: http:// is only accepted for loopback hosts" tells
//! an admin what to fix; a failure deep inside the sync an hour later does not.

use super::{ConfigError, Secret, SecretSource};
use std::net::SocketAddr;
use std::path::Path;

/// Shorthand for a validation error.
pub fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// A listener address; `"off"` or `""` disables the listener.
pub fn optional_listener(key: &str, value: &str) -> Result<Option<SocketAddr>, ConfigError> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    listener(key, value).map(Some)
}

/// A required listener address (`ip:port`; IPv6 as `[::1]:port`).
pub fn listener(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| {
        invalid(
            key,
            format!("`{value}` is not an address like 127.0.0.1:389 or [::1]:389"),
        )
    })
}

/// An authority or Graph base URL: https, or http only for a loopback host.
pub fn service_url(key: &str, value: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(value.trim())
        .map_err(|e| invalid(key, format!("`{value}` is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid(key, format!("`{value}` has no host"))),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                key,
                "http:// is only accepted for loopback hosts (127.0.0.0/8, ::1, localhost); use https://",
            ));
        }
        other => {
            return Err(invalid(
                key,
                format!("scheme `{other}` is not supported; use https://"),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(key, "must not contain a query or fragment"));
    }
    Ok(url)
}

/// A required, non-blank string value.
pub fn required(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Err(invalid(key, "must not be empty")),
        None => Err(invalid(key, "is required")),
    }
}

/// A tenant id goes into the token URL path: a GUID or a domain name, nothing else.
pub fn tenant_id(key: &str, value: Option<String>) -> Result<String, ConfigError> {
    let v = required(key, value)?;
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        Ok(v)
    } else {
        Err(invalid(
            key,
            "must be a tenant GUID or domain name (letters, digits, '-', '.')",
        ))
    }
}

/// A DN of the form `attr=value,attr=value` (RFC 4514 escapes allowed in values).
pub fn base_dn(key: &str, value: &str) -> Result<String, ConfigError> {
    let dn = value.trim();
    if dn.is_empty() {
        return Err(invalid(
            key,
            "must not be empty (leave it out to derive it from the tenant)",
        ));
    }
    for rdn in split_unescaped(dn, ',') {
        let rdn = rdn.trim();
        let Some((attr, val)) = rdn.split_once('=') else {
            return Err(invalid(
                key,
                format!("`{rdn}` is not of the form attr=value"),
            ));
        };
        let attr = attr.trim();
        let attr_ok = attr.starts_with(|c: char| c.is_ascii_alphabetic())
            && attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || !attr.is_empty() && attr.chars().all(|c| c.is_ascii_digit() || c == '.');
        if !attr_ok {
            return Err(invalid(key, format!("`{attr}` is not an attribute name")));
        }
        if val.trim().is_empty() {
            return Err(invalid(key, format!("`{rdn}` has an empty value")));
        }
    }
    Ok(dn.to_string())
}

/// Splits on `sep` where it is not escaped with a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == sep => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A number that must be at least `min`.
pub fn at_least<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
) -> Result<T, ConfigError> {
    if value < min {
        Err(invalid(
            key,
            format!("must be at least {min} (got {value})"),
        ))
    } else {
        Ok(value)
    }
}

/// A number within `min..=max`.
pub fn within<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        Err(invalid(
            key,
            format!("must be between {min} and {max} (got {value})"),
        ))
    } else {
        Ok(value)
    }
}

/// Resolves a secret given as `<key>`, `<key>_file` or `<key>_env` (exactly one).
pub fn secret(key: &str, source: &SecretSource) -> Result<Secret, ConfigError> {
    let given = [
        source.value.is_some(),
        source.file.is_some(),
        source.env.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(invalid(
                key,
                format!("is required: set `{key}`, `{key}_file` or `{key}_env`"),
            ));
        }
        1 => {}
        _ => {
            return Err(invalid(
                key,
                format!("set only one of `{key}`, `{key}_file`, `{key}_env`"),
            ));
        }
    }
    let value = if let Some(v) = &source.value {
        v.clone()
    } else if let Some(path) = &source.file {
        read_secret_file(&format!("{key}_file"), path)?
    } else if let Some(var) = &source.env {
        std::env::var(var).map_err(|_| {
            invalid(
                &format!("{key}_env"),
                format!("environment variable `{var}` is not set (or not UTF-8)"),
            )
        })?
    } else {
        String::new()
    };
    if value.trim().is_empty() {
        return Err(invalid(key, "the secret is empty"));
    }
    Ok(Secret::new(value))
}

/// Reads a secret file, dropping one trailing newline; warns when others may read it.
fn read_secret_file(key: &str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    warn_if_world_readable(key, path);
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(trimmed.to_string())
}

#[cfg(unix)]
fn warn_if_world_readable(key: &str, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o004 != 0
    {
        tracing::warn!(key, path = %path.display(), "secret file is readable by every user; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_world_readable(_key: &str, _path: &Path) {}
