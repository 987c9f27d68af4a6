//! The simulator's HTTP server: shared state, routes, fault injection and the handle tests
//! hold.
//!
//! Why one state behind short-lived locks: tests mutate the tenant and inject faults while
//! sync is reading it over HTTP; every request takes the lock only to copy out what it
//! serves.

use super::tenant::Tenant;
use super::{delegation, delta, graph, identity, oidc, sign_in_form};
use axum::Router;
use axum::routing::{get, post};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A failure the simulator serves instead of the next Graph response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: <secs>`.
    Throttle { retry_after_secs: u64 },
    /// HTTP 503 (`serviceNotAvailable`), with `Retry-After` when given.
    Unavailable { retry_after_secs: Option<u64> },
    /// HTTP 500 (`generalException`): not worth retrying.
    InternalError,
    /// HTTP 200 whose JSON body is cut in half.
    TruncatedBody,
    /// HTTP 200 whose `@odata.nextLink` (if any) points to another host.
    ForeignNextLink,
}

/// How the delta endpoints refuse a token made invalid by
/// [`SimulatorHandle::expire_delta_tokens`] (graph.md §2.6 "Expiry": both are seen).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeltaExpiry {
    /// HTTP 400 with code `syncStateNotFound` (directory objects, per the docs).
    #[default]
    SyncStateNotFound,
    /// HTTP 410 Gone with a `Location` header holding the initial delta URL.
    Gone,
    /// HTTP 400 `Request_BadRequest` "Invalid syntax for skip token.": what a tenant answers
    /// to a token it cannot read at all (here, as after a restart of the simulator, whose
    /// tokens are salted per process).
    Unreadable,
}

/// Everything the request handlers share.
pub(crate) struct SimState {
    pub tenant: Arc<Mutex<Tenant>>,
    /// Issued access tokens and when each expires.
    pub tokens: Mutex<HashMap<String, Instant>>,
    /// Upcoming responses: `None` is served normally, `Some` replaced by the fault.
    pub faults: Mutex<VecDeque<Option<Fault>>>,
    pub graph_requests: AtomicU64,
    pub token_requests: AtomicU64,
    /// Mixed into `$skiptoken`s so they are opaque and only valid on this server.
    pub skiptoken_salt: u64,
    /// `http://127.0.0.1:PORT` (no trailing slash), for nextLinks and contexts.
    pub base: String,
    /// Delegated sign-ins, extra app registrations, codes and refresh tokens.
    pub identity: Mutex<super::delegation::IdentityState>,
    /// Added before every Graph response (benchmarks: a remote service's round trip).
    pub latency: Mutex<Duration>,
    /// Delta and delta-round tokens carry the epoch they were issued in; older ones are
    /// expired and refused the way `delta_expiry` says.
    pub delta_epoch: AtomicU64,
    pub delta_expiry: Mutex<DeltaExpiry>,
}

/// Locks a mutex, recovering the data if a panicking holder poisoned it (the simulator's
/// data stays usable; a test that panicked has already failed).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// Takes the next injected fault, if any.
    pub fn next_fault(&self) -> Option<Fault> {
        lock(&self.faults).pop_front().flatten()
    }

    /// Waits the configured latency (none by default).
    pub async fn pause(&self) {
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

/// A running simulator.
pub struct SimulatorHandle {
    /// Base URL for both `authority_url` and `graph_url` (e.g. `http://127.0.0.1:PORT`).
    pub url: url::Url,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    state: Arc<SimState>,
    task: tokio::task::AbortHandle,
}

impl SimulatorHandle {
    /// The live tenant: changes are visible to the next request.
    pub fn tenant(&self) -> Arc<Mutex<Tenant>> {
        Arc::clone(&self.state.tenant)
    }

    /// Runs `f` on the live tenant (e.g. `sim.with_tenant(|t| t.disable_user("bob@…"))`).
    pub fn with_tenant<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        f(&mut lock(&self.state.tenant))
    }

    /// Serves `fault` instead of the next `count` Graph responses (after those already
    /// queued).
    pub fn inject_faults(&self, fault: Fault, count: usize) {
        lock(&self.state.faults).extend(std::iter::repeat_n(Some(fault), count));
    }

    /// Serves the next `pass` Graph responses normally (after those already queued), then
    /// `fault` instead of the `count` after them: a run fails midway, e.g. in its second
    /// delta round.
    pub fn inject_faults_after(&self, pass: usize, fault: Fault, count: usize) {
        let mut faults = lock(&self.state.faults);
        faults.extend(std::iter::repeat_n(None, pass));
        faults.extend(std::iter::repeat_n(Some(fault), count));
    }

    /// Graph requests received so far (faulted ones included).
    pub fn graph_requests(&self) -> u64 {
        self.state.graph_requests.load(Ordering::Relaxed)
    }

    /// Token requests received so far.
    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::Relaxed)
    }

    /// Marks the client secret expired: the token endpoint answers AADSTS7000222.
    pub fn revoke_secret(&self) {
        lock(&self.state.tenant).secret_expired = true;
    }

    /// Invalidates every issued access token (Graph answers 401 to them).
    pub fn revoke_tokens(&self) {
        lock(&self.state.tokens).clear();
    }

    /// The shared state, for the identity platform's test controls.
    pub(crate) fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Adds `latency` before every Graph response (token requests are not delayed).
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.state.latency) = latency;
    }

    /// Makes every delta link and delta-round `$skiptoken` issued so far invalid; following
    /// one is refused as `shape` says. Links issued afterwards work again.
    pub fn expire_delta_tokens(&self, shape: DeltaExpiry) {
        *lock(&self.state.delta_expiry) = shape;
        self.state.delta_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Starts serving `tenant` on `addr` (port 0 for any) in the background.
pub async fn start(tenant: Tenant, addr: SocketAddr) -> std::io::Result<SimulatorHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let base = format!("http://{local}");
    let url = url::Url::parse(&base).map_err(std::io::Error::other)?;
    let handle_ids = (
        tenant.tenant_id.clone(),
        tenant.client_id.clone(),
        tenant.client_secret.clone(),
    );
    let state = Arc::new(SimState {
        tenant: Arc::new(Mutex::new(tenant)),
        tokens: Mutex::new(HashMap::new()),
        faults: Mutex::new(VecDeque::new()),
        graph_requests: AtomicU64::new(0),
        token_requests: AtomicU64::new(0),
        skiptoken_salt: rand::random(),
        base,
        identity: Mutex::new(super::delegation::IdentityState::default()),
        latency: Mutex::new(Duration::ZERO),
        delta_epoch: AtomicU64::new(0),
        delta_expiry: Mutex::new(DeltaExpiry::default()),
    });
    let app = router(Arc::clone(&state));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "simulated tenant stopped");
        }
    });
    tracing::info!(url = %url, "simulated Entra tenant listening");
    Ok(SimulatorHandle {
        url,
        tenant_id: handle_ids.0,
        client_id: handle_ids.1,
        client_secret: handle_ids.2,
        state,
        task: task.abort_handle(),
    })
}

fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(delegation::authorize).post(sign_in_form::submit),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(oidc::jwks))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(oidc::discovery),
        )
        .route("/v1.0/me", get(delegation::me))
        .route("/v1.0/users", get(graph::users))
        .route("/v1.0/users/delta", get(delta::users))
        .route("/v1.0/groups", get(graph::groups))
        .route("/v1.0/groups/delta", get(delta::groups))
        .route("/v1.0/groups/{id}/members", get(graph::members))
        .route("/v1.0/domains", get(graph::domains))
        .fallback(graph::not_found)
        .with_state(state)
}
