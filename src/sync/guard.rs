//! The accidental-deletion guard: a run that would deactivate or remove more users or groups
//! than the configured threshold is held for an admin instead of being committed.
//!
//! Why: a misconfigured filter, a credential that suddenly sees an empty tenant, or a Graph
//! bug could otherwise lock every VPN and Wi-Fi user out in one run. Entra Connect has the
//! same idea (its export deletion threshold, 500 objects by default). The check runs inside
//! the commit transaction, on the exact counts the commit would write, so what is held is
//! precisely what would have happened.

use super::settings::DeletionThreshold;
use crate::store::CommitPreview;

/// The percentage bound is only applied from this many deactivations on: in a directory of
/// eight users, disabling one is 12 % and still a routine change.
pub const MIN_FOR_PERCENT: u64 = 10;

/// `Ok` when the commit may proceed; otherwise why it is held, in words for the run history.
pub fn check(limit: &DeletionThreshold, preview: &CommitPreview) -> Result<(), String> {
    let c = &preview.counts;
    let users = c.users_deactivated + c.users_removed;
    let problems: Vec<String> = [
        exceeds(
            limit,
            users,
            preview.active_users_before,
            "active users",
            "deactivate or remove",
        ),
        exceeds(
            limit,
            c.groups_removed,
            preview.groups_before,
            "groups",
            "remove",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; held by the deletion guard until an admin approves or discards it",
            problems.join("; ")
        ))
    }
}

/// Describes how `deletions` out of `total` break `limit`, if they do.
fn exceeds(
    limit: &DeletionThreshold,
    deletions: u64,
    total: u64,
    what: &str,
    verb: &str,
) -> Option<String> {
    let over_count = limit.count.filter(|&max| deletions > max);
    let over_percent = limit
        .percent
        .filter(|&pct| deletions >= MIN_FOR_PERCENT && deletions * 100 > u64::from(pct) * total);
    let bound = match (over_count, over_percent) {
        (Some(max), _) => format!("more than the threshold of {max}"),
        (None, Some(pct)) => format!("more than the threshold of {pct}%"),
        (None, None) => return None,
    };
    let share = if total == 0 {
        String::new()
    } else {
        format!(" ({:.1}%)", deletions as f64 * 100.0 / total as f64)
    };
    Some(format!(
        "the run would {verb} {deletions} of {total} {what}{share}, {bound}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChangeCounts;

    fn preview(deactivated: u64, active: u64, groups_removed: u64, groups: u64) -> CommitPreview {
        CommitPreview {
            counts: ChangeCounts {
                users_deactivated: deactivated,
                groups_removed,
                ..ChangeCounts::default()
            },
            active_users_before: active,
            groups_before: groups,
        }
    }

    const DEFAULT: DeletionThreshold = DeletionThreshold {
        count: Some(500),
        percent: Some(10),
    };

    #[test]
    fn routine_changes_pass() {
        assert!(check(&DEFAULT, &preview(0, 0, 0, 0)).is_ok());
        // One of eight is 12.5 %, but below the percentage's minimum.
        assert!(check(&DEFAULT, &preview(1, 8, 1, 3)).is_ok());
        assert!(check(&DEFAULT, &preview(99, 1000, 0, 10)).is_ok());
        assert!(check(&DEFAULT, &preview(100, 1000, 0, 10)).is_ok());
    }

    #[test]
    fn percentage_holds_from_the_minimum_on() {
        let held = check(&DEFAULT, &preview(101, 1000, 0, 10)).unwrap_err();
        assert!(
            held.contains("deactivate or remove 101 of 1000 active users (10.1%)"),
            "{held}"
        );
        assert!(held.contains("threshold of 10%"), "{held}");
        // Everyone in a small directory: 10 of 10.
        assert!(check(&DEFAULT, &preview(10, 10, 0, 0)).is_err());
    }

    #[test]
    fn count_holds_regardless_of_share() {
        let limit = DeletionThreshold {
            count: Some(500),
            percent: None,
        };
        assert!(check(&limit, &preview(500, 100_000, 0, 0)).is_ok());
        let held = check(&limit, &preview(501, 100_000, 0, 0)).unwrap_err();
        assert!(held.contains("threshold of 500"), "{held}");
    }

    #[test]
    fn groups_are_guarded_too() {
        let held = check(&DEFAULT, &preview(0, 100, 20, 40)).unwrap_err();
        assert!(held.contains("remove 20 of 40 groups"), "{held}");
    }

    #[test]
    fn no_bounds_never_hold() {
        let off = DeletionThreshold {
            count: None,
            percent: None,
        };
        assert!(check(&off, &preview(10_000, 10_000, 500, 500)).is_ok());
    }
}
