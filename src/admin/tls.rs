//! HTTPS for the admin listener: TLS handshakes in their own tasks feeding axum's server.
//!
//! Why: off loopback the admin listener carries the bearer token, session cookies and
//! password resets, so it must speak TLS (config/admin_tls.rs decides when). A handshake
//! runs in its own task with a timeout, so a slow or silent client cannot hold up the
//! others; only finished handshakes reach axum. A client that speaks plain HTTP to the port
//! gets a plain `400` saying to use `https://` instead of a cryptic reset.

use crate::app::Services;
use crate::config::AdminTransport;
use crate::tls::{self, TlsError, TlsIdentity};
use axum::Extension;
use axum::extract::ConnectInfo;
use axum::serve::{IncomingStream, Listener};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// A client must finish its TLS handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many handshakes run at once; further connections wait in the backlog.
const MAX_HANDSHAKES: usize = 128;
/// How much of a plain-HTTP request is read before answering it (the rest is dropped).
const PLAIN_REQUEST_PEEK: usize = 8 * 1024;

/// The answer to a plain-HTTP request on the HTTPS port.
const PLAIN_HTTP_ANSWER: &str =
    "{\"error\":\"this admin listener speaks HTTPS: use https:// (see docs/deployment.md)\"}";

/// The admin listener's TLS configuration: `[admin] tls_cert`/`tls_key` when given, else
/// the LDAP certificate pair (`ldap`), advertising HTTP/1.1 through ALPN.
pub fn server_config(
    transport: &AdminTransport,
    ldap: &TlsIdentity,
    data_dir: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let base = match transport {
        AdminTransport::Tls {
            cert_and_key: Some((cert, key)),
        } => tls::load_or_generate(Some(cert), Some(key), data_dir)?.config,
        _ => ldap.config.clone(),
    };
    let mut config = (*base).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener whose connections have finished their TLS handshake.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` and handshaking with `config` until `shutdown`.
    pub fn start(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (sender, ready) = mpsc::channel(MAX_HANDSHAKES);
        tokio::spawn(accept_loop(
            tcp,
            TlsAcceptor::from(config),
            sender,
            shutdown,
        ));
        Ok(TlsListener { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop stopped (shutdown): no more connections, ever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "admin listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&acceptor, stream)).await {
                Ok(Ok(Some(tls))) => {
                    // Fails only when the server is shutting down.
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Ok(None)) => tracing::debug!(%peer, "plain HTTP on the HTTPS admin port"),
                Ok(Err(error)) => tracing::debug!(%peer, %error, "admin TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "admin TLS handshake timed out"),
            }
        });
    }
}

/// The TLS stream, or `None` when the client spoke plain HTTP (it got a `400`).
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> std::io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    let read = stream.peek(&mut first).await?;
    // A TLS record starts with 0x16 (handshake); an HTTP request with a method name.
    if read == 1 && first[0].is_ascii_uppercase() {
        answer_plain_http(stream).await?;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}

/// Reads the request head (so closing does not reset the connection before the client
/// reads the answer) and answers `400` with a JSON error.
async fn answer_plain_http(mut stream: TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while head.len() < PLAIN_REQUEST_PEEK && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PLAIN_HTTP_ANSWER}",
        PLAIN_HTTP_ANSWER.len()
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}

/// Serves the admin API and console over HTTPS on `tcp` until `shutdown` is cancelled.
pub async fn serve_https(
    tcp: TcpListener,
    config: Arc<rustls::ServerConfig>,
    services: Arc<Services>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = TlsListener::start(tcp, config, shutdown.clone())?;
    serve(listener, services, shutdown).await
}

/// Serves the admin router over `listener` until `shutdown` is cancelled. Each connection's
/// peer address reaches handlers as `ConnectInfo<SocketAddr>`, as on the plain listener
/// (the console rate-limits failed sign-ins per client IP).
pub async fn serve(
    listener: TlsListener,
    services: Arc<Services>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = super::api::router(services);
    let make_service = tower::service_fn(move |incoming: IncomingStream<'_, TlsListener>| {
        let peer = *incoming.remote_addr();
        let service = router.clone().layer(Extension(ConnectInfo(peer)));
        async move { Ok::<_, Infallible>(service) }
    });
    axum::serve(listener, make_service)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
