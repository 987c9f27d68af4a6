//! CSRF protection for console forms.
//!
//! Why: a signed-in admin's browser sends the session cookie with any request to the
//! console; `SameSite=Strict` already stops cross-site form posts in current browsers, and a
//! per-session token in every form is the second, browser-independent guard. The check runs
//! in the session middleware for every non-GET request, so a new form cannot forget it.

use crate::admin::api::constant_time_eq;

/// Name of the hidden form field that carries the token.
pub const FIELD: &str = "csrf";

/// Whether the urlencoded form `body` carries `expected` in its [`FIELD`] (compared in
/// constant time; a missing, empty or repeated field fails).
pub fn form_has_token(body: &[u8], expected: &str) -> bool {
    let mut found: Option<String> = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == FIELD {
            if found.is_some() {
                return false;
            }
            found = Some(value.into_owned());
        }
    }
    match found {
        Some(token) if !token.is_empty() => constant_time_eq(token.as_bytes(), expected.as_bytes()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        assert!(form_has_token(b"a=1&csrf=tok123", "tok123"));
        assert!(!form_has_token(b"a=1", "tok123"));
        assert!(!form_has_token(b"csrf=", "tok123"));
        assert!(!form_has_token(b"csrf=tok12", "tok123"));
        assert!(!form_has_token(b"csrf=tok123&csrf=tok123", "tok123"));
        assert!(!form_has_token(b"csrf=other", "tok123"));
    }
}
