//! TLS server configuration for LDAPS, StartTLS and (optionally) the admin listener.
//!
//! Why: a directory must speak TLS from the first start. When the admin gives no
//! certificate we generate a self-signed pair into the data directory (rcgen), reuse it on
//! later starts, and log its SHA-256 fingerprint so clients can pin it.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Sub-directory of the data directory holding a generated pair.
pub const GENERATED_DIR: &str = "tls";
/// Lifetime of a generated certificate, in years.
const GENERATED_VALIDITY_YEARS: i32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate/key `{path}`: {reason}")]
    File { path: String, reason: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

fn file_error(path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// A loaded server TLS identity.
pub struct TlsIdentity {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), hex with colons.
    pub fingerprint: String,
    /// Path of the certificate PEM (so tests and the demo can point clients at it).
    pub cert_path: std::path::PathBuf,
}

/// Loads `cert`/`key` when given; otherwise loads or generates `data_dir/tls/{cert,key}.pem`.
pub fn load_or_generate(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
) -> Result<TlsIdentity, TlsError> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        (Some(c), None) => return Err(file_error(c, "a certificate was given without a key")),
        (None, Some(k)) => return Err(file_error(k, "a key was given without a certificate")),
        (None, None) => {
            let dir = data_dir.join(GENERATED_DIR);
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            match (c.exists(), k.exists()) {
                (true, true) => {}
                (false, false) => generate(&dir, &c, &k)?,
                (true, false) => return Err(file_error(&k, "missing (its certificate exists)")),
                (false, true) => return Err(file_error(&c, "missing (its key exists)")),
            }
            (c, k)
        }
    };
    let chain = read_chain(&cert_path)?;
    let private_key = read_key(&key_path)?;
    let fingerprint = chain
        .first()
        .map(|leaf| fingerprint(leaf.as_ref()))
        .ok_or_else(|| file_error(&cert_path, "no certificate"))?;
    let config = server_config(chain, private_key, &key_path)?;
    tracing::info!(cert = %cert_path.display(), sha256 = %fingerprint, "TLS certificate loaded");
    Ok(TlsIdentity {
        config,
        fingerprint,
        cert_path,
    })
}

/// SHA-256 of DER bytes as uppercase hex pairs joined by colons (the form `openssl x509
/// -fingerprint -sha256` prints).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => file_error(path, "missing"),
        _ => file_error(path, format!("cannot read: {e}")),
    })
}

/// Every certificate of a PEM file, leaf first.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    let chain = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(path, "no PEM CERTIFICATE block found"));
    }
    Ok(chain)
}

/// The first private key (PKCS#8, RSA or SEC1) of a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_file(path)?;
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|e| file_error(path, format!("not valid PEM: {e}")))?
        .ok_or_else(|| {
            file_error(
                path,
                "no private key found (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)",
            )
        })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    key_path: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                file_error(key_path, "the private key does not match the certificate")
            }
            other => file_error(key_path, format!("unusable certificate/key: {other}")),
        })?;
    Ok(Arc::new(config))
}

/// Names a generated certificate is valid for: localhost, the loopback addresses and the
/// machine's host name (when it is a plausible DNS name).
fn subject_alt_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = host_name()
        && !names.contains(&host)
    {
        names.push(host);
    }
    names
}

fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_lowercase())
        .find(|h| {
            !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
}

/// Generates a self-signed ECDSA P-256 pair into `dir` (key mode 0600).
fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    create_private_dir(dir)?;
    let setup = |e: rcgen::Error| TlsError::Setup(format!("cannot generate a certificate: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(setup)?;
    let mut params = rcgen::CertificateParams::new(subject_alt_names()).map_err(setup)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "entra-ldap self-signed");
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + GENERATED_VALIDITY_YEARS, 1, 1);
    let cert = params.self_signed(&key).map_err(setup)?;
    write_new(key_path, key.serialize_pem().as_bytes(), true)?;
    write_new(cert_path, cert.pem().as_bytes(), false)?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok(())
}

/// The current calendar year (approximate at year boundaries, which is fine for validity).
fn current_year() -> i32 {
    const SECS_PER_YEAR: i64 = 31_556_952;
    let years = crate::model::now() / SECS_PER_YEAR;
    1970 + i32::try_from(years).unwrap_or(0)
}

fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| file_error(dir, format!("cannot create directory: {e}")))
}

/// Writes a file via a temporary name and a rename, so a crash never leaves half a key.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    let tmp: PathBuf = path.with_extension("pem.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| file_error(path, format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses_the_same_pair() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(None, None, dir.path()).unwrap();
        let second = load_or_generate(None, None, dir.path()).unwrap();
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(first.cert_path, dir.path().join("tls/cert.pem"));
        // 32 bytes as uppercase hex pairs.
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        assert!(
            first
                .fingerprint
                .chars()
                .all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The same files given explicitly load to the same identity.
        let explicit = load_or_generate(
            Some(&dir.path().join("tls/cert.pem")),
            Some(&dir.path().join("tls/key.pem")),
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(explicit.fingerprint, first.fingerprint);
    }

    /// The first certificate of the PEM file an identity was loaded from.
    fn leaf_der(id: &TlsIdentity) -> rustls::pki_types::CertificateDer<'static> {
        let pem = std::fs::read(&id.cert_path).unwrap();
        rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap()
    }

    #[test]
    fn fingerprint_matches_the_leaf_der() {
        let dir = tempfile::tempdir().unwrap();
        let id = load_or_generate(None, None, dir.path()).unwrap();
        let der = leaf_der(&id);
        assert_eq!(fingerprint(der.as_ref()), id.fingerprint);
        assert_eq!(&fingerprint(b"")[..8], "E3:B0:C4");
    }

    fn reason(r: Result<TlsIdentity, TlsError>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn bad_files_are_named_with_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let good = load_or_generate(None, None, dir.path()).unwrap();
        let key = dir.path().join("tls/key.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "hello").unwrap();
        let missing = dir.path().join("nope.pem");

        let e = reason(load_or_generate(Some(&missing), Some(&key), dir.path()));
        assert!(e.contains("nope.pem") && e.contains("missing"), "{e}");
        let e = reason(load_or_generate(Some(&garbage), Some(&key), dir.path()));
        assert!(
            e.contains("garbage.pem") && e.contains("CERTIFICATE"),
            "{e}"
        );
        let e = reason(load_or_generate(
            Some(&good.cert_path),
            Some(&garbage),
            dir.path(),
        ));
        assert!(
            e.contains("garbage.pem") && e.contains("no private key"),
            "{e}"
        );
        // A key from another pair does not match the certificate.
        let other = tempfile::tempdir().unwrap();
        load_or_generate(None, None, other.path()).unwrap();
        let other_key = other.path().join("tls/key.pem");
        let e = reason(load_or_generate(
            Some(&good.cert_path),
            Some(&other_key),
            dir.path(),
        ));
        assert!(e.contains("does not match"), "{e}");
        let e = reason(load_or_generate(Some(&good.cert_path), None, dir.path()));
        assert!(e.contains("without a key"), "{e}");
        // Half a generated pair is an error, not a silent regeneration.
        std::fs::remove_file(&key).unwrap();
        let e = reason(load_or_generate(None, None, dir.path()));
        assert!(e.contains("key.pem") && e.contains("missing"), "{e}");
    }

    #[test]
    fn generated_certificate_serves_a_tls_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let id = load_or_generate(None, None, dir.path()).unwrap();
        let der = leaf_der(&id);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        for name in ["localhost", "127.0.0.1"] {
            let server_name = rustls::pki_types::ServerName::try_from(name).unwrap();
            let mut client =
                rustls::ClientConnection::new(Arc::new(client_config.clone()), server_name)
                    .unwrap();
            let mut server = rustls::ServerConnection::new(Arc::clone(&id.config)).unwrap();
            // Pump handshake bytes between the two in memory.
            for _ in 0..10 {
                let mut buf = Vec::new();
                client.write_tls(&mut buf).unwrap();
                server.read_tls(&mut buf.as_slice()).unwrap();
                server.process_new_packets().unwrap();
                let mut buf = Vec::new();
                server.write_tls(&mut buf).unwrap();
                client.read_tls(&mut buf.as_slice()).unwrap();
                client.process_new_packets().unwrap();
            }
            assert!(
                !client.is_handshaking() && !server.is_handshaking(),
                "{name}"
            );
        }
    }
}
