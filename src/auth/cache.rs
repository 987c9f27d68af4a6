//! The verified-credentials cache: remembers that (principal, password) was right, without
//! keeping the password or anything an attacker could test guesses against offline.
//!
//! Why: a full argon2id verification costs tens of milliseconds of CPU by design; an app
//! that binds as the same service account for every request would otherwise burn a core.
//!
//! Key: SHA-256(process-random key ‖ kind ‖ id ‖ 0x00 ‖ password), its first 128 bits (an
//! accidental collision is as likely as guessing a random 128-bit key; a deliberate one needs
//! the process key). The random key never leaves
//! the process, so a memory dump of the cache does not allow offline guessing without it, and
//! restarting empties the cache. Value: the store's write counter of the principal's
//! verifier as read before the verification (`Store::user_verifier_epoch`), and an expiry.
//! A hit requires that counter to be unchanged, so every write of the verifier (a password
//! change, a binder's reset or removal, by any path through the store) invalidates it, and
//! a hit needs no read of the verifier itself.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound on remembered verifications.
pub const MAX_ENTRIES: usize = 100_000;

type EntryKey = [u8; 16];

/// Whose verification an entry remembers: a kind (`"user:"`, `"binder:"`) and an id,
/// hashed one after the other (kept apart so callers need not join them into a new string).
pub type Tag<'a> = (&'static str, Cow<'a, str>);

/// 24 bytes, so a cache of every user of a 10,000-user tenant is ~0.4 MB with its table.
struct Entry {
    /// The low 32 bits of the verifier's write counter when the password was verified. A
    /// stale hit would need exactly 2^32 writes of verifiers sharing its stripe within the
    /// entry's lifetime.
    epoch: u32,
    /// Seconds after the cache's creation.
    expires: u32,
}

/// See the module documentation.
pub struct VerifiedCache {
    key: [u8; 32],
    ttl: Duration,
    created: Instant,
    entries: Mutex<HashMap<EntryKey, Entry>>,
}

impl VerifiedCache {
    /// A cache remembering successes for `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> VerifiedCache {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        VerifiedCache {
            key,
            ttl,
            created: Instant::now(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EntryKey, Entry>> {
        // Entries are inserted whole, so a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn entry_key(&self, (kind, id): &Tag<'_>, password: &[u8]) -> EntryKey {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(kind.as_bytes());
        h.update(id.as_bytes());
        h.update([0u8]);
        h.update(password);
        let mut key = EntryKey::default();
        key.copy_from_slice(&h.finalize()[..16]);
        key
    }

    /// Whole seconds since the cache was created, rounded down. An entry is a hit while
    /// "now" is below its expiry so counted, so it lives between TTL − 1 s and the TTL.
    fn seconds(&self, at: Instant) -> u32 {
        let secs = at.saturating_duration_since(self.created).as_secs();
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    /// True when this password was verified while the verifier's write counter was
    /// `epoch` (its value now) and the entry has not expired.
    pub fn hit(&self, principal: &Tag<'_>, password: &[u8], epoch: u64) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let key = self.entry_key(principal, password);
        let now = self.seconds(Instant::now());
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(e) if e.expires > now && e.epoch == epoch as u32 => true,
            Some(_) => {
                entries.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Remembers a successful verification made with the verifier's write counter at
    /// `epoch` (read before the verifier was).
    pub fn remember(&self, principal: &Tag<'_>, password: &[u8], epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let key = self.entry_key(principal, password);
        let now = Instant::now();
        let entry = Entry {
            epoch: epoch as u32,
            expires: now
                .checked_add(self.ttl)
                .map_or(u32::MAX, |at| self.seconds(at)),
        };
        let now = self.seconds(now);
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= MAX_ENTRIES {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, entry);
    }

    /// Number of entries (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> Tag<'_> {
        ("user:", Cow::Borrowed(id))
    }

    #[test]
    fn hit_needs_same_password_same_verifier_and_time() {
        let c = VerifiedCache::new(Duration::from_secs(60));
        c.remember(&user("a"), b"pw", 1);
        assert!(c.hit(&user("a"), b"pw", 1));
        assert!(!c.hit(&user("a"), b"other", 1));
        assert!(!c.hit(&user("b"), b"pw", 1));
        let binder_a = ("binder:", Cow::Borrowed("a"));
        assert!(
            !c.hit(&binder_a, b"pw", 1),
            "a binder named like a user id is another principal"
        );
        assert!(!c.hit(&user("a"), b"pw", 2), "verifier written since");
        assert_eq!(c.len(), 0, "stale entry dropped");
        let expired = VerifiedCache::new(Duration::from_nanos(1));
        expired.remember(&user("a"), b"pw", 1);
        std::thread::sleep(Duration::from_millis(2));
        assert!(!expired.hit(&user("a"), b"pw", 1));
        let off = VerifiedCache::new(Duration::ZERO);
        off.remember(&user("a"), b"pw", 1);
        assert!(!off.hit(&user("a"), b"pw", 1));
    }

    #[test]
    fn size_is_bounded() {
        let c = VerifiedCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            c.remember(&user("a"), i.to_string().as_bytes(), 1);
        }
        assert_eq!(c.len(), MAX_ENTRIES);
    }
}
