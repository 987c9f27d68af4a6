//! Verifying client assertions (certificate credentials) as the identity platform does:
//! the key named by the header's thumbprint must be one registered for the app, the
//! signature must verify with it, and `aud`, `iss`/`sub` and the time window must fit.
//!
//! Why both header forms: Microsoft's current docs ask for PS256 with `x5t#S256`, older
//! revisions RS256 with a SHA-1 `x5t` (graph.md §1.2); a fake accepts either.

use base64::Engine;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

/// Clock skew tolerated on `nbf`/`exp`, like Entra's five minutes.
const SKEW_SECS: i64 = 300;

/// Why an assertion was refused (mapped to AADSTS codes by the token endpoint).
#[derive(Debug, PartialEq, Eq)]
pub enum AssertionError {
    /// Not three base64url JSON parts, or claims missing.
    Malformed(String),
    /// No registered certificate has the thumbprint in the header.
    UnknownKey(String),
    /// The signature does not verify with the registered certificate.
    BadSignature,
    /// `aud` is not this token endpoint.
    Audience(String),
    /// `iss`/`sub` are not the client id.
    Issuer,
    /// Outside `nbf`..`exp`.
    TimeRange,
}

/// Checks `jwt` for `client_id` against the app's registered `certificates` (DER).
pub fn verify(
    jwt: &str,
    certificates: &[Vec<u8>],
    client_id: &str,
    audience: &str,
    now: i64,
) -> Result<(), AssertionError> {
    let malformed = |why: &str| AssertionError::Malformed(why.to_string());
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("a JWT has three parts"));
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = b64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the header is not base64url JSON"))?;
    let claims: Value = b64
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("the claims are not base64url JSON"))?;
    let signature = b64
        .decode(s)
        .map_err(|_| malformed("the signature is not base64url"))?;

    // `x5t#S256` (SHA-256 of the DER) or the older SHA-1 `x5t`.
    let (thumbprint, digest) = match (
        header.get("x5t#S256").and_then(Value::as_str),
        header.get("x5t").and_then(Value::as_str),
    ) {
        (Some(t), _) => (t.to_string(), &ring::digest::SHA256),
        (None, Some(t)) => (t.to_string(), &ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        (None, None) => return Err(malformed("the header has no x5t#S256 or x5t")),
    };
    let cert = certificates
        .iter()
        .find(|der| digest_b64(digest, der) == thumbprint)
        .ok_or(AssertionError::UnknownKey(thumbprint))?;
    let algorithm: &dyn rustls::pki_types::SignatureVerificationAlgorithm =
        match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            _ => return Err(malformed("alg must be RS256 or PS256")),
        };
    let der = CertificateDer::from(cert.as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| malformed("the registered certificate does not parse"))?;
    let signed = format!("{h}.{c}");
    end_entity
        .verify_signature(algorithm, signed.as_bytes(), &signature)
        .map_err(|_| AssertionError::BadSignature)?;

    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
    if text("aud") != audience {
        return Err(AssertionError::Audience(text("aud").to_string()));
    }
    if text("iss") != client_id || text("sub") != client_id {
        return Err(AssertionError::Issuer);
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let (Some(nbf), Some(exp)) = (number("nbf"), number("exp")) else {
        return Err(malformed("nbf and exp are required"));
    };
    if now + SKEW_SECS < nbf || now - SKEW_SECS > exp {
        return Err(AssertionError::TimeRange);
    }
    Ok(())
}

fn digest_b64(algorithm: &'static ring::digest::Algorithm, der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(ring::digest::digest(algorithm, der).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientCertificate, Secret};
    use crate::sync::credentials::assertion::AssertionSigner;

    fn cert(name: &str) -> ClientCertificate {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/test");
        let pem = std::fs::read(root.join(format!("{name}.crt"))).unwrap();
        ClientCertificate {
            cert_path: root.join(format!("{name}.crt")),
            cert_der: rustls_pemfile::certs(&mut pem.as_slice())
                .next()
                .unwrap()
                .unwrap()
                .to_vec(),
            key_pem: Secret::new(
                std::fs::read_to_string(root.join(format!("{name}.key"))).unwrap(),
            ),
        }
    }

    const AUD: &str = "http://sim/t/oauth2/v2.0/token";

    #[test]
    fn good_assertions_verify_and_every_check_bites() {
        let app = cert("app");
        let other = cert("other");
        let jwt = AssertionSigner::new(&app)
            .unwrap()
            .sign("cid", AUD)
            .unwrap();
        let now = crate::model::now();
        let registered = vec![app.cert_der.clone()];
        assert_eq!(verify(&jwt, &registered, "cid", AUD, now), Ok(()));
        assert!(matches!(
            verify(&jwt, std::slice::from_ref(&other.cert_der), "cid", AUD, now),
            Err(AssertionError::UnknownKey(_))
        ));
        assert!(matches!(
            verify(&jwt, &registered, "cid", "http://elsewhere", now),
            Err(AssertionError::Audience(_))
        ));
        assert_eq!(
            verify(&jwt, &registered, "other", AUD, now),
            Err(AssertionError::Issuer)
        );
        assert_eq!(
            verify(&jwt, &registered, "cid", AUD, now + 3600),
            Err(AssertionError::TimeRange)
        );
        assert_eq!(
            verify(&jwt, &registered, "cid", AUD, now - 3600),
            Err(AssertionError::TimeRange)
        );
        // Signed by `other`'s key but claiming `app`'s thumbprint: a bad signature.
        let forged = AssertionSigner::new(&ClientCertificate {
            cert_der: app.cert_der.clone(),
            ..other.clone()
        })
        .unwrap()
        .sign("cid", AUD)
        .unwrap();
        assert_eq!(
            verify(&forged, &registered, "cid", AUD, now),
            Err(AssertionError::BadSignature)
        );
        assert!(matches!(
            verify("a.b", &registered, "cid", AUD, now),
            Err(AssertionError::Malformed(_))
        ));
    }
}
