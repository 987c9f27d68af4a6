//! The LDAP/LDAPS listener: connections, TLS, sessions and operations.
//!
//! Why: this is the only module that speaks the wire protocol. It decodes each PDU with
//! ldap3_proto's codec, checks access, evaluates against the current directory snapshot and
//! writes the answer; password checks go to [`crate::auth`] on its bounded pool. Controls,
//! limits, StartTLS and per-connection paging state live here.

use crate::auth::Credentials;
use crate::config::LdapConfig;
use crate::directory::LiveDirectory;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Everything a connection needs, shared by all connections.
pub struct LdapContext {
    pub directory: Arc<LiveDirectory>,
    pub credentials: Credentials,
    pub tls: Arc<rustls::ServerConfig>,
    pub config: LdapConfig,
}

/// OIDs of the controls we honour (served in the root DSE).
pub fn supported_controls() -> Vec<String> {
    todo!()
}

/// OIDs of the extended operations we answer (served in the root DSE).
pub fn supported_extensions() -> Vec<String> {
    todo!()
}

/// Serves plain LDAP on `plain` and LDAPS on `tls` (either may be absent) until `shutdown`
/// is cancelled; then stops accepting, lets in-flight operations finish briefly, and returns.
pub async fn serve(
    _plain: Option<TcpListener>,
    _tls: Option<TcpListener>,
    _ctx: Arc<LdapContext>,
    _shutdown: CancellationToken,
) -> std::io::Result<()> {
    todo!()
}
