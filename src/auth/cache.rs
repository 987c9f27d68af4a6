//! The verified-credentials cache: remembers that (principal, password) was right, without
//! keeping the password or anything an attacker could test guesses against offline.
//!
//! Why: a full argon2id verification costs tens of milliseconds of CPU by design; an app
//! that binds as the same service account for every request would otherwise burn a core.
//!
//! Key: SHA-256(process-random key ‖ principal ‖ 0x00 ‖ password). The random key never leaves
//! the process, so a memory dump of the cache does not allow offline guessing without it, and
//! restarting empties the cache. Value: the store's write counter of the principal's
//! verifier as read before the verification (`Store::user_verifier_epoch`), and an expiry.
//! A hit requires that counter to be unchanged, so every write of the verifier (a password
//! change, a binder's reset or removal, by any path through the store) invalidates it, and
//! a hit needs no read of the verifier itself.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound on remembered verifications.
pub const MAX_ENTRIES: usize = 100_000;

type Digest32 = [u8; 32];

struct Entry {
    /// The verifier's write counter when the password was verified.
    epoch: u64,
    expires: Instant,
}

/// See the module documentation.
pub struct VerifiedCache {
    key: [u8; 32],
    ttl: Duration,
    entries: Mutex<HashMap<Digest32, Entry>>,
}

impl VerifiedCache {
    /// A cache remembering successes for `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> VerifiedCache {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        VerifiedCache {
            key,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest32, Entry>> {
        // Entries are inserted whole, so a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn entry_key(&self, principal: &str, password: &[u8]) -> Digest32 {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(principal.as_bytes());
        h.update([0u8]);
        h.update(password);
        h.finalize().into()
    }

    /// True when this password was verified while the verifier's write counter was
    /// `epoch` (its value now) and the entry has not expired.
    pub fn hit(&self, principal: &str, password: &[u8], epoch: u64) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let key = self.entry_key(principal, password);
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(e) if e.expires > now && e.epoch == epoch => true,
            Some(_) => {
                entries.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Remembers a successful verification made with the verifier's write counter at
    /// `epoch` (read before the verifier was).
    pub fn remember(&self, principal: &str, password: &[u8], epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let key = self.entry_key(principal, password);
        let now = Instant::now();
        let entry = Entry {
            epoch,
            expires: now + self.ttl,
        };
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

    #[test]
    fn hit_needs_same_password_same_verifier_and_time() {
        let c = VerifiedCache::new(Duration::from_secs(60));
        c.remember("u:a", b"pw", 1);
        assert!(c.hit("u:a", b"pw", 1));
        assert!(!c.hit("u:a", b"other", 1));
        assert!(!c.hit("u:b", b"pw", 1));
        assert!(!c.hit("u:a", b"pw", 2), "verifier written since");
        assert_eq!(c.len(), 0, "stale entry dropped");
        let expired = VerifiedCache::new(Duration::from_nanos(1));
        expired.remember("u:a", b"pw", 1);
        std::thread::sleep(Duration::from_millis(2));
        assert!(!expired.hit("u:a", b"pw", 1));
        let off = VerifiedCache::new(Duration::ZERO);
        off.remember("u:a", b"pw", 1);
        assert!(!off.hit("u:a", b"pw", 1));
    }

    #[test]
    fn size_is_bounded() {
        let c = VerifiedCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            c.remember("u:a", i.to_string().as_bytes(), 1);
        }
        assert_eq!(c.len(), MAX_ENTRIES);
    }
}
