//! How Entra names become POSIX login names (`uid`) and group names (`cn`).
//!
//! Why: login names end up in `/etc/passwd`-like places (sssd, nslcd, sshd), so they must be
//! POSIX-safe and unique; group `cn`s only need to be unique (case-insensitively, because
//! LDAP compares `cn` that way). The mapping is documented in docs/configuration.md
//! (`[directory] login_source`).

use crate::config::LoginSource;
use crate::model::EntraUser;

/// Longest login name we generate (the Linux `useradd` limit), suffix included.
pub const MAX_LOGIN_LEN: usize = 32;

/// Names of system accounts an Entra user must never shadow; such a user gets `root2` etc.
const RESERVED_LOGINS: &[&str] = &[
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    "www-data", "backup", "list", "irc", "nobody", "sshd", "admin", "operator",
];

/// True for names reserved for local system accounts.
pub fn is_reserved_login(name: &str) -> bool {
    RESERVED_LOGINS.contains(&name)
}

/// The raw (unsanitised) login name for `user` according to `source`, falling back to the
/// UPN's local part when the chosen property is missing or blank.
pub fn login_source_value(user: &EntraUser, source: LoginSource) -> &str {
    let upn_local = user
        .user_principal_name
        .split('@')
        .next()
        .unwrap_or_default();
    let chosen = match source {
        LoginSource::Upn => None,
        LoginSource::MailNickname => user.mail_nickname.as_deref(),
        LoginSource::OnPremisesSamAccountName => user.on_premises_sam_account_name.as_deref(),
    };
    match chosen {
        Some(v) if !v.trim().is_empty() => v.trim(),
        _ => upn_local,
    }
}

/// Maps a raw name to a POSIX-safe login: lowercase `[a-z0-9._-]`, starting with a letter or
/// `_`, at most [`MAX_LOGIN_LEN`] characters. Common Latin accented letters are folded to
/// ASCII (`é`→`e`, `ß`→`ss`); whitespace and other characters become `_`; an empty result
/// becomes `user`.
pub fn sanitize_login(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => out.push(c),
            _ => match fold_latin(c) {
                Some(ascii) => out.push_str(ascii),
                None => out.push('_'),
            },
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        out.insert(0, '_');
    }
    if out.chars().all(|c| c == '_') {
        out = "user".to_string();
    }
    out.truncate(MAX_LOGIN_LEN);
    out
}

/// ASCII spelling of common lowercase Latin letters with diacritics.
fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'ł' | 'ľ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'ť' | 'ţ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// A group's `cn` from its displayName: trimmed, control characters dropped, whitespace
/// runs collapsed to one space; an empty result becomes `group`. Spaces and punctuation are
/// kept (the directory escapes them in DNs).
pub fn sanitize_cn(display_name: &str) -> String {
    let cleaned: Vec<&str> = display_name
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect();
    if cleaned.is_empty() {
        "group".to_string()
    } else {
        cleaned.join(" ")
    }
}

/// The `n`-th candidate for a base name: `base` itself for 1, then `base2`, `base3`, …
/// For logins the base is shortened so the result stays within [`MAX_LOGIN_LEN`].
pub fn candidate(base: &str, n: u32, max_len: Option<usize>) -> String {
    if n <= 1 {
        return base.to_string();
    }
    let suffix = n.to_string();
    let mut stem = base.to_string();
    if let Some(max) = max_len {
        let keep = max.saturating_sub(suffix.len());
        while stem.len() > keep {
            stem.pop();
        }
    }
    stem + &suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(upn: &str) -> EntraUser {
        EntraUser {
            id: "id".into(),
            user_principal_name: upn.into(),
            ..Default::default()
        }
    }

    #[test]
    fn login_source_falls_back_to_upn_local_part() {
        let mut u = user("Alice.Smith@contoso.com");
        assert_eq!(login_source_value(&u, LoginSource::Upn), "Alice.Smith");
        assert_eq!(
            login_source_value(&u, LoginSource::MailNickname),
            "Alice.Smith"
        );
        u.mail_nickname = Some("  ".into());
        assert_eq!(
            login_source_value(&u, LoginSource::MailNickname),
            "Alice.Smith"
        );
        u.mail_nickname = Some("asmith".into());
        assert_eq!(login_source_value(&u, LoginSource::MailNickname), "asmith");
        u.on_premises_sam_account_name = Some("ASMITH01".into());
        assert_eq!(
            login_source_value(&u, LoginSource::OnPremisesSamAccountName),
            "ASMITH01"
        );
    }

    #[test]
    fn sanitize_login_maps_to_posix_safe_names() {
        assert_eq!(sanitize_login("Alice.Smith"), "alice.smith");
        assert_eq!(sanitize_login("Jürgen Müller"), "jurgen_muller");
        assert_eq!(sanitize_login("Straße"), "strasse");
        assert_eq!(sanitize_login("1admin"), "_1admin");
        assert_eq!(sanitize_login("-x"), "_-x");
        assert_eq!(sanitize_login("a+b#c"), "a_b_c");
        assert_eq!(sanitize_login(""), "user");
        assert_eq!(sanitize_login("日本"), "user");
        assert_eq!(sanitize_login(&"x".repeat(40)).len(), MAX_LOGIN_LEN);
        for name in ["Ωmega", "a b", "ÉCOLE", "9"] {
            let s = sanitize_login(name);
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            );
            assert!(s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn sanitize_cn_collapses_whitespace_and_keeps_spaces() {
        assert_eq!(sanitize_cn("  Sales   Team\t EU "), "Sales Team EU");
        assert_eq!(sanitize_cn("R&D, Berlin"), "R&D, Berlin");
        assert_eq!(sanitize_cn(" \u{7} "), "group");
    }

    #[test]
    fn candidates_are_suffixed_and_bounded() {
        assert_eq!(candidate("bob", 1, Some(32)), "bob");
        assert_eq!(candidate("bob", 2, Some(32)), "bob2");
        let long = "y".repeat(32);
        let c = candidate(&long, 12, Some(32));
        assert_eq!(c.len(), 32);
        assert!(c.ends_with("12"));
        assert_eq!(candidate("Sales", 3, None), "Sales3");
    }
}
