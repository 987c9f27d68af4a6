//! `[admin] tls`, `tls_cert`, `tls_key`, `plaintext_behind_proxy`, `ca_file`: how the admin
//! listener speaks, and which certificate the CLI trusts.
//!
//! Why: the admin listener carries the bearer token, console session cookies and password
//! resets. On loopback nobody else can see them; anywhere else they must travel over TLS.
//! So a non-loopback listener serves HTTPS by default, and plain HTTP there is a config error
//! unless the admin states that a TLS-terminating proxy is in front.

use super::checks::invalid;
use super::{AdminTransport, Config, ConfigError};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Decides the transport from the `[admin]` keys, rejecting contradictions and plain HTTP
/// off loopback (each error names the key to change).
pub fn transport(
    listen: SocketAddr,
    tls: Option<bool>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    plaintext_behind_proxy: bool,
) -> Result<AdminTransport, ConfigError> {
    let cert_and_key = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid(
                "admin.tls_key",
                "is required when admin.tls_cert is set",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "admin.tls_cert",
                "is required when admin.tls_key is set",
            ));
        }
    };
    if plaintext_behind_proxy {
        if tls == Some(true) || cert_and_key.is_some() {
            return Err(invalid(
                "admin.plaintext_behind_proxy",
                "says a proxy terminates TLS, but tls = true or tls_cert is set too; keep one",
            ));
        }
        return Ok(AdminTransport::Plain);
    }
    let loopback = listen.ip().is_loopback();
    let wants_tls = tls.unwrap_or(!loopback || cert_and_key.is_some());
    if wants_tls {
        return Ok(AdminTransport::Tls { cert_and_key });
    }
    if !loopback {
        return Err(invalid(
            "admin.tls",
            format!(
                "plain HTTP on the non-loopback address {listen} would send the admin token and \
                 session cookies in clear; remove `tls = false` (HTTPS is the default off \
                 loopback), or, behind a TLS-terminating proxy, set \
                 [admin] plaintext_behind_proxy = true"
            ),
        ));
    }
    if cert_and_key.is_some() {
        return Err(invalid(
            "admin.tls_cert",
            "is set but tls = false: the listener would not use it",
        ));
    }
    Ok(AdminTransport::Plain)
}

impl Config {
    /// The PEM file the CLI trusts for an HTTPS admin listener: `[admin] ca_file`, else the
    /// certificate the listener serves (`[admin] tls_cert`, else `[ldap] tls_cert`, else the
    /// pair generated into `data_dir/tls/`).
    pub fn admin_ca_path(&self) -> PathBuf {
        if let Some(ca) = &self.admin.ca_file {
            return ca.clone();
        }
        if let AdminTransport::Tls {
            cert_and_key: Some((cert, _)),
        } = &self.admin.transport
        {
            return cert.clone();
        }
        self.ldap.tls_cert.clone().unwrap_or_else(|| {
            self.data_dir
                .join(crate::tls::GENERATED_DIR)
                .join("cert.pem")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn key_of(r: Result<AdminTransport, ConfigError>) -> String {
        match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn loopback_is_plain_and_elsewhere_is_tls_by_default() {
        let t = transport(addr("127.0.0.1:8080"), None, None, None, false).unwrap();
        assert_eq!(t, AdminTransport::Plain);
        let t = transport(addr("0.0.0.0:8443"), None, None, None, false).unwrap();
        assert_eq!(t, AdminTransport::Tls { cert_and_key: None });
        let t = transport(addr("[::1]:8080"), Some(true), None, None, false).unwrap();
        assert!(t.is_tls());
        // A certificate on loopback turns TLS on.
        let pair = Some(PathBuf::from("/c.pem"));
        let t = transport(addr("127.0.0.1:1"), None, pair.clone(), pair, false).unwrap();
        assert!(t.is_tls());
    }

    #[test]
    fn plain_http_off_loopback_needs_the_proxy_opt_out() {
        let e = transport(addr("10.0.0.5:8080"), Some(false), None, None, false);
        assert_eq!(key_of(e), "admin.tls");
        let t = transport(addr("10.0.0.5:8080"), None, None, None, true).unwrap();
        assert_eq!(t, AdminTransport::Plain);
        let e = transport(addr("10.0.0.5:8080"), Some(true), None, None, true);
        assert_eq!(key_of(e), "admin.plaintext_behind_proxy");
    }

    #[test]
    fn cert_and_key_come_in_pairs() {
        let p = Some(PathBuf::from("/x.pem"));
        let e = transport(addr("0.0.0.0:1"), None, p.clone(), None, false);
        assert_eq!(key_of(e), "admin.tls_key");
        let e = transport(addr("0.0.0.0:1"), None, None, p.clone(), false);
        assert_eq!(key_of(e), "admin.tls_cert");
        let e = transport(addr("127.0.0.1:1"), Some(false), p.clone(), p, false);
        assert_eq!(key_of(e), "admin.tls_cert");
    }
}
