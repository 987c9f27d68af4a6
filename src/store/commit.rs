//! Applying one sync result inside a single sled transaction.
//!
//! Why a file of its own: this is where names and numbers are allocated, and those rules
//! (stable, unique, never reused) are the promise the whole directory rests on.
//!
//! The `alloc` tree holds:
//! - `next_uid`, `next_gid`: the next uidNumber / gidNumber to hand out (only ever grows, so
//!   a number is never reused, even after its object is gone);
//! - `login/<name>` → object id: every login name ever given (users are never deleted);
//! - `cn/<lowercased cn>` → object id: every group name ever given;
//! - `group/<object id>` → [`GroupAlloc`]: a group's cn and gidNumber, kept after the
//!   group is removed so it gets both back if it re-appears.

use super::naming::{self, MAX_LOGIN_LEN};
use super::{CommitGuard, CommitPreview, StoreError, abort, codec, in_tx, trees};
use crate::config::DirectoryConfig;
use crate::model::{
    ChangeCounts, EntraGroup, EntraUser, GroupRecord, InactiveReason, ObjectId, SyncRun,
    TenantSnapshot, UserRecord, UserStatus, now,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::collections::{BTreeMap, BTreeSet};

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Prefix of login-name reservations in the `alloc` tree.
pub(super) const LOGIN_PREFIX: &str = "login/";
const NEXT_UID: &[u8] = b"next_uid";
const NEXT_GID: &[u8] = b"next_gid";
/// Upper bound on `name2`, `name3`, … attempts before giving up on a name.
const MAX_SUFFIX: u32 = 100_000;

/// A group's allocation, kept for the life of the store.
#[derive(Debug, Serialize, Deserialize)]
struct GroupAlloc {
    cn: String,
    gid_number: u32,
}

/// The object ids stored before the commit (read outside the transaction, under the
/// store's directory lock, because sled transactions cannot iterate).
pub(super) struct Existing {
    users: BTreeSet<Vec<u8>>,
    groups: BTreeSet<Vec<u8>>,
    domains: BTreeSet<Vec<u8>>,
}

impl Existing {
    pub(super) fn read(
        users: &sled::Tree,
        groups: &sled::Tree,
        domains: &sled::Tree,
    ) -> Result<Existing, StoreError> {
        let keys = |t: &sled::Tree| -> Result<BTreeSet<Vec<u8>>, StoreError> {
            t.iter().keys().map(|k| Ok(k?.to_vec())).collect()
        };
        Ok(Existing {
            users: keys(users)?,
            groups: keys(groups)?,
            domains: keys(domains)?,
        })
    }

    /// Only the stored domain names (a delta commit knows its users and groups from the
    /// digests and never iterates those trees).
    pub(super) fn domains_only(domains: &sled::Tree) -> Result<Existing, StoreError> {
        Ok(Existing {
            users: BTreeSet::new(),
            groups: BTreeSet::new(),
            domains: domains
                .iter()
                .keys()
                .map(|k| Ok(k?.to_vec()))
                .collect::<Result<_, StoreError>>()?,
        })
    }
}

/// The transactional views of the trees a commit writes.
pub(super) struct TxTrees<'a> {
    pub users: &'a TransactionalTree,
    pub groups: &'a TransactionalTree,
    pub domains: &'a TransactionalTree,
    pub alloc: &'a TransactionalTree,
    pub runs: &'a TransactionalTree,
}

/// Reads and decodes one record inside the transaction.
pub(super) fn get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    name: &'static str,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        None => Ok(None),
        Some(bytes) => in_tx(codec::decode(name, &bytes)).map(Some),
    }
}

/// Encodes and writes one record inside the transaction.
pub(super) fn put<T: Serialize>(
    tree: &TransactionalTree,
    name: &'static str,
    key: &[u8],
    value: &T,
) -> TxResult<()> {
    let bytes = in_tx(codec::encode(name, value))?;
    tree.insert(key, bytes)?;
    Ok(())
}

/// The whole commit: users, groups, domains, then the run record. Any error aborts the
/// transaction, so nothing of it is written.
pub(super) fn apply(
    tx: &TxTrees<'_>,
    existing: &Existing,
    tenant: &TenantSnapshot,
    rules: &DirectoryConfig,
    run: &SyncRun,
    guard: CommitGuard<'_>,
) -> TxResult<ChangeCounts> {
    apply_collect(tx, existing, tenant, rules, run, guard).map(|(counts, _)| counts)
}

/// Every user and group record as the commit leaves it, in the store's key order: what
/// `load_directory` would read back right after the commit. The commit decodes each
/// stored record anyway, so handing them on spares the reload a sync would do next.
#[derive(Debug, Default)]
pub(super) struct Written {
    pub users: Vec<UserRecord>,
    pub groups: Vec<GroupRecord>,
}

/// [`apply`], also returning the records as written.
pub(super) fn apply_collect(
    tx: &TxTrees<'_>,
    existing: &Existing,
    tenant: &TenantSnapshot,
    rules: &DirectoryConfig,
    run: &SyncRun,
    guard: CommitGuard<'_>,
) -> TxResult<(ChangeCounts, Written)> {
    let now = now();
    let mut counts = ChangeCounts::default();
    let mut written = Written::default();
    // User sync off: stored users stay exactly as they are (not updated, not deactivated).
    let active_users_before = if tenant.users_synced {
        apply_users(
            tx,
            existing,
            tenant,
            rules,
            now,
            &mut counts,
            &mut written.users,
        )?
    } else {
        keep_users(tx, existing, &mut written.users)?;
        0
    };
    apply_groups(
        tx,
        existing,
        tenant,
        rules,
        now,
        &mut counts,
        &mut written.groups,
    )?;
    counts.domains_changed = apply_domains(tx, existing, tenant)?;
    let preview = CommitPreview {
        counts,
        active_users_before,
        groups_before: existing.groups.len() as u64,
    };
    if let Err(reason) = guard(&preview) {
        return abort(StoreError::Held(reason));
    }
    let mut record = run.clone();
    record.changes = counts;
    put(tx.runs, trees::RUNS, &codec::run_key(run.id), &record)?;
    tx.runs.flush();
    // Key order, as a tree iterates: snapshot users and groups came sorted by id, users
    // marked deleted were appended after them.
    written
        .users
        .sort_unstable_by(|a, b| a.entra.id.as_bytes().cmp(b.entra.id.as_bytes()));
    Ok((counts, written))
}

/// With user sync off: every stored user, unchanged, for the directory as written.
fn keep_users(
    tx: &TxTrees<'_>,
    existing: &Existing,
    written: &mut Vec<UserRecord>,
) -> TxResult<()> {
    for key in &existing.users {
        if let Some(record) = get::<UserRecord>(tx.users, trees::USERS, key)? {
            written.push(record);
        }
    }
    Ok(())
}

/// Applies the users; returns how many stored users were active before.
fn apply_users(
    tx: &TxTrees<'_>,
    existing: &Existing,
    tenant: &TenantSnapshot,
    rules: &DirectoryConfig,
    now: i64,
    counts: &mut ChangeCounts,
    written: &mut Vec<UserRecord>,
) -> TxResult<u64> {
    let mut active_before = 0;
    // Sorted by object id so new users get their names (and suffixes) deterministically.
    let seen: BTreeMap<&str, &(EntraUser, UserStatus)> = tenant
        .users
        .iter()
        .map(|entry| (entry.0.id.as_str(), entry))
        .collect();
    for (id, (entra, status)) in &seen {
        match get::<UserRecord>(tx.users, trees::USERS, id.as_bytes())? {
            Some(old) => {
                active_before += u64::from(old.status.is_active());
                let (record, _) = update_user(tx, id.as_bytes(), old, entra, *status, now, counts)?;
                written.push(record);
            }
            None => {
                let record = new_user(tx, entra, *status, rules, now)?;
                put(tx.users, trees::USERS, id.as_bytes(), &record)?;
                counts.users_added += 1;
                written.push(record);
            }
        }
    }
    let deleted = UserStatus::Inactive(InactiveReason::Deleted);
    for key in &existing.users {
        let gone = std::str::from_utf8(key).map_or(true, |id| !seen.contains_key(id));
        if !gone {
            continue;
        }
        if let Some(old) = get::<UserRecord>(tx.users, trees::USERS, key)? {
            active_before += u64::from(old.status.is_active());
            let entra = old.entra.clone();
            written.push(update_user(tx, key, old, &entra, deleted, now, counts)?.0);
        }
    }
    Ok(active_before)
}

/// Refreshes an existing user's Entra data and status; `modified` moves only on a change.
/// Returns the record as stored afterwards, and whether it changed.
pub(super) fn update_user(
    tx: &TxTrees<'_>,
    key: &[u8],
    old: UserRecord,
    entra: &EntraUser,
    status: UserStatus,
    now: i64,
    counts: &mut ChangeCounts,
) -> TxResult<(UserRecord, bool)> {
    if old.entra == *entra && old.status == status {
        return Ok((old, false));
    }
    if old.status.is_active() && !status.is_active() {
        counts.users_deactivated += 1;
    } else {
        counts.users_changed += 1;
    }
    let record = UserRecord {
        entra: entra.clone(),
        status,
        modified: now,
        ..old
    };
    put(tx.users, trees::USERS, key, &record)?;
    Ok((record, true))
}

/// A first-seen user: a unique login name and a fresh uidNumber (= its private gidNumber).
pub(super) fn new_user(
    tx: &TxTrees<'_>,
    entra: &EntraUser,
    status: UserStatus,
    rules: &DirectoryConfig,
    now: i64,
) -> TxResult<UserRecord> {
    let base = naming::sanitize_login(naming::login_source_value(entra, rules.login_source));
    let uid = reserve_name(
        tx.alloc,
        LOGIN_PREFIX,
        &base,
        &entra.id,
        Some(MAX_LOGIN_LEN),
        naming::is_reserved_login,
    )?;
    let uid_number = next_number(
        tx.alloc,
        NEXT_UID,
        rules.uid_number_min,
        rules.uid_number_max,
        "uidNumber range",
    )?;
    Ok(UserRecord {
        entra: entra.clone(),
        uid,
        uid_number,
        gid_number: uid_number,
        status,
        ssh_public_keys: Vec::new(),
        created: now,
        modified: now,
    })
}

fn apply_groups(
    tx: &TxTrees<'_>,
    existing: &Existing,
    tenant: &TenantSnapshot,
    rules: &DirectoryConfig,
    now: i64,
    counts: &mut ChangeCounts,
    written: &mut Vec<GroupRecord>,
) -> TxResult<()> {
    let seen: BTreeMap<&str, &EntraGroup> =
        tenant.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    for entra in seen.values() {
        written.push(upsert_group(tx, entra, rules, now, counts)?.0);
    }
    for key in &existing.groups {
        let gone = std::str::from_utf8(key).map_or(true, |id| !seen.contains_key(id));
        if gone && tx.groups.remove(key.as_slice())?.is_some() {
            counts.groups_removed += 1;
        }
    }
    Ok(())
}

/// Stores one group of the tenant: refreshed when stored before (`modified` moves only on
/// a change), else with its cn and gidNumber allocated. Returns the record as stored
/// afterwards, and whether it was written.
pub(super) fn upsert_group(
    tx: &TxTrees<'_>,
    entra: &EntraGroup,
    rules: &DirectoryConfig,
    now: i64,
    counts: &mut ChangeCounts,
) -> TxResult<(GroupRecord, bool)> {
    let key = entra.id.as_bytes();
    match get::<GroupRecord>(tx.groups, trees::GROUPS, key)? {
        Some(old) if old.entra == *entra => Ok((old, false)),
        Some(old) => {
            let record = GroupRecord {
                entra: entra.clone(),
                modified: now,
                ..old
            };
            put(tx.groups, trees::GROUPS, key, &record)?;
            counts.groups_changed += 1;
            Ok((record, true))
        }
        None => {
            let alloc = group_alloc(tx, entra, rules)?;
            let record = GroupRecord {
                entra: entra.clone(),
                cn: alloc.cn,
                gid_number: alloc.gid_number,
                created: now,
                modified: now,
            };
            put(tx.groups, trees::GROUPS, key, &record)?;
            counts.groups_added += 1;
            Ok((record, true))
        }
    }
}

/// A group's cn and gidNumber: the ones it had before if it was ever stored, else new ones.
fn group_alloc(
    tx: &TxTrees<'_>,
    entra: &EntraGroup,
    rules: &DirectoryConfig,
) -> TxResult<GroupAlloc> {
    let key = format!("group/{}", entra.id);
    if let Some(previous) = get::<GroupAlloc>(tx.alloc, trees::ALLOC, key.as_bytes())? {
        return Ok(previous);
    }
    let base = naming::sanitize_cn(&entra.display_name);
    let cn = reserve_name(tx.alloc, "cn/", &base, &entra.id, None, |_| false)?;
    let gid_number = next_number(
        tx.alloc,
        NEXT_GID,
        rules.gid_number_min,
        rules.gid_number_max,
        "gidNumber range",
    )?;
    let alloc = GroupAlloc { cn, gid_number };
    put(tx.alloc, trees::ALLOC, key.as_bytes(), &alloc)?;
    Ok(alloc)
}

/// Replaces the stored domains with the snapshot's; returns how many were added, changed or
/// removed (so a sync that changed nothing can skip rebuilding the snapshot).
pub(super) fn apply_domains(
    tx: &TxTrees<'_>,
    existing: &Existing,
    tenant: &TenantSnapshot,
) -> TxResult<u64> {
    let mut changed = 0;
    let seen: BTreeSet<&[u8]> = tenant.domains.iter().map(|d| d.id.as_bytes()).collect();
    for key in &existing.domains {
        if !seen.contains(key.as_slice()) {
            tx.domains.remove(key.as_slice())?;
            changed += 1;
        }
    }
    for domain in &tenant.domains {
        let bytes = in_tx(codec::encode(trees::DOMAINS, domain))?;
        let key = domain.id.as_bytes();
        if tx.domains.get(key)?.as_deref() != Some(bytes.as_slice()) {
            tx.domains.insert(key, bytes)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Reserves the first free candidate of `base` (`base`, `base2`, …) for `owner`. Names
/// are compared lowercased, so `Sales` and `sales` collide.
fn reserve_name(
    alloc: &TransactionalTree,
    prefix: &str,
    base: &str,
    owner: &ObjectId,
    max_len: Option<usize>,
    reserved: impl Fn(&str) -> bool,
) -> TxResult<String> {
    for n in 1..=MAX_SUFFIX {
        let name = naming::candidate(base, n, max_len);
        if reserved(&name) {
            continue;
        }
        let key = format!("{prefix}{}", name.to_lowercase());
        match get::<ObjectId>(alloc, trees::ALLOC, key.as_bytes())? {
            Some(holder) if holder != *owner => continue,
            _ => {
                put(alloc, trees::ALLOC, key.as_bytes(), owner)?;
                return Ok(name);
            }
        }
    }
    abort(StoreError::Exhausted("name suffixes"))
}

/// Hands out the next number of a counter within `min..=max`. The counter only grows, so
/// numbers are never reused; when `min` is raised the counter jumps to it.
fn next_number(
    alloc: &TransactionalTree,
    key: &[u8],
    min: u32,
    max: u32,
    what: &'static str,
) -> TxResult<u32> {
    let stored = get::<u64>(alloc, trees::ALLOC, key)?.unwrap_or(0);
    let candidate = stored.max(u64::from(min));
    let number = match u32::try_from(candidate) {
        Ok(n) if n <= max => n,
        _ => return abort(StoreError::Exhausted(what)),
    };
    put(alloc, trees::ALLOC, key, &(candidate + 1))?;
    Ok(number)
}
