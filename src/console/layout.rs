//! The frame every console page shares: head, navigation bar, flash message, and helpers
//! for forms and times.
//!
//! Why one place: the nav, the sign-out form (with its CSRF token) and the stylesheet link
//! must be identical everywhere; pages only render their own content.

use super::Console;
use super::session::Session;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// The console's one stylesheet, compiled into the binary.
const CSS: &str = include_str!("console.css");

/// `GET /console/static/console.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

/// The areas of the nav bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Sync,
    Users,
    Groups,
    Binders,
    Logs,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Sync, "/console/sync", "Sync"),
    (Nav::Users, "/console/users", "Users"),
    (Nav::Groups, "/console/groups", "Groups"),
    (Nav::Binders, "/console/binders", "Binders"),
    (Nav::Logs, "/console/logs", "Logs"),
];

/// One page's frame options.
pub struct Page<'a> {
    pub nav: Nav,
    pub title: &'a str,
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(super::csrf::FIELD) value=(session.csrf); }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · entra-ldap" }
            link rel="stylesheet" href="/console/static/console.css";
        }
    }
}

/// A full signed-in page: nav bar, the session's pending flash message, then `body`.
pub fn page(console: &Console, session: &Session, page: Page<'_>, body: Markup) -> Response {
    let flash = console.sessions.take_flash(&session.id);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(page.title))
            body {
                header.topbar {
                    span.brand { "entra-ldap" }
                    nav {
                        @for (nav, href, label) in NAV {
                            a href=(href) class=[(nav == page.nav).then_some("active")] { (label) }
                        }
                    }
                    form.signout method="post" action="/console/sign-out" {
                        span.who { (session.identity.actor()) }
                        (csrf_field(session))
                        button type="submit" { "Sign out" }
                    }
                }
                main {
                    h1 { (page.title) }
                    @if let Some(flash) = flash {
                        div id="flash" class=(if flash.ok { "flash ok" } else { "flash error" }) { (flash.text) }
                    }
                    (body)
                }
            }
        }
    };
    no_store(Html(markup.into_string()).into_response())
}

/// A piece of a page (for a page's script to swap in), not cached.
pub fn fragment(markup: Markup) -> Response {
    no_store(Html(markup.into_string()).into_response())
}

/// A page outside the signed-in frame (sign-in, errors).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main.narrow {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    no_store((status, Html(markup.into_string())).into_response())
}

/// An error page with a way back.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    bare(
        status,
        status.canonical_reason().unwrap_or("Error"),
        html! {
            p.error id="error" { (message) }
            p { a href="/console/sync" { "Back to the console" } }
        },
    )
}

/// Pages show directory data and one-time secrets: never cache them.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `value` percent-encoded for use as one URL path segment (names come from Entra and
/// from admins, so they may hold any character).
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `2026-11-27 06:00:00` (UTC) from Unix seconds.
pub fn time(unix: i64) -> String {
    crate::directory::values::format_utc(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("alice"), "alice");
        assert_eq!(segment("a b/c?é"), "a%20b%2Fc%3F%C3%A9");
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(time(1_795_761_599), "2026-11-27 06:39:59");
        assert_eq!(time(-1), "1969-12-31 23:59:59");
    }
}
