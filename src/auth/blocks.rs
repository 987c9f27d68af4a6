//! argon2id verification on reusable memory blocks.
//!
//! Why: an argon2id computation works in `m_cost` KiB of memory (19 MiB with the default
//! settings). The argon2 crate's convenience calls allocate that for every hash and free it
//! after, so every cold bind faults fresh pages in (and the allocator may have handed the
//! previous ones back to the OS in between). The hashing pool runs at most
//! `max_concurrent_hashes` hashes at once; [`BlockPool`] keeps up to that many buffers while
//! more hashes are running or waiting, so a burst of binds reuses its memory, and lets them
//! all go as soon as the pool idles, so an idle server does not hold them.

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::Mutex;

/// Block buffers kept between the hashes of a burst.
pub struct BlockPool {
    state: Mutex<PoolState>,
    /// The most kept at once (the hashing pool's size).
    keep: usize,
}

struct PoolState {
    buffers: Vec<Vec<Block>>,
    /// Hash requests between [`BlockPool::enter`] and [`BlockPool::leave`]: running or
    /// waiting for a hashing permit.
    requests: usize,
}

impl BlockPool {
    pub fn new(keep: usize) -> BlockPool {
        BlockPool {
            state: Mutex::new(PoolState {
                buffers: Vec::new(),
                requests: 0,
            }),
            keep,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // Plain buffers and a count: a panicking holder leaves nothing half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hash request starts (before it waits for a permit). Pair with [`BlockPool::leave`].
    pub fn enter(&self) {
        self.state().requests += 1;
    }

    /// A hash request is done (or gave up waiting). The last one out frees every buffer:
    /// the burst is over.
    pub fn leave(&self) {
        let mut state = self.state();
        state.requests = state.requests.saturating_sub(1);
        if state.requests == 0 {
            state.buffers.clear();
        }
    }

    /// A buffer of at least `blocks` blocks: a kept one when there is one, else a new one.
    fn take(&self, blocks: usize) -> Vec<Block> {
        let mut buffer = self.state().buffers.pop().unwrap_or_default();
        if buffer.len() < blocks {
            buffer.resize(blocks, Block::new());
        }
        buffer
    }

    /// Returns `buffer` after a hash: kept when other requests are running or waiting
    /// (one will want it), freed otherwise.
    fn give(&self, buffer: Vec<Block>) {
        let mut state = self.state();
        if state.requests > 1 && state.buffers.len() < self.keep {
            state.buffers.push(buffer);
        }
    }

    /// How many buffers are kept now.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.state().buffers.len()
    }

    /// True when `password` matches the argon2 PHC string `phc` (with that string's own
    /// algorithm, version and parameters, as verifiers made with older settings need). A
    /// string that does not parse is a mismatch. The comparison is constant-time.
    /// Called between [`BlockPool::enter`] and [`BlockPool::leave`].
    pub fn verify(&self, password: &[u8], phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
            return false;
        };
        let version = match hash.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let Ok(params) = Params::try_from(&hash) else {
            return false;
        };
        let mut blocks = self.take(params.block_count());
        let mut out = [0u8; Output::MAX_LENGTH];
        let out = out.get_mut(..expected.len()).unwrap_or_default();
        let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt.as_ref(),
            out,
            &mut blocks[..],
        );
        self.give(blocks);
        computed.is_ok() && Output::new(out).is_ok_and(|o| o == *expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn phc(m_kib: u32, t: u32, p: u32, password: &[u8]) -> String {
        let params = Params::new(m_kib, t, p, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password)
            .unwrap()
            .to_string()
    }

    #[test]
    fn agrees_with_the_argon2_crate_on_every_kind_of_verifier() {
        let pool = BlockPool::new(2);
        // Different memory sizes in turn, so kept buffers are reused larger and smaller.
        let verifiers = [
            phc(1024, 1, 1, b"right one"),
            phc(64, 2, 1, b"right one"),
            phc(2048, 1, 2, b"right one"),
            phc(256, 3, 4, b"right one"),
            // argon2i and argon2d verifiers too (other tools write them).
            Argon2::new(
                Algorithm::Argon2i,
                Version::V0x13,
                Params::new(128, 2, 1, None).unwrap(),
            )
            .hash_password(b"right one")
            .unwrap()
            .to_string(),
            Argon2::new(
                Algorithm::Argon2d,
                Version::V0x10,
                Params::new(128, 2, 1, None).unwrap(),
            )
            .hash_password(b"right one")
            .unwrap()
            .to_string(),
        ];
        // Another request stays waiting throughout, so a buffer is kept and reused by
        // the next verification whatever its size.
        pool.enter();
        for v in &verifiers {
            for password in [&b"right one"[..], b"wrong one", b"", b"right on"] {
                let reference = Argon2::default()
                    .verify_password(password, v.as_str())
                    .is_ok();
                pool.enter();
                assert_eq!(pool.verify(password, v), reference, "{v}");
                pool.leave();
                assert_eq!(pool.kept(), 1);
            }
        }
        pool.leave();
        assert_eq!(pool.kept(), 0);
    }

    #[test]
    fn malformed_or_tampered_verifiers_never_match() {
        let pool = BlockPool::new(1);
        let good = phc(64, 1, 1, b"pw");
        assert!(pool.verify(b"pw", &good));
        let tampered_hash = {
            let (head, tail) = good.rsplit_once('$').unwrap();
            let flipped = if tail.starts_with('A') { "B" } else { "A" };
            format!("{head}${flipped}{}", &tail[1..])
        };
        for bad in [
            String::new(),
            "not a verifier".to_string(),
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ".to_string(),
            good.replace("argon2id", "scrypt"),
            good.replace("v=19", "v=7"),
            good.replace("m=64", "m=1"),
            tampered_hash,
        ] {
            assert!(!pool.verify(b"pw", &bad), "{bad}");
        }
    }

    #[test]
    fn buffers_are_kept_only_while_other_requests_wait() {
        let pool = BlockPool::new(2);
        let v = phc(64, 1, 1, b"pw");
        // Alone: nothing kept.
        pool.enter();
        assert!(pool.verify(b"pw", &v));
        assert_eq!(pool.kept(), 0);
        pool.leave();
        // Four requests: buffers are kept, never more than `keep`.
        for _ in 0..4 {
            pool.enter();
        }
        for _ in 0..3 {
            assert!(pool.verify(b"pw", &v));
        }
        pool.give(vec![Block::new(); 64]);
        assert_eq!(pool.kept(), 2);
        // Requests finish; the last one out frees everything.
        for left in (0..4).rev() {
            pool.leave();
            assert_eq!(pool.kept(), if left == 0 { 0 } else { 2 });
        }
    }
}
