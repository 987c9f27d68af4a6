//! The simulator's HTTP server: shared state, routes, fault injection and the handle tests
//! hold.
//!
//! Why one state behind short-lived locks: tests mutate the tenant and inject faults while
//! sync is reading it over HTTP; every request takes the lock only to copy out what it
//! serves.

use super::tenant::Tenant;
use super::{delegation, graph, identity};
use axum::Router;
use axum::routing::{get, post};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

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

/// Everything the request handlers share.
pub(crate) struct SimState {
    pub tenant: Arc<Mutex<Tenant>>,
    /// Issued access tokens and when each expires.
    pub tokens: Mutex<HashMap<String, Instant>>,
    pub faults: Mutex<VecDeque<Fault>>,
    pub graph_requests: AtomicU64,
    pub token_requests: AtomicU64,
    /// Mixed into `$skiptoken`s so they are opaque and only valid on this server.
    pub skiptoken_salt: u64,
    /// `http://127.0.0.1:PORT` (no trailing slash), for nextLinks and contexts.
    pub base: String,
    /// Delegated sign-ins, extra app registrations, codes and refresh tokens.
    pub identity: Mutex<super::delegation::IdentityState>,
}

/// Locks a mutex, recovering the data if a panicking holder poisoned it (the simulator's
/// data stays usable; a test that panicked has already failed).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// Takes the next injected fault, if any.
    pub fn next_fault(&self) -> Option<Fault> {
        lock(&self.faults).pop_front()
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
        lock(&self.state.faults).extend(std::iter::repeat_n(fault, count));
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
            get(delegation::authorize),
        )
        .route("/v1.0/me", get(delegation::me))
        .route("/v1.0/users", get(graph::users))
        .route("/v1.0/groups", get(graph::groups))
        .route("/v1.0/groups/{id}/members", get(graph::members))
        .route("/v1.0/domains", get(graph::domains))
        .fallback(graph::not_found)
        .with_state(state)
}
