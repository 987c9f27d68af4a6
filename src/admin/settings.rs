//! Admin API for the sync options: `GET` and `PATCH /api/v1/sync/settings`.
//!
//! Why its own file: the rules (file-managed options are read-only, values are checked
//! exactly as in the config file, a change is persisted and then applied by a sync run)
//! live in `sync::settings`; this only maps them to HTTP. See docs/api.md.

use super::api::{ApiError, JsonBody};
use crate::app::Services;
use crate::model::{SyncOutcome, SyncTrigger};
use crate::sync::settings::{InactiveUsers, SettingsView, UpdateError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// How many recent runs are searched for the last successful one's warnings.
const RECENT_RUNS: usize = 50;

/// What `GET` answers: every option, plus the warnings of the last successful run (e.g. an allowed
/// group that matches nothing), so a typo is visible where the options are edited.
#[derive(Serialize)]
pub struct SettingsAnswer {
    #[serde(flatten)]
    pub view: SettingsView,
    pub warnings: Vec<String>,
}

/// What `PATCH` answers: the options after the change and the run that applies them.
#[derive(Serialize)]
pub struct PatchAnswer {
    #[serde(flatten)]
    pub view: SettingsView,
    /// The run started to apply the change; when one was already running, that run's id
    /// (another run follows it). `None` when the effective settings did not change.
    pub run_id: Option<u64>,
    pub message: String,
}

impl From<UpdateError> for ApiError {
    fn from(error: UpdateError) -> ApiError {
        match error {
            UpdateError::Invalid(e) => ApiError::bad_request(e.to_string()),
            managed @ UpdateError::FileManaged { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, managed.to_string())
            }
            UpdateError::Store(e) => e.into(),
        }
    }
}

pub async fn get_settings(
    State(services): State<Arc<Services>>,
) -> Result<Json<SettingsAnswer>, ApiError> {
    // From the newest run that scoped the tenant (a running or failed one has none).
    let warnings = services
        .store
        .list_runs(RECENT_RUNS)?
        .into_iter()
        .find(|run| run.outcome == SyncOutcome::Succeeded)
        .map(|run| run.warnings)
        .unwrap_or_default();
    Ok(Json(SettingsAnswer {
        view: services.sync.settings().view(),
        warnings,
    }))
}

pub async fn patch_settings(
    State(services): State<Arc<Services>>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> Result<Json<PatchAnswer>, ApiError> {
    Ok(Json(apply_patch(&services, patch).await?))
}

/// Saves changed options and starts the run that applies them (API and console).
pub(crate) async fn apply_patch(
    services: &Arc<Services>,
    patch: Map<String, Value>,
) -> Result<PatchAnswer, ApiError> {
    let source = services.sync.settings().clone();
    let before = source.current();
    let keys: Vec<String> = patch.keys().cloned().collect();
    let updater = source.clone();
    let after = super::off_runtime(services.clone(), move |_| Ok(updater.update(&patch)?)).await?;
    tracing::info!(?keys, "admin changed sync settings");
    if before.inactive_users != after.inactive_users {
        // Visibility needs no Graph read: rebuild the served snapshot now.
        let show = after.inactive_users == InactiveUsers::Show;
        services.live.set_show_inactive_users(show);
        let rebuilt = super::off_runtime(services.clone(), |s| Ok(s.republish()?)).await;
        if let Err(e) = rebuilt {
            // Put the flag back so the sync run below sees the change and republishes.
            services.live.set_show_inactive_users(!show);
            tracing::warn!(error = %e.message(), "cannot rebuild the directory now; the sync run will");
        }
    }
    let (run_id, message) = if before == after {
        (
            None,
            "saved; the effective settings did not change".to_string(),
        )
    } else {
        match services
            .sync
            .trigger_or_follow(SyncTrigger::SettingsChanged)
        {
            Ok(id) => (Some(id), format!("saved; sync run {id} applies the change")),
            Err(busy) => (
                Some(busy.0),
                format!(
                    "saved; a sync is already running (run {}), another run follows it to apply the change",
                    busy.0
                ),
            ),
        }
    };
    Ok(PatchAnswer {
        view: source.view(),
        run_id,
        message,
    })
}
