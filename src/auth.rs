//! Passwords: argon2id verifiers, verified on a bounded blocking pool.
//!
//! Why: a password hash that is slow for an attacker is slow for us too. Running it on the
//! async runtime would stall every search on the same worker thread, so each verification
//! runs under a semaphore on tokio's blocking pool. Unknown identities are verified against a
//! dummy hash so an attacker cannot tell "no such user" from "wrong password" by timing.
//! A short-lived cache of successful verifications (keyed by a keyed hash of identity and
//! password, never the password) makes repeated binds of the same identity cheap.
//! What a person may choose as a password is decided by [`policy`], applied in
//! [`Credentials::set_password`], the one path every caller that sets a password uses.

mod blocks;
mod cache;
pub mod policy;

use crate::config::AuthConfig;
use crate::model::ObjectId;
use crate::store::{Store, StoreError};
use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use blocks::BlockPool;
use cache::VerifiedCache;
use policy::{PasswordPolicy, PolicySubject};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The floor every stored password meets, in characters: the shortest server-generated
/// secret or demo seed, and the lowest `[auth] min_password_length` the config accepts.
/// Passwords people choose follow [`policy::PasswordPolicy`] (default 12).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password `set_password` accepts, in bytes (argon2 handles more; LDAP clients
/// and people do not need more, and it bounds the work per request).
pub const MAX_PASSWORD_BYTES: usize = 256;

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

impl Principal {
    /// The verified cache's name for this principal: a kind that keeps users and binders
    /// apart, then the id (binder names lowercased: they are case-insensitive, as the store
    /// keys them). Borrowed for users, so a warm bind allocates nothing for it.
    fn tag(&self) -> cache::Tag<'_> {
        match self {
            Principal::User(id) => ("user:", Cow::Borrowed(id.as_str())),
            Principal::Binder(name) => ("binder:", Cow::Owned(name.to_lowercase())),
        }
    }
}

/// Verifies and sets passwords. Cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    params: Params,
    /// The rules for passwords people choose (see [`policy`]).
    policy: PasswordPolicy,
    /// Bounds the hashes running on tokio's blocking pool.
    permits: Arc<Semaphore>,
    /// argon2 memory reused across the verifications of a burst.
    blocks: BlockPool,
    /// Verifier of a random password, verified against for unknown identities.
    dummy_phc: String,
    cache: VerifiedCache,
    /// Hashes run so far, and the most that ever ran at once (tests, metrics).
    hashes_run: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl Inner {
    /// The stored verifier of `who`, if any. Read on the blocking pool, never on the async
    /// runtime: while the store is being reopened (after every sync run) a read waits.
    fn verifier_of(&self, who: &Principal) -> Result<Option<String>, AuthError> {
        Ok(match who {
            Principal::User(id) => self.store.user_verifier(id)?,
            Principal::Binder(name) => self.store.binder_verifier(name)?,
        })
    }

    /// Checks `password` against the policy for user `id` (their names are refused); the
    /// user must exist.
    fn check_user_password(&self, id: &ObjectId, password: &str) -> Result<(), AuthError> {
        let user = self
            .store
            .get_user(id)?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        self.policy
            .check(password, &PolicySubject::of_user(&user))
            .map_err(AuthError::Policy)
    }
}

/// Counts a hash request in the block pool from before it waits for a permit until it is
/// done, however it ends (a request dropped while waiting included).
struct Queued(Arc<Inner>);

impl Queued {
    fn new(inner: Arc<Inner>) -> Queued {
        inner.blocks.enter();
        Queued(inner)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.blocks.leave();
    }
}

/// Counters of the verifier service (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// argon2 hashes or verifications run since start.
    pub hashes_run: u64,
    /// The most that ever ran at once (never above `max_concurrent_hashes`).
    pub peak_concurrent_hashes: usize,
    /// Entries in the verified-credentials cache.
    pub cached_verifications: usize,
}

/// Checks the floor every stored password meets (length bounds, not only whitespace); the
/// message says what to change. Passwords people choose must also pass the
/// [`PasswordPolicy`], which [`Credentials::set_password`] applies.
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AuthError::Policy(format!(
            "must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::Policy(format!(
            "must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.chars().all(char::is_whitespace) {
        return Err(AuthError::Policy("must not be only whitespace".to_string()));
    }
    Ok(())
}

/// The argon2id parameters from config; invalid ones (config validation prevents them)
/// fall back to the library defaults rather than failing at start-up.
fn params_from(config: &AuthConfig) -> Params {
    Params::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        None,
    )
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "invalid argon2 parameters; using the library defaults");
        Params::default()
    })
}

fn hasher(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// Hashes `password` into a PHC string with a fresh random salt.
fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, AuthError> {
    hasher(params)
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

impl Credentials {
    /// Builds the verifier service. Computes the dummy verifier once (one hash, on the
    /// calling thread).
    pub fn new(store: Store, config: &AuthConfig) -> Credentials {
        let params = params_from(config);
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
        let dummy_phc = hash_blocking(&params, &random).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot compute the dummy verifier");
            String::new()
        });
        Credentials {
            inner: Arc::new(Inner {
                store,
                params,
                policy: PasswordPolicy::new(config.min_password_length),
                permits: Arc::new(Semaphore::new(config.max_concurrent_hashes.max(1))),
                blocks: BlockPool::new(config.max_concurrent_hashes.max(1)),
                dummy_phc,
                cache: VerifiedCache::new(Duration::from_secs(config.verified_cache_secs)),
                hashes_run: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                peak_in_flight: AtomicUsize::new(0),
            }),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> AuthStats {
        AuthStats {
            hashes_run: self.inner.hashes_run.load(Ordering::Relaxed),
            peak_concurrent_hashes: self.inner.peak_in_flight.load(Ordering::SeqCst),
            cached_verifications: self.inner.cache.len(),
        }
    }

    /// The store's write counter of `who`'s verifier: what a cached verification is tied to.
    fn verifier_epoch(&self, who: &Principal) -> u64 {
        match who {
            Principal::User(id) => self.inner.store.user_verifier_epoch(id),
            Principal::Binder(name) => self.inner.store.binder_verifier_epoch(name),
        }
    }

    /// Runs `job` on the blocking pool once a hash permit is free.
    async fn on_pool<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let queued = Queued::new(Arc::clone(&self.inner));
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Hash("the hashing pool is closed".to_string()))?;
        tokio::task::spawn_blocking(move || {
            let inner = &queued.0;
            let running = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            inner.peak_in_flight.fetch_max(running, Ordering::SeqCst);
            inner.hashes_run.fetch_add(1, Ordering::Relaxed);
            let out = job(inner);
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            drop(queued);
            out
        })
        .await
        .map_err(|e| AuthError::Hash(format!("hashing task failed: {e}")))
    }

    /// True when `password` is right for `who`. `None` for `who` (unknown identity) runs a
    /// dummy verification and returns false, taking comparable time.
    pub async fn verify(
        &self,
        who: Option<&Principal>,
        password: &[u8],
    ) -> Result<bool, AuthError> {
        // The counter is read before the verifier: a write in between leaves this
        // verification tied to a counter that is already stale, so it is never reused.
        let cached = who.map(|p| (p.tag(), self.verifier_epoch(p)));
        if let Some((tag, epoch)) = &cached
            && self.inner.cache.hit(tag, password, *epoch)
        {
            return Ok(true);
        }
        let who_owned = who.cloned();
        let pw = password.to_vec();
        let ok = self
            .on_pool(move |inner| -> Result<bool, AuthError> {
                let stored = match &who_owned {
                    Some(p) => inner.verifier_of(p)?,
                    None => None,
                };
                let phc = stored.as_deref().unwrap_or(&inner.dummy_phc);
                Ok(inner.blocks.verify(&pw, phc) && stored.is_some())
            })
            .await??;
        if let (true, Some((tag, epoch))) = (ok, &cached) {
            self.inner.cache.remember(tag, password, *epoch);
        }
        Ok(ok)
    }

    /// The password policy people's passwords must pass (its `describe()` is for pages).
    pub fn policy(&self) -> &PasswordPolicy {
        &self.inner.policy
    }

    /// Hashes `password` and stores it as `who`'s verifier: the one path every caller that
    /// sets a password a person chose goes through (admin API, CLI, console, self-service,
    /// LDAP Password Modify). A user's password must pass the [`PasswordPolicy`]; a binder's
    /// secret is generated by the server and only meets the floor ([`check_policy`]).
    pub async fn set_password(&self, who: &Principal, password: &str) -> Result<(), AuthError> {
        self.store_password(who, password, true).await
    }

    /// Stores a password the server chose itself (the demo's seeded user passwords, test
    /// fixtures) without the [`PasswordPolicy`]; only the floor ([`check_policy`]) applies.
    /// Never call it with a password a person typed.
    pub async fn seed_password(&self, who: &Principal, password: &str) -> Result<(), AuthError> {
        self.store_password(who, password, false).await
    }

    /// Checks (the policy for a user's password when `policed`, the floor always), hashes
    /// and stores, all in one job on the blocking pool: the store's reads and its flushed
    /// write stay off the async runtime, as does the wait when the store is being reopened
    /// (after every sync run: ~20 ms at 10,000 users, ~0.3 s at 100,000).
    async fn store_password(
        &self,
        who: &Principal,
        password: &str,
        policed: bool,
    ) -> Result<(), AuthError> {
        let (who, password) = (who.clone(), password.to_string());
        self.on_pool(move |inner| {
            // The policy first: its message names the rule a person must meet.
            if let (true, Principal::User(id)) = (policed, &who) {
                inner.check_user_password(id, &password)?;
            }
            check_policy(&password)?;
            let phc = hash_blocking(&inner.params, password.as_bytes())?;
            match &who {
                Principal::User(id) => inner.store.set_user_verifier(id, &phc)?,
                Principal::Binder(name) => inner.store.set_binder_verifier(name, &phc)?,
            }
            Ok(())
        })
        .await?
    }

    /// Hashes a password without storing it (used when creating a binder). The floor
    /// ([`check_policy`]) is checked here too, so no verifier below it ever exists.
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        check_policy(password)?;
        let pw = password.as_bytes().to_vec();
        self.on_pool(move |inner| hash_blocking(&inner.params, &pw))
            .await?
    }
}

#[cfg(test)]
mod tests;
