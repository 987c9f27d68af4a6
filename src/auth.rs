//! Passwords: argon2id verifiers, verified on a bounded blocking pool.
//!
//! Why: a password hash that is slow for an attacker is slow for us too. Running it on the
//! async runtime would stall every search on the same worker thread, so each verification
//! runs under a semaphore on tokio's blocking pool. Unknown identities are verified against a
//! dummy hash so an attacker cannot tell "no such user" from "wrong password" by timing.
//! A short-lived cache of successful verifications (keyed by a keyed hash of identity and
//! password, never the password) makes repeated binds of the same identity cheap.

use crate::config::AuthConfig;
use crate::model::ObjectId;
use crate::store::{Store, StoreError};

/// A failure to hash or verify that is not simply "wrong password".
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password rejected: {0}")]
    Policy(String),
}

/// Whose password is being checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    User(ObjectId),
    Binder(String),
}

/// Verifies and sets passwords. Cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    _store: Store,
}

impl Credentials {
    pub fn new(_store: Store, _config: &AuthConfig) -> Credentials {
        todo!()
    }

    /// True when `password` is right for `who`. `None` for `who` (unknown identity) runs a
    /// dummy verification and returns false, taking comparable time.
    pub async fn verify(
        &self,
        _who: Option<&Principal>,
        _password: &[u8],
    ) -> Result<bool, AuthError> {
        todo!()
    }

    /// Hashes `password` (policy checked) and stores it as `who`'s verifier.
    pub async fn set_password(&self, _who: &Principal, _password: &str) -> Result<(), AuthError> {
        todo!()
    }

    /// Hashes a password without storing it (used when creating a binder).
    pub async fn hash(&self, _password: &str) -> Result<String, AuthError> {
        todo!()
    }
}
