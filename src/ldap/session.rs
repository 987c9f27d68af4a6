//! One connection's LDAP session: read a PDU, dispatch it, write the answer, repeat.
//!
//! Why: every transport (plain, LDAPS, StartTLS-upgraded) runs the same protocol, so the
//! session is generic over the byte stream and knows nothing of sockets or TLS. It owns
//! the per-connection state (who is bound, open paged searches), enforces the idle timeout
//! and the shutdown signal between operations, re-checks the bound identity against the
//! current snapshot before each operation, and writes each reply with a single flush.
//! Operations run one at a time, in order, which RFC 4511 allows and keeps StartTLS and
//! Abandon simple.

use super::controls;
use super::log;
use super::paging::PagingState;
use super::reply::{self, Reply, RequestKind, Then};
use super::{LdapContext, bind, compare, extended, search};
use crate::directory::{Snapshot, Viewer};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{LdapMsg, LdapOp, LdapResultCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Message of the unwillingToPerform answer to add/modify/delete/modrdn.
pub(crate) const READ_ONLY_MESSAGE: &str =
    "entra-ldap is read-only: the directory is fed by Microsoft Entra ID; change it there";

/// How long we wait for a client to take a reply off the wire before giving up on it,
/// at least (the idle timeout is used when longer).
const MIN_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Pre-encoded search entries are written out whenever this much is buffered (the
/// codec's own backpressure boundary, see `conn`).
const WRITE_CHUNK_BYTES: usize = 64 * 1024;

/// How long we spend on a best-effort goodbye (notice of disconnection, TLS close_notify).
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

/// Who is on the other end, for logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    /// Unique per server run; ties every log line of one connection together.
    pub id: u64,
    pub peer: SocketAddr,
}

/// What one connection remembers between operations.
pub(crate) struct SessionState {
    pub conn: ConnInfo,
    pub viewer: Viewer,
    /// The DN the connection is bound as ("" when anonymous), for logs.
    pub bind_dn: String,
    /// The bytes on this connection are protected by TLS.
    pub tls: bool,
    /// StartTLS is offered (plain listener, not yet upgraded).
    pub starttls_allowed: bool,
    pub paging: PagingState,
}

impl SessionState {
    /// Back to anonymous; paged searches of the previous identity are dropped.
    pub(crate) fn set_anonymous(&mut self) {
        self.viewer = Viewer::Anonymous;
        self.bind_dn.clear();
        self.paging.clear();
    }

    /// Bound as `viewer` (whose DN is `dn`).
    pub(crate) fn set_bound(&mut self, viewer: Viewer, dn: String) {
        self.viewer = viewer;
        self.bind_dn = dn;
        self.paging.clear();
    }

    /// True when a password sent on this connection would cross a network in clear text:
    /// no TLS and a peer that is not this host.
    pub(crate) fn is_plaintext_remote(&self) -> bool {
        !self.tls && !self.conn.peer.ip().to_canonical().is_loopback()
    }
}

/// Why a session ended (for the close log line).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CloseReason {
    #[error("client unbound")]
    Unbind,
    #[error("client closed the connection")]
    PeerClosed,
    #[error("idle timeout")]
    IdleTimeout,
    #[error("server shutting down")]
    Shutdown,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("client sent a {0} PDU, which only servers send")]
    UnexpectedPdu(&'static str),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("client did not read our reply in time")]
    WriteTimeout,
}

/// How [`Session::run`] ended.
pub(crate) enum Exit<S> {
    Closed(CloseReason),
    /// StartTLS was accepted and answered: the caller upgrades the stream, calls
    /// [`Session::after_starttls`] and runs the session again.
    StartTls(Framed<S, LdapCodec>),
}

/// What the dispatcher decided for one request.
enum Action {
    Reply(Reply),
    /// Abandon: nothing goes back to the client.
    Silent,
    /// Close the connection, with a notice of disconnection when given.
    Close(CloseReason, Option<(LdapResultCode, &'static str)>),
}

/// What arrived (or did not) while waiting for the next request.
enum Incoming {
    Message(LdapMsg),
    Malformed(std::io::Error),
    Eof,
    Idle,
    Shutdown,
}

/// One connection's protocol state machine.
pub(crate) struct Session {
    ctx: Arc<LdapContext>,
    state: SessionState,
}

impl Session {
    /// A fresh, anonymous session.
    pub(crate) fn new(ctx: Arc<LdapContext>, conn: ConnInfo, tls: bool) -> Session {
        Session {
            ctx,
            state: SessionState {
                conn,
                viewer: Viewer::Anonymous,
                bind_dn: String::new(),
                tls,
                starttls_allowed: !tls,
                paging: PagingState::default(),
            },
        }
    }

    /// RFC 4513 §3.1.3: after a StartTLS upgrade the connection is anonymous again.
    pub(crate) fn after_starttls(&mut self) {
        self.state.set_anonymous();
        self.state.tls = true;
        self.state.starttls_allowed = false;
    }

    /// Serves requests on `framed` until the connection ends or asks for StartTLS.
    pub(crate) async fn run<S>(
        &mut self,
        mut framed: Framed<S, LdapCodec>,
        shutdown: &CancellationToken,
    ) -> Exit<S>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let idle = match self.ctx.config.idle_timeout_secs {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        };
        let write_timeout = idle.unwrap_or(MIN_WRITE_TIMEOUT).max(MIN_WRITE_TIMEOUT);
        loop {
            let incoming = tokio::select! {
                biased;
                () = shutdown.cancelled() => Incoming::Shutdown,
                incoming = next_request(&mut framed, idle) => incoming,
            };
            let msg = match incoming {
                Incoming::Message(msg) => msg,
                Incoming::Eof => return Exit::Closed(CloseReason::PeerClosed),
                Incoming::Idle => {
                    goodbye(&mut framed, LdapResultCode::Unavailable, "idle timeout").await;
                    return Exit::Closed(CloseReason::IdleTimeout);
                }
                Incoming::Shutdown => {
                    goodbye(
                        &mut framed,
                        LdapResultCode::Unavailable,
                        "server shutting down",
                    )
                    .await;
                    return Exit::Closed(CloseReason::Shutdown);
                }
                Incoming::Malformed(err) => {
                    tracing::warn!(
                        conn = self.state.conn.id,
                        peer = %self.state.conn.peer,
                        error = %err,
                        "malformed LDAP message; closing this connection"
                    );
                    goodbye(
                        &mut framed,
                        LdapResultCode::ProtocolError,
                        "malformed request",
                    )
                    .await;
                    return Exit::Closed(CloseReason::Malformed(err.to_string()));
                }
            };
            let started = Instant::now();
            let msgid = msg.msgid;
            let buffered_input = !framed.read_buffer().is_empty();
            match self.dispatch(msg, buffered_input).await {
                Action::Silent => {}
                Action::Close(reason, notice) => {
                    match notice {
                        Some((code, text)) => goodbye(&mut framed, code, text).await,
                        None => {
                            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, framed.close()).await;
                        }
                    }
                    return Exit::Closed(reason);
                }
                Action::Reply(reply) => {
                    let then = reply.then;
                    let (entries, messages, record) = reply.into_messages(msgid);
                    let written = write_all(&mut framed, entries, messages, write_timeout).await;
                    // Logged after writing, so the duration includes encoding and sending.
                    log::emit(&self.state.conn, &self.state.bind_dn, &record, started);
                    if let Err(reason) = written {
                        return Exit::Closed(reason);
                    }
                    if then == Then::StartTls {
                        return Exit::StartTls(framed);
                    }
                }
            }
        }
    }

    /// Decides and computes the answer to one request.
    async fn dispatch(&mut self, msg: LdapMsg, buffered_input: bool) -> Action {
        let LdapMsg { msgid, op, ctrl } = msg;
        let kind = match request_kind(&op) {
            Ok(Some(kind)) => kind,
            Ok(None) => return self.session_op(op),
            Err(pdu) => {
                return Action::Close(
                    CloseReason::UnexpectedPdu(pdu),
                    Some((LdapResultCode::ProtocolError, "unexpected response PDU")),
                );
            }
        };
        let snapshot = self.ctx.directory.load();
        self.revalidate(&snapshot);
        let controls = match controls::inspect(&ctrl) {
            Ok(controls) => controls,
            Err(oid) => {
                let text = format!("critical control {oid} is not supported");
                let mut reply = kind.reply(
                    &target_dn(&op),
                    LdapResultCode::UnavailableCriticalExtension,
                    "",
                    &text,
                );
                reply.record.note = Some("unsupported critical control");
                return Action::Reply(reply);
            }
        };
        let ctx = &self.ctx;
        let state = &mut self.state;
        let reply = match op {
            LdapOp::BindRequest(req) => bind::handle(ctx, state, &req, &snapshot).await,
            LdapOp::SearchRequest(req) => {
                search::handle(ctx, state, msgid, req, controls.paged, snapshot)
            }
            LdapOp::CompareRequest(req) => compare::handle(state, &req, &snapshot),
            LdapOp::ExtendedRequest(req) => {
                extended::handle(ctx, state, &req, buffered_input, &snapshot).await
            }
            other => kind.reply(
                &target_dn(&other),
                LdapResultCode::UnwillingToPerform,
                "",
                READ_ONLY_MESSAGE,
            ),
        };
        Action::Reply(reply)
    }

    /// Unbind and Abandon: requests that get no response.
    fn session_op(&mut self, op: LdapOp) -> Action {
        match op {
            LdapOp::AbandonRequest(target) => {
                if self.state.paging.abandon(target) {
                    tracing::debug!(
                        conn = self.state.conn.id,
                        msgid = target,
                        "paged search abandoned"
                    );
                }
                Action::Silent
            }
            _ => Action::Close(CloseReason::Unbind, None),
        }
    }

    /// A user who was deactivated or removed, or a binder that was removed, since binding
    /// loses its identity before the next operation runs.
    fn revalidate(&mut self, snapshot: &Snapshot) {
        let still_valid = match &self.state.viewer {
            Viewer::Anonymous => true,
            Viewer::User { id } => snapshot.is_user_active(id),
            Viewer::Binder { name } => snapshot.has_binder(name),
        };
        if !still_valid {
            tracing::info!(
                conn = self.state.conn.id,
                peer = %self.state.conn.peer,
                bind_dn = %self.state.bind_dn,
                "bound identity is no longer active; connection is now anonymous"
            );
            self.state.set_anonymous();
        }
    }
}

/// The response kind of an operation request; `Ok(None)` for Unbind/Abandon; `Err` with
/// the PDU's name for response PDUs, which a client must never send.
fn request_kind(op: &LdapOp) -> Result<Option<RequestKind>, &'static str> {
    Ok(Some(match op {
        LdapOp::BindRequest(_) => RequestKind::Bind,
        LdapOp::SearchRequest(_) => RequestKind::Search,
        LdapOp::ModifyRequest(_) => RequestKind::Modify,
        LdapOp::AddRequest(_) => RequestKind::Add,
        LdapOp::DelRequest(_) => RequestKind::Delete,
        LdapOp::ModifyDNRequest(_) => RequestKind::ModifyDn,
        LdapOp::CompareRequest(_) => RequestKind::Compare,
        LdapOp::ExtendedRequest(_) => RequestKind::Extended,
        LdapOp::UnbindRequest | LdapOp::AbandonRequest(_) => return Ok(None),
        LdapOp::BindResponse(_) => return Err("bindResponse"),
        LdapOp::SearchResultEntry(_) => return Err("searchResEntry"),
        LdapOp::SearchResultDone(_) => return Err("searchResDone"),
        LdapOp::SearchResultReference(_) => return Err("searchResRef"),
        LdapOp::ModifyResponse(_) => return Err("modifyResponse"),
        LdapOp::AddResponse(_) => return Err("addResponse"),
        LdapOp::DelResponse(_) => return Err("delResponse"),
        LdapOp::ModifyDNResponse(_) => return Err("modDNResponse"),
        LdapOp::CompareResult(_) => return Err("compareResponse"),
        LdapOp::ExtendedResponse(_) => return Err("extendedResp"),
        LdapOp::IntermediateResponse(_) => return Err("intermediateResponse"),
    }))
}

/// The DN an operation is about (for logs); never a credential.
fn target_dn(op: &LdapOp) -> String {
    match op {
        LdapOp::BindRequest(r) => r.dn.clone(),
        LdapOp::SearchRequest(r) => r.base.clone(),
        LdapOp::ModifyRequest(r) => r.dn.clone(),
        LdapOp::AddRequest(r) => r.dn.clone(),
        LdapOp::DelRequest(dn) => dn.clone(),
        LdapOp::ModifyDNRequest(r) => r.dn.clone(),
        LdapOp::CompareRequest(r) => r.dn.clone(),
        _ => String::new(),
    }
}

/// Waits for the next request, up to the idle timeout.
async fn next_request<S>(framed: &mut Framed<S, LdapCodec>, idle: Option<Duration>) -> Incoming
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let next = match idle {
        None => framed.next().await,
        Some(limit) => match tokio::time::timeout(limit, framed.next()).await {
            Ok(next) => next,
            Err(_) => return Incoming::Idle,
        },
    };
    match next {
        Some(Ok(msg)) => Incoming::Message(msg),
        // A TLS peer that hangs up without close_notify: a plain disconnect, not bad input.
        Some(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => Incoming::Eof,
        Some(Err(err)) => Incoming::Malformed(err),
        None => Incoming::Eof,
    }
}

/// Writes all PDUs of one reply into the buffer and flushes once.
async fn write_all<S>(
    framed: &mut Framed<S, LdapCodec>,
    entries: BytesMut,
    messages: Vec<LdapMsg>,
    limit: Duration,
) -> Result<(), CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let work = async {
        // Pre-encoded entries go into the codec's write buffer a chunk at a time, flushing
        // whenever it is full, so a large result streams out instead of piling up twice.
        for chunk in entries.chunks(WRITE_CHUNK_BYTES) {
            framed.write_buffer_mut().extend_from_slice(chunk);
            if framed.write_buffer().len() >= WRITE_CHUNK_BYTES {
                framed.flush().await?;
            }
        }
        for message in messages {
            framed.feed(message).await?;
        }
        framed.flush().await
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(CloseReason::Io(err.to_string())),
        Err(_) => Err(CloseReason::WriteTimeout),
    }
}

/// Best effort: a notice of disconnection, then a clean close of the stream.
async fn goodbye<S>(framed: &mut Framed<S, LdapCodec>, code: LdapResultCode, text: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let notice = reply::notice_of_disconnection(code, text);
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
        framed.send(notice).await?;
        framed.close().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(peer: &str, tls: bool) -> SessionState {
        SessionState {
            conn: ConnInfo {
                id: 1,
                peer: peer.parse().unwrap(),
            },
            viewer: Viewer::User { id: "u".into() },
            bind_dn: "uid=u".into(),
            tls,
            starttls_allowed: !tls,
            paging: PagingState::default(),
        }
    }

    #[test]
    fn plaintext_only_matters_for_remote_peers_without_tls() {
        assert!(!state("127.0.0.1:5000", false).is_plaintext_remote());
        assert!(!state("[::1]:5000", false).is_plaintext_remote());
        assert!(!state("[::ffff:127.0.0.1]:5000", false).is_plaintext_remote());
        assert!(state("192.0.2.7:5000", false).is_plaintext_remote());
        assert!(!state("192.0.2.7:5000", true).is_plaintext_remote());
    }

    #[test]
    fn anonymous_reset_forgets_identity() {
        let mut s = state("127.0.0.1:1", false);
        s.set_anonymous();
        assert_eq!(s.viewer, Viewer::Anonymous);
        assert!(s.bind_dn.is_empty());
    }

    #[test]
    fn response_pdus_are_rejected_and_requests_classified() {
        assert_eq!(request_kind(&LdapOp::UnbindRequest), Ok(None));
        assert_eq!(
            request_kind(&LdapOp::DelRequest("cn=x".into())),
            Ok(Some(RequestKind::Delete))
        );
        assert_eq!(
            request_kind(&LdapOp::SearchResultDone(reply::result(
                LdapResultCode::Success,
                "",
                ""
            ))),
            Err("searchResDone")
        );
    }
}
