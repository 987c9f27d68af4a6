//! One client connection from accept to close: TLS handshake (LDAPS), the session, and the
//! StartTLS upgrade of the same socket.
//!
//! Why: the session is transport-agnostic; this is the one place that knows which stream
//! a connection runs on and swaps it when StartTLS succeeds.

use super::LdapContext;
use super::session::{ConnInfo, Exit, Session};
use super::stream::LdapStream;
use super::tls;
use ldap3_proto::LdapCodec;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Deepest BER nesting we decode. Real filters nest a handful of levels; the limit keeps
/// a hostile 10,000-deep filter from costing stack or time (the connection is closed).
pub(crate) const MAX_BER_DEPTH: usize = 48;

/// Replies are buffered up to this size before the codec writes them out on its own, so a
/// typical search result goes out in one flush.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Which listener accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Plain,
    Ldaps,
}

/// Serves one accepted connection until it closes.
pub(crate) async fn run(
    ctx: Arc<LdapContext>,
    tcp: TcpStream,
    conn: ConnInfo,
    listener: Listener,
    shutdown: CancellationToken,
) {
    tracing::debug!(conn = conn.id, peer = %conn.peer, ?listener, "connection opened");
    let _counted = crate::metrics::ConnectionGuard::open();
    let handshake_secs = ctx.config.tls_handshake_timeout_secs;
    let mut stream = match listener {
        Listener::Plain => LdapStream::Plain(tcp),
        Listener::Ldaps => match tls::accept(&ctx.tls, tcp, handshake_secs).await {
            Ok(stream) => stream,
            Err(err) => {
                tracing::info!(conn = conn.id, peer = %conn.peer, reason = %err, "connection closed");
                return;
            }
        },
    };
    let mut session = Session::new(Arc::clone(&ctx), conn, stream.is_tls());
    loop {
        let framed = framed(stream, codec(&ctx));
        match session.run(framed, &shutdown).await {
            Exit::Closed(reason) => {
                tracing::info!(conn = conn.id, peer = %conn.peer, reason = %reason, "connection closed");
                return;
            }
            Exit::StartTls(framed) => {
                // The session refused StartTLS if input was buffered, and reads nothing
                // after answering it, so the read buffer is empty and nothing is lost.
                let LdapStream::Plain(tcp) = framed.into_parts().io else {
                    tracing::warn!(conn = conn.id, "StartTLS on a TLS stream; closing");
                    return;
                };
                match tls::accept(&ctx.tls, tcp, handshake_secs).await {
                    Ok(upgraded) => {
                        tracing::debug!(conn = conn.id, peer = %conn.peer, "StartTLS complete");
                        stream = upgraded;
                        session.after_starttls();
                    }
                    Err(err) => {
                        tracing::info!(conn = conn.id, peer = %conn.peer, reason = %err, "connection closed");
                        return;
                    }
                }
            }
        }
    }
}

fn codec(ctx: &LdapContext) -> LdapCodec {
    let max_pdu = Some(ctx.config.max_pdu_bytes).filter(|n| *n > 0);
    LdapCodec::new(max_pdu, Some(MAX_BER_DEPTH))
}

/// A framed stream with a write buffer large enough for one flush per typical reply.
fn framed(stream: LdapStream, codec: LdapCodec) -> Framed<LdapStream, LdapCodec> {
    let mut framed = Framed::new(stream, codec);
    framed.set_backpressure_boundary(WRITE_BUFFER_BYTES);
    framed
}
