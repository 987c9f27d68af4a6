//! Verifying an OpenID Connect id_token from the Microsoft identity platform.
//!
//! Why by hand and strict: the id_token is the only proof of who signed in, so every check
//! a relying party must make is made here, in one place, in this order: the header names
//! RS256 and a `kid` found in the tenant's JWKS; the signature verifies with that key; `iss`
//! is the tenant's v2.0 issuer; `aud` is our client id; `tid` is the configured tenant;
//! `exp`/`nbf` hold (with [`SKEW_SECS`] of clock skew); `nonce` is the one this sign-in sent.
//! Anything missing or of the wrong type is refused. `alg: none` or HMAC can never pass.

use base64::Engine;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde_json::Value;

/// Clock skew tolerated on `exp` and `nbf`.
pub const SKEW_SECS: i64 = 120;

/// An RSA signing key from the tenant's JWKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    pub kid: String,
    /// Modulus and exponent, big-endian.
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

/// What a valid id_token must say.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The tenant's v2.0 issuer (`{authority}/{tenant id}/v2.0`).
    pub issuer: &'a str,
    /// Our app's client id.
    pub audience: &'a str,
    /// The configured tenant's id.
    pub tenant_id: &'a str,
    /// The nonce this sign-in sent.
    pub nonce: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// Who the id_token says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdClaims {
    /// The user's Entra object id (`oid`).
    pub object_id: String,
    /// `preferred_username` (the UPN), when the `profile` scope was granted.
    pub username: Option<String>,
    pub name: Option<String>,
}

/// Why an id_token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the id_token is malformed: {0}")]
    Malformed(String),
    #[error("the id_token is signed with key `{0}`, which the tenant does not publish")]
    UnknownKey(String),
    #[error("the id_token's signature does not verify")]
    BadSignature,
    #[error("the id_token was issued by `{0}`, not by the configured tenant")]
    Issuer(String),
    #[error("the id_token is meant for another application (`{0}`)")]
    Audience(String),
    #[error("the id_token is from another tenant (`{0}`)")]
    Tenant(String),
    #[error("the id_token has expired")]
    Expired,
    #[error("the id_token is not valid yet")]
    NotYetValid,
    #[error("the id_token does not carry this sign-in's nonce")]
    Nonce,
}

fn b64(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

fn json_part(part: &str, what: &str) -> Result<Value, IdTokenError> {
    b64(part)
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(Value::is_object)
        .ok_or_else(|| IdTokenError::Malformed(format!("the {what} is not base64url JSON")))
}

/// The `kid` of `jwt`'s header (to pick the key, or to refetch the JWKS when unknown).
pub fn key_id(jwt: &str) -> Result<String, IdTokenError> {
    let header = jwt
        .split('.')
        .next()
        .ok_or_else(|| IdTokenError::Malformed("empty".into()))?;
    json_part(header, "header")?
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| IdTokenError::Malformed("the header has no kid".into()))
}

/// The RSA signing keys of a JWKS document (other key types are skipped).
pub fn parse_jwks(document: &Value) -> Vec<Jwk> {
    let Some(keys) = document.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    keys.iter()
        .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
        .filter(|k| {
            k.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .filter_map(|k| {
            Some(Jwk {
                kid: k.get("kid")?.as_str()?.to_string(),
                n: b64(k.get("n")?.as_str()?)?,
                e: b64(k.get("e")?.as_str()?)?,
            })
        })
        .collect()
}

/// Verifies `jwt` against the tenant's `keys` and what it must say; returns who signed in.
pub fn verify(jwt: &str, keys: &[Jwk], expected: &Expected<'_>) -> Result<IdClaims, IdTokenError> {
    let malformed = |why: &str| IdTokenError::Malformed(why.to_string());
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("a JWT has three parts"));
    };
    let header = json_part(h, "header")?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(malformed("alg must be RS256"));
    }
    let kid = key_id(jwt)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(IdTokenError::UnknownKey(kid))?;
    let signature = b64(s).ok_or_else(|| malformed("the signature is not base64url"))?;
    let public = RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    };
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            format!("{h}.{c}").as_bytes(),
            &signature,
        )
        .map_err(|_| IdTokenError::BadSignature)?;

    let claims = json_part(c, "claims")?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let iss = text("iss").unwrap_or("");
    if iss != expected.issuer {
        return Err(IdTokenError::Issuer(iss.to_string()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => {
            auds.len() == 1 && auds.first().and_then(Value::as_str) == Some(expected.audience)
        }
        _ => false,
    };
    if !aud_ok {
        let aud = claims.get("aud").map(Value::to_string).unwrap_or_default();
        return Err(IdTokenError::Audience(aud));
    }
    let tid = text("tid").unwrap_or("");
    if !tid.eq_ignore_ascii_case(expected.tenant_id) {
        return Err(IdTokenError::Tenant(tid.to_string()));
    }
    let exp = number("exp").ok_or_else(|| malformed("exp is required"))?;
    if expected.now > exp + SKEW_SECS {
        return Err(IdTokenError::Expired);
    }
    if number("nbf").is_some_and(|nbf| nbf > expected.now + SKEW_SECS) {
        return Err(IdTokenError::NotYetValid);
    }
    let nonce_ok = text("nonce").is_some_and(|n| {
        crate::admin::api::constant_time_eq(n.as_bytes(), expected.nonce.as_bytes())
    });
    if !nonce_ok || expected.nonce.is_empty() {
        return Err(IdTokenError::Nonce);
    }
    let object_id = text("oid")
        .filter(|oid| !oid.is_empty())
        .ok_or_else(|| malformed("oid is required"))?;
    Ok(IdClaims {
        object_id: object_id.to_string(),
        username: text("preferred_username").map(str::to_string),
        name: text("name").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::json;

    /// A test-only key (certs/test) standing in for the tenant's signing key.
    fn key(name: &str) -> RsaKeyPair {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs/test")
            .join(format!("{name}.key"));
        let pem = std::fs::read(path).unwrap();
        let der = rustls_pemfile::pkcs8_private_keys(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap();
        RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap()
    }

    fn jwk(pair: &RsaKeyPair, kid: &str) -> Jwk {
        let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        Jwk {
            kid: kid.into(),
            n: c.n,
            e: c.e,
        }
    }

    fn sign(pair: &RsaKeyPair, header: &Value, claims: &Value) -> String {
        let enc =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", enc(header), enc(claims));
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        )
    }

    const NOW: i64 = 1_800_000_000;

    fn good_claims() -> Value {
        json!({
            "iss": "http://sim/tid/v2.0", "aud": "cid", "tid": "tid", "nonce": "n1",
            "iat": NOW, "nbf": NOW, "exp": NOW + 3600, "oid": "u1",
            "preferred_username": "alice@example.com", "name": "Alice",
        })
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "http://sim/tid/v2.0",
            audience: "cid",
            tenant_id: "tid",
            nonce: "n1",
            now: NOW,
        }
    }

    fn with(claim: &str, value: Value) -> Value {
        let mut c = good_claims();
        c[claim] = value;
        c
    }

    #[test]
    fn a_good_token_verifies_and_every_check_bites() {
        let app = key("app");
        let keys = vec![jwk(&app, "k1")];
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": "k1"});
        let check = |claims: Value| verify(&sign(&app, &header, &claims), &keys, &expected());
        assert_eq!(
            check(good_claims()),
            Ok(IdClaims {
                object_id: "u1".into(),
                username: Some("alice@example.com".into()),
                name: Some("Alice".into()),
            })
        );
        assert!(matches!(
            check(with("iss", json!("https://sts.windows.net/tid/"))),
            Err(IdTokenError::Issuer(_))
        ));
        assert!(matches!(
            check(with("aud", json!("other"))),
            Err(IdTokenError::Audience(_))
        ));
        assert!(matches!(
            check(with("aud", json!(["cid", "other"]))),
            Err(IdTokenError::Audience(_))
        ));
        assert!(check(with("aud", json!(["cid"]))).is_ok());
        assert!(matches!(
            check(with("tid", json!("other"))),
            Err(IdTokenError::Tenant(_))
        ));
        assert_eq!(
            check(with("exp", json!(NOW - SKEW_SECS - 1))),
            Err(IdTokenError::Expired)
        );
        assert!(
            check(with("exp", json!(NOW - SKEW_SECS + 1))).is_ok(),
            "within the skew"
        );
        assert_eq!(
            check(with("nbf", json!(NOW + SKEW_SECS + 1))),
            Err(IdTokenError::NotYetValid)
        );
        assert_eq!(check(with("nonce", json!("n2"))), Err(IdTokenError::Nonce));
        let mut no_nonce = good_claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(no_nonce), Err(IdTokenError::Nonce));
        let mut no_oid = good_claims();
        no_oid.as_object_mut().unwrap().remove("oid");
        assert!(matches!(check(no_oid), Err(IdTokenError::Malformed(_))));
    }

    #[test]
    fn signatures_keys_and_algorithms_are_enforced() {
        let app = key("app");
        let other = key("other");
        let keys = vec![jwk(&app, "k1")];
        let header = json!({"alg": "RS256", "kid": "k1"});
        // Signed by another key than the one its kid names.
        let forged = sign(&other, &header, &good_claims());
        assert_eq!(
            verify(&forged, &keys, &expected()),
            Err(IdTokenError::BadSignature)
        );
        let unknown = sign(&app, &json!({"alg": "RS256", "kid": "k9"}), &good_claims());
        assert_eq!(
            verify(&unknown, &keys, &expected()),
            Err(IdTokenError::UnknownKey("k9".into()))
        );
        assert_eq!(key_id(&unknown).unwrap(), "k9");
        // alg none / HS256 never pass, even with a valid-looking signature part.
        for alg in ["none", "HS256"] {
            let t = sign(&app, &json!({"alg": alg, "kid": "k1"}), &good_claims());
            assert!(matches!(
                verify(&t, &keys, &expected()),
                Err(IdTokenError::Malformed(_))
            ));
        }
        // Claims changed after signing.
        let good = sign(&app, &header, &good_claims());
        let parts: Vec<&str> = good.split('.').collect();
        let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(with("oid", json!("admin")).to_string());
        let tampered = format!("{}.{evil}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&tampered, &keys, &expected()),
            Err(IdTokenError::BadSignature)
        );
        assert!(matches!(
            verify("a.b", &keys, &expected()),
            Err(IdTokenError::Malformed(_))
        ));
    }

    #[test]
    fn jwks_documents_yield_their_rsa_signing_keys() {
        let doc = json!({"keys": [
            {"kty": "RSA", "use": "sig", "kid": "a", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "b", "x": "..", "y": ".."},
            {"kty": "RSA", "use": "enc", "kid": "c", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "d", "n": "!!", "e": "AQAB"},
        ]});
        let keys = parse_jwks(&doc);
        assert_eq!(
            keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(parse_jwks(&json!({})).is_empty());
    }
}
