//! "Sign in with Microsoft" on the console: the start (off to the identity platform) and
//! the callback (verify, decide the role, start a session).
//!
//! Why a flow cookie: the flow's `state` is bound to the browser that started it by a
//! short-lived cookie (`SameSite=Lax`, so it survives the top-level redirect back from
//! Microsoft): a callback whose state is not this browser's is refused, so nobody can slip
//! their own sign-in into someone else's browser. The callback answers with a page that
//! moves on by itself, so the `SameSite=Strict` session cookie is sent on the next request
//! (it is not on a redirect chain that began at another site). The protocol work (PKCE,
//! nonce, id_token verification) is `admin/oidc.rs`; who gets what is `access.rs`.

use super::session::{self, Identity, Role};
use super::sign_in::sign_in_page;
use super::{Console, Shared, access, audit, client_ip, layout};
use crate::admin::api::constant_time_eq;
use crate::admin::authorize::CallbackParams;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

/// The cookie that ties a Microsoft sign-in's `state` to the browser that started it.
const FLOW_COOKIE: &str = "entra_ldap_sign_in";
/// Microsoft sign-ins one client address may start per [`START_WINDOW`] (a person needs a
/// few; each start keeps a pending flow for ten minutes).
pub const MAX_STARTS: usize = 20;
const START_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// The per-address limit on starting Microsoft sign-ins.
pub fn start_limiter() -> super::ratelimit::SignInLimiter {
    super::ratelimit::SignInLimiter::with_limit(MAX_STARTS, START_WINDOW)
}

/// `GET /console/sign-in/microsoft`: off to the identity platform (the state goes into a
/// cookie of this browser).
pub async fn start(axum::extract::State(console): Shared, req: Request) -> Response {
    let ip = client_ip(req.extensions());
    if let Some(wait) = console.starts.blocked(ip) {
        let mut response = sign_in_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many sign-ins started from your address. Try again in {wait} s."
            )),
        );
        if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    console.starts.record_failure(ip);
    match console.services.microsoft_sign_in.start() {
        Ok(started) => {
            let cookie = format!(
                "{FLOW_COOKIE}={}; Path=/console/sign-in; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
                started.state,
                crate::admin::oidc::STATE_LIFETIME.as_secs()
            );
            (
                [(header::SET_COOKIE, cookie)],
                Redirect::to(started.url.as_str()),
            )
                .into_response()
        }
        Err(e) => sign_in_page(StatusCode::INTERNAL_SERVER_ERROR, Some(&e.0)),
    }
}

/// The state this browser's sign-in started with, from its flow cookie.
fn flow_state(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value)
}

/// `GET /console/sign-in/callback`: the identity platform's answer. Checks the state
/// against this browser's, verifies the sign-in, decides the role from the directory and
/// starts a session: admins go to the console, employees to `/me`.
pub async fn callback(
    axum::extract::State(console): Shared,
    Query(params): Query<CallbackParams>,
    req: Request,
) -> Response {
    let ip = client_ip(req.extensions());
    let from_browser = flow_state(req.headers()).unwrap_or("");
    let returned = params.state.as_deref().unwrap_or("");
    if returned.is_empty() || !constant_time_eq(from_browser.as_bytes(), returned.as_bytes()) {
        return refuse(
            &console,
            StatusCode::BAD_REQUEST,
            format!("console:{ip}"),
            "This sign-in was not started in this browser (state mismatch): start again."
                .to_string(),
        )
        .await;
    }
    let person = match console.services.microsoft_sign_in.complete(&params).await {
        Ok(person) => person,
        Err(e) => {
            return refuse(
                &console,
                StatusCode::UNAUTHORIZED,
                format!("console:{ip}"),
                e.0,
            )
            .await;
        }
    };
    let actor = format!("microsoft:{}", person.username);
    let data = match super::directory_data(&console).await {
        Ok(data) => data,
        Err(page) => return *page,
    };
    let role = match access::role_of(&console.services.admin_access, &data, &person) {
        Ok(role) => role,
        Err(why) => return refuse(&console, StatusCode::FORBIDDEN, actor, why).await,
    };
    let upn = data
        .users
        .iter()
        .find(|u| u.entra.id == person.object_id)
        .map(|u| u.entra.user_principal_name.clone())
        .unwrap_or(person.username);
    let session = console.sessions.create(Identity::Microsoft {
        object_id: person.object_id,
        upn,
        role,
    });
    audit::by(
        &console.services,
        &session,
        "console.sign_in",
        "microsoft",
        Ok(()),
    )
    .await;
    let next = match role {
        Role::Admin => "/console/sync",
        Role::Employee => "/me",
    };
    let mut response = layout::bare(
        StatusCode::OK,
        "Signed in",
        html! {
            meta http-equiv="refresh" content=(format!("0;url={next}"));
            p { "Signed in as " strong { (session.identity.who()) } ". "
                a #continue href=(next) { "Continue" } }
        },
    );
    for cookie in [session::cookie(&session.id), clear_flow_cookie()] {
        if let Ok(value) = header::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The `Set-Cookie` value that ends the flow cookie.
fn clear_flow_cookie() -> String {
    format!("{FLOW_COOKIE}=; Path=/console/sign-in; HttpOnly; Secure; SameSite=Lax; Max-Age=0")
}

/// A refused Microsoft sign-in: logged, audited, and the sign-in page with the reason.
async fn refuse(console: &Console, status: StatusCode, actor: String, why: String) -> Response {
    tracing::warn!(%actor, reason = %why, "Microsoft sign-in refused");
    audit::record(
        &console.services,
        actor,
        "console.sign_in",
        "microsoft",
        Err(why.clone()),
    )
    .await;
    let mut response = sign_in_page(status, Some(&why));
    if let Ok(value) = header::HeaderValue::from_str(&clear_flow_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
