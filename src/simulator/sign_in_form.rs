//! The simulated Microsoft sign-in page: what a browser sees at the authorize endpoint
//! when the request names no `login_hint`.
//!
//! Why a real form: the console's browser tests must sign in as a chosen tenant user by
//! typing a username and password, as people do at login.microsoftonline.com. The fields
//! keep Microsoft's names and ids (`loginfmt`/`#i0116`, `passwd`/`#i0118`, the
//! `#idSIButton9` button). The authorize request's parameters ride along as hidden fields
//! and are checked again on submit; a wrong password (AADSTS50126) or unknown account
//! (AADSTS50034) shows the form again, a disabled account (AADSTS50057) is sent back to the
//! app as an error, as Entra does after the password step.

use super::delegation::{check_authorize, sign_in};
use super::oidc::password_matches;
use super::server::{SimState, lock};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, html};
use std::collections::HashMap;
use std::sync::Arc;

/// Form fields that are the person's input, not authorize parameters.
const USERNAME: &str = "loginfmt";
const PASSWORD: &str = "passwd";

/// The sign-in page for the authorize request `q`, with `error` above the fields.
pub(crate) fn form(tenant: &str, q: &HashMap<String, String>, error: Option<&str>) -> Response {
    let mut params: Vec<(&String, &String)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != USERNAME && k.as_str() != PASSWORD)
        .collect();
    params.sort();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Sign in to your account" }
            }
            body style="font-family: sans-serif; max-width: 28rem; margin: 4rem auto" {
                h1 { "Sign in" }
                p { "Simulated Microsoft Entra ID tenant " code { (tenant) } }
                @if let Some(error) = error {
                    p #usernameError style="color: #a80000" { (error) }
                }
                form method="post" action=(format!("/{tenant}/oauth2/v2.0/authorize")) {
                    @for (name, value) in params {
                        input type="hidden" name=(name) value=(value);
                    }
                    p { input #i0116 type="email" name=(USERNAME) placeholder="Email, phone, or Skype" autofocus required style="width: 100%"; }
                    p { input #i0118 type="password" name=(PASSWORD) placeholder="Password" required style="width: 100%"; }
                    p { button #idSIButton9 type="submit" { "Sign in" } }
                }
            }
        }
    };
    (StatusCode::OK, Html(markup.into_string())).into_response()
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: the sign-in form's submission.
pub(crate) async fn submit(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let mut q: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let username = q.remove(USERNAME).unwrap_or_default();
    let password = q.remove(PASSWORD).unwrap_or_default();
    let t = lock(&state.tenant);
    let mut ids = lock(&state.identity);
    let request = match check_authorize(&t, &ids, &tenant, &q, &state.base) {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    let user = t
        .users
        .iter()
        .find(|u| u.user_principal_name.eq_ignore_ascii_case(username.trim()));
    match user {
        None => form(
            &tenant,
            &q,
            Some(&format!(
                "AADSTS50034: The user account {} does not exist in the {tenant} directory.",
                username.trim()
            )),
        ),
        Some(user) if !password_matches(&ids, &user.id, &password) => form(
            &tenant,
            &q,
            Some("AADSTS50126: Error validating credentials due to invalid username or password."),
        ),
        Some(user) => sign_in(&mut ids, &request, user),
    }
}
