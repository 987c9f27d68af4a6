//! The byte stream under one LDAP connection: plain TCP or TLS over TCP.
//!
//! Why: a connection starts plain (port 389, possibly upgraded by StartTLS) or TLS (LDAPS)
//! and the session code must not care which. One enum that implements `AsyncRead` and
//! `AsyncWrite` by delegation lets every kind share a single code path while still letting
//! the StartTLS upgrade take the TCP socket back out.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client connection's transport.
pub(crate) enum LdapStream {
    Plain(TcpStream),
    /// Boxed: a rustls session is large and most of the enum's moves happen while plain.
    Tls(Box<TlsStream<TcpStream>>),
}

impl LdapStream {
    /// Whether the bytes on this stream are protected by TLS.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, LdapStream::Tls(_))
    }
}

impl AsyncRead for LdapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LdapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LdapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for LdapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LdapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LdapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LdapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            LdapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LdapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            LdapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LdapStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            LdapStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            LdapStream::Plain(s) => s.is_write_vectored(),
            LdapStream::Tls(s) => s.is_write_vectored(),
        }
    }
}
