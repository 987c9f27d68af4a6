//! TLS handshakes for LDAPS connections and StartTLS upgrades.
//!
//! Why: both paths end in the same place (a server-side rustls session over the client's
//! TCP socket) and both must be bounded in time, so a client that connects and never
//! finishes its handshake cannot hold a connection slot forever.

use super::stream::LdapStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// Why a handshake did not produce a TLS stream (for the connection's close log).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("TLS handshake timed out after {0} s")]
    Timeout(u64),
    #[error("TLS handshake failed: {0}")]
    Failed(std::io::Error),
}

/// Runs the server side of a TLS handshake on `tcp`, giving up after `timeout_secs`
/// (0 means no limit).
pub(crate) async fn accept(
    config: &Arc<rustls::ServerConfig>,
    tcp: TcpStream,
    timeout_secs: u64,
) -> Result<LdapStream, HandshakeError> {
    let acceptor = TlsAcceptor::from(Arc::clone(config));
    let handshake = acceptor.accept(tcp);
    let result = if timeout_secs == 0 {
        handshake.await
    } else {
        tokio::time::timeout(Duration::from_secs(timeout_secs), handshake)
            .await
            .map_err(|_| HandshakeError::Timeout(timeout_secs))?
    };
    result
        .map(|tls| LdapStream::Tls(Box::new(tls)))
        .map_err(HandshakeError::Failed)
}
