//! The persisted Graph mirror and delta-sync state, committed together with the directory.
//!
//! Why: a delta run only carries changes, so the next run needs the tenant as Graph last
//! described it (raw users, raw groups with their direct members, domains; before scoping)
//! and the delta links to continue from. Both are written in the *same* sled transaction as
//! the directory records and the run record ([`Store::commit_sync_mirrored`]), so a crash
//! can never leave a delta link that points past data that was not committed (changes would
//! be lost for good) or data without the link that produced it.
//!
//! Layout: `mirror_users` (object id → [`EntraUser`]), `mirror_groups` (object id →
//! [`EntraGroup`] with direct members), `mirror_meta` (`state` → [`DeltaState`],
//! `domains` → the domain list).

use super::commit::TxResult;
use super::{CommitGuard, Store, StoreError, codec, commit, decode_all, trees, tx_error};
use crate::config::DirectoryConfig;
use crate::model::{
    ChangeCounts, DirectoryData, EntraDomain, EntraGroup, EntraUser, ObjectId, RawTenant, SyncRun,
    TenantSnapshot, UnixTime,
};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::TransactionalTree;

/// Tree names of the mirror.
pub(crate) const MIRROR_USERS: &str = "mirror_users";
pub(crate) const MIRROR_GROUPS: &str = "mirror_groups";
pub(crate) const MIRROR_META: &str = "mirror_meta";

const META_STATE: &[u8] = b"state";
const META_DOMAINS: &[u8] = b"domains";

/// Where delta sync stands: the links to continue from and when the tenant was last read
/// in full. Links are opaque Graph URLs (they hold no credential).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaState {
    /// The `@odata.deltaLink` that ended the last committed `/users/delta` round.
    pub users_link: Option<String>,
    /// The same for `/groups/delta`.
    pub groups_link: Option<String>,
    /// When the last full round was committed.
    pub last_full: Option<UnixTime>,
    /// The tenant and Graph endpoint the links belong to (`tenant_id@graph_url`): links of
    /// another tenant or endpoint are never followed, a full run starts over instead.
    #[serde(default)]
    pub source: Option<String>,
}

impl DeltaState {
    /// True when both delta links are known and belong to `source` (the tenant and Graph
    /// endpoint, `sync::delta::source_of`), so a delta run is possible.
    pub fn has_links(&self, source: &str) -> bool {
        self.users_link.is_some()
            && self.groups_link.is_some()
            && self.source.as_deref() == Some(source)
    }
}

/// The mirror as stored: the raw tenant (ordered by object id) and the delta state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredMirror {
    pub tenant: RawTenant,
    pub state: DeltaState,
}

/// What one run changes in the mirror: only changed and removed objects (a delta run of
/// 100 changes writes about 100 records), the domain list and the new delta state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorUpdate {
    /// Users added or changed (their whole new state).
    pub users: Vec<EntraUser>,
    /// Users gone from the tenant (soft or hard deleted).
    pub removed_users: Vec<ObjectId>,
    /// Groups added or changed, with all their direct members.
    pub groups: Vec<EntraGroup>,
    pub removed_groups: Vec<ObjectId>,
    /// The whole domain list (it is small and read in full every run).
    pub domains: Vec<EntraDomain>,
    /// The delta state to continue from after this run.
    pub state: DeltaState,
}

impl Store {
    /// [`Store::commit_sync_guarded`] plus the mirror update, in one sled transaction: the
    /// directory records, the run record, the changed mirror objects and the new delta
    /// links are all committed, or none of them (also when `guard` refuses).
    ///
    /// Also returns the directory as committed (what [`Store::load_directory`] would read
    /// right after): the commit decodes every stored record anyway, so the sync publishes
    /// from it without re-reading the whole store.
    pub fn commit_sync_mirrored(
        &self,
        tenant: &TenantSnapshot,
        rules: &DirectoryConfig,
        run: &SyncRun,
        mirror: &MirrorUpdate,
        guard: CommitGuard<'_>,
    ) -> Result<(ChangeCounts, DirectoryData), StoreError> {
        let _guard = self.lock_directory();
        self.handles.note_full_read();
        // Unknown until this commit succeeds (it rebuilds them from every record).
        self.put_digests(None);
        let h = self.handles()?;
        let t = &h.trees;
        let existing = commit::Existing::read(&t.users, &t.groups, &t.domains)?;
        let encoded = Encoded::new(mirror)?;
        commit_with_mirror(t, &encoded, |tx| {
            commit::apply_collect(tx, &existing, tenant, rules, run, guard)
        })
        .and_then(|(counts, written)| {
            // Domains are replaced by the tenant's; the tree iterates them by name.
            let mut domains = tenant.domains.clone();
            domains.sort_by(|a, b| a.id.as_bytes().cmp(b.id.as_bytes()));
            domains.dedup_by(|a, b| a.id == b.id);
            let data = DirectoryData {
                users: written.users,
                groups: written.groups,
                domains,
                binders: decode_all(&t.binders, trees::BINDERS)?,
            };
            self.put_digests(Some(super::incremental::Digests::of(
                &data.users,
                &data.groups,
            )));
            Ok((counts, data))
        })
    }

    /// Records a run that changed nothing but the delta links (a delta run of a quiet
    /// tenant): the new links, the domain list and the run record, in one transaction.
    /// The caller guarantees `update` carries no object change.
    pub fn commit_delta_state(
        &self,
        run: &SyncRun,
        update: &MirrorUpdate,
    ) -> Result<(), StoreError> {
        let _guard = self.lock_directory();
        let h = self.handles()?;
        let t = &h.trees;
        let domains = codec::encode(MIRROR_META, &update.domains)?;
        let state = codec::encode(MIRROR_META, &update.state)?;
        let record = codec::encode(trees::RUNS, run)?;
        (&t.runs, &t.mirror_meta)
            .transaction(|(runs, meta)| {
                meta.insert(META_DOMAINS, domains.clone())?;
                meta.insert(META_STATE, state.clone())?;
                runs.insert(&codec::run_key(run.id), record.clone())?;
                runs.flush();
                Ok(())
            })
            .map_err(tx_error)
    }

    /// The mirror and delta state the last committed run left (empty before the first).
    pub fn load_mirror(&self) -> Result<StoredMirror, StoreError> {
        let _guard = self.lock_directory();
        self.handles.note_full_read();
        let h = self.handles()?;
        let t = &h.trees;
        let state = match t.mirror_meta.get(META_STATE)? {
            Some(bytes) => codec::decode(MIRROR_META, &bytes)?,
            None => DeltaState::default(),
        };
        let domains = match t.mirror_meta.get(META_DOMAINS)? {
            Some(bytes) => codec::decode(MIRROR_META, &bytes)?,
            None => Vec::new(),
        };
        Ok(StoredMirror {
            tenant: RawTenant {
                users: decode_all(&t.mirror_users, MIRROR_USERS)?,
                groups: decode_all(&t.mirror_groups, MIRROR_GROUPS)?,
                domains,
            },
            state,
        })
    }
}

/// One transaction over the directory trees and the mirror's: `apply` writes the directory
/// (it may run more than once, as sled retries conflicting transactions), then `encoded` is
/// written beside it — so the mirror and its delta links never disagree with the directory.
/// Shared by the full commit (here) and the delta commit (`incremental`).
pub(super) fn commit_with_mirror<T>(
    t: &super::Trees,
    encoded: &Encoded<'_>,
    apply: impl Fn(&commit::TxTrees<'_>) -> TxResult<T>,
) -> Result<T, StoreError> {
    let trees = (
        &t.users,
        &t.groups,
        &t.domains,
        &t.alloc,
        &t.runs,
        &t.mirror_users,
        &t.mirror_groups,
        &t.mirror_meta,
    );
    trees
        .transaction(
            |(users, groups, domains, alloc, runs, m_users, m_groups, m_meta)| {
                let tx = commit::TxTrees {
                    users,
                    groups,
                    domains,
                    alloc,
                    runs,
                };
                let done = apply(&tx)?;
                encoded.write(m_users, m_groups, m_meta)?;
                Ok(done)
            },
        )
        .map_err(tx_error)
}

/// A mirror update encoded before the transaction (sled may run the closure more than
/// once, and encoding is the costly part).
pub(super) struct Encoded<'a> {
    users: Vec<(&'a [u8], Vec<u8>)>,
    groups: Vec<(&'a [u8], Vec<u8>)>,
    removed_users: &'a [ObjectId],
    removed_groups: &'a [ObjectId],
    domains: Vec<u8>,
    state: Vec<u8>,
}

impl<'a> Encoded<'a> {
    pub(super) fn new(update: &'a MirrorUpdate) -> Result<Encoded<'a>, StoreError> {
        let users = update
            .users
            .iter()
            .map(|u| Ok((u.id.as_bytes(), codec::encode(MIRROR_USERS, u)?)))
            .collect::<Result<_, StoreError>>()?;
        let groups = update
            .groups
            .iter()
            .map(|g| Ok((g.id.as_bytes(), codec::encode(MIRROR_GROUPS, g)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(Encoded {
            users,
            groups,
            removed_users: &update.removed_users,
            removed_groups: &update.removed_groups,
            domains: codec::encode(MIRROR_META, &update.domains)?,
            state: codec::encode(MIRROR_META, &update.state)?,
        })
    }

    pub(super) fn write(
        &self,
        users: &TransactionalTree,
        groups: &TransactionalTree,
        meta: &TransactionalTree,
    ) -> TxResult<()> {
        for id in self.removed_users {
            users.remove(id.as_bytes())?;
        }
        for id in self.removed_groups {
            groups.remove(id.as_bytes())?;
        }
        for (key, value) in &self.users {
            users.insert(*key, value.clone())?;
        }
        for (key, value) in &self.groups {
            groups.insert(*key, value.clone())?;
        }
        meta.insert(META_DOMAINS, self.domains.clone())?;
        meta.insert(META_STATE, self.state.clone())?;
        // No flush of its own: `commit::apply` flushes the run record, and sled flushes the
        // whole transaction (this included) together.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoginSource;
    use crate::model::{SyncOutcome, SyncTrigger, UserStatus};

    fn rules(uid_max: u32) -> DirectoryConfig {
        DirectoryConfig {
            login_source: LoginSource::Upn,
            uid_number_min: 1000,
            uid_number_max: uid_max,
            gid_number_min: 5000,
            gid_number_max: 5999,
            home_directory: "/home/{uid}".into(),
            login_shell: "/bin/bash".into(),
            show_inactive_users: false,
        }
    }

    fn user(id: &str) -> EntraUser {
        EntraUser {
            id: id.into(),
            user_principal_name: format!("{id}@example.com"),
            account_enabled: true,
            ..EntraUser::default()
        }
    }

    fn run(id: u64) -> SyncRun {
        SyncRun {
            id,
            started: 1,
            finished: Some(2),
            outcome: SyncOutcome::Succeeded,
            ..SyncRun::starting(SyncTrigger::Manual)
        }
    }

    /// A snapshot of `users` (all active) and the mirror update that goes with it.
    fn commit(
        store: &Store,
        users: &[&str],
        link: &str,
        uid_max: u32,
        id: u64,
    ) -> Result<(ChangeCounts, DirectoryData), StoreError> {
        let snapshot = TenantSnapshot {
            users: users
                .iter()
                .map(|u| (user(u), UserStatus::Active))
                .collect(),
            ..TenantSnapshot::default()
        };
        let update = MirrorUpdate {
            users: users.iter().map(|u| user(u)).collect(),
            state: DeltaState {
                users_link: Some(format!("{link}-users")),
                groups_link: Some(format!("{link}-groups")),
                last_full: Some(7),
                source: None,
            },
            ..MirrorUpdate::default()
        };
        store.commit_sync_mirrored(&snapshot, &rules(uid_max), &run(id), &update, &|_| Ok(()))
    }

    #[test]
    fn mirror_and_links_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.load_mirror().unwrap(), StoredMirror::default());
            commit(&store, &["a", "b"], "L1", 1999, 1).unwrap();
            let removal = MirrorUpdate {
                removed_users: vec!["b".into()],
                state: DeltaState {
                    users_link: Some("L2-users".into()),
                    groups_link: Some("L2-groups".into()),
                    last_full: Some(7),
                    source: None,
                },
                ..MirrorUpdate::default()
            };
            let snapshot = TenantSnapshot {
                users: vec![(user("a"), UserStatus::Active)],
                ..TenantSnapshot::default()
            };
            store
                .commit_sync_mirrored(&snapshot, &rules(1999), &run(2), &removal, &|_| Ok(()))
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let mirror = store.load_mirror().unwrap();
        assert_eq!(mirror.tenant.users, vec![user("a")]);
        assert_eq!(mirror.state.users_link.as_deref(), Some("L2-users"));
        assert_eq!(mirror.state.last_full, Some(7));
    }

    #[test]
    fn the_returned_directory_is_what_the_store_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (_, data) = commit(&store, &["c", "a", "b"], "L1", 1999, 1).unwrap();
        assert_eq!(data, store.load_directory().unwrap());
        // b leaves (marked deleted, still stored), d arrives, a is unchanged.
        let (counts, data) = commit(&store, &["d", "a", "c"], "L2", 1999, 2).unwrap();
        assert_eq!((counts.users_added, counts.users_deactivated), (1, 1));
        assert_eq!(data, store.load_directory().unwrap());
        assert_eq!(data.users.len(), 4);

        // Groups (one unchanged, one new, one gone) and domains in no particular order.
        let group = |id: &str| crate::model::EntraGroup {
            id: id.into(),
            display_name: id.to_uppercase(),
            ..crate::model::EntraGroup::default()
        };
        let domain = |id: &str| EntraDomain {
            id: id.into(),
            ..EntraDomain::default()
        };
        let mut snapshot = TenantSnapshot {
            users: vec![(user("a"), UserStatus::Active)],
            groups: vec![group("y"), group("x"), group("z")],
            domains: vec![domain("b.example"), domain("a.example")],
            ..TenantSnapshot::default()
        };
        let update = MirrorUpdate::default();
        let (_, data) = store
            .commit_sync_mirrored(&snapshot, &rules(1999), &run(3), &update, &|_| Ok(()))
            .unwrap();
        assert_eq!(data, store.load_directory().unwrap());
        snapshot.groups = vec![group("z"), group("w"), group("x")];
        let (counts, data) = store
            .commit_sync_mirrored(&snapshot, &rules(1999), &run(4), &update, &|_| Ok(()))
            .unwrap();
        assert_eq!((counts.groups_added, counts.groups_removed), (1, 1));
        assert_eq!(data, store.load_directory().unwrap());
    }

    #[test]
    fn a_quiet_run_writes_only_links_and_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        commit(&store, &["a"], "L1", 1999, 1).unwrap();
        let (data, mirror) = (
            store.load_directory().unwrap(),
            store.load_mirror().unwrap(),
        );
        let update = MirrorUpdate {
            state: DeltaState {
                users_link: Some("L2-users".into()),
                ..mirror.state.clone()
            },
            ..MirrorUpdate::default()
        };
        store.commit_delta_state(&run(2), &update).unwrap();
        assert_eq!(store.load_directory().unwrap(), data);
        let after = store.load_mirror().unwrap();
        assert_eq!(after.tenant.users, mirror.tenant.users);
        assert_eq!(after.state.users_link.as_deref(), Some("L2-users"));
        assert_eq!(store.get_run(2).unwrap(), Some(run(2)));
    }

    #[test]
    fn a_failed_commit_keeps_the_old_links_and_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        commit(&store, &["a"], "L1", 1001, 1).unwrap();
        let before = store.load_mirror().unwrap();
        // Two new users, one uid number left: the directory part aborts the transaction.
        let err = commit(&store, &["a", "b", "c"], "L2", 1001, 2).unwrap_err();
        assert!(matches!(err, StoreError::Exhausted(_)), "{err}");
        assert_eq!(store.load_mirror().unwrap(), before, "links not advanced");
        assert!(store.get_run(2).unwrap().is_none());
    }
}
