//! Value normalisation and comparison per matching rule.
//!
//! Why: filters, compare, DN normalisation and the equality indexes must all agree on when
//! two values are "the same". Everything goes through [`normalize`], so the index built at
//! snapshot time and the assertion normalised at search time always use one definition.

use super::dn;
use super::schema::{Rule, schema};
use std::cmp::Ordering;

/// Canonical form of `value` under `rule`, or `None` when the value is not valid for the
/// rule (e.g. `abc` as an integer): such an assertion evaluates to Undefined.
pub fn normalize(rule: Rule, value: &str) -> Option<String> {
    match rule {
        Rule::CaseIgnore => Some(fold_spaces(value, true, true)),
        Rule::CaseExact => Some(fold_spaces(value, false, true)),
        Rule::Integer => value.trim().parse::<i128>().ok().map(|n| n.to_string()),
        Rule::Dn => dn::normalize(value).ok(),
        Rule::OctetString => Some(value.to_string()),
        Rule::Boolean => match value.trim().to_ascii_uppercase().as_str() {
            "TRUE" => Some("TRUE".to_string()),
            "FALSE" => Some("FALSE".to_string()),
            _ => None,
        },
        Rule::GeneralizedTime => generalized_time(value.trim()),
        Rule::ObjectIdentifier => {
            let v = value.trim();
            let s = schema();
            if let Some(class) = s.class(v) {
                class.names.first().map(|n| n.to_ascii_lowercase())
            } else if let Some(attr) = s.attribute(v) {
                Some(attr.key.clone())
            } else {
                Some(v.to_ascii_lowercase())
            }
        }
        Rule::Uuid => Some(value.trim().to_ascii_lowercase()),
    }
}

/// Normalises one piece of a substring assertion: like [`normalize`] for string rules but
/// without trimming (a piece may legitimately start or end with a space).
pub fn normalize_piece(rule: Rule, piece: &str) -> Option<String> {
    match rule {
        Rule::CaseIgnore | Rule::Uuid => Some(fold_spaces(piece, true, false)),
        Rule::CaseExact => Some(fold_spaces(piece, false, false)),
        Rule::OctetString => Some(piece.to_string()),
        _ => None,
    }
}

/// Orders two values already normalised under `rule`. `None` when they are not comparable.
pub fn compare(rule: Rule, a: &str, b: &str) -> Option<Ordering> {
    match rule {
        Rule::Integer => Some(a.parse::<i128>().ok()?.cmp(&b.parse::<i128>().ok()?)),
        Rule::Boolean | Rule::Dn | Rule::ObjectIdentifier => None,
        _ => Some(a.cmp(b)),
    }
}

/// RFC 4511 substring match of a normalised value against normalised pieces.
pub fn substrings_match(
    value: &str,
    initial: Option<&str>,
    any: &[String],
    last: Option<&str>,
) -> bool {
    let mut rest = value;
    if let Some(init) = initial {
        match rest.strip_prefix(init) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    let mut tail_limit = rest.len();
    if let Some(fin) = last {
        if !rest.ends_with(fin) {
            return false;
        }
        tail_limit = rest.len() - fin.len();
    }
    let mut middle = rest.get(..tail_limit).unwrap_or("");
    for piece in any {
        match middle.find(piece.as_str()) {
            Some(pos) => middle = middle.get(pos + piece.len()..).unwrap_or(""),
            None => return false,
        }
    }
    true
}

/// Trims (optionally), collapses runs of whitespace to one space and lowercases
/// (optionally): the "insignificant space" handling of caseIgnoreMatch, simplified.
fn fold_spaces(value: &str, lowercase: bool, trim: bool) -> String {
    let v = if trim { value.trim() } else { value };
    let mut out = String::with_capacity(v.len());
    let mut in_space = false;
    for c in v.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        if lowercase {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Canonical `YYYYMMDDHHMMSSZ` (UTC) from a GeneralizedTime with optional minutes,
/// seconds and fraction (ignored), and a `Z` or `±hh[mm]` zone. Local times without a zone
/// are not comparable (→ `None`).
fn generalized_time(v: &str) -> Option<String> {
    let (body, offset_secs) = if let Some(b) = v.strip_suffix(['Z', 'z']) {
        (b, 0)
    } else {
        let pos = v.rfind(['+', '-'])?;
        let (b, zone) = v.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits = zone.get(1..)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (hh, mm) = match digits.len() {
            2 => (digits.parse::<i64>().ok()?, 0),
            4 => (
                digits.get(..2)?.parse::<i64>().ok()?,
                digits.get(2..)?.parse::<i64>().ok()?,
            ),
            _ => return None,
        };
        if hh > 23 || mm > 59 {
            return None;
        }
        (b, sign * (hh * 3600 + mm * 60))
    };
    let body = body.split(['.', ',']).next().unwrap_or(body);
    if !body.bytes().all(|b| b.is_ascii_digit()) || !matches!(body.len(), 10 | 12 | 14) {
        return None;
    }
    let field = |from: usize, len: usize| -> Option<i64> {
        match body.get(from..from + len) {
            Some(t) => t.parse().ok(),
            None => Some(0),
        }
    };
    let (y, mo, d) = (field(0, 4)?, field(4, 2)?, field(6, 2)?);
    let (h, mi, sec) = (field(8, 2)?, field(10, 2)?, field(12, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let t = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Some(format_generalized(t))
}

/// Formats Unix seconds as GeneralizedTime (`YYYYMMDDHHMMSSZ`, UTC). Negative → epoch.
pub fn unix_to_generalized(t: i64) -> String {
    format_generalized(t.max(0))
}

fn format_generalized(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// (year, month, day) in the proleptic Gregorian calendar → days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-27 06:00:00` (UTC) from Unix seconds, for people reading tables and pages (the
/// CLI's run history, the console).
pub fn format_utc(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
/// (Also used by the simulator to stamp Graph dates.)
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ignore_folds_case_and_spaces() {
        assert_eq!(
            normalize(Rule::CaseIgnore, "  John   SMITH "),
            Some("john smith".into())
        );
        assert_eq!(
            normalize(Rule::CaseExact, " John  Smith"),
            Some("John Smith".into())
        );
    }

    #[test]
    fn integers_are_canonical_and_ordered_numerically() {
        assert_eq!(normalize(Rule::Integer, " 0042 "), Some("42".into()));
        assert_eq!(normalize(Rule::Integer, "4x"), None);
        assert_eq!(compare(Rule::Integer, "9", "10"), Some(Ordering::Less));
    }

    #[test]
    fn booleans_times_and_oids() {
        assert_eq!(normalize(Rule::Boolean, "true"), Some("TRUE".into()));
        assert_eq!(normalize(Rule::Boolean, "yes"), None);
        assert_eq!(
            normalize(Rule::GeneralizedTime, "2024010203Z"),
            Some("20240102030000Z".into())
        );
        assert_eq!(
            normalize(Rule::GeneralizedTime, "20240102030405.5Z"),
            Some("20240102030405Z".into())
        );
        assert_eq!(
            normalize(Rule::ObjectIdentifier, "2.5.6.6"),
            Some("person".into())
        );
        assert_eq!(
            normalize(Rule::ObjectIdentifier, "InetOrgPerson"),
            Some("inetorgperson".into())
        );
    }

    #[test]
    fn substrings() {
        assert!(substrings_match(
            "john smith",
            Some("jo"),
            &["n s".into()],
            Some("th")
        ));
        assert!(!substrings_match("abc", Some("ab"), &[], Some("bc")));
        assert!(substrings_match("abcbc", Some("ab"), &[], Some("bc")));
        assert!(!substrings_match(
            "abc",
            None,
            &["c".into(), "b".into()],
            None
        ));
    }

    #[test]
    fn generalized_time_from_unix() {
        assert_eq!(unix_to_generalized(0), "19700101000000Z");
        assert_eq!(unix_to_generalized(1_700_000_000), "20231114221320Z");
        assert_eq!(unix_to_generalized(951_782_400), "20000229000000Z");
        assert_eq!(days_from_civil(2000, 2, 29), 951_782_400 / 86_400);
        assert_eq!(
            normalize(Rule::GeneralizedTime, "20000229010000+0100"),
            Some("20000229000000Z".into())
        );
        assert_eq!(
            normalize(Rule::GeneralizedTime, "20000228230000-01"),
            Some("20000229000000Z".into())
        );
        assert_eq!(normalize(Rule::GeneralizedTime, "20001329000000Z"), None);
        assert_eq!(normalize(Rule::GeneralizedTime, "20000229000000"), None);
    }
}
