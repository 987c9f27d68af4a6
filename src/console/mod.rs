//! The admin web console: server-rendered pages under `/console/` on the admin listener.
//!
//! Why server-rendered (maud templates, one small CSS file, no JavaScript build): the
//! console is a handful of tables and forms for admins; HTML from the server keeps it one
//! binary, testable over plain HTTP, and every value is escaped by the template engine.
//! Handlers stay thin: they call the same functions as the JSON API (src/admin/api.rs).
//!
//! Security: sign-in with Microsoft (OpenID Connect; admins by `[admin] admin_group` /
//! `admins`, other active users get only the self-service page `/me`) or with the
//! break-glass admin token (rate-limited per IP), a session cookie (`HttpOnly; Secure;
//! SameSite=Strict`), a CSRF token checked on every form POST by the session gate, and
//! every change written to the audit trail. See docs/console.md.

mod access;
mod audit;
mod binders;
mod credentials_section;
pub mod csrf;
pub(crate) mod groups;
mod layout;
mod logs;
mod microsoft;
pub mod ratelimit;
mod self_service;
pub mod session;
mod settings_form;
mod sign_in;
mod sync_page;
pub(crate) mod users;

pub use credentials_section::authorized_page;
pub use microsoft::MAX_STARTS as MAX_MICROSOFT_SIGN_IN_STARTS;

use crate::app::Services;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use session::{Session, Sessions};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Largest form body the console reads (forms are tiny; matches the API's limit).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What console handlers share.
pub struct Console {
    pub services: Arc<Services>,
    pub sessions: Sessions,
    pub limiter: ratelimit::SignInLimiter,
    /// Microsoft sign-ins started per client address (each keeps a pending flow).
    pub starts: ratelimit::SignInLimiter,
}

type Shared = State<Arc<Console>>;

/// The console's routes, ready to merge into the admin router (any outer state type).
pub fn router<S: Clone + Send + Sync + 'static>(services: Arc<Services>) -> Router<S> {
    let console = Arc::new(Console {
        services,
        sessions: Sessions::default(),
        limiter: ratelimit::SignInLimiter::default(),
        starts: microsoft::start_limiter(),
    });
    let signed_in = Router::new()
        .route("/console", get(|| async { Redirect::to("/console/sync") }))
        .route("/console/", get(|| async { Redirect::to("/console/sync") }))
        .merge(sync_page::routes())
        .merge(credentials_section::routes())
        .merge(users::routes())
        .merge(groups::routes())
        .merge(binders::routes())
        .merge(logs::routes())
        .route_layer(middleware::from_fn_with_state(
            console.clone(),
            require_session,
        ));
    let any_person = Router::new()
        .merge(self_service::routes())
        .route("/console/sign-out", post(sign_in::sign_out))
        .route_layer(middleware::from_fn_with_state(
            console.clone(),
            require_signed_in,
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/sync") }))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-in/microsoft", get(microsoft::start))
        .route("/console/sign-in/callback", get(microsoft::callback))
        .route("/console/static/console.css", get(layout::stylesheet))
        .merge(signed_in)
        .merge(any_person)
        .with_state(console)
}

/// The console's gate: [`session_gate`] for admins only (the token, or a person signed in
/// with Microsoft as an admin); a signed-in employee gets a clear 403 page.
async fn require_session(State(console): Shared, req: Request, next: Next) -> Response {
    session_gate(&console, req, next, true).await
}

/// The self-service page's gate: [`session_gate`] for anyone signed in.
async fn require_signed_in(State(console): Shared, req: Request, next: Next) -> Response {
    session_gate(&console, req, next, false).await
}

/// Lets a request through only with a live session (of an admin, if `admins_only`): GETs
/// without one are sent to the sign-in page, other methods get 401. Every non-GET request
/// must also carry the session's CSRF token in its form body, or it is refused with 403
/// before any handler runs. Handlers find the [`Session`] in the request extensions.
async fn session_gate(console: &Console, req: Request, next: Next, admins_only: bool) -> Response {
    let session = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session::id_from_cookie_header)
        .and_then(|id| console.sessions.touch(id));
    let Some(session) = session else {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            return Redirect::to("/console/sign-in").into_response();
        }
        return layout::error_page(
            StatusCode::UNAUTHORIZED,
            "Your session has ended: sign in again.",
        );
    };
    if admins_only && !session.identity.is_admin() {
        return sign_in::not_an_admin(&session);
    }
    let (mut parts, body) = req.into_parts();
    let body = if parts.method == Method::GET || parts.method == Method::HEAD {
        body
    } else {
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return layout::error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
        };
        if !csrf::form_has_token(&bytes, &session.csrf) {
            tracing::warn!(path = %parts.uri.path(), "console form without a valid CSRF token refused");
            return layout::error_page(
                StatusCode::FORBIDDEN,
                "This form is missing its security token or it is out of date. Reload the page and try again.",
            );
        }
        Body::from(bytes)
    };
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, body)).await
}

/// The client's address, when the listener recorded it (the admin listener does).
fn client_ip(req_extensions: &axum::http::Extensions) -> IpAddr {
    req_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// The session the middleware attached (every signed-in handler extracts it).
type SignedIn = axum::Extension<Session>;

/// The committed directory data (users, groups) for the list pages, or an error page.
/// Read off the async runtime ([`crate::admin::off_runtime`]): it reads the whole store.
async fn directory_data(console: &Console) -> Result<crate::model::DirectoryData, Box<Response>> {
    crate::admin::off_runtime(console.services.clone(), |s| {
        Ok(s.store.load_directory()?)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e.message(), "console cannot read the directory");
        Box::new(layout::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage error (see server log)",
        ))
    })
}
