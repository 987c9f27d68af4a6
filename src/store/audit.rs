//! The audit trail of admin actions: who changed settings, triggered a sync, reset a
//! password or managed binders — kept durably, newest 10,000.
//!
//! Why in the store: an audit trail that a restart erases is not one. Keys are sled's
//! monotonic ids (big-endian), so iteration order is time order across restarts.

use super::{Store, StoreError, codec};
use crate::activity::AuditEntry;

/// The sled tree holding the trail.
const AUDIT: &str = "audit";
/// Entries kept; older ones are pruned as new ones arrive.
pub const AUDIT_HISTORY: usize = 10_000;

impl Store {
    /// Appends one entry (flushed before returning) and prunes the oldest beyond
    /// [`AUDIT_HISTORY`].
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let h = self.handles()?;
        let tree = h.db.open_tree(AUDIT)?;
        let id = h.db.generate_id()?;
        tree.insert(id.to_be_bytes(), codec::encode(AUDIT, entry)?)?;
        while tree.len() > AUDIT_HISTORY {
            match tree.pop_min()? {
                Some(_) => {}
                None => break,
            }
        }
        tree.flush()?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let h = self.handles()?;
        h.db.open_tree(AUDIT)?
            .iter()
            .values()
            .rev()
            .take(limit)
            .map(|v| codec::decode(AUDIT, &v?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trail_survives_reopen_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |action: &str| AuditEntry {
            time: 1,
            actor: "admin-token".into(),
            action: action.into(),
            target: "bob".into(),
            outcome: "ok".into(),
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store.append_audit(&entry("user.set_password")).unwrap();
            store.append_audit(&entry("binder.add")).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        store.append_audit(&entry("sync.trigger")).unwrap();
        let actions: Vec<String> = store
            .list_audit(10)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["sync.trigger", "binder.add", "user.set_password"]);
        assert_eq!(store.list_audit(1).unwrap().len(), 1);
    }
}
