//! Write counters for password verifiers: how the bind path knows a cached verification
//! still stands without reading the verifier back from sled.
//!
//! Why: a repeated bind (the verified-credentials cache in `auth`) used to read the
//! principal's PHC string from sled on every bind, only to check that it had not changed
//! since the verification it remembered. That cost a tree lookup and a decode per bind, and
//! left sled holding every verifier page ever read (its LRU hardly evicts a store read once;
//! docs/benchmarks.md, Memory). Instead, every store function that writes or removes a
//! verifier bumps a counter after its transaction, and a cached verification is valid only
//! while the counter it saw *before* reading the verifier is unchanged.
//!
//! Counters are per stripe (a keyed hash of the verifier's tree and key), not per principal:
//! a fixed 8 KiB whatever the directory's size. A write invalidates the cached binds of the
//! principals sharing its stripe (about one in [`STRIPES`]), which only costs them one full
//! verification. Nothing is persisted: the cache they guard lives in this process too.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of counters.
pub const STRIPES: usize = 1024;

/// See the module documentation.
pub struct VerifierEpochs {
    hasher: RandomState,
    stripes: Box<[AtomicU64]>,
}

impl VerifierEpochs {
    /// All counters at zero, stripes chosen by a per-process random key.
    pub fn new() -> VerifierEpochs {
        VerifierEpochs {
            hasher: RandomState::new(),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn stripe(&self, tree: &str, key: &[u8]) -> Option<&AtomicU64> {
        let h = self.hasher.hash_one((tree, key));
        // The modulo keeps the index below `STRIPES`, so this never misses.
        self.stripes.get((h % STRIPES as u64) as usize)
    }

    /// The counter of the verifier `key` of `tree`. Read it before reading the verifier.
    pub fn current(&self, tree: &str, key: &[u8]) -> u64 {
        self.stripe(tree, key)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// Records that the verifier `key` of `tree` was written (or removed). Call it after the
    /// write has committed, so that a reader who sees the old counter read the old verifier
    /// or will see its verification discarded.
    pub fn bump(&self, tree: &str, key: &[u8]) {
        if let Some(c) = self.stripe(tree, key) {
            c.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_changes_that_key_and_leaves_most_others() {
        let e = VerifierEpochs::new();
        let before: Vec<u64> = (0..200u32)
            .map(|i| e.current("t", &i.to_be_bytes()))
            .collect();
        assert!(before.iter().all(|&c| c == 0));
        e.bump("t", &7u32.to_be_bytes());
        assert_eq!(e.current("t", &7u32.to_be_bytes()), 1);
        let changed = (0..200u32)
            .filter(|i| e.current("t", &i.to_be_bytes()) != 0)
            .count();
        // Key 7 itself, plus whichever of the others share its stripe (~0.2 expected).
        assert!((1..=5).contains(&changed), "{changed} keys changed");
    }
}
