//! Timestamps in the two textual forms the identity platform and Graph put in error bodies.
//!
//! Why hand-rolled: two fixed formats do not justify a date-time crate; the conversion from
//! days since the epoch to a civil date is the well-known proleptic Gregorian algorithm.

use std::time::{SystemTime, UNIX_EPOCH};

/// Graph's `innerError.date`: `2021-05-23T06:39:06` (UTC, no zone suffix).
pub fn graph_date() -> String {
    let (y, mo, d, h, mi, s) = civil_now();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
}

/// The identity platform's `timestamp`: `2021-07-21 07:56:39Z`.
pub fn identity_timestamp() -> String {
    let (y, mo, d, h, mi, s) = civil_now();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

fn civil_now() -> (i64, u32, u32, u64, u64, u64) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), from the directory's calendar code.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let (y, m, d) = crate::directory::values::civil_from_days(days);
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(graph_date().len(), 19);
        assert!(identity_timestamp().ends_with('Z'));
    }
}
