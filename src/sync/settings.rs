//! The sync options an admin controls: what is synced, who is active, how often, and how
//! much a single run may deactivate before it is held for approval.
//!
//! Why its own module: the same options come from three places (the `[sync]` table of the
//! config file, values an admin saved at run time through the API, and defaults), and every
//! consumer (scoping, the worker's schedule, the deletion guard, the status page) must see
//! one effective value per option, plus where it came from.

use serde::{Deserialize, Serialize};

/// Whether inactive users are served by LDAP searches (they can never bind either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveUsers {
    #[default]
    Hide,
    Show,
}

/// How many deactivations/removals one run may make before it is held for an admin.
/// A run is held when it exceeds *either* bound that is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionThreshold {
    /// Absolute number of users (or groups) deactivated or removed.
    pub count: Option<u64>,
    /// Share of the users (or groups) currently stored, in percent.
    pub percent: Option<u8>,
}

impl Default for DeletionThreshold {
    /// Like Entra Connect's export deletion threshold: 500 objects, or here also 10 %.
    fn default() -> Self {
        DeletionThreshold {
            count: Some(500),
            percent: Some(10),
        }
    }
}

/// The effective sync options for one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSettings {
    /// Import users at all.
    pub users: bool,
    /// Import groups at all.
    pub groups: bool,
    /// Also import groups without an email address (security groups and the like).
    pub groups_without_email: bool,
    /// Only groups whose display name starts with one of these (case-insensitive); empty:
    /// every group.
    pub group_prefixes: Vec<String>,
    /// Group names or object ids; when non-empty, users not (transitively) in one of them
    /// are inactive.
    pub allowed_groups: Vec<String>,
    /// Group names or object ids; users (transitively) in one of them are inactive.
    pub denied_groups: Vec<String>,
    /// Domains imported besides the tenant's default domain.
    pub subdomains: Vec<String>,
    /// Import every subdomain of the default domain (`*.example.com`).
    pub all_subdomains: bool,
    pub inactive_users: InactiveUsers,
    pub deletion_threshold: DeletionThreshold,
    /// Seconds between scheduled (delta) runs; 0: no schedule.
    pub interval_secs: u64,
    /// Seconds between full reconciliations (a delta run turns into a full one when the
    /// last full run is older than this).
    pub full_interval_secs: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            users: true,
            groups: true,
            groups_without_email: false,
            group_prefixes: Vec::new(),
            allowed_groups: Vec::new(),
            denied_groups: Vec::new(),
            subdomains: Vec::new(),
            all_subdomains: false,
            inactive_users: InactiveUsers::Hide,
            deletion_threshold: DeletionThreshold::default(),
            interval_secs: 60,
            full_interval_secs: 86_400,
        }
    }
}
