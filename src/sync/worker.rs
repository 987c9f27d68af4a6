//! The background worker that runs syncs: at start-up, on a schedule and on demand, never
//! two at once.
//!
//! Why a single worker task fed by a channel: runs are serialised by construction, and
//! [`SyncService::trigger`] can answer at once (a run id, or "already running") while the
//! run proceeds in the background. A run's result is published to waiters through a
//! `watch` channel; the run history itself lives in the store.

use super::AlreadyRunning;
use super::delta::{self, Mirror};
use super::error::SyncError;
use super::graph::GraphClient;
use super::scope;
use super::settings::SyncSettings;
use crate::config::{DirectoryConfig, EntraConfig};
use crate::directory::LiveDirectory;
use crate::model::{ChangeCounts, SyncMode, SyncOutcome, SyncRun, SyncTrigger, now};
use crate::store::{Store, StoreError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Finished runs kept in memory for [`SyncService::wait_for`] (older ones come from the
/// store).
const RECENT_RUNS: usize = 32;
/// The credential kind recorded on each run.
const CREDENTIAL: &str = "client_secret";

/// Handle to the background sync worker. Cheap to clone.
#[derive(Clone)]
pub struct SyncService {
    shared: Arc<Shared>,
}

/// What the worker task and the handles share.
struct Shared {
    entra: EntraConfig,
    rules: DirectoryConfig,
    store: Store,
    live: Arc<LiveDirectory>,
    /// The Graph client, or why it could not be built (then every run fails with that).
    graph: Result<GraphClient, String>,
    state: Mutex<RunState>,
    /// Bumped after every finished run; waiters re-check [`RunState`] then.
    finished: watch::Sender<u64>,
    queue: mpsc::UnboundedSender<SyncRun>,
    /// An admin asked for a full run: the next run reads everything.
    full_requested: AtomicBool,
    /// The Graph mirror as the last successful run committed it, with the settings that
    /// run scoped it by; kept between runs so a delta run does not reload it from the
    /// store. `None` after a failed run (the store then holds the truth and is read again).
    mirror: Mutex<Option<(Mirror, SyncSettings)>>,
}

#[derive(Default)]
struct RunState {
    running: Option<u64>,
    first_run: Option<u64>,
    recent: VecDeque<SyncRun>,
    /// Ids handed out for runs the store could not even record (counting down from
    /// `u64::MAX`, far from the store's ids).
    unrecorded_ids: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SyncService {
    /// Spawns the worker: a startup run, then one every `entra.sync_interval_secs` (0: no
    /// schedule), plus on-demand runs through [`SyncService::trigger`]. Stops when
    /// `shutdown` is cancelled. Must be called within a Tokio runtime.
    pub fn start(
        entra: EntraConfig,
        rules: DirectoryConfig,
        store: Store,
        live: Arc<LiveDirectory>,
        shutdown: CancellationToken,
    ) -> SyncService {
        let (queue, rx) = mpsc::unbounded_channel();
        let (finished, _) = watch::channel(0);
        let graph = GraphClient::new(&entra).map_err(|e| e.to_string());
        let service = SyncService {
            shared: Arc::new(Shared {
                entra,
                rules,
                store,
                live,
                graph,
                state: Mutex::new(RunState::default()),
                finished,
                queue,
                full_requested: AtomicBool::new(false),
                mirror: Mutex::new(None),
            }),
        };
        // Queued before the worker starts, so `wait_first_run` always has a run to wait on.
        if let Err(e) = service.trigger(SyncTrigger::Startup) {
            tracing::warn!(error = %e, "start-up sync not started");
        }
        tokio::spawn(run_worker(Arc::clone(&service.shared), rx, shutdown));
        service
    }

    /// Starts a run now; returns its id. Never two runs at once.
    pub fn trigger(&self, trigger: SyncTrigger) -> Result<u64, AlreadyRunning> {
        self.shared.trigger(trigger)
    }

    /// Starts a run that reads the whole tenant even when delta links are stored (the
    /// admin's "full sync"). Never two runs at once.
    pub fn trigger_full(&self, trigger: SyncTrigger) -> Result<u64, AlreadyRunning> {
        self.shared.trigger_with(trigger, true)
    }

    /// Waits until run `id` has finished and returns its record (`None` for an unknown id
    /// or when the worker is gone).
    pub async fn wait_for(&self, id: u64) -> Option<SyncRun> {
        let mut changes = self.shared.finished.subscribe();
        loop {
            changes.borrow_and_update();
            let still_running = {
                let st = lock(&self.shared.state);
                if let Some(run) = st.recent.iter().find(|r| r.id == id) {
                    return Some(run.clone());
                }
                st.running == Some(id)
            };
            if !still_running {
                let store = self.shared.store.clone();
                return blocking(move || store.get_run(id)).await.ok().flatten();
            }
            if changes.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Waits for the first run after start-up to finish (the demo prints its commands then).
    pub async fn wait_first_run(&self) -> Option<SyncRun> {
        let first = lock(&self.shared.state).first_run;
        match first {
            Some(id) => self.wait_for(id).await,
            None => None,
        }
    }

    /// The run in progress, if any.
    pub fn running(&self) -> Option<u64> {
        lock(&self.shared.state).running
    }
}

impl Shared {
    fn trigger(&self, trigger: SyncTrigger) -> Result<u64, AlreadyRunning> {
        self.trigger_with(trigger, false)
    }

    fn trigger_with(&self, trigger: SyncTrigger, full: bool) -> Result<u64, AlreadyRunning> {
        let mut st = lock(&self.state);
        if let Some(id) = st.running {
            return Err(AlreadyRunning(id));
        }
        if full {
            self.full_requested.store(true, Ordering::Relaxed);
        }
        let mut run = SyncRun {
            id: 0,
            trigger,
            started: now(),
            finished: None,
            outcome: SyncOutcome::Running,
            credential: Some(CREDENTIAL.to_string()),
            credential_failures: Vec::new(),
            mode: None,
            graph_requests: 0,
            changes: ChangeCounts::default(),
            error: None,
        };
        // A short sled write; the lock makes "check, then mark running" atomic.
        match self.store.begin_run(&run) {
            Ok(id) => run.id = id,
            Err(e) => {
                st.unrecorded_ids += 1;
                run.id = u64::MAX - st.unrecorded_ids;
                st.first_run.get_or_insert(run.id);
                let failed = fail(run, &SyncError::Store(e.to_string()), 0);
                tracing::error!(run = failed.id, error = ?failed.error, "sync not started");
                let id = failed.id;
                remember(&mut st, failed);
                drop(st);
                self.finished.send_modify(|g| *g += 1);
                return Ok(id);
            }
        }
        st.running = Some(run.id);
        st.first_run.get_or_insert(run.id);
        let id = run.id;
        if let Err(mpsc::error::SendError(run)) = self.queue.send(run) {
            // The worker has stopped (shutdown): the run can never happen.
            st.running = None;
            let failed = fail(run, &SyncError::Cancelled, 0);
            remember(&mut st, failed.clone());
            drop(st);
            if let Err(e) = self.store.record_run(&failed) {
                tracing::warn!(run = id, error = %e, "cannot record cancelled run");
            }
            self.finished.send_modify(|g| *g += 1);
        }
        Ok(id)
    }

    /// Runs one sync and records its outcome.
    async fn execute(&self, run: SyncRun, shutdown: &CancellationToken) {
        let id = run.id;
        let clock = Instant::now();
        tracing::info!(run = id, trigger = ?run.trigger, "sync started");
        let requests = AtomicU64::new(0);
        let mode = Mutex::new(None);
        let result = self
            .sync_once(run.clone(), &requests, &mode, shutdown)
            .await;
        let duration_ms = clock.elapsed().as_millis() as u64;
        let finished = match result {
            Ok((done, users, groups)) => {
                let c = done.changes;
                tracing::info!(
                    run = id,
                    outcome = "succeeded",
                    mode = ?done.mode,
                    users,
                    groups,
                    requests = done.graph_requests,
                    duration_ms,
                    users_added = c.users_added,
                    users_changed = c.users_changed,
                    users_deactivated = c.users_deactivated,
                    users_removed = c.users_removed,
                    groups_added = c.groups_added,
                    groups_changed = c.groups_changed,
                    groups_removed = c.groups_removed,
                    "sync finished"
                );
                done
            }
            Err(e) => {
                let mut failed = fail(run, &e, requests.load(Ordering::Relaxed));
                failed.mode = *lock(&mode);
                tracing::warn!(
                    run = id,
                    outcome = "failed",
                    mode = ?failed.mode,
                    requests = failed.graph_requests,
                    duration_ms,
                    error = %e,
                    "sync finished"
                );
                let store = self.store.clone();
                let record = failed.clone();
                if let Err(e) = blocking(move || store.record_run(&record)).await {
                    tracing::error!(run = id, error = %e, "cannot record failed sync run");
                }
                failed
            }
        };
        let mut st = lock(&self.state);
        st.running = None;
        remember(&mut st, finished);
        drop(st);
        self.finished.send_modify(|g| *g += 1);
    }

    /// Read (full or delta) → merge into the mirror → scope → commit (directory, run and
    /// mirror with its delta links, atomically) → publish the committed directory. Returns the succeeded
    /// run with its change counts, and how many users and groups were read. `mode` is set
    /// as soon as the run knows it, so a failed run records it too.
    async fn sync_once(
        &self,
        run: SyncRun,
        requests: &AtomicU64,
        mode: &Mutex<Option<SyncMode>>,
        shutdown: &CancellationToken,
    ) -> Result<(SyncRun, usize, usize), SyncError> {
        let graph = self
            .graph
            .as_ref()
            .map_err(|e| SyncError::Config(e.clone()))?;
        let settings = SyncSettings::default();
        let forced = self.full_requested.swap(false, Ordering::Relaxed);
        let cached = lock(&self.mirror).take();
        let (mirror, applied) = match cached {
            Some((m, applied)) => (m, Some(applied)),
            None => {
                let store = self.store.clone();
                let stored = blocking(move || store.load_mirror()).await?;
                (Mirror::from_stored(stored), None)
            }
        };
        let domains_before = mirror.domains.clone();
        let plan = delta::Plan {
            graph,
            page_size: self.entra.page_size,
            source: delta::source_of(&self.entra.tenant_id, &self.entra.graph_url),
            forced,
            full_interval_secs: settings.full_interval_secs,
            run: run.id,
        };
        // Only the reading is abandoned on shutdown; a commit, once started, completes.
        let phase = Instant::now();
        let (mirror, update) = tokio::select! {
            _ = shutdown.cancelled() => return Err(SyncError::Cancelled),
            read = delta::read(&plan, mirror, requests, mode) => read?,
        };
        let read_ms = phase.elapsed().as_millis() as u64;
        let mut done = run;
        done.outcome = SyncOutcome::Succeeded;
        done.finished = Some(now());
        done.graph_requests = requests.load(Ordering::Relaxed);
        done.mode = *lock(mode);
        if done.mode == Some(SyncMode::Delta)
            && applied.as_ref() == Some(&settings)
            && delta::changes_nothing(&update, &domains_before)
        {
            // Nothing Graph reported and the same settings: scoping would give what is
            // committed already. Only the new delta links and the run are written.
            tracing::debug!(
                run = done.id,
                read_ms,
                "no change: only the delta links are written"
            );
            let (users, groups) = (mirror.users.len(), mirror.groups.len());
            let (store, record) = (self.store.clone(), done.clone());
            blocking(move || store.commit_delta_state(&record, &update)).await?;
            *lock(&self.mirror) = Some((mirror, settings));
            return Ok((done, users, groups));
        }
        let phase = Instant::now();
        let snapshot = scope::apply(&mirror.to_raw(), &settings);
        let scope_ms = phase.elapsed().as_millis() as u64;
        let (users, groups) = (snapshot.users.len(), snapshot.groups.len());
        let (store, rules, record) = (self.store.clone(), self.rules.clone(), done.clone());
        let phase = Instant::now();
        let (changes, data) =
            blocking(move || store.commit_sync_mirrored(&snapshot, &rules, &record, &update))
                .await?;
        done.changes = changes;
        *lock(&self.mirror) = Some((mirror, settings));
        // Where a run's time goes (docs/benchmarks.md "Sync" quotes these).
        tracing::debug!(
            run = done.id,
            read_ms,
            scope_ms,
            commit_ms = phase.elapsed().as_millis() as u64,
            "sync phases"
        );
        if done.changes.is_empty() {
            // Nothing the snapshot is built from changed: keep serving the current one rather
            // than rebuilding the whole directory (CPU and a memory peak).
            return Ok((done, users, groups));
        }
        let phase = Instant::now();
        let live = Arc::clone(&self.live);
        tokio::task::spawn_blocking(move || live.publish(&data))
            .await
            .map_err(|e| SyncError::Store(format!("publishing the new snapshot failed: {e}")))?;
        tracing::debug!(
            run = done.id,
            publish_ms = phase.elapsed().as_millis() as u64,
            "sync publish phases"
        );
        Ok((done, users, groups))
    }
}

/// The worker task: executes queued runs one at a time and queues scheduled ones.
async fn run_worker(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<SyncRun>,
    shutdown: CancellationToken,
) {
    let every = shared.entra.sync_interval_secs;
    let mut ticker = (every > 0).then(|| {
        let period = Duration::from_secs(every);
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(run) = rx.recv() => shared.execute(run, &shutdown).await,
            _ = tick(&mut ticker) => {
                if let Err(e) = shared.trigger(SyncTrigger::Schedule) {
                    tracing::info!(error = %e, "scheduled sync skipped");
                }
            }
        }
    }
    // Runs queued but never started are recorded as cancelled.
    rx.close();
    while let Some(run) = rx.recv().await {
        let id = run.id;
        let failed = fail(run, &SyncError::Cancelled, 0);
        let store = shared.store.clone();
        let record = failed.clone();
        if let Err(e) = blocking(move || store.record_run(&record)).await {
            tracing::warn!(run = id, error = %e, "cannot record cancelled run");
        }
        let mut st = lock(&shared.state);
        st.running = None;
        remember(&mut st, failed);
        drop(st);
        shared.finished.send_modify(|g| *g += 1);
    }
}

/// The next schedule tick, or never when there is no schedule.
async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// `run` marked failed with `error`.
fn fail(mut run: SyncRun, error: &SyncError, graph_requests: u64) -> SyncRun {
    run.outcome = SyncOutcome::Failed;
    run.finished = Some(now());
    run.graph_requests = graph_requests;
    run.error = Some(error.to_string());
    run
}

/// Keeps a finished run for waiters, dropping the oldest beyond [`RECENT_RUNS`].
fn remember(st: &mut RunState, run: SyncRun) {
    st.recent.retain(|r| r.id != run.id);
    st.recent.push_back(run);
    while st.recent.len() > RECENT_RUNS {
        st.recent.pop_front();
    }
}

/// Runs a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Store(format!("store task failed: {e}")))?
        .map_err(|e| SyncError::Store(e.to_string()))
}
