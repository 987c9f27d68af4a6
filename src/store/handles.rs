//! The open sled database behind a [`Store`](super::Store), and how it is reopened to give
//! memory back.
//!
//! Why reopen at all: sled 0.34 keeps every page it has read decoded in memory until its
//! LRU evicts it, and its LRU (256 shards, each acting only after 64 queued accesses)
//! hardly ever acts on a store that is read once in full — the start-up load or a full
//! sync's compare. Whatever `cache_capacity` says, a 10,000-user store stayed ~22 MB
//! resident after one full read (measured, docs/benchmarks.md "Memory"), while the
//! served directory lives in the snapshot and sled is only needed for the next write.
//! Writes page the store back in too (each also moves a page the segment cleaner picked),
//! which is why the sync worker reopens after every run (`Store::release_memory_after_run`).
//! Closing and reopening the database drops those pages; sled's own recovery makes the
//! reopen cheap (~20 ms for that store, ~0.3 s at 100,000 users) and loses nothing, since
//! every write is durable in sled's log before it returns.
//!
//! Every store operation borrows the current handles ([`Handles::current`]) for its
//! duration; a reopen waits until none is borrowed, so no operation ever sees a closed
//! database or two databases at once.

use super::{StoreError, Trees};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// sled's page cache. The served directory lives in the in-memory snapshot, so sled is read
/// only at start-up and after a sync; its default (1 GiB) would just double resident memory.
const SLED_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// How long `open` waits for sled's directory lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// How long a reopen waits for operations still using the old handles.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// One open database with its trees.
pub(super) struct Open {
    pub db: sled::Db,
    pub trees: Trees,
}

/// The store's database, shared by every clone of the store.
pub(super) struct Handles {
    dir: PathBuf,
    /// `None` only if a reopen failed to open the database again; the next use retries.
    open: RwLock<Option<Arc<Open>>>,
    /// Set when an operation read (about) every record, so sled holds most of the store.
    read_in_full: AtomicBool,
    /// Reopens done.
    reopens: AtomicU64,
    /// Operations that read (about) every record (tests check which paths do).
    full_reads: AtomicU64,
}

impl Handles {
    /// Opens the database under `dir`.
    pub fn open(dir: &Path) -> Result<Handles, StoreError> {
        let open = open_at(dir)?;
        Ok(Handles {
            dir: dir.to_path_buf(),
            open: RwLock::new(Some(Arc::new(open))),
            read_in_full: AtomicBool::new(false),
            reopens: AtomicU64::new(0),
            full_reads: AtomicU64::new(0),
        })
    }

    /// The open database, for the duration of one operation.
    pub fn current(&self) -> Result<Arc<Open>, StoreError> {
        {
            let guard = self.open.read().unwrap_or_else(|p| p.into_inner());
            if let Some(open) = guard.as_ref() {
                return Ok(open.clone());
            }
        }
        // A reopen failed earlier (e.g. the disk was briefly unavailable): try again.
        let mut guard = self.write();
        if let Some(open) = guard.as_ref() {
            return Ok(open.clone());
        }
        let open = Arc::new(open_at(&self.dir)?);
        *guard = Some(open.clone());
        Ok(open)
    }

    /// Remembers that an operation read (about) every record.
    pub fn note_full_read(&self) {
        self.read_in_full.store(true, Ordering::Relaxed);
        self.full_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the next [`Handles::take_full_read`] for a reopen again (one that could not run
    /// now), without counting a read.
    pub fn keep_pending(&self) {
        self.read_in_full.store(true, Ordering::Relaxed);
    }

    /// How many operations read (about) every record.
    pub fn full_reads(&self) -> u64 {
        self.full_reads.load(Ordering::Relaxed)
    }

    /// Whether the store was read in full since the last call.
    pub fn take_full_read(&self) -> bool {
        self.read_in_full.swap(false, Ordering::Relaxed)
    }

    /// How many reopens completed.
    pub fn reopens(&self) -> u64 {
        self.reopens.load(Ordering::Relaxed)
    }

    /// Closes and reopens the database so that sled drops every page it holds decoded.
    /// Returns `Ok(false)` (and changes nothing) when operations still using the database
    /// did not finish within [`DRAIN_WAIT`].
    pub fn reopen(&self) -> Result<bool, StoreError> {
        let mut guard = self.write();
        let Some(mut current) = guard.take() else {
            *guard = Some(Arc::new(open_at(&self.dir)?));
            return Ok(true);
        };
        // New operations wait on the lock; the ones already running hold a clone.
        let deadline = Instant::now() + DRAIN_WAIT;
        let open = loop {
            match Arc::try_unwrap(current) {
                Ok(open) => break open,
                Err(shared) if Instant::now() < deadline => {
                    current = shared;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(shared) => {
                    *guard = Some(shared);
                    return Ok(false);
                }
            }
        };
        drop(open);
        *guard = Some(Arc::new(open_at(&self.dir)?));
        self.reopens.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Arc<Open>>> {
        // The guarded value is replaced whole, so a poisoned lock holds no half-done state.
        self.open.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Opens the database and every tree the store uses.
fn open_at(dir: &Path) -> Result<Open, StoreError> {
    let db = open_db(dir)?;
    let trees = Trees::open(&db)?;
    Ok(Open { db, trees })
}

/// Opens sled, waiting briefly for the directory lock: after a `Db` is dropped sled's
/// background thread can hold the lock for a moment, so a quick re-open in the same process
/// (a reopen, tests, an in-process restart) would otherwise fail spuriously. Another
/// process holding the lock still fails, after [`LOCK_WAIT`].
fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(SLED_CACHE_BYTES);
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}
