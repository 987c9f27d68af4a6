//! The sync options admins saved at run time (the `meta` tree, key `sync_options`).
//!
//! Why in the store: an option an admin changed through the API must still apply after a
//! restart, and, like every other durable state, it is written through the store with the
//! versioned record encoding. Only options the admin set are kept; the rest fall through to
//! the config file and the defaults (see `sync::settings`).

use super::{Store, StoreError, codec, trees};
use crate::sync::settings::SyncOptions;

const META_SYNC_OPTIONS: &[u8] = b"sync_options";

impl Store {
    /// The options saved by admins (none set on a new store).
    pub fn load_sync_options(&self) -> Result<SyncOptions, StoreError> {
        Ok(self
            .get_decoded(&self.handles()?.trees.meta, trees::META, META_SYNC_OPTIONS)?
            .unwrap_or_default())
    }

    /// Replaces the saved options, durably (flushed before returning).
    pub fn save_sync_options(&self, options: &SyncOptions) -> Result<(), StoreError> {
        let bytes = codec::encode(trees::META, options)?;
        let h = self.handles()?;
        h.trees.meta.insert(META_SYNC_OPTIONS, bytes)?;
        h.trees.meta.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_options_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.load_sync_options().unwrap(), SyncOptions::default());
            let options = SyncOptions {
                users: Some(false),
                group_prefixes: Some(vec!["eng-".into()]),
                ..SyncOptions::default()
            };
            store.save_sync_options(&options).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let back = store.load_sync_options().unwrap();
        assert_eq!(back.users, Some(false));
        assert_eq!(back.group_prefixes, Some(vec!["eng-".to_string()]));
        assert_eq!(back.groups, None);
    }

    #[test]
    fn a_corrupt_record_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .handles()
            .unwrap()
            .trees
            .meta
            .insert(META_SYNC_OPTIONS, vec![codec::RECORD_FORMAT, b'{'])
            .unwrap();
        assert!(matches!(
            store.load_sync_options(),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
