//! The background worker that runs syncs: at start-up, on a schedule and on demand, never
//! two at once.
//!
//! Why a single worker task fed by a channel: runs are serialised by construction, and
//! [`SyncService::trigger`] can answer at once (a run id, or "already running") while the
//! run proceeds in the background. A run's result is published to waiters through a
//! `watch` channel; the run history itself lives in the store.

use super::AlreadyRunning;
use super::commit::{CommitResult, PendingCommit};
use super::credentials::delegated::DelegatedStore;
use super::delta::{self, Mirror};
use super::error::SyncError;
use super::graph::GraphClient;
use super::scope;
use super::settings::{InactiveUsers, SettingsSource, SyncSettings};
use crate::config::{DirectoryConfig, EntraConfig};
use crate::directory::LiveDirectory;
use crate::model::{EntraDomain, SyncMode, SyncOutcome, SyncRun, SyncTrigger, TenantSnapshot, now};
use crate::store::{Committed, DeltaState, Store, StoreError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Finished runs kept in memory for [`SyncService::wait_for`] (older ones come from the
/// store).
const RECENT_RUNS: usize = 32;

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
    /// The `[sync]` options, read afresh by every run and after every scheduled tick.
    settings: SettingsSource,
    /// The Graph client, or why it could not be built (then every run fails with that).
    graph: Result<GraphClient, String>,
    state: Mutex<RunState>,
    /// Bumped after every finished run; waiters re-check [`RunState`] then.
    finished: watch::Sender<u64>,
    queue: mpsc::UnboundedSender<Job>,
    /// An admin asked for a full run: the next run reads everything.
    full_requested: AtomicBool,
    /// What the last successful run committed of the Graph mirror, with the settings
    /// that run scoped it by. `None` after a failed run (the store then holds the truth
    /// and is read again).
    mirror: Mutex<Option<Cached>>,
}

/// What a successful run leaves for the next one.
struct Cached {
    /// The settings the committed directory was scoped by.
    settings: SyncSettings,
    kept: Kept,
}

/// The committed mirror between runs: in memory for a large tenant (`[entra]
/// keep_mirror_min_objects`), so a delta run does not read it back from the store; for a
/// small one only what a delta read needs, so the memory is not held for nothing.
enum Kept {
    Whole {
        mirror: Mirror,
        /// The tenant as committed (`scope::apply_mirror(&mirror, &settings)`): a delta
        /// run with the same settings patches it ([`scope::apply_delta`]) instead of
        /// scoping the whole mirror into a new copy. `None` when it could not be kept
        /// (then the next run scopes in full).
        scoped: Option<TenantSnapshot>,
    },
    /// The objects are in the store; a delta read that carries none does not load them.
    Lean {
        state: DeltaState,
        domains: Vec<EntraDomain>,
        /// Users and groups mirrored.
        sizes: (usize, usize),
    },
}

impl Kept {
    fn state(&self) -> &DeltaState {
        match self {
            Kept::Whole { mirror, .. } => &mirror.state,
            Kept::Lean { state, .. } => state,
        }
    }

    fn domains(&self) -> &[EntraDomain] {
        match self {
            Kept::Whole { mirror, .. } => &mirror.domains,
            Kept::Lean { domains, .. } => domains,
        }
    }
}

/// Work for the worker task.
enum Job {
    /// Read, scope and commit under the deletion guard.
    Sync(SyncRun),
    /// Commit a held run's result as it was held (an admin approved it).
    Approved(SyncRun, Arc<PendingCommit>),
}

impl Job {
    /// The run this job carries out.
    fn into_run(self) -> SyncRun {
        match self {
            Job::Sync(run) | Job::Approved(run, _) => run,
        }
    }
}

/// A run the deletion guard held, with the result waiting for an admin.
struct HeldRun {
    run: SyncRun,
    pending: Arc<PendingCommit>,
}

/// Why a held run cannot be approved or discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeldRunError {
    #[error("run {0} is not held (only the latest held run can be approved or discarded)")]
    NotHeld(u64),
    #[error(transparent)]
    Busy(#[from] AlreadyRunning),
}

/// The worker's state as the status page shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SyncStatus {
    /// The run in progress.
    pub running: Option<u64>,
    /// The run waiting for an admin's approval, with the changes it would make.
    pub held: Option<SyncRun>,
}

#[derive(Default)]
struct RunState {
    running: Option<u64>,
    held: Option<HeldRun>,
    first_run: Option<u64>,
    recent: VecDeque<SyncRun>,
    /// Ids handed out for runs the store could not even record (counting down from
    /// `u64::MAX`, far from the store's ids).
    unrecorded_ids: u64,
    /// A run to start as soon as the running one finishes (settings changed mid-run).
    follow_up: Option<SyncTrigger>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SyncService {
    /// Spawns the worker with fixed sync options: the defaults, with the schedule of
    /// `entra.sync_interval_secs` (0: no schedule) and `rules.show_inactive_users`.
    /// See [`SyncService::start_with_settings`].
    pub fn start(
        entra: EntraConfig,
        rules: DirectoryConfig,
        store: Store,
        live: Arc<LiveDirectory>,
        shutdown: CancellationToken,
    ) -> SyncService {
        let settings = SettingsSource::fixed(&SyncSettings {
            interval_secs: entra.sync_interval_secs,
            inactive_users: if rules.show_inactive_users {
                InactiveUsers::Show
            } else {
                InactiveUsers::Hide
            },
            ..SyncSettings::default()
        });
        SyncService::start_with_settings(entra, rules, store, live, settings, shutdown, None)
    }

    /// Spawns the worker: a startup run, then one every effective `interval` (0: no
    /// schedule; a change applies from the next tick), plus on-demand runs through
    /// [`SyncService::trigger`]. Graph is also read with the delegated authorizations in
    /// the store when `secrets` (the key that seals their refresh tokens) is given. Stops
    /// when `shutdown` is cancelled. Must be called within a Tokio runtime.
    pub fn start_with_settings(
        entra: EntraConfig,
        rules: DirectoryConfig,
        store: Store,
        live: Arc<LiveDirectory>,
        settings: SettingsSource,
        shutdown: CancellationToken,
        secrets: Option<crate::secrets::SecretBox>,
    ) -> SyncService {
        let (queue, rx) = mpsc::unbounded_channel();
        let (finished, _) = watch::channel(0);
        let graph = GraphClient::new(&entra)
            .map(|g| match secrets {
                Some(secrets) => g.with_delegated(DelegatedStore {
                    store: store.clone(),
                    secrets,
                }),
                None => g,
            })
            .map_err(|e| e.to_string());
        let service = SyncService {
            shared: Arc::new(Shared {
                entra,
                rules,
                store,
                live,
                settings,
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
        self.shared.start_run(trigger, false, true)
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

    /// Like [`SyncService::trigger`], but when a run is already in progress a new run is
    /// also queued to start right after it (that run may have read the old settings).
    /// Returns the new run's id, or `AlreadyRunning` with the running one's.
    pub fn trigger_or_follow(&self, trigger: SyncTrigger) -> Result<u64, AlreadyRunning> {
        self.shared.start_run(trigger, true, false)
    }

    /// The sync options this worker runs with (shared with the admin API).
    pub fn settings(&self) -> &SettingsSource {
        &self.shared.settings
    }

    /// Shows `run` (read from the store) as still running while the worker is finishing it:
    /// the store records a run's outcome in the same transaction as its data, a moment
    /// before the new snapshot is published.
    pub fn live_view(&self, mut run: SyncRun) -> SyncRun {
        if self.running() == Some(run.id) {
            run.outcome = SyncOutcome::Running;
            run.finished = None;
        }
        run
    }

    /// The run in progress and the held run, if any.
    pub fn status(&self) -> SyncStatus {
        let st = lock(&self.shared.state);
        SyncStatus {
            running: st.running,
            held: st.held.as_ref().map(|h| h.run.clone()),
        }
    }

    /// Commits the held run `id` exactly as it was held; returns at once (the commit runs in
    /// the background under the same run id; wait with [`SyncService::wait_for`]).
    pub fn approve(&self, id: u64) -> Result<u64, HeldRunError> {
        let mut st = lock(&self.shared.state);
        if let Some(running) = st.running {
            return Err(AlreadyRunning(running).into());
        }
        let held = take_held(&mut st, id)?;
        let mut run = held.run;
        run.outcome = SyncOutcome::Running;
        run.finished = None;
        run.error = None;
        if let Err(e) = self.shared.store.record_run(&run) {
            tracing::warn!(run = id, error = %e, "cannot record the approval");
        }
        st.running = Some(id);
        st.recent.retain(|r| r.id != id);
        tracing::info!(run = id, "held sync run approved");
        if let Err(mpsc::error::SendError(job)) =
            self.shared.queue.send(Job::Approved(run, held.pending))
        {
            st.running = None;
            remember(&mut st, fail(job.into_run(), &SyncError::Cancelled, 0));
        }
        Ok(id)
    }

    /// Drops the held run `id`: nothing of it is committed; the next run reads afresh.
    pub fn discard(&self, id: u64) -> Result<SyncRun, HeldRunError> {
        let mut st = lock(&self.shared.state);
        let held = take_held(&mut st, id)?;
        let run = discarded(held.run, "discarded by an admin");
        if let Err(e) = self.shared.store.record_run(&run) {
            tracing::warn!(run = id, error = %e, "cannot record the discarded run");
        }
        tracing::info!(run = id, "held sync run discarded");
        crate::metrics::sync_run(&run);
        remember(&mut st, run.clone());
        drop(st);
        self.shared.finished.send_modify(|g| *g += 1);
        Ok(run)
    }
}

/// Takes the held run if it is `id`.
fn take_held(st: &mut RunState, id: u64) -> Result<HeldRun, HeldRunError> {
    match st.held.take() {
        Some(held) if held.run.id == id => Ok(held),
        other => {
            st.held = other;
            Err(HeldRunError::NotHeld(id))
        }
    }
}

/// `run` (held) marked discarded, saying why.
fn discarded(mut run: SyncRun, why: &str) -> SyncRun {
    run.outcome = SyncOutcome::Discarded;
    run.finished = Some(now());
    run.error = Some(match run.error.take() {
        Some(reason) => format!("{reason} — {why}"),
        None => why.to_string(),
    });
    run
}

impl Shared {
    fn trigger(&self, trigger: SyncTrigger) -> Result<u64, AlreadyRunning> {
        self.start_run(trigger, false, false)
    }

    /// Starts a run, or when one is running answers its id and, with `follow_if_busy`,
    /// queues another to start when it finishes (decided under the same lock, so the
    /// running run cannot finish in between and miss it). `full`: read the whole tenant
    /// even when delta links are stored.
    fn start_run(
        &self,
        trigger: SyncTrigger,
        follow_if_busy: bool,
        full: bool,
    ) -> Result<u64, AlreadyRunning> {
        let mut st = lock(&self.state);
        if let Some(id) = st.running {
            if follow_if_busy {
                st.follow_up = Some(trigger);
            }
            return Err(AlreadyRunning(id));
        }
        if full {
            self.full_requested.store(true, Ordering::Relaxed);
        }
        let mut run = SyncRun::starting(trigger);
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
        if let Some(held) = st.held.take() {
            // A fresh read replaces what was held: approving stale data would be wrong.
            let old = discarded(held.run, &format!("superseded by run {id}"));
            if let Err(e) = self.store.record_run(&old) {
                tracing::warn!(run = old.id, error = %e, "cannot record the superseded run");
            }
            remember(&mut st, old);
        }
        if let Err(mpsc::error::SendError(job)) = self.queue.send(Job::Sync(run)) {
            // The worker has stopped (shutdown): the run can never happen.
            st.running = None;
            let failed = fail(job.into_run(), &SyncError::Cancelled, 0);
            remember(&mut st, failed.clone());
            drop(st);
            if let Err(e) = self.store.record_run(&failed) {
                tracing::warn!(run = id, error = %e, "cannot record cancelled run");
            }
            self.finished.send_modify(|g| *g += 1);
        }
        Ok(id)
    }

    /// Runs one job and records its outcome.
    async fn execute(&self, job: Job, shutdown: &CancellationToken) {
        let (run, approved) = match job {
            Job::Sync(run) => (run, None),
            Job::Approved(run, pending) => (run, Some(pending)),
        };
        let id = run.id;
        let clock = Instant::now();
        tracing::info!(run = id, trigger = ?run.trigger, approved = approved.is_some(), "sync started");
        let requests = AtomicU64::new(0);
        let mode = Mutex::new(None);
        let result = match approved {
            None => {
                self.sync_once(run.clone(), &requests, &mode, shutdown)
                    .await
            }
            Some(pending) => self.commit_and_publish(run.clone(), pending, false).await,
        };
        let duration_ms = clock.elapsed().as_millis() as u64;
        let finished = match result {
            Ok(Step::Committed(done, (users, groups))) => {
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
            Ok(Step::Held(held, pending)) => {
                tracing::warn!(run = id, outcome = "held", duration_ms, reason = ?held.error, "sync finished");
                self.record(&held).await;
                lock(&self.state).held = Some(HeldRun {
                    run: held.clone(),
                    pending,
                });
                held
            }
            Err(e) => {
                let mut failed = fail(run, &e, requests.load(Ordering::Relaxed));
                failed.mode = *lock(&mode);
                self.note_credentials(&mut failed);
                tracing::warn!(
                    run = id,
                    outcome = "failed",
                    mode = ?failed.mode,
                    requests = failed.graph_requests,
                    duration_ms,
                    error = %e,
                    "sync finished"
                );
                self.record(&failed).await;
                failed
            }
        };
        crate::metrics::sync_run(&finished);
        // Every run leaves sled holding pages (all of them after a full compare or publish,
        // and some even when only the delta links were written); give them back.
        let store = self.store.clone();
        if let Err(e) = blocking(move || {
            store.release_memory_after_run();
            Ok(())
        })
        .await
        {
            tracing::debug!(error = %e, "releasing the store's memory did not run");
        }
        let mut st = lock(&self.state);
        st.running = None;
        remember(&mut st, finished);
        let follow_up = st.follow_up.take();
        drop(st);
        self.finished.send_modify(|g| *g += 1);
        if let Some(trigger) = follow_up
            && let Err(e) = self.trigger(trigger)
        {
            tracing::info!(error = %e, "follow-up sync not started");
        }
    }

    /// Records on `run` which credential read Graph and why the ones before it failed.
    fn note_credentials(&self, run: &mut SyncRun) {
        if let Ok(graph) = &self.graph {
            let (used, failures) = graph.credential_report();
            run.credential = used;
            run.credential_failures = failures;
        }
    }

    /// Writes a run record outside a commit (failed and held runs).
    async fn record(&self, run: &SyncRun) {
        let store = self.store.clone();
        let record = run.clone();
        if let Err(e) = blocking(move || store.record_run(&record)).await {
            tracing::error!(run = run.id, error = %e, "cannot record sync run");
        }
    }

    /// Read (full or delta) → merge into the mirror → scope → commit (directory, run and
    /// mirror with its delta links, atomically) → publish the committed directory.
    /// The guard may hold the commit instead. `mode` is set
    /// as soon as the run knows it, so a failed run records it too.
    async fn sync_once(
        &self,
        mut run: SyncRun,
        requests: &AtomicU64,
        mode: &Mutex<Option<SyncMode>>,
        shutdown: &CancellationToken,
    ) -> Result<Step, SyncError> {
        let graph = self
            .graph
            .as_ref()
            .map_err(|e| SyncError::Config(e.clone()))?;
        graph.begin_run();
        let settings = self.settings.current();
        let forced = self.full_requested.swap(false, Ordering::Relaxed);
        // The cached mirror is taken out; it goes back only after a successful commit (a
        // failed or held run leaves the store as the truth, read again next time).
        let cached = lock(&self.mirror).take();
        let (kept, applied) = match cached {
            Some(c) => (c.kept, Some(c.settings)),
            None => {
                let mirror = self.load_mirror().await?;
                (
                    Kept::Whole {
                        mirror,
                        scoped: None,
                    },
                    None,
                )
            }
        };
        let domains_before = kept.domains().to_vec();
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
        let read = tokio::select! {
            _ = shutdown.cancelled() => return Err(SyncError::Cancelled),
            read = delta::read(&plan, kept.state(), requests, mode) => read?,
        };
        // A lean mirror is read back only when the run carried something to merge into it
        // (and the settings are the ones it was scoped by, so that nothing is scoped again).
        let nothing_to_merge =
            applied.as_ref() == Some(&settings) && read.carries_nothing(kept.domains());
        let (mirror, scoped, sizes) = match kept {
            Kept::Whole { mirror, scoped } => {
                let sizes = mirror.sizes();
                (mirror, scoped, sizes)
            }
            Kept::Lean {
                state,
                domains,
                sizes,
            } if nothing_to_merge => {
                let links_only = Mirror {
                    domains,
                    state,
                    ..Mirror::default()
                };
                (links_only, None, sizes)
            }
            Kept::Lean { .. } => {
                let mirror = self.load_mirror().await?;
                let sizes = mirror.sizes();
                (mirror, None, sizes)
            }
        };
        let (mirror, update) = read.merge(mirror);
        let read_ms = phase.elapsed().as_millis() as u64;
        run.graph_requests = requests.load(Ordering::Relaxed);
        run.mode = *lock(mode);
        self.note_credentials(&mut run);
        if run.mode == Some(SyncMode::Delta)
            && applied.as_ref() == Some(&settings)
            && delta::changes_nothing(&update, &domains_before)
        {
            // Nothing Graph reported and the same settings: scoping would give what is
            // committed already. Only the new delta links and the run are written.
            tracing::debug!(
                run = run.id,
                read_ms,
                "no change: only the delta links are written"
            );
            let mut done = run;
            done.outcome = SyncOutcome::Succeeded;
            done.finished = Some(now());
            let (store, record) = (self.store.clone(), done.clone());
            blocking(move || store.commit_delta_state(&record, &update)).await?;
            self.keep(mirror, scoped, sizes, settings);
            return Ok(Step::Committed(done, sizes));
        }
        let phase = Instant::now();
        // The previous result is only valid under the settings it was scoped by, and a full
        // run may have changed anything: then everything is scoped again.
        let incremental = run.mode == Some(SyncMode::Delta) && applied.as_ref() == Some(&settings);
        let snapshot = match scoped {
            Some(previous) if incremental => {
                scope::apply_delta(previous, &mirror, &update, &settings)
            }
            _ => scope::apply_mirror(&mirror, &settings),
        };
        for warning in &snapshot.warnings {
            tracing::warn!(run = run.id, %warning, "sync option matches nothing");
        }
        tracing::debug!(
            run = run.id,
            read_ms,
            scope_ms = phase.elapsed().as_millis() as u64,
            incremental,
            "sync phases"
        );
        let pending = Arc::new(PendingCommit {
            snapshot,
            mirror: update,
        });
        let step = self
            .commit_and_publish(run, Arc::clone(&pending), true)
            .await?;
        if matches!(step, Step::Committed(..)) {
            // The commit and the publish are done with it: the scoped tenant is kept for
            // the next run (a held run keeps it instead, and the cache stays empty).
            let scoped = Arc::try_unwrap(pending).ok().map(|p| p.snapshot);
            let sizes = mirror.sizes();
            self.keep(mirror, scoped, sizes, settings);
        }
        Ok(step)
    }

    /// The committed mirror as the store holds it.
    async fn load_mirror(&self) -> Result<Mirror, SyncError> {
        let store = self.store.clone();
        let stored = blocking(move || store.load_mirror()).await?;
        Ok(Mirror::from_stored(stored))
    }

    /// Keeps what a successful run committed for the next run: all of it for a large
    /// tenant, only the delta state and domains for a small one (see [`Kept`]). `sizes`:
    /// users and groups mirrored (`mirror` may hold only the links).
    fn keep(
        &self,
        mirror: Mirror,
        scoped: Option<TenantSnapshot>,
        sizes: (usize, usize),
        settings: SyncSettings,
    ) {
        let kept = if sizes.0 + sizes.1 >= self.entra.keep_mirror_min_objects {
            Kept::Whole { mirror, scoped }
        } else {
            Kept::Lean {
                state: mirror.state,
                domains: mirror.domains,
                sizes,
            }
        };
        *lock(&self.mirror) = Some(Cached { settings, kept });
    }

    /// Commits `pending` (under the deletion guard when `guarded`), then publishes the
    /// directory as committed if anything it is built from changed (or the inactive-user
    /// visibility setting did).
    async fn commit_and_publish(
        &self,
        run: SyncRun,
        pending: Arc<PendingCommit>,
        guarded: bool,
    ) -> Result<Step, SyncError> {
        let settings = self.settings.current();
        let mut done = run;
        done.warnings = pending.snapshot.warnings.clone();
        done.outcome = SyncOutcome::Succeeded;
        done.finished = Some(now());
        done.error = None;
        let limit = guarded.then_some(settings.deletion_threshold);
        let (store, rules, record) = (self.store.clone(), self.rules.clone(), done.clone());
        let to_commit = Arc::clone(&pending);
        let phase = Instant::now();
        let result = blocking(move || to_commit.commit(&store, &rules, &record, limit)).await?;
        let sizes = pending.sizes();
        let data = match result {
            CommitResult::Held { reason, counts } => {
                done.outcome = SyncOutcome::Held;
                done.changes = counts;
                done.error = Some(reason);
                return Ok(Step::Held(done, pending));
            }
            CommitResult::Done(changes, data) => {
                done.changes = changes;
                data
            }
        };
        tracing::debug!(
            run = done.id,
            commit_ms = phase.elapsed().as_millis() as u64,
            "sync commit phase"
        );
        let visibility_changed = self
            .live
            .set_show_inactive_users(settings.inactive_users == InactiveUsers::Show);
        if done.changes.is_empty() && !visibility_changed {
            // Nothing the snapshot is built from changed: keep serving the current one rather
            // than rebuilding the whole directory (CPU and a memory peak).
            return Ok(Step::Committed(done, sizes));
        }
        let phase = Instant::now();
        let (live, store) = (Arc::clone(&self.live), self.store.clone());
        let domains_changed = done.changes.domains_changed > 0;
        let published = tokio::task::spawn_blocking(move || {
            publish(&live, &store, &data, &pending, domains_changed)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        let patched = match published {
            Ok(patched) => patched,
            Err(e) => {
                // The served snapshot lags the store now: the next commit compares everything
                // and publishes in full rather than patching a stale snapshot.
                self.store.forget_digests();
                return Err(SyncError::Store(format!(
                    "publishing the new snapshot failed: {e}"
                )));
            }
        };
        tracing::debug!(
            run = done.id,
            publish_ms = phase.elapsed().as_millis() as u64,
            patched,
            "sync publish phase"
        );
        Ok(Step::Committed(done, sizes))
    }
}

/// Makes the committed directory the served one: patches the served snapshot with the
/// records a delta commit changed, or builds it in full (from the commit's data, or from
/// the store when a patch cannot apply, e.g. when the domains and so maybe the base DN
/// changed). Returns whether it patched.
fn publish(
    live: &LiveDirectory,
    store: &Store,
    data: &Committed,
    pending: &PendingCommit,
    domains_changed: bool,
) -> Result<bool, StoreError> {
    match data {
        Committed::Full(data) => live.publish(data),
        Committed::Changed(changes) => {
            if !domains_changed && live.publish_changes(changes, &pending.snapshot.groups) {
                return Ok(true);
            }
            live.publish(&store.load_directory()?);
        }
    }
    Ok(false)
}

/// How a run that did not fail ended.
enum Step {
    /// Committed (and published when something changed); users and groups in the result.
    Committed(SyncRun, (usize, usize)),
    /// Held by the deletion guard, with the result kept for the admin's decision.
    Held(SyncRun, Arc<PendingCommit>),
}

/// The worker task: executes queued runs one at a time and queues scheduled ones.
async fn run_worker(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    shutdown: CancellationToken,
) {
    let mut every = shared.settings.current().interval_secs;
    let mut next = next_tick(every);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(job) = rx.recv() => shared.execute(job, &shutdown).await,
            _ = tick(next) => {
                if let Some(held) = lock(&shared.state).held.as_ref().map(|h| h.run.id) {
                    // Re-reading every interval would only hold the same deletions again.
                    tracing::info!(held, "scheduled sync skipped: a held run awaits approval");
                } else if let Err(e) = shared.trigger(SyncTrigger::Schedule) {
                    tracing::info!(error = %e, "scheduled sync skipped");
                }
                next = next_tick(every);
            }
        }
        // The interval is a run-time option: a change reschedules from now.
        let now_every = shared.settings.current().interval_secs;
        if now_every != every {
            tracing::info!(interval_secs = now_every, "sync schedule changed");
            every = now_every;
            next = next_tick(every);
        }
    }
    // Runs queued but never started are recorded as cancelled.
    rx.close();
    while let Some(job) = rx.recv().await {
        let run = job.into_run();
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

/// When the next scheduled run is due, `every` seconds from now (`None`: no schedule).
fn next_tick(every: u64) -> Option<tokio::time::Instant> {
    if every == 0 {
        return None;
    }
    // Overflow (an absurd interval) means "never" rather than a panic.
    tokio::time::Instant::now().checked_add(Duration::from_secs(every))
}

/// Resolves at the next schedule tick, or never when there is no schedule.
async fn tick(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
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
