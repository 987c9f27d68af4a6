//! Validation of app credentials (`client_secret` or `client_certificate` + `client_key`,
//! for `[entra]` and `[entra.backup]`) and of `[admin] public_url`.
//!
//! Why its own file: "exactly one of secret or certificate", reading and parsing the PEM
//! files, and naming the offending key are the same rules for both app registrations.

use super::checks::{invalid, required, secret, service_url};
use super::raw::RawBackupApp;
use super::{BackupApp, ClientCertificate, ConfigError, Secret, SecretSource};
use std::path::Path;

/// Resolves one app's credential under `prefix` (`entra` or `entra.backup`): either the
/// client secret or the certificate with its key, never both, never neither.
pub fn app_credential(
    prefix: &str,
    secret_source: &SecretSource,
    certificate: Option<&Path>,
    key_source: &SecretSource,
) -> Result<(Secret, Option<ClientCertificate>), ConfigError> {
    let has_secret = secret_source.value.is_some()
        || secret_source.file.is_some()
        || secret_source.env.is_some();
    let has_key =
        key_source.value.is_some() || key_source.file.is_some() || key_source.env.is_some();
    match (has_secret, certificate) {
        (true, Some(_)) => Err(invalid(
            &format!("{prefix}.client_certificate"),
            format!("set either {prefix}.client_secret or {prefix}.client_certificate, not both"),
        )),
        (true, None) if has_key => Err(invalid(
            &format!("{prefix}.client_key"),
            format!("is only used with {prefix}.client_certificate"),
        )),
        (true, None) => Ok((
            secret(&format!("{prefix}.client_secret"), secret_source)?,
            None,
        )),
        (false, Some(path)) => {
            let key = secret(&format!("{prefix}.client_key"), key_source)?;
            Ok((
                Secret::default(),
                Some(certificate_pair(prefix, path, key)?),
            ))
        }
        (false, None) => Err(invalid(
            &format!("{prefix}.client_secret"),
            format!(
                "is required: set `{prefix}.client_secret` (or `_file`/`_env`), or `{prefix}.client_certificate` with `{prefix}.client_key`"
            ),
        )),
    }
}

/// Reads the certificate PEM and checks the key is a PKCS#8 RSA key.
fn certificate_pair(
    prefix: &str,
    path: &Path,
    key: Secret,
) -> Result<ClientCertificate, ConfigError> {
    let cert_key = format!("{prefix}.client_certificate");
    let pem = std::fs::read(path)
        .map_err(|e| invalid(&cert_key, format!("cannot read {}: {e}", path.display())))?;
    let cert_der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| {
            invalid(
                &cert_key,
                format!("{} holds no PEM CERTIFICATE", path.display()),
            )
        })?
        .to_vec();
    let key_der = rustls_pemfile::pkcs8_private_keys(&mut key.expose().as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| {
            invalid(
                &format!("{prefix}.client_key"),
                "is not a PEM PKCS#8 private key (-----BEGIN PRIVATE KEY-----)",
            )
        })?;
    ring::signature::RsaKeyPair::from_pkcs8(key_der.secret_pkcs8_der()).map_err(|e| {
        invalid(
            &format!("{prefix}.client_key"),
            format!("is not a usable RSA key (2048 bits or more): {e}"),
        )
    })?;
    Ok(ClientCertificate {
        cert_path: path.to_path_buf(),
        cert_der,
        key_pem: key,
    })
}

/// `[entra.backup]`.
pub fn backup_app(raw: RawBackupApp) -> Result<BackupApp, ConfigError> {
    let secret_source = SecretSource {
        value: raw.client_secret,
        file: raw.client_secret_file,
        env: raw.client_secret_env,
    };
    let key = SecretSource {
        value: raw.client_key,
        file: raw.client_key_file,
        env: raw.client_key_env,
    };
    let (client_secret, client_certificate) = app_credential(
        "entra.backup",
        &secret_source,
        raw.client_certificate.as_deref(),
        &key,
    )?;
    Ok(BackupApp {
        client_id: required("entra.backup.client_id", raw.client_id)?,
        client_secret,
        client_certificate,
    })
}

/// `[admin] public_url`: https, or http for loopback; no path beyond `/`.
pub fn admin_public_url(value: &str) -> Result<url::Url, ConfigError> {
    let url = service_url("admin.public_url", value)?;
    if url.path() != "/" {
        return Err(invalid(
            "admin.public_url",
            "must be an origin such as https://ldap.example.com (no path)",
        ));
    }
    Ok(url)
}
