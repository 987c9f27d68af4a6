//! The sync options an admin controls: what is synced, who is active, how often, and how
//! much a single run may deactivate before it is held for approval.
//!
//! Why its own module: the same options come from three places (the `[sync]` table of the
//! config file, values an admin saved at run time through the API, and defaults), and every
//! consumer (scoping, the worker's schedule, the deletion guard, the status page) must see
//! one effective value per option, plus where it came from.
//!
//! [`SyncOptions`] is one layer (every option optional); it is parsed and validated by the
//! same code whether it comes from the config file or from an admin's `PATCH`, so both
//! reject the same values with the same messages. [`SettingsSource`] stacks the layers.

mod source;

pub use source::{OptionSource, OptionView, SettingsSource, SettingsView, UpdateError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
#[serde(deny_unknown_fields)]
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

/// Shortest schedule accepted (a sync every few seconds would only burn Graph quota).
pub const MIN_INTERVAL_SECS: u64 = 10;
/// Longest interval accepted (a year): keeps timer arithmetic far from overflow.
pub const MAX_INTERVAL_SECS: u64 = 365 * 24 * 3600;
/// Most entries a list option may hold, and the longest entry.
const MAX_LIST_LEN: usize = 1000;
const MAX_ENTRY_LEN: usize = 256;

/// One layer of sync options (the config file's `[sync]` table, or what admins saved at
/// run time): `None` means "not set here", so the next layer (or the default) applies.
/// The field names are the option names of the file and the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_without_email: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_prefixes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdomains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_subdomains: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_users: Option<InactiveUsers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_threshold: Option<DeletionThreshold>,
    /// Seconds between scheduled runs (0: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// Seconds between full reconciliations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_interval: Option<u64>,
}

/// An option rejected, naming it (`group_prefixes[2]`) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingsError {
    pub key: String,
    pub reason: String,
}

impl SettingsError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> SettingsError {
        SettingsError {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The same error with its key prefixed (`sync.` for the config file).
    pub fn prefixed(self, prefix: &str) -> SettingsError {
        SettingsError {
            key: format!("{prefix}{}", self.key),
            reason: self.reason,
        }
    }
}

impl SyncOptions {
    /// Every option name, in the order the docs list them.
    pub const KEYS: [&'static str; 12] = [
        "users",
        "groups",
        "groups_without_email",
        "group_prefixes",
        "allowed_groups",
        "denied_groups",
        "subdomains",
        "all_subdomains",
        "inactive_users",
        "deletion_threshold",
        "interval",
        "full_interval",
    ];

    /// Parses options from a JSON object (the `PATCH` body, or the config file's `[sync]`
    /// table converted to JSON), one key at a time so every error names its key, then
    /// validates them. `null` values are not accepted here.
    pub fn from_map(map: &Map<String, Value>) -> Result<SyncOptions, SettingsError> {
        let mut options = SyncOptions::default();
        for (key, value) in map {
            options = options.overlaid(SyncOptions::parse_one(key, value.clone())?);
        }
        options.validate()?;
        Ok(options)
    }

    /// One option from its JSON value: unknown keys and wrong types name the key.
    fn parse_one(key: &str, value: Value) -> Result<SyncOptions, SettingsError> {
        if !SyncOptions::KEYS.contains(&key) {
            return Err(SettingsError::new(
                key,
                format!(
                    "unknown option; the options are {}",
                    SyncOptions::KEYS.join(", ")
                ),
            ));
        }
        if value.is_null() {
            return Err(SettingsError::new(key, "must not be null"));
        }
        let mut single = Map::new();
        single.insert(key.to_string(), value);
        serde_json::from_value(Value::Object(single))
            .map_err(|e| SettingsError::new(key, e.to_string()))
    }

    /// The options as a JSON object holding only those that are set.
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// Whether option `key` is set in this layer.
    pub fn is_set(&self, key: &str) -> bool {
        self.to_map().contains_key(key)
    }

    /// This layer with every option set in `over` replaced by `over`'s value.
    pub fn overlaid(&self, over: SyncOptions) -> SyncOptions {
        SyncOptions {
            users: over.users.or(self.users),
            groups: over.groups.or(self.groups),
            groups_without_email: over.groups_without_email.or(self.groups_without_email),
            group_prefixes: over.group_prefixes.or_else(|| self.group_prefixes.clone()),
            allowed_groups: over.allowed_groups.or_else(|| self.allowed_groups.clone()),
            denied_groups: over.denied_groups.or_else(|| self.denied_groups.clone()),
            subdomains: over.subdomains.or_else(|| self.subdomains.clone()),
            all_subdomains: over.all_subdomains.or(self.all_subdomains),
            inactive_users: over.inactive_users.or(self.inactive_users),
            deletion_threshold: over.deletion_threshold.or(self.deletion_threshold),
            interval: over.interval.or(self.interval),
            full_interval: over.full_interval.or(self.full_interval),
        }
    }

    /// This layer with option `key` unset (an unknown key changes nothing).
    pub fn without(&self, key: &str) -> SyncOptions {
        let mut map = self.to_map();
        map.remove(key);
        serde_json::from_value(Value::Object(map)).unwrap_or_else(|_| self.clone())
    }

    /// Checks every option that is set; the first problem is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, list) in [
            ("group_prefixes", &self.group_prefixes),
            ("allowed_groups", &self.allowed_groups),
            ("denied_groups", &self.denied_groups),
            ("subdomains", &self.subdomains),
        ] {
            if let Some(list) = list {
                check_list(key, list)?;
            }
        }
        if let Some(domains) = &self.subdomains {
            for (i, domain) in domains.iter().enumerate() {
                check_domain(&format!("subdomains[{i}]"), domain)?;
            }
        }
        if let Some(t) = &self.deletion_threshold {
            check_threshold(t)?;
        }
        if let Some(interval) = self.interval
            && interval != 0
        {
            check_interval("interval", interval)?;
        }
        if let Some(full) = self.full_interval {
            check_interval("full_interval", full)?;
        }
        Ok(())
    }
}

impl From<&SyncSettings> for SyncOptions {
    /// Every option set, to the given values.
    fn from(s: &SyncSettings) -> SyncOptions {
        SyncOptions {
            users: Some(s.users),
            groups: Some(s.groups),
            groups_without_email: Some(s.groups_without_email),
            group_prefixes: Some(s.group_prefixes.clone()),
            allowed_groups: Some(s.allowed_groups.clone()),
            denied_groups: Some(s.denied_groups.clone()),
            subdomains: Some(s.subdomains.clone()),
            all_subdomains: Some(s.all_subdomains),
            inactive_users: Some(s.inactive_users),
            deletion_threshold: Some(s.deletion_threshold),
            interval: Some(s.interval_secs),
            full_interval: Some(s.full_interval_secs),
        }
    }
}

impl SyncSettings {
    /// The effective settings of one layer stack: each option from `options`, else its
    /// default.
    pub fn from_options(options: &SyncOptions) -> SyncSettings {
        let d = SyncSettings::default();
        let o = options.clone();
        SyncSettings {
            users: o.users.unwrap_or(d.users),
            groups: o.groups.unwrap_or(d.groups),
            groups_without_email: o.groups_without_email.unwrap_or(d.groups_without_email),
            group_prefixes: o.group_prefixes.unwrap_or(d.group_prefixes),
            allowed_groups: o.allowed_groups.unwrap_or(d.allowed_groups),
            denied_groups: o.denied_groups.unwrap_or(d.denied_groups),
            subdomains: o.subdomains.unwrap_or(d.subdomains),
            all_subdomains: o.all_subdomains.unwrap_or(d.all_subdomains),
            inactive_users: o.inactive_users.unwrap_or(d.inactive_users),
            deletion_threshold: o.deletion_threshold.unwrap_or(d.deletion_threshold),
            interval_secs: o.interval.unwrap_or(d.interval_secs),
            full_interval_secs: o.full_interval.unwrap_or(d.full_interval_secs),
        }
    }

    /// Rules between options: a full reconciliation cannot come more often than the
    /// schedule runs at all.
    pub fn check(&self) -> Result<(), SettingsError> {
        if self.interval_secs != 0 && self.full_interval_secs < self.interval_secs {
            return Err(SettingsError::new(
                "full_interval",
                format!(
                    "must be at least interval ({} s), got {} s",
                    self.interval_secs, self.full_interval_secs
                ),
            ));
        }
        Ok(())
    }
}

/// A list option: bounded, and no blank or padded entries (they would never match).
fn check_list(key: &str, list: &[String]) -> Result<(), SettingsError> {
    if list.len() > MAX_LIST_LEN {
        return Err(SettingsError::new(
            key,
            format!("at most {MAX_LIST_LEN} entries (got {})", list.len()),
        ));
    }
    for (i, entry) in list.iter().enumerate() {
        let key = format!("{key}[{i}]");
        if entry.trim().is_empty() {
            return Err(SettingsError::new(key, "must not be empty"));
        }
        if entry.trim() != entry {
            return Err(SettingsError::new(
                key,
                "must not start or end with whitespace",
            ));
        }
        if entry.chars().count() > MAX_ENTRY_LEN {
            return Err(SettingsError::new(
                key,
                format!("at most {MAX_ENTRY_LEN} characters"),
            ));
        }
    }
    Ok(())
}

/// A domain name such as `eu.example.com`: labels of letters, digits and `-`.
fn check_domain(key: &str, domain: &str) -> Result<(), SettingsError> {
    let ok = domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(SettingsError::new(
            key,
            format!("`{domain}` is not a domain name such as eu.example.com"),
        ))
    }
}

fn check_threshold(t: &DeletionThreshold) -> Result<(), SettingsError> {
    if t.count.is_none() && t.percent.is_none() {
        return Err(SettingsError::new(
            "deletion_threshold",
            "set count, percent or both (e.g. { count = 500, percent = 10 })",
        ));
    }
    if let Some(p) = t.percent
        && p > 100
    {
        return Err(SettingsError::new(
            "deletion_threshold.percent",
            format!("must be between 0 and 100 (got {p})"),
        ));
    }
    Ok(())
}

fn check_interval(key: &str, secs: u64) -> Result<(), SettingsError> {
    if (MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(SettingsError::new(
            key,
            format!(
                "must be between {MIN_INTERVAL_SECS} and {MAX_INTERVAL_SECS} seconds (got {secs}){}",
                if key == "interval" {
                    ", or 0 for no schedule"
                } else {
                    ""
                }
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<SyncOptions, SettingsError> {
        match value {
            Value::Object(map) => SyncOptions::from_map(&map),
            _ => panic!("not an object"),
        }
    }

    fn error_key(value: Value) -> String {
        parse(value).unwrap_err().key
    }

    #[test]
    fn every_option_parses() {
        let o = parse(json!({
            "users": false, "groups": true, "groups_without_email": true,
            "group_prefixes": ["eng-"], "allowed_groups": ["VPN Users"],
            "denied_groups": ["0000-1"], "subdomains": ["eu.example.com"],
            "all_subdomains": true, "inactive_users": "show",
            "deletion_threshold": {"count": 5}, "interval": 0, "full_interval": 3600
        }))
        .unwrap();
        let s = SyncSettings::from_options(&o);
        assert!(!s.users && s.groups_without_email && s.all_subdomains);
        assert_eq!(s.inactive_users, InactiveUsers::Show);
        assert_eq!(s.deletion_threshold.count, Some(5));
        assert_eq!(s.deletion_threshold.percent, None);
        assert_eq!((s.interval_secs, s.full_interval_secs), (0, 3600));
        assert_eq!(o.to_map().len(), SyncOptions::KEYS.len());
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(error_key(json!({"nope": 1})), "nope");
        assert_eq!(error_key(json!({"users": "yes"})), "users");
        assert_eq!(error_key(json!({"users": null})), "users");
        assert_eq!(
            error_key(json!({"inactive_users": "maybe"})),
            "inactive_users"
        );
        assert_eq!(
            error_key(json!({"group_prefixes": ["a", "b", " "]})),
            "group_prefixes[2]"
        );
        assert_eq!(
            error_key(json!({"allowed_groups": [" x"]})),
            "allowed_groups[0]"
        );
        assert_eq!(
            error_key(json!({"subdomains": ["ok.example.com", "bad_domain"]})),
            "subdomains[1]"
        );
        assert_eq!(error_key(json!({"interval": 5})), "interval");
        assert_eq!(error_key(json!({"interval": -1})), "interval");
        assert_eq!(error_key(json!({"full_interval": 0})), "full_interval");
        assert_eq!(
            error_key(json!({"deletion_threshold": {}})),
            "deletion_threshold"
        );
        assert_eq!(
            error_key(json!({"deletion_threshold": {"percent": 101}})),
            "deletion_threshold.percent"
        );
        assert_eq!(
            error_key(json!({"deletion_threshold": {"count": 1, "extra": 2}})),
            "deletion_threshold"
        );
    }

    #[test]
    fn full_interval_below_interval_is_refused() {
        let s = SyncSettings {
            interval_secs: 600,
            full_interval_secs: 300,
            ..SyncSettings::default()
        };
        assert_eq!(s.check().unwrap_err().key, "full_interval");
        let no_schedule = SyncSettings {
            interval_secs: 0,
            ..s
        };
        assert!(no_schedule.check().is_ok());
        assert!(SyncSettings::default().check().is_ok());
    }

    #[test]
    fn layers_overlay_and_unset() {
        let lower = parse(json!({"users": false, "interval": 30})).unwrap();
        let upper = parse(json!({"interval": 120})).unwrap();
        let both = lower.overlaid(upper);
        assert_eq!((both.users, both.interval), (Some(false), Some(120)));
        assert!(both.is_set("interval"));
        let cleared = both.without("interval");
        assert!(!cleared.is_set("interval"));
        assert_eq!(cleared.users, Some(false));
        let all = SyncOptions::from(&SyncSettings::default());
        assert_eq!(SyncSettings::from_options(&all), SyncSettings::default());
    }
}
