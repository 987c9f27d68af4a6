//! The listeners: accept loop, global connection cap, graceful shutdown.
//!
//! Why: one loop owns every connection task (a `JoinSet`), so it can count them against
//! `max_connections`, reap them as they finish, and at shutdown stop accepting, give open
//! connections a short grace period to finish their current operation (idle ones close at
//! once on the shutdown signal) and abort whatever is left, so `serve` returns promptly.

use super::LdapContext;
use super::conn::{self, Listener};
use super::session::ConnInfo;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long in-flight operations may run after the shutdown signal.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed accept (e.g. out of file descriptors) so we do not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts on both listeners until `shutdown`, then drains the connections.
pub(crate) async fn serve(
    plain: Option<TcpListener>,
    tls: Option<TcpListener>,
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    for (listener, kind) in [(&plain, "ldap"), (&tls, "ldaps")] {
        if let Some(listener) = listener {
            tracing::info!(address = %listener.local_addr()?, protocol = kind, "LDAP listener ready");
        }
    }
    let mut acceptor = Acceptor {
        ctx,
        shutdown: shutdown.clone(),
        conns: JoinSet::new(),
        next_id: 0,
        refused: 0,
    };
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(joined) = acceptor.conns.join_next(), if !acceptor.conns.is_empty() => {
                if joined.as_ref().is_err_and(|err| err.is_panic()) {
                    tracing::error!("an LDAP connection task panicked");
                }
            }
            accepted = accept(plain.as_ref()) => acceptor.admit(accepted, Listener::Plain).await,
            accepted = accept(tls.as_ref()) => acceptor.admit(accepted, Listener::Ldaps).await,
        }
    }
    drop(plain);
    drop(tls);
    acceptor.drain().await;
    Ok(())
}

/// Accepts on `listener`, or never completes when there is none.
async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The accept loop's state.
struct Acceptor {
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
    conns: JoinSet<()>,
    next_id: u64,
    /// Connections refused in the current over-the-cap burst (0 = not refusing).
    refused: u64,
}

impl Acceptor {
    /// Starts a task for an accepted connection, or closes it at once when the server is
    /// at its connection cap.
    async fn admit(&mut self, accepted: io::Result<(TcpStream, SocketAddr)>, listener: Listener) {
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, ?listener, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                return;
            }
        };
        let cap = self.ctx.config.max_connections;
        if cap > 0 && self.conns.len() >= cap {
            if self.refused == 0 {
                tracing::warn!(
                    max_connections = cap,
                    %peer,
                    "connection limit reached; refusing new connections until some close"
                );
            }
            self.refused = self.refused.saturating_add(1);
            drop(tcp);
            return;
        }
        if self.refused > 0 {
            tracing::info!(refused = self.refused, "below the connection limit again");
            self.refused = 0;
        }
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, %peer, "could not set TCP_NODELAY");
        }
        self.next_id = self.next_id.wrapping_add(1);
        let info = ConnInfo {
            id: self.next_id,
            peer,
        };
        let task = conn::run(
            Arc::clone(&self.ctx),
            tcp,
            info,
            listener,
            self.shutdown.clone(),
        );
        self.conns.spawn(task);
    }

    /// After the shutdown signal: wait for connections to finish, then abort the rest.
    async fn drain(mut self) {
        if self.conns.is_empty() {
            tracing::info!("LDAP listener stopped");
            return;
        }
        tracing::info!(
            open = self.conns.len(),
            "LDAP listener stopped accepting; finishing open connections"
        );
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.conns.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                remaining = self.conns.len(),
                "connections still busy after the grace period; aborting them"
            );
            self.conns.abort_all();
            while self.conns.join_next().await.is_some() {}
        }
        tracing::info!("LDAP listener stopped");
    }
}
