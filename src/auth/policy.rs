//! The LDAP password policy: what a password a person chooses must (not) be.
//!
//! Why this shape: NIST SP 800-63B (§5.1.1.2) found that composition rules ("one upper case,
//! one digit, one symbol") make passwords harder to remember without making them harder to
//! guess, while length and refusing the guessable ones help. So the policy asks for length
//! and refuses what an attacker tries first: the person's own names, the most common
//! passwords, and repetitive or sequential strings. It never asks for character classes.
//!
//! The policy applies to passwords people choose (admin API, CLI, console, self-service,
//! `ldappasswd`); secrets the server generates itself (binder secrets, demo seeds) only meet
//! the floor of [`super::check_policy`]. Messages name the rule that failed and never echo
//! the password.

use super::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::model::UserRecord;

/// Default of `[auth] min_password_length`.
pub const DEFAULT_MIN_CHARS: usize = 12;
/// Largest `[auth] min_password_length` the config accepts.
pub const MAX_MIN_CHARS: usize = 128;
/// Name parts shorter than this are not looked for (every password would contain "li").
const MIN_NAME_PART_CHARS: usize = 3;
/// Parts of addresses that say nothing about the person (a guest's UPN local part is
/// `dave_partner.org#EXT#`): not refused, or every password with "org" in it would be.
const NOT_PERSONAL: &[&str] = &["ext", "com", "org", "net", "edu", "gov", "www", "mail"];
/// A password needs at least this many different characters.
const MIN_DISTINCT_CHARS: usize = 5;

/// The most common passwords (lower case), from published breach-corpus top lists. A
/// password is refused when it is one of these, also with digits or symbols around it
/// (`Password123!`), compared without case.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "passwort",
    "qwerty",
    "qwertyuiop",
    "qwertz",
    "azerty",
    "asdfgh",
    "asdfghjkl",
    "zxcvbnm",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "q1w2e3r4t5y6",
    "1qaz2wsx",
    "1qaz2wsx3edc",
    "zaq12wsx",
    "qazwsx",
    "abc123",
    "letmein",
    "welcome",
    "iloveyou",
    "admin",
    "administrator",
    "root",
    "login",
    "changeme",
    "secret",
    "default",
    "monkey",
    "dragon",
    "master",
    "football",
    "baseball",
    "basketball",
    "soccer",
    "hockey",
    "superman",
    "batman",
    "starwars",
    "princess",
    "sunshine",
    "shadow",
    "trustno",
    "michael",
    "jennifer",
    "charlie",
    "jordan",
    "hunter",
    "freedom",
    "whatever",
    "computer",
    "internet",
    "google",
    "summer",
    "winter",
    "spring",
    "autumn",
    "pokemon",
    "liverpool",
    "chelsea",
    "arsenal",
    "cookie",
    "cheese",
    "chocolate",
    "butterfly",
    "flower",
    "loveme",
    "lovely",
    "mustang",
    "ferrari",
    "harley",
    "killer",
    "matrix",
    "ninja",
    "pepper",
    "purple",
    "orange",
    "banana",
    "zxcvbn",
    "passwordpassword",
    "letmeinplease",
    "welcomewelcome",
    "correcthorsebatterystaple",
    "correct horse battery staple",
    "ldappassword",
    "microsoft",
    "office365",
    "company",
    "entra",
];

/// The password rules of this server. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy::new(DEFAULT_MIN_CHARS)
    }
}

/// The words that identify a person (lower case): login name, names, mail local part, and
/// their parts. A password containing one of them is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicySubject {
    words: Vec<String>,
}

impl PolicySubject {
    /// No personal words (a subject the server knows nothing about).
    pub fn anonymous() -> PolicySubject {
        PolicySubject::default()
    }

    /// The words of `user`: uid, display/given/surname, the local parts of mail and
    /// userPrincipalName and mailNickname, each whole and split at non-alphanumerics.
    pub fn of_user(user: &UserRecord) -> PolicySubject {
        let e = &user.entra;
        let local = |address: &str| address.split('@').next().unwrap_or("").to_string();
        let sources = [
            Some(user.uid.clone()),
            e.display_name.clone(),
            e.given_name.clone(),
            e.surname.clone(),
            e.mail.as_deref().map(local),
            Some(local(&e.user_principal_name)),
            e.mail_nickname.as_deref().map(local),
        ];
        let mut words = Vec::new();
        for source in sources.into_iter().flatten() {
            let lower = source.to_lowercase();
            words.extend(
                lower
                    .split(|c: char| !c.is_alphanumeric())
                    .map(str::to_string),
            );
            words.push(lower);
        }
        words.retain(|w| {
            w.chars().count() >= MIN_NAME_PART_CHARS && !NOT_PERSONAL.contains(&w.as_str())
        });
        words.sort();
        words.dedup();
        PolicySubject { words }
    }
}

impl PasswordPolicy {
    /// A policy asking for at least `min_chars` characters (never below the floor of
    /// [`MIN_PASSWORD_CHARS`]).
    pub fn new(min_chars: usize) -> PasswordPolicy {
        PasswordPolicy {
            min_chars: min_chars.max(MIN_PASSWORD_CHARS),
        }
    }

    /// The shortest password accepted, in characters.
    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// The rules in words, for pages and the API (`GET /api/v1/password-policy`).
    pub fn describe(&self) -> Vec<String> {
        vec![
            format!(
                "At least {} characters (at most {MAX_PASSWORD_BYTES} bytes). Length matters most: a passphrase of a few unrelated words is strong and easy to remember.",
                self.min_chars
            ),
            "No composition rules: upper case, digits and symbols are welcome but not required.".to_string(),
            format!(
                "Not containing your login name, your name or your mail address, or a part of them of {MIN_NAME_PART_CHARS} or more letters (compared without case)."
            ),
            "Not one of the most common passwords (such as password, qwerty or letmein), also not with digits or symbols added.".to_string(),
            format!(
                "Not repetitive or sequential: at least {MIN_DISTINCT_CHARS} different characters, not a shorter part repeated (abcabc…), not a straight run (abcdef…, 654321…) and not digits only."
            ),
        ]
    }

    /// Checks `password` for `subject`; the error names the rule that failed (never the
    /// password).
    pub fn check(&self, password: &str, subject: &PolicySubject) -> Result<(), String> {
        let chars: Vec<char> = password.chars().collect();
        if chars.len() < self.min_chars {
            return Err(format!("must be at least {} characters", self.min_chars));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
        }
        if chars.iter().all(|c| c.is_whitespace()) {
            return Err("must not be only whitespace".to_string());
        }
        let lower = password.to_lowercase();
        if subject.words.iter().any(|w| lower.contains(w.as_str())) {
            return Err(
                "must not contain your login name, your name or your mail address".to_string(),
            );
        }
        if is_common(&lower) {
            return Err("is one of the most common passwords; choose another".to_string());
        }
        if chars.iter().all(char::is_ascii_digit) {
            return Err("must not be digits only".to_string());
        }
        if distinct(&chars) < MIN_DISTINCT_CHARS || is_repeated_block(&chars) {
            return Err(format!(
                "is too repetitive: use at least {MIN_DISTINCT_CHARS} different characters and do not repeat a part"
            ));
        }
        if is_straight_run(&chars) {
            return Err(
                "must not be a straight run of characters (like abcdef or 987654)".to_string(),
            );
        }
        Ok(())
    }
}

/// One of [`COMMON`], whole or with non-letters around it.
fn is_common(lower: &str) -> bool {
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    COMMON.contains(&lower) || COMMON.contains(&core)
}

fn distinct(chars: &[char]) -> usize {
    let mut seen: Vec<char> = chars.to_vec();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// The whole password is a shorter block written two or more times (`abcabcabc`).
fn is_repeated_block(chars: &[char]) -> bool {
    let n = chars.len();
    (1..=n / 2).any(|period| {
        n.is_multiple_of(period)
            && chars
                .iter()
                .zip(chars.iter().skip(period))
                .all(|(a, b)| a == b)
    })
}

/// Every character is the one before plus one, or every one minus one (`abcdef`,
/// `987654`; digits wrap, so `7890123` counts too).
fn is_straight_run(chars: &[char]) -> bool {
    let step = |a: char, b: char| -> i64 {
        if a.is_ascii_digit() && b.is_ascii_digit() {
            return match (u32::from(b) + 10 - u32::from(a)) % 10 {
                1 => 1,
                9 => -1,
                _ => 0,
            };
        }
        let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
        i64::from(u32::from(b)) - i64::from(u32::from(a))
    };
    let steps: Vec<i64> = chars
        .windows(2)
        .filter_map(|pair| match pair {
            [a, b] => Some(step(*a, *b)),
            _ => None,
        })
        .collect();
    !steps.is_empty() && (steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntraUser, UserStatus};

    fn ann() -> PolicySubject {
        PolicySubject::of_user(&ann_record())
    }

    fn ann_record() -> UserRecord {
        UserRecord {
            entra: EntraUser {
                id: "1".into(),
                user_principal_name: "ann.smith@example.com".into(),
                display_name: Some("Ann-Marie Smith".into()),
                given_name: Some("Ann-Marie".into()),
                surname: Some("Smith".into()),
                mail: Some("amsmith@example.com".into()),
                mail_nickname: Some("amsmith".into()),
                account_enabled: true,
                ..Default::default()
            },
            uid: "asmith".into(),
            uid_number: 10000,
            gid_number: 10000,
            status: UserStatus::Active,
            ssh_public_keys: Vec::new(),
            created: 0,
            modified: 0,
        }
    }

    fn check(password: &str) -> Result<(), String> {
        PasswordPolicy::default().check(password, &ann())
    }

    #[test]
    fn good_passphrases_pass_without_composition_rules() {
        for good in [
            "correct orbit lantern",
            "tangerine-walrus",
            "all lower case words here",
            "Kaffee ohne Zucker",
            "ñandú über Straße",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn length_is_counted_in_characters_and_bounded_in_bytes() {
        let err = check("orbit-lamp").unwrap_err();
        assert_eq!(err, "must be at least 12 characters");
        // 12 characters, 24 bytes: long enough.
        assert_eq!(check("äöüßéñçåøæœð"), Ok(()));
        let err = check(&"ab1-".repeat(65)).unwrap_err();
        assert!(err.contains("at most 256 bytes"), "{err}");
        let configured = PasswordPolicy::new(16);
        assert!(configured.check("tangerine-walrus", &ann()).is_ok());
        assert!(configured.check("tangerine-walr", &ann()).is_err());
        assert_eq!(PasswordPolicy::new(3).min_chars(), MIN_PASSWORD_CHARS);
    }

    #[test]
    fn personal_words_are_refused_in_any_case() {
        for bad in [
            "my-ASMITH-password",    // uid
            "smithsonian-museum",    // surname
            "Anne-Marie-forever",    // given-name part "marie"
            "amsmith at home!",      // mail local part
            "hello ann.smith there", // UPN local part
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains("login name"), "{bad}: {err}");
            assert!(!err.contains(bad));
        }
        // Address noise of a guest's UPN is not a personal word; the name in it is.
        let mut guest = UserRecord {
            uid: "dave".into(),
            ..ann_record()
        };
        guest.entra.user_principal_name = "dave_partner.org#EXT#@example.onmicrosoft.com".into();
        guest.entra.mail_nickname = Some("dave_partner.org#EXT#".into());
        let guest = PolicySubject::of_user(&guest);
        let policy = PasswordPolicy::default();
        assert!(policy.check("organ grinder next", &guest).is_ok());
        assert!(policy.check("my partner's tea", &guest).is_err());
        // Without the subject they are fine (the words are only refused for this person).
        assert!(
            PasswordPolicy::default()
                .check("smithsonian-museum", &PolicySubject::anonymous())
                .is_ok()
        );
    }

    #[test]
    fn common_passwords_are_refused_also_decorated() {
        for bad in [
            "passwordpassword",
            "Password1234!",
            "!!qwertyuiop99",
            "1q2w3e4r5t6y",
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains("most common"), "{bad}: {err}");
        }
    }

    #[test]
    fn repetitive_and_sequential_passwords_are_refused() {
        for (bad, why) in [
            ("aaaaaaaaaaaaaa", "repetitive"),
            ("abababababab", "repetitive"),
            ("xyz1xyz1xyz1", "repetitive"),
            ("abcdefghijklm", "straight run"),
            ("ZYXWVUTSRQPO", "straight run"),
            ("123456789012", "digits only"),
            ("849302175634", "digits only"),
            ("            ", "whitespace"),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(is_straight_run(&"7890123".chars().collect::<Vec<_>>()));
        assert!(!is_straight_run(&"abcdefgh-".chars().collect::<Vec<_>>()));
    }

    #[test]
    fn describe_names_every_rule_with_the_configured_length() {
        let text = PasswordPolicy::new(14).describe().join("\n");
        for needle in [
            "At least 14 characters",
            "login name",
            "most common",
            "repetitive",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
