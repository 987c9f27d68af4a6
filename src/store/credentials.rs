//! Delegated authorizations: one record per (slot, purpose) holding the admin's refresh
//! token, sealed (see [`crate::secrets`]); the store never sees it in plaintext.
//!
//! Why in the store: the refresh token rotates on every use and the newest one must
//! survive a restart, so each rotation is written (and flushed) before the old token is
//! forgotten.

use super::{Store, StoreError, codec};
use crate::model::{AuthorizationInfo, CredentialPurpose, CredentialSlot, now};
use serde::{Deserialize, Serialize};

/// Tree of authorizations, keyed `slot/purpose`.
const TREE: &str = "authorizations";

/// An authorization as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAuthorization {
    /// Unique per authorization: a re-authorization of the same slot and purpose gets a
    /// new one, so updates meant for the replaced record are not applied to it.
    pub id: String,
    pub info: AuthorizationInfo,
    /// The refresh token, sealed with context [`sealing_context`].
    pub sealed_refresh_token: String,
}

/// The AEAD context binding a sealed token to its record.
pub fn sealing_context(slot: CredentialSlot, purpose: CredentialPurpose) -> String {
    format!("refresh_token/{}", key_text(slot, purpose))
}

fn key_text(slot: CredentialSlot, purpose: CredentialPurpose) -> String {
    let s = serde_json::to_value(slot).ok();
    let p = serde_json::to_value(purpose).ok();
    format!(
        "{}/{}",
        s.as_ref().and_then(|v| v.as_str()).unwrap_or("?"),
        p.as_ref().and_then(|v| v.as_str()).unwrap_or("?")
    )
}

impl Store {
    fn authorizations(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.handles()?.db.open_tree(TREE)?)
    }

    /// Saves (replaces) an authorization and flushes it to disk.
    pub fn put_authorization(&self, record: &StoredAuthorization) -> Result<(), StoreError> {
        let tree = self.authorizations()?;
        let key = key_text(record.info.slot, record.info.purpose);
        tree.insert(key.as_bytes(), codec::encode(TREE, record)?)?;
        tree.flush()?;
        Ok(())
    }

    /// The authorization in `slot` for `purpose`, if any.
    pub fn get_authorization(
        &self,
        slot: CredentialSlot,
        purpose: CredentialPurpose,
    ) -> Result<Option<StoredAuthorization>, StoreError> {
        let tree = self.authorizations()?;
        tree.get(key_text(slot, purpose).as_bytes())?
            .map(|v| codec::decode(TREE, &v))
            .transpose()
    }

    /// Every authorization, ordered by slot then purpose.
    pub fn list_authorizations(&self) -> Result<Vec<StoredAuthorization>, StoreError> {
        let mut all: Vec<StoredAuthorization> = super::decode_all(&self.authorizations()?, TREE)?;
        all.sort_by_key(|a| (a.info.slot, a.info.purpose));
        Ok(all)
    }

    /// Removes an authorization; `NotFound` when there was none.
    pub fn remove_authorization(
        &self,
        slot: CredentialSlot,
        purpose: CredentialPurpose,
    ) -> Result<(), StoreError> {
        let tree = self.authorizations()?;
        let key = key_text(slot, purpose);
        if tree.remove(key.as_bytes())?.is_none() {
            return Err(StoreError::NotFound(format!("authorization {key}")));
        }
        tree.flush()?;
        Ok(())
    }

    /// Applies `change` to the authorization `id` (a re-authorization in between wins: then
    /// nothing is written) and flushes. Returns whether it was applied.
    pub fn update_authorization(
        &self,
        slot: CredentialSlot,
        purpose: CredentialPurpose,
        id: &str,
        change: impl Fn(&mut StoredAuthorization),
    ) -> Result<bool, StoreError> {
        let tree = self.authorizations()?;
        let key = key_text(slot, purpose);
        let mut applied = false;
        tree.fetch_and_update(key.as_bytes(), |old| {
            let old = old?;
            let mut record: StoredAuthorization = codec::decode(TREE, old).ok()?;
            if record.id != id {
                return Some(old.to_vec());
            }
            change(&mut record);
            applied = true;
            codec::encode(TREE, &record)
                .ok()
                .or_else(|| Some(old.to_vec()))
        })?;
        tree.flush()?;
        Ok(applied)
    }
}

/// A new record for a just-redeemed authorization.
pub fn new_authorization(
    slot: CredentialSlot,
    purpose: CredentialPurpose,
    who: String,
    sealed_refresh_token: String,
) -> StoredAuthorization {
    StoredAuthorization {
        id: uuid::Uuid::new_v4().to_string(),
        info: AuthorizationInfo {
            slot,
            purpose,
            who,
            authorized_at: now(),
            validated_at: None,
            last_error: None,
        },
        sealed_refresh_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorizations_round_trip_update_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = new_authorization(
            CredentialSlot::Backup,
            CredentialPurpose::Users,
            "a@x".into(),
            "sealed.v1.x".into(),
        );
        store.put_authorization(&rec).unwrap();
        assert_eq!(
            sealing_context(CredentialSlot::Backup, CredentialPurpose::Users),
            "refresh_token/backup/users"
        );
        let got = store
            .get_authorization(CredentialSlot::Backup, CredentialPurpose::Users)
            .unwrap()
            .unwrap();
        assert_eq!(got, rec);
        let at = rec.id.clone();
        assert!(
            store
                .update_authorization(CredentialSlot::Backup, CredentialPurpose::Users, &at, |r| {
                    r.sealed_refresh_token = "sealed.v1.y".into()
                })
                .unwrap()
        );
        assert!(
            !store
                .update_authorization(
                    CredentialSlot::Backup,
                    CredentialPurpose::Users,
                    "another-id",
                    |r| { r.sealed_refresh_token = "sealed.v1.z".into() }
                )
                .unwrap()
        );
        let all = store.list_authorizations().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].sealed_refresh_token, "sealed.v1.y");
        store
            .remove_authorization(CredentialSlot::Backup, CredentialPurpose::Users)
            .unwrap();
        assert!(matches!(
            store.remove_authorization(CredentialSlot::Backup, CredentialPurpose::Users),
            Err(StoreError::NotFound(_))
        ));
    }
}
