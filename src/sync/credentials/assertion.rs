//! Signed JWT client assertions: how an app proves itself with a certificate instead of a
//! client secret (graph.md §1.2).
//!
//! Why ring directly and not a JWT crate: the assertion is one fixed header and six claims,
//! signed RS256; ring (already in the tree through rustls) does the RSA signature, and a
//! JWT library would add a dependency for twenty lines of base64 and JSON.

use crate::config::ClientCertificate;
use base64::Engine;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;
use std::sync::Arc;

/// `client_assertion_type` for a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid (Entra: "5-10 minutes after nbf at most").
const LIFETIME_SECS: i64 = 600;

/// Signs assertions for one app registration's certificate.
#[derive(Clone)]
pub struct AssertionSigner {
    key: Arc<RsaKeyPair>,
    /// base64url SHA-256 of the certificate DER: the `x5t#S256` Entra matches.
    thumbprint: String,
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AssertionSigner(x5t#S256={})", self.thumbprint)
    }
}

impl AssertionSigner {
    /// Parses the certificate's private key; the config already checked it, so a failure
    /// here names the certificate file only.
    pub fn new(cert: &ClientCertificate) -> Result<AssertionSigner, String> {
        let der = rustls_pemfile::pkcs8_private_keys(&mut cert.key_pem.expose().as_bytes())
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| {
                format!(
                    "the private key for {} is not PEM PKCS#8",
                    cert.cert_path.display()
                )
            })?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| {
            format!(
                "the private key for {} is unusable: {e}",
                cert.cert_path.display()
            )
        })?;
        Ok(AssertionSigner {
            key: Arc::new(key),
            thumbprint: thumbprint_s256(&cert.cert_der),
        })
    }

    /// A fresh assertion for `client_id` addressed to `token_url`, valid for ten minutes.
    pub fn sign(&self, client_id: &str, token_url: &str) -> Result<String, String> {
        let now = crate::model::now();
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t#S256": self.thumbprint});
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + LIFETIME_SECS,
        });
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let signing_input = format!("{}.{}", b64(&header), b64(&claims));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(format!(
            "{signing_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// base64url (no padding) of the SHA-256 of a certificate's DER.
pub fn thumbprint_s256(cert_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert_der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn test_cert() -> ClientCertificate {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test");
        let pem = std::fs::read(root.join("app.crt")).unwrap();
        let cert_der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap()
            .to_vec();
        ClientCertificate {
            cert_path: root.join("app.crt"),
            cert_der,
            key_pem: Secret::new(std::fs::read_to_string(root.join("app.key")).unwrap()),
        }
    }

    #[test]
    fn assertion_has_documented_header_and_claims_and_verifies() {
        let cert = test_cert();
        let signer = AssertionSigner::new(&cert).unwrap();
        let jwt = signer
            .sign("cid", "https://login/t/oauth2/v2.0/token")
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| -> serde_json::Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(s)
                    .unwrap(),
            )
            .unwrap()
        };
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t#S256"], thumbprint_s256(&cert.cert_der));
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], "https://login/t/oauth2/v2.0/token");
        assert_eq!(
            (&claims["iss"], &claims["sub"]),
            (&json!("cid"), &json!("cid"))
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
            LIFETIME_SECS
        );
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        let der = rustls::pki_types::CertificateDer::from(cert.cert_der.clone());
        let ee = webpki::EndEntityCert::try_from(&der).unwrap();
        let msg = format!("{}.{}", parts[0], parts[1]);
        ee.verify_signature(
            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            msg.as_bytes(),
            &sig,
        )
        .unwrap();
    }
}
