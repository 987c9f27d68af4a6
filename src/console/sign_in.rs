//! Signing in and out of the console: the sign-in page (with "Sign in with Microsoft",
//! see `microsoft.rs`, and the break-glass admin token), sign-out, and the page an employee
//! gets for the admin console.
//!
//! Why a form and not HTTP authentication: a session cookie can be ended (sign-out, expiry)
//! and carries a CSRF token.

use super::session::{self, Identity};
use super::{Shared, SignedIn, audit, client_ip, layout};
use crate::admin::api::constant_time_eq;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

/// `GET /console/sign-in`.
pub async fn form() -> Response {
    sign_in_page(StatusCode::OK, None)
}

/// The sign-in page with `status` and, when given, why the last attempt failed.
pub fn sign_in_page(status: StatusCode, error: Option<&str>) -> Response {
    layout::bare(
        status,
        "Sign in to entra-ldap",
        html! {
            @if let Some(error) = error { p.error id="error" { (error) } }
            p {
                a.button.primary #sign-in-microsoft href="/console/sign-in/microsoft" { "Sign in with Microsoft" }
            }
            p.muted { "Admins get the console; everyone else with an active account gets their self-service page (LDAP password and settings)." }
            h2 { "Break-glass admin token" }
            form method="post" action="/console/sign-in" {
                label for="token" { "Admin token" }
                input #token type="password" name="token" autocomplete="off" autofocus required style="width:100%";
                p.muted { "The break-glass token from " code { "[admin] token" } " in the configuration." }
                button.primary #sign-in type="submit" { "Sign in" }
            }
        },
    )
}

/// `POST /console/sign-in`: checks the token (constant time), rate-limited per client IP.
pub async fn submit(axum::extract::State(console): Shared, req: Request) -> Response {
    let ip = client_ip(req.extensions());
    if let Some(wait) = console.limiter.blocked(ip) {
        let mut response = sign_in_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed sign-ins from your address. Try again in {wait} s."
            )),
        );
        if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let body = axum::body::to_bytes(req.into_body(), super::MAX_FORM_BYTES)
        .await
        .unwrap_or_default();
    let token = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let expected = console.services.admin_token.expose();
    if token.is_empty() || !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        console.limiter.record_failure(ip);
        audit::record(
            &console.services,
            format!("console:{ip}"),
            "console.sign_in",
            "",
            Err("wrong token".to_string()),
        )
        .await;
        return sign_in_page(StatusCode::UNAUTHORIZED, Some("That token is not right."));
    }
    console.limiter.clear(ip);
    let session = console.sessions.create(Identity::AdminToken);
    audit::by(&console.services, &session, "console.sign_in", "", Ok(())).await;
    (
        [(header::SET_COOKIE, session::cookie(&session.id))],
        Redirect::to("/console/sync"),
    )
        .into_response()
}

/// `POST /console/sign-out`: ends the session and clears the cookie.
pub async fn sign_out(axum::extract::State(console): Shared, session: SignedIn) -> Response {
    console.sessions.remove(&session.id);
    audit::by(&console.services, &session, "console.sign_out", "", Ok(())).await;
    (
        [(header::SET_COOKIE, session::expired_cookie())],
        Redirect::to("/console/sign-in"),
    )
        .into_response()
}

/// The page a signed-in employee gets for the admin console: 403, what they may use instead.
pub fn not_an_admin(session: &session::Session) -> Response {
    layout::bare(
        StatusCode::FORBIDDEN,
        "Forbidden",
        html! {
            p.error #error {
                "The admin console is for admins. You are signed in as "
                strong { (session.identity.who()) }
                ", who is not an admin of this directory."
            }
            p { a #to-me href="/me" { "Go to your self-service page" } " (LDAP password and settings)." }
            form method="post" action="/console/sign-out" {
                (layout::csrf_field(session))
                button type="submit" #sign-out { "Sign out" }
            }
        },
    )
}
