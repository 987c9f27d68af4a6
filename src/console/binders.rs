//! The Binders page: service accounts that applications bind as. Create (the secret is
//! shown once, on the answer page, never again), reset, delete; the scope shown per binder.

use super::layout::{self, Nav, Page, csrf_field};
use super::session::Session;
use super::{Console, Shared, SignedIn, audit};
use crate::admin::api::{
    BinderView, binder_views, create_binder, delete_binder, reset_binder_secret,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/binders", get(list).post(create))
        .route("/console/binders/{name}/reset", post(reset))
        .route("/console/binders/{name}/delete", post(delete))
}

async fn list(State(console): Shared, session: SignedIn) -> Response {
    render(&console, &session, None).await
}

/// The page, with `secret` (a binder just created or reset) shown once on top.
async fn render(console: &Console, session: &Session, secret: Option<&BinderView>) -> Response {
    let binders = match binder_views(&console.services).await {
        Ok(binders) => binders,
        Err(e) => return layout::error_page(e.status(), e.message()),
    };
    let body = html! {
        @if let Some(view) = secret { (secret_card(view)) }
        table #binders {
            thead { tr { th { "Name" } th { "Bind DN" } th { "Description" } th { "Scope" } th { "Created" } th { } } }
            tbody {
                @for b in &binders {
                    tr data-binder=(b.name) {
                        td { (b.name) }
                        td.mono { (b.dn) }
                        td { (b.description.as_deref().unwrap_or("")) }
                        td {
                            @if b.scope.is_empty() { span.muted { "whole directory" } }
                            @for dn in &b.scope { div.mono { (dn) } }
                        }
                        td { (layout::time(b.created)) }
                        td {
                            form.inline method="post" action=(format!("/console/binders/{}/reset", layout::segment(&b.name))) {
                                (csrf_field(session))
                                button type="submit" { "Reset secret" }
                            }
                            " "
                            form.inline method="post" action=(format!("/console/binders/{}/delete", layout::segment(&b.name))) {
                                (csrf_field(session))
                                button.danger type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
        }
        @if binders.is_empty() { p.muted { "No binders yet." } }
        h2 { "New binder" }
        form.card method="post" action="/console/binders" {
            (csrf_field(session))
            label for="name" { "Name" }
            input #name type="text" name="name" required pattern="[A-Za-z0-9][A-Za-z0-9._-]{0,63}" placeholder="e.g. grafana";
            label for="description" { "Description" }
            input #description type="text" name="description" style="width:100%";
            label for="scope" { "Scope (one subtree DN per line; empty: the whole directory)" }
            textarea #scope name="scope" rows="3" style="width:100%" {}
            p { button.primary #create-binder type="submit" { "Create binder" } }
        }
    };
    layout::page(
        console,
        session,
        Page {
            nav: Nav::Binders,
            title: "Binders",
        },
        body,
    )
}

fn secret_card(view: &BinderView) -> Markup {
    html! {
        div.card #new-secret {
            p { "Secret for " strong { (view.name) } " (" code #binder-dn { (view.dn) } "). "
                strong { "Copy it now: it is not shown again." } }
            div.secret #binder-secret { (view.secret.as_deref().unwrap_or("")) }
        }
    }
}

#[derive(Deserialize)]
struct NewBinderForm {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    scope: String,
}

/// `POST /console/binders`: like `POST /api/v1/binders`.
async fn create(
    State(console): Shared,
    session: SignedIn,
    Form(form): Form<NewBinderForm>,
) -> Response {
    let name = form.name.trim().to_string();
    let description = Some(form.description.trim().to_string()).filter(|d| !d.is_empty());
    let scope: Vec<String> = form
        .scope
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let result = create_binder(&console.services, name.clone(), description, scope).await;
    answer(&console, &session, "binder.add", &name, result).await
}

/// `POST /console/binders/{name}/reset`: like `POST /api/v1/binders/{name}/reset`.
async fn reset(State(console): Shared, session: SignedIn, Path(name): Path<String>) -> Response {
    let result = reset_binder_secret(&console.services, &name).await;
    answer(&console, &session, "binder.reset", &name, result).await
}

/// Audits the outcome; on success shows the page with the new secret, else the error.
async fn answer(
    console: &Console,
    session: &Session,
    action: &str,
    name: &str,
    result: Result<BinderView, crate::admin::api::ApiError>,
) -> Response {
    let outcome = result
        .as_ref()
        .map(|_| ())
        .map_err(|e| e.message().to_string());
    audit::by(&console.services, session, action, name, outcome).await;
    match result {
        Ok(view) => render(console, session, Some(&view)).await,
        Err(e) => {
            console.sessions.set_flash(&session.id, false, e.message());
            Redirect::to("/console/binders").into_response()
        }
    }
}

/// `POST /console/binders/{name}/delete`: like `DELETE /api/v1/binders/{name}`.
async fn delete(State(console): Shared, session: SignedIn, Path(name): Path<String>) -> Response {
    let result = delete_binder(&console.services, &name)
        .await
        .map_err(|e| e.message().to_string());
    audit::conclude(
        &console,
        &session,
        "binder.remove",
        &name,
        result,
        format!("Binder {name} deleted"),
        "/console/binders",
    )
    .await
}
