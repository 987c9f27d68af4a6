//! TLS server configuration for LDAPS, StartTLS and (optionally) the admin listener.
//!
//! Why: a directory must speak TLS from the first start. When the admin gives no
//! certificate we generate a self-signed pair into the data directory (rcgen), reuse it on
//! later starts, and log its SHA-256 fingerprint so clients can pin it.

use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate/key `{path}`: {reason}")]
    File { path: String, reason: String },
    #[error("TLS setup: {0}")]
    Setup(String),
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
    _cert: Option<&Path>,
    _key: Option<&Path>,
    _data_dir: &Path,
) -> Result<TlsIdentity, TlsError> {
    todo!()
}
