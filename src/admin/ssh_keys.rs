//! Users' SSH public keys: list, add, remove, for the admin API, the CLI (through the API),
//! the console and the employee self-service page.
//!
//! Why here and not in the store: a key is validated ([`crate::ssh_key`]), checked against
//! the user's other keys (no duplicates, at most [`MAX_KEYS_PER_USER`]) and then the served
//! directory is refreshed so LDAP clients (sshd's `AuthorizedKeysCommand`) see the change at
//! once. The store only keeps the list, which syncs never touch. See docs/api.md.
//!
//! The functions taking a user's object id ([`list`], [`add`], [`remove`]) are what the
//! self-service page calls for the signed-in person (from async code through
//! [`off_runtime`](super::off_runtime), as the API and console do); the `*_for_uid` handlers are the admin API's
//! routes.

use super::api::{ApiError, JsonBody};
use super::off_runtime;
use crate::app::Services;
use crate::model::{ObjectId, UserRecord};
use crate::ssh_key::{self, MAX_KEYS_PER_USER, SshPublicKey};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Serialises key edits: an edit reads the list, checks it and writes it back, and two edits
/// of the same list at once must not lose one of them.
static EDITS: Mutex<()> = Mutex::new(());

/// One stored key as the API and pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    /// `SHA256:…` as `ssh-keygen -l` prints it; names the key in `DELETE`.
    pub fingerprint: String,
    pub algorithm: String,
    pub bits: u32,
    pub comment: Option<String>,
    /// The entry as served in `sshPublicKey`.
    pub key: String,
}

impl From<SshPublicKey> for KeyView {
    fn from(key: SshPublicKey) -> KeyView {
        KeyView {
            fingerprint: key.fingerprint,
            algorithm: key.algorithm,
            bits: key.bits,
            comment: key.comment,
            key: key.line,
        }
    }
}

/// A stored entry as a view. Entries stored before keys were validated may not parse: they
/// are still listed (with what can be said about them) so they can be removed.
fn view_of_stored(line: &str) -> KeyView {
    match SshPublicKey::parse(line) {
        Ok(key) => key.into(),
        Err(_) => {
            use sha2::Digest;
            let mut words = line.split_whitespace();
            let algorithm = words.next().unwrap_or("").to_string();
            let blob = words
                .next()
                .and_then(|w| {
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, w).ok()
                })
                .unwrap_or_else(|| sha2::Sha256::digest(line.as_bytes()).to_vec());
            KeyView {
                fingerprint: ssh_key::fingerprint_of_blob(&blob),
                algorithm,
                bits: 0,
                comment: Some("(not a valid key; remove it)".to_string()),
                key: line.to_string(),
            }
        }
    }
}

fn user_of(services: &Services, id: &ObjectId) -> Result<UserRecord, ApiError> {
    services
        .store
        .get_user(id)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("user {id} not found")))
}

/// The object id of login name `uid` (404 when there is none).
pub(crate) fn user_id_by_uid(services: &Services, uid: &str) -> Result<ObjectId, ApiError> {
    services
        .store
        .user_id_by_login(uid)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("user `{uid}` not found")))
}

/// The keys of user `id`, in the order they were added.
pub fn list(services: &Services, id: &ObjectId) -> Result<Vec<KeyView>, ApiError> {
    Ok(user_of(services, id)?
        .ssh_public_keys
        .iter()
        .map(|line| view_of_stored(line))
        .collect())
}

/// Validates `key` and adds it to user `id`'s keys, then refreshes the served directory.
/// 400 for a malformed or weak key, 404 for no such user, 409 when the user is inactive,
/// already has the key, or has [`MAX_KEYS_PER_USER`] keys. Nothing changes on an error.
pub fn add(services: &Services, id: &ObjectId, key: &str) -> Result<KeyView, ApiError> {
    let parsed = SshPublicKey::parse(key)
        .map_err(|e| ApiError::bad_request(format!("SSH public key rejected: {e}")))?;
    let _edit = EDITS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let user = user_of(services, id)?;
    if !user.status.is_active() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("user `{}` is inactive and cannot get SSH keys", user.uid),
        ));
    }
    let current: Vec<KeyView> = user
        .ssh_public_keys
        .iter()
        .map(|l| view_of_stored(l))
        .collect();
    if current.iter().any(|k| k.fingerprint == parsed.fingerprint) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "user `{}` already has the key {}",
                user.uid, parsed.fingerprint
            ),
        ));
    }
    if current.len() >= MAX_KEYS_PER_USER {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "user `{}` already has {MAX_KEYS_PER_USER} SSH keys, the most allowed; remove one first",
                user.uid
            ),
        ));
    }
    let mut keys = user.ssh_public_keys.clone();
    keys.push(parsed.line.clone());
    services.store.set_ssh_public_keys(id, &keys)?;
    services.republish()?;
    tracing::info!(uid = %user.uid, fingerprint = %parsed.fingerprint, "SSH public key added");
    Ok(parsed.into())
}

/// Removes the key with `fingerprint` (as [`KeyView::fingerprint`], with or without
/// `SHA256:`, also URL-safe base64) from user `id`'s keys, then refreshes the served
/// directory. 400 for something that is not a fingerprint, 404 for no such user or key.
pub fn remove(services: &Services, id: &ObjectId, fingerprint: &str) -> Result<KeyView, ApiError> {
    let wanted = ssh_key::normalize_fingerprint(fingerprint).ok_or_else(|| {
        ApiError::bad_request(
            "not an SSH key fingerprint (expected SHA256:… as ssh-keygen -l prints it)",
        )
    })?;
    let _edit = EDITS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let user = user_of(services, id)?;
    let position = user
        .ssh_public_keys
        .iter()
        .position(|line| view_of_stored(line).fingerprint == wanted)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("user `{}` has no SSH key {wanted}", user.uid),
            )
        })?;
    let mut keys = user.ssh_public_keys.clone();
    let removed = keys.remove(position);
    services.store.set_ssh_public_keys(id, &keys)?;
    services.republish()?;
    tracing::info!(uid = %user.uid, fingerprint = %wanted, "SSH public key removed");
    Ok(view_of_stored(&removed))
}

type Shared = State<Arc<Services>>;

/// The answer of `GET /api/v1/users/{uid}/ssh-keys`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeysAnswer {
    pub uid: String,
    pub keys: Vec<KeyView>,
    /// Most keys a user may have.
    pub max_keys: usize,
}

/// `GET /api/v1/users/{uid}/ssh-keys`.
pub(crate) async fn list_for_uid(
    State(services): Shared,
    Path(uid): Path<String>,
) -> Result<Json<KeysAnswer>, ApiError> {
    let id = user_id_by_uid(&services, &uid)?;
    Ok(Json(KeysAnswer {
        keys: list(&services, &id)?,
        uid,
        max_keys: MAX_KEYS_PER_USER,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// One line as in a `.pub` file: `type base64 [comment]`.
    key: String,
}

/// `POST /api/v1/users/{uid}/ssh-keys` with `{"key": "ssh-ed25519 AAAA… comment"}`.
pub(crate) async fn add_for_uid(
    State(services): Shared,
    Path(uid): Path<String>,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let view = off_runtime(services, move |services| {
        add(services, &user_id_by_uid(services, &uid)?, &body.key)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `DELETE /api/v1/users/{uid}/ssh-keys/{fingerprint}`.
pub(crate) async fn remove_for_uid(
    State(services): Shared,
    Path((uid, fingerprint)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    off_runtime(services, move |services| {
        remove(services, &user_id_by_uid(services, &uid)?, &fingerprint)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_entries_that_do_not_parse_are_listed_so_they_can_be_removed() {
        let view = view_of_stored("ssh-ed25519 AAAA");
        assert_eq!(view.algorithm, "ssh-ed25519");
        assert_eq!(view.bits, 0);
        assert!(view.comment.unwrap().contains("not a valid key"));
        // Its fingerprint is a well-formed one, so DELETE can name it.
        assert_eq!(
            ssh_key::normalize_fingerprint(&view.fingerprint),
            Some(view.fingerprint.clone())
        );
        let garbage = view_of_stored("no key here at all");
        assert_eq!(
            ssh_key::normalize_fingerprint(&garbage.fingerprint),
            Some(garbage.fingerprint.clone())
        );
    }

    #[test]
    fn valid_stored_entries_show_their_parsed_details() {
        let line = include_str!("../../tests/fixtures/ssh/ed25519.pub").trim();
        let view = view_of_stored(line);
        assert_eq!(view.key, line);
        assert_eq!(view.bits, 256);
        assert_eq!(view.comment.as_deref(), Some("alice@laptop"));
    }
}
