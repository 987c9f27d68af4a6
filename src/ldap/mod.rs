//! The LDAP/LDAPS listener: connections, TLS, sessions and operations.
//!
//! Why: this is the only module that speaks the wire protocol. It decodes each PDU with
//! ldap3_proto's codec, checks access, evaluates against the current directory snapshot and
//! writes the answer; password checks go to [`crate::auth`] on its bounded pool. Controls,
//! limits, StartTLS and per-connection paging state live here.
//!
//! Layout: [`server`] accepts and caps connections, `conn` runs one connection (TLS
//! handshakes and the StartTLS upgrade included), `session` decodes PDUs and dispatches
//! each operation to its own file (`bind`, `search`, `compare`, `extended`); `controls`,
//! `paging`, `reply` and `log` are the small pieces those share.

mod ber;
mod bind;
mod compare;
mod conn;
mod controls;
mod extended;
mod log;
mod paging;
mod reply;
mod search;
mod server;
mod session;
mod stream;
mod tls;

use crate::auth::Credentials;
use crate::config::LdapConfig;
use crate::directory::LiveDirectory;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// RFC 2696 simple paged results control.
pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// RFC 3296 ManageDsaIT: accepted as a no-op (we never return referrals).
pub const OID_MANAGE_DSA_IT: &str = "2.16.840.1.113730.3.4.2";
/// RFC 4511 §4.14 StartTLS extended operation.
pub const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";
/// RFC 4532 "Who am I?" extended operation.
pub const OID_WHO_AM_I: &str = "1.3.6.1.4.1.4203.1.11.3";
/// RFC 3062 Password Modify extended operation.
pub const OID_PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";
/// RFC 4511 §4.4.1 Notice of Disconnection (unsolicited notification).
pub const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";

/// Everything a connection needs, shared by all connections.
pub struct LdapContext {
    pub directory: Arc<LiveDirectory>,
    pub credentials: Credentials,
    pub tls: Arc<rustls::ServerConfig>,
    pub config: LdapConfig,
}

/// OIDs of the controls we honour (served in the root DSE).
pub fn supported_controls() -> Vec<String> {
    vec![OID_PAGED_RESULTS.to_string(), OID_MANAGE_DSA_IT.to_string()]
}

/// OIDs of the extended operations we answer (served in the root DSE).
pub fn supported_extensions() -> Vec<String> {
    vec![
        OID_START_TLS.to_string(),
        OID_WHO_AM_I.to_string(),
        OID_PASSWORD_MODIFY.to_string(),
    ]
}

/// Serves plain LDAP on `plain` and LDAPS on `tls` (either may be absent) until `shutdown`
/// is cancelled; then stops accepting, lets in-flight operations finish briefly, and returns.
pub async fn serve(
    plain: Option<TcpListener>,
    tls: Option<TcpListener>,
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    server::serve(plain, tls, ctx, shutdown).await
}
