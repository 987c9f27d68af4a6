//! The effective sync settings: config file over admin-saved values over defaults.
//!
//! Why a shared handle: the worker reads the settings at the start of every run and after
//! every scheduled tick, and the admin API changes them; both hold a clone of one
//! [`SettingsSource`], so a change applies to the next run without a restart. Options the
//! config file sets are read-only here (the file is the source of truth for them).

use super::{SettingsError, SyncOptions, SyncSettings};
use crate::store::{Store, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where an option's effective value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionSource {
    /// The `[sync]` table of the config file (read-only at run time).
    File,
    /// Saved by an admin through the API.
    Admin,
    /// Neither: the documented default.
    Default,
}

/// One option as the API and CLI show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptionView {
    pub value: Value,
    pub source: OptionSource,
    /// False when the config file sets it.
    pub editable: bool,
}

/// Every option with its value and origin, plus the effective settings as one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettingsView {
    pub options: BTreeMap<String, OptionView>,
}

/// Why an update was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The body names an unknown option, has a wrong type or an invalid value.
    #[error("{0}")]
    Invalid(SettingsError),
    /// The option is managed by the config file.
    #[error("{key}: is set in the config file ([sync] {key}) and cannot be changed at run time")]
    FileManaged { key: String },
    /// Saving the new values failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Handle on the layered settings. Cheap to clone.
#[derive(Clone)]
pub struct SettingsSource {
    inner: Arc<Inner>,
}

struct Inner {
    file: SyncOptions,
    /// What admins saved; mirrors the store. Held only to read or swap the value, so the
    /// worker never waits on a store write.
    saved: Mutex<SyncOptions>,
    /// Serialises updates (read, validate, persist, swap), so two concurrent changes
    /// cannot lose one another.
    updating: Mutex<()>,
    /// Where `saved` is persisted; `None` for a fixed, in-memory source.
    store: Option<Store>,
}

impl SettingsSource {
    /// The file's options over what the store holds.
    pub fn open(file: SyncOptions, store: &Store) -> Result<SettingsSource, StoreError> {
        let saved = store.load_sync_options()?;
        Ok(SettingsSource {
            inner: Arc::new(Inner {
                file,
                saved: Mutex::new(saved),
                updating: Mutex::new(()),
                store: Some(store.clone()),
            }),
        })
    }

    /// Fixed settings, every option read-only and nothing persisted (tests, embedding).
    pub fn fixed(settings: &SyncSettings) -> SettingsSource {
        SettingsSource {
            inner: Arc::new(Inner {
                file: SyncOptions::from(settings),
                saved: Mutex::new(SyncOptions::default()),
                updating: Mutex::new(()),
                store: None,
            }),
        }
    }

    fn saved(&self) -> MutexGuard<'_, SyncOptions> {
        // The guarded value is replaced whole, so a poisoned lock holds a consistent one.
        self.inner
            .saved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The settings the next run uses.
    pub fn current(&self) -> SyncSettings {
        effective(&self.inner.file, &self.saved())
    }

    /// Every option: its effective value, where it comes from, whether it is editable.
    pub fn view(&self) -> SettingsView {
        let saved = self.saved().clone();
        let values = SyncOptions::from(&effective(&self.inner.file, &saved)).to_map();
        let options = SyncOptions::KEYS
            .iter()
            .map(|key| {
                let source = if self.inner.file.is_set(key) {
                    OptionSource::File
                } else if saved.is_set(key) {
                    OptionSource::Admin
                } else {
                    OptionSource::Default
                };
                let view = OptionView {
                    value: values.get(*key).cloned().unwrap_or(Value::Null),
                    source,
                    editable: source != OptionSource::File,
                };
                (key.to_string(), view)
            })
            .collect();
        SettingsView { options }
    }

    /// Applies an admin's change: a JSON object of options; `null` resets an option to
    /// its default. File-managed options are refused, values are validated exactly as in
    /// the file, and the result is persisted before it takes effect. Returns the new
    /// effective settings; on any error nothing changed.
    pub fn update(&self, patch: &Map<String, Value>) -> Result<SyncSettings, UpdateError> {
        if patch.is_empty() {
            return Err(UpdateError::Invalid(SettingsError::new(
                "(body)",
                format!(
                    "give at least one option to change; the options are {}",
                    SyncOptions::KEYS.join(", ")
                ),
            )));
        }
        let mut values = Map::new();
        let mut resets = Vec::new();
        for (key, value) in patch {
            if value.is_null() && SyncOptions::KEYS.contains(&key.as_str()) {
                resets.push(key.as_str());
            } else {
                values.insert(key.clone(), value.clone());
            }
        }
        let changes = SyncOptions::from_map(&values).map_err(UpdateError::Invalid)?;
        if let Some(key) = patch.keys().find(|k| self.inner.file.is_set(k)) {
            return Err(UpdateError::FileManaged { key: key.clone() });
        }
        // The guarded value is `()`, so a poisoned lock carries no broken state.
        let _updating = self
            .inner
            .updating
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = self.saved().overlaid(changes);
        for key in resets {
            next = next.without(key);
        }
        let settings = SyncSettings::from_options(&next.overlaid(self.inner.file.clone()));
        settings.check().map_err(UpdateError::Invalid)?;
        if let Some(store) = &self.inner.store {
            store.save_sync_options(&next)?;
        }
        *self.saved() = next;
        Ok(settings)
    }
}

/// File over saved over defaults. A saved value that conflicts with a newer file value
/// (full interval below the interval) is lifted to the interval rather than failing.
fn effective(file: &SyncOptions, saved: &SyncOptions) -> SyncSettings {
    let mut s = SyncSettings::from_options(&saved.overlaid(file.clone()));
    if s.check().is_err() {
        s.full_interval_secs = s.interval_secs;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::settings::InactiveUsers;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn source(file: Value, dir: &std::path::Path) -> (SettingsSource, Store) {
        let store = Store::open(dir).unwrap();
        let file = SyncOptions::from_map(&map(file)).unwrap();
        (SettingsSource::open(file, &store).unwrap(), store)
    }

    #[test]
    fn file_over_saved_over_default_with_sources() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _store) = source(json!({"groups_without_email": true}), dir.path());
        s.update(&map(json!({"interval": 120, "inactive_users": "show"})))
            .unwrap();
        let current = s.current();
        assert!(current.groups_without_email);
        assert_eq!(current.interval_secs, 120);
        assert_eq!(current.inactive_users, InactiveUsers::Show);
        let view = s.view();
        let get = |k: &str| view.options.get(k).unwrap().clone();
        assert_eq!(get("groups_without_email").source, OptionSource::File);
        assert!(!get("groups_without_email").editable);
        assert_eq!(get("interval").source, OptionSource::Admin);
        assert_eq!(get("interval").value, json!(120));
        assert_eq!(get("users").source, OptionSource::Default);
        assert_eq!(view.options.len(), SyncOptions::KEYS.len());
    }

    #[test]
    fn file_managed_and_invalid_changes_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (s, store) = source(json!({"groups": false}), dir.path());
        let before = s.current();
        let err = s
            .update(&map(json!({"users": false, "groups": true})))
            .unwrap_err();
        assert!(matches!(&err, UpdateError::FileManaged { key } if key == "groups"));
        assert!(err.to_string().contains("config file"), "{err}");
        for bad in [
            json!({"users": "no"}),
            json!({"nope": true}),
            json!({"interval": 3}),
            json!({"interval": 100000, "full_interval": 50}),
            json!({}),
        ] {
            let result = s.update(&map(bad.clone()));
            assert!(
                matches!(result, Err(UpdateError::Invalid(_))),
                "{bad}: {result:?}"
            );
        }
        assert_eq!(s.current(), before);
        assert_eq!(store.load_sync_options().unwrap(), SyncOptions::default());
    }

    #[test]
    fn saved_values_survive_a_reopen_and_null_resets() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, _store) = source(json!({}), dir.path());
            s.update(&map(
                json!({"allowed_groups": ["VPN Users"], "users": false}),
            ))
            .unwrap();
        }
        let (s, _store) = source(json!({}), dir.path());
        assert_eq!(s.current().allowed_groups, vec!["VPN Users".to_string()]);
        s.update(&map(json!({"allowed_groups": null}))).unwrap();
        assert!(s.current().allowed_groups.is_empty());
        assert!(!s.current().users);
        assert_eq!(
            s.view().options.get("allowed_groups").unwrap().source,
            OptionSource::Default
        );
    }

    #[test]
    fn fixed_sources_are_read_only() {
        let s = SettingsSource::fixed(&SyncSettings::default());
        assert!(matches!(
            s.update(&map(json!({"users": false}))),
            Err(UpdateError::FileManaged { .. })
        ));
        assert_eq!(s.current(), SyncSettings::default());
    }
}
