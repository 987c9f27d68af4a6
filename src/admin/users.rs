//! Admin API for the synced users: `GET /api/v1/users`.
//!
//! Why: an admin who wonders why someone cannot bind needs to see the user's status and,
//! for an inactive user, the reason (disabled in Entra, not in an allowed group, in a
//! denied group, outside the selected domains, deleted). See docs/api.md.

use super::api::ApiError;
use crate::app::Services;
use crate::model::{InactiveReason, UserRecord, UserStatus};
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Default and largest page of the list.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// Active or inactive, as the `status` query parameter and the answer spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Active,
    Inactive,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    status: Option<StatusFilter>,
    /// Case-insensitive substring of uid, mail, UPN or display name.
    q: Option<String>,
    limit: Option<usize>,
}

/// One user as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub uid: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: String,
    pub uid_number: u32,
    pub status: StatusFilter,
    /// Why the user is inactive; `None` for active users.
    pub reason: Option<InactiveReason>,
}

/// The answer: matching users ordered by uid, at most `limit` of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UsersAnswer {
    pub users: Vec<UserView>,
    /// How many users matched in all.
    pub total: usize,
    pub truncated: bool,
}

/// The API's view of a user record (also used by `GET /api/v1/users/{uid}`).
pub(crate) fn view(user: &UserRecord) -> UserView {
    let (status, reason) = match user.status {
        UserStatus::Active => (StatusFilter::Active, None),
        UserStatus::Inactive(reason) => (StatusFilter::Inactive, Some(reason)),
    };
    UserView {
        uid: user.uid.clone(),
        display_name: user.entra.display_name.clone(),
        mail: user.entra.mail.clone(),
        user_principal_name: user.entra.user_principal_name.clone(),
        uid_number: user.uid_number,
        status,
        reason,
    }
}

/// Whether `user` contains `needle` (already lowercased) in one of its names.
fn matches_text(user: &UserView, needle: &str) -> bool {
    [
        Some(user.uid.as_str()),
        user.mail.as_deref(),
        Some(user.user_principal_name.as_str()),
        user.display_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|text| text.to_lowercase().contains(needle))
}

pub async fn list_users(
    State(services): State<Arc<Services>>,
    Query(query): Query<UsersQuery>,
) -> Result<Json<UsersAnswer>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let needle = query.q.as_deref().map(str::to_lowercase);
    let records = super::off_runtime(services, |s| Ok(s.store.list_users()?)).await?;
    let mut users: Vec<UserView> = records
        .iter()
        .map(view)
        .filter(|u| query.status.is_none_or(|s| u.status == s))
        .filter(|u| needle.as_deref().is_none_or(|n| matches_text(u, n)))
        .collect();
    users.sort_by(|a, b| a.uid.cmp(&b.uid));
    let total = users.len();
    users.truncate(limit);
    Ok(Json(UsersAnswer {
        truncated: total > users.len(),
        users,
        total,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_matches_any_name_case_insensitively() {
        let user = UserView {
            uid: "alice".into(),
            display_name: Some("Alice Anderson".into()),
            mail: None,
            user_principal_name: "alice@Example.com".into(),
            uid_number: 1,
            status: StatusFilter::Active,
            reason: None,
        };
        assert!(matches_text(&user, "anders"));
        assert!(matches_text(&user, "example.com"));
        assert!(!matches_text(&user, "bob"));
    }
}
