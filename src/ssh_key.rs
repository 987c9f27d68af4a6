//! OpenSSH public keys: parsing, validation and the SHA256 fingerprint.
//!
//! Why: keys reach sshd through LDAP (`sshPublicKey`, fetched by an
//! `AuthorizedKeysCommand`), so whatever is stored ends up in an authorized_keys list. A
//! mistyped or truncated key would silently lock a person out, an `options` prefix
//! (`command="…"`) would change what sshd does, and weak keys (RSA under 2048 bits, DSA) are
//! refused by current OpenSSH anyway. So a key is accepted only when its wire-format blob
//! decodes and matches its declared type, one key per entry, and it is stored in a canonical
//! `type base64 [comment]` form. The fingerprint is computed exactly as `ssh-keygen -l`
//! prints it (`SHA256:` + unpadded base64 of SHA-256 over the blob), so people can compare.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Most keys a user may have (an authorized_keys list, not a key store).
pub const MAX_KEYS_PER_USER: usize = 20;
/// Longest key entry accepted, in bytes (a 16384-bit RSA key is about 2.8 KB).
pub const MAX_KEY_BYTES: usize = 8 * 1024;
/// Weakest RSA modulus accepted, in bits (OpenSSH refuses less since 8.8).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted (OpenSSH's own limit).
const MAX_RSA_BITS: usize = 16_384;
/// Longest comment kept, in characters.
const MAX_COMMENT_CHARS: usize = 256;

/// Why a key was refused, in words for the person who pasted it (the key is never echoed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, KeyError> {
    Err(KeyError(reason.into()))
}

/// The key types accepted: the name on the line (and inside the blob) and its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ed25519,
    Ecdsa(Curve),
    Rsa,
    SkEd25519,
    SkEcdsaP256,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "nistp256",
            Curve::P384 => "nistp384",
            Curve::P521 => "nistp521",
        }
    }
    fn bits(self) -> u32 {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }
    /// Length of an uncompressed point (0x04 ‖ X ‖ Y).
    fn point_len(self) -> usize {
        1 + 2 * (self.bits() as usize).div_ceil(8)
    }
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "ssh-ed25519" => Kind::Ed25519,
            "ecdsa-sha2-nistp256" => Kind::Ecdsa(Curve::P256),
            "ecdsa-sha2-nistp384" => Kind::Ecdsa(Curve::P384),
            "ecdsa-sha2-nistp521" => Kind::Ecdsa(Curve::P521),
            "ssh-rsa" => Kind::Rsa,
            "sk-ssh-ed25519@openssh.com" => Kind::SkEd25519,
            "sk-ecdsa-sha2-nistp256@openssh.com" => Kind::SkEcdsaP256,
            _ => return None,
        })
    }
}

/// A validated public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SshPublicKey {
    /// The key type as written (`ssh-ed25519`, `ssh-rsa`, …).
    pub algorithm: String,
    /// Key size in bits (the RSA modulus, the curve size; 256 for Ed25519).
    pub bits: u32,
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub comment: Option<String>,
    /// The canonical entry: `type base64` and the comment, single-space separated.
    pub line: String,
}

/// Reads the SSH wire format (RFC 4251 §5): `string` and `mpint` are a u32 length and bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn string(&mut self) -> Result<&'a [u8], KeyError> {
        let truncated = || KeyError("the key data is truncated (copy the whole line)".into());
        let (len, rest) = self.rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| truncated())?;
        let (value, rest) = rest.split_at_checked(len).ok_or_else(truncated)?;
        self.rest = rest;
        Ok(value)
    }

    /// A positive mpint's size in bits.
    fn positive_mpint_bits(&mut self) -> Result<usize, KeyError> {
        let bytes = self.string()?;
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            return refuse("the RSA key data is malformed (negative number)");
        }
        let significant: &[u8] = match bytes.iter().position(|b| *b != 0) {
            Some(start) => bytes.get(start..).unwrap_or_default(),
            None => &[],
        };
        Ok(match significant.first() {
            Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
            None => 0,
        })
    }

    fn expect_curve(&mut self, curve: Curve) -> Result<(), KeyError> {
        if self.string()? != curve.name().as_bytes() {
            return refuse(format!(
                "the key data names another curve than {}",
                curve.name()
            ));
        }
        let point = self.string()?;
        if point.len() != curve.point_len() || point.first() != Some(&0x04) {
            return refuse(format!("the {} public point is malformed", curve.name()));
        }
        Ok(())
    }

    fn expect_ed25519(&mut self) -> Result<(), KeyError> {
        if self.string()?.len() != 32 {
            return refuse("an Ed25519 public key is 32 bytes; this one is not");
        }
        Ok(())
    }

    /// The FIDO application string of `sk-*` keys (`ssh:` by default).
    fn expect_application(&mut self) -> Result<(), KeyError> {
        let application = self.string()?;
        if application.is_empty() || std::str::from_utf8(application).is_err() {
            return refuse("the security-key application string is malformed");
        }
        Ok(())
    }
}

/// `SHA256:…` of a key blob, as `ssh-keygen -l -E sha256` prints it.
pub fn fingerprint_of_blob(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// Puts a fingerprint as people or URLs may write it (with or without `SHA256:`, URL-safe
/// base64, with padding) into the form [`SshPublicKey::fingerprint`] has; `None` when it
/// cannot be one.
pub fn normalize_fingerprint(text: &str) -> Option<String> {
    let text = text.trim();
    let body = text
        .strip_prefix("SHA256:")
        .or_else(|| text.strip_prefix("sha256:"))
        .unwrap_or(text)
        .trim_end_matches('=')
        .replace('-', "+")
        .replace('_', "/");
    let decoded = STANDARD_NO_PAD.decode(&body).ok()?;
    (decoded.len() == 32).then(|| format!("SHA256:{body}"))
}

/// What a line looks like when it starts with authorized_keys options instead of a type.
fn looks_like_options(first: &str) -> bool {
    first.contains('=')
        || first.contains(',')
        || [
            "restrict",
            "no-pty",
            "no-port-forwarding",
            "no-agent-forwarding",
            "no-x11-forwarding",
            "no-user-rc",
            "cert-authority",
            "no-touch-required",
            "verify-required",
        ]
        .contains(&first)
}

/// Why an unknown first word is not accepted, as specifically as we can say.
fn unknown_type(first: &str) -> KeyError {
    let reason = if looks_like_options(first) {
        "authorized_keys options (command=, from=, restrict, …) are not allowed: paste only the key, starting with its type (ssh-ed25519, ecdsa-sha2-…, ssh-rsa, sk-…)".to_string()
    } else if first == "ssh-dss" {
        "DSA keys are no longer accepted (OpenSSH removed them): use ssh-ed25519".to_string()
    } else if first.ends_with("-cert-v01@openssh.com") {
        "certificates are not accepted here: paste the public key itself".to_string()
    } else if first.starts_with("-----BEGIN") || first.starts_with("----") {
        "this is a PEM block (or a private key!): paste the one-line OpenSSH public key (the .pub file)".to_string()
    } else {
        "unknown key type: accepted are ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more), sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com".to_string()
    };
    KeyError(reason)
}

impl SshPublicKey {
    /// Parses and validates one `type base64 [comment]` entry (as in a `.pub` file).
    pub fn parse(text: &str) -> Result<SshPublicKey, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return refuse("the key is empty");
        }
        if text.len() > MAX_KEY_BYTES {
            return refuse(format!("the key is longer than {MAX_KEY_BYTES} bytes"));
        }
        if text.contains(['\n', '\r']) {
            return refuse("one key per entry: this text has more than one line");
        }
        let mut words = text.splitn(3, [' ', '\t']);
        let first = words.next().unwrap_or_default();
        let Some(kind) = Kind::from_name(first) else {
            return Err(unknown_type(first));
        };
        let Some(encoded) = words.next().filter(|w| !w.is_empty()) else {
            return refuse("the key data (the base64 part after the type) is missing");
        };
        let comment = words
            .next()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        if let Some(comment) = &comment {
            if comment.chars().any(char::is_control) {
                return refuse("the comment contains control characters");
            }
            if comment.chars().count() > MAX_COMMENT_CHARS {
                return refuse(format!(
                    "the comment is longer than {MAX_COMMENT_CHARS} characters"
                ));
            }
            let mut words = comment.split_whitespace();
            let (next_type, next_data) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            if Kind::from_name(next_type).is_some() && next_data.starts_with("AAAA") {
                return refuse("one key per entry: this text holds more than one key");
            }
        }
        let blob = STANDARD.decode(encoded).map_err(|_| {
            KeyError("the key data is not valid base64 (copy the whole line)".into())
        })?;
        let bits = validate_blob(kind, first, &blob)?;
        let canonical = STANDARD.encode(&blob);
        let line = match &comment {
            Some(c) => format!("{first} {canonical} {c}"),
            None => format!("{first} {canonical}"),
        };
        Ok(SshPublicKey {
            algorithm: first.to_string(),
            bits,
            fingerprint: fingerprint_of_blob(&blob),
            comment,
            line,
        })
    }
}

/// Checks the blob of a `kind` key named `name` on its line; returns its size in bits.
fn validate_blob(kind: Kind, name: &str, blob: &[u8]) -> Result<u32, KeyError> {
    let mut reader = Reader { rest: blob };
    if reader.string()? != name.as_bytes() {
        return refuse(format!(
            "the key data is not a {name} key (the type on the line and inside the key differ)"
        ));
    }
    let bits = match kind {
        Kind::Ed25519 => {
            reader.expect_ed25519()?;
            256
        }
        Kind::SkEd25519 => {
            reader.expect_ed25519()?;
            reader.expect_application()?;
            256
        }
        Kind::Ecdsa(curve) => {
            reader.expect_curve(curve)?;
            curve.bits()
        }
        Kind::SkEcdsaP256 => {
            reader.expect_curve(Curve::P256)?;
            reader.expect_application()?;
            Curve::P256.bits()
        }
        Kind::Rsa => {
            let exponent = reader.positive_mpint_bits()?;
            let modulus = reader.positive_mpint_bits()?;
            if exponent == 0 {
                return refuse("the RSA key data is malformed (zero exponent)");
            }
            if modulus < MIN_RSA_BITS {
                return refuse(format!(
                    "RSA keys need at least {MIN_RSA_BITS} bits; this one has {modulus} (ssh-ed25519 is the better choice)"
                ));
            }
            if modulus > MAX_RSA_BITS {
                return refuse(format!(
                    "RSA keys larger than {MAX_RSA_BITS} bits are not accepted"
                ));
            }
            u32::try_from(modulus).unwrap_or(u32::MAX)
        }
    };
    if !reader.rest.is_empty() {
        return refuse("the key data has extra bytes after the key");
    }
    Ok(bits)
}

#[cfg(test)]
mod tests;
