//! Compact id tables of the snapshot: "value → ids" keyed by a 64-bit hash, and "id → ids"
//! adjacency lists, each with all its ids in one flat array.
//!
//! Why: the first snapshot kept every indexed value, DN and bind name as an owned `String`
//! key with a `Vec` of ids per key, which cost more memory than the entries themselves. Here
//! a distinct value costs ~12 bytes (its `u64` hash in a sorted array and where its ids
//! start in the flat id array). Hashes can collide, so a [`KeyIndex`] lookup returns a *superset*
//! of the wanted ids: every caller re-checks each candidate against the real value
//! (filters evaluate every candidate; name lookups compare the stored name). The hash is
//! keyed randomly per snapshot, so a tenant cannot pick names that collide on purpose.

use std::hash::{BuildHasher, RandomState};

/// Hashes normalised values (and names) for the [`KeyIndex`] tables of one snapshot.
#[derive(Clone, Debug)]
pub struct KeyHasher {
    state: RandomState,
    /// `u64::MAX` in production; tests narrow it to force collisions.
    mask: u64,
}

impl Default for KeyHasher {
    fn default() -> KeyHasher {
        KeyHasher {
            state: RandomState::new(),
            mask: u64::MAX,
        }
    }
}

impl KeyHasher {
    /// A hasher whose hashes keep only the bits of `mask`: with `0` every key collides,
    /// which proves that lookups re-check their candidates.
    #[cfg(test)]
    pub fn colliding(mask: u64) -> KeyHasher {
        KeyHasher {
            mask,
            ..KeyHasher::default()
        }
    }

    /// The table key of `value`.
    pub fn hash(&self, value: &str) -> u64 {
        self.state.hash_one(value) & self.mask
    }
}

/// Sorted, duplicate-free id lists by key hash. See the module docs: a list may hold ids
/// of other keys with the same hash. Stored as three flat arrays (sorted hashes, list
/// starts, ids) and searched by bisection: ~12 bytes per distinct key where a hash map
/// needs ~28 at its load factor; O(log n) per lookup, a few dozen nanoseconds here.
#[derive(Debug)]
pub struct KeyIndex {
    hashes: Box<[u64]>,
    /// `starts[i]..starts[i + 1]` are the ids of `hashes[i]`; one more than `hashes`.
    starts: Box<[u32]>,
    ids: Box<[u32]>,
}

impl Default for KeyIndex {
    fn default() -> KeyIndex {
        KeyIndex::from_pairs(Vec::new())
    }
}

impl KeyIndex {
    /// Builds the table from `(hash, id)` pairs in any order.
    pub fn from_pairs(mut pairs: Vec<(u64, u32)>) -> KeyIndex {
        pairs.sort_unstable();
        pairs.dedup();
        let mut hashes = Vec::new();
        let mut starts = Vec::new();
        let mut ids = Vec::with_capacity(pairs.len());
        for run in pairs.chunk_by(|a, b| a.0 == b.0) {
            let (Some(&(hash, _)), Ok(start)) = (run.first(), u32::try_from(ids.len())) else {
                tracing::error!("id table larger than 4 billion entries; truncated");
                break;
            };
            hashes.push(hash);
            starts.push(start);
            ids.extend(run.iter().map(|&(_, id)| id));
        }
        let Ok(end) = u32::try_from(ids.len()) else {
            return KeyIndex {
                hashes: Box::default(),
                starts: Box::new([0]),
                ids: Box::default(),
            };
        };
        starts.push(end);
        KeyIndex {
            hashes: hashes.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
            ids: ids.into_boxed_slice(),
        }
    }

    /// The ids filed under `hash`, sorted (empty when none).
    pub fn get(&self, hash: u64) -> &[u32] {
        let Ok(i) = self.hashes.binary_search(&hash) else {
            return &[];
        };
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&lo), Some(&hi)) => self.ids.get(lo as usize..hi as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// A copy with every id renumbered through `map` (old id → new id; `u32::MAX` or an id
    /// beyond `map` drops it) and `added` pairs merged in: what a snapshot patch needs
    /// after entries moved, were removed or rebuilt. `map` must keep the order of the ids
    /// it keeps. One linear pass over the table, writing the new arrays directly.
    pub fn patched(&self, map: &[u32], mut added: Vec<(u64, u32)>) -> KeyIndex {
        added.sort_unstable();
        added.dedup();
        let mut out = Lists::with_capacity(
            self.hashes.len() + added.len(),
            self.ids.len() + added.len(),
        );
        let mut extra = added.into_iter().peekable();
        for (i, &hash) in self.hashes.iter().enumerate() {
            while let Some((h, id)) = extra.next_if(|&(h, _)| h < hash) {
                out.push(h, id);
            }
            let lo = self.starts.get(i).copied().unwrap_or(0) as usize;
            let hi = self.starts.get(i + 1).copied().unwrap_or(0) as usize;
            for &id in self.ids.get(lo..hi).unwrap_or(&[]) {
                match map.get(id as usize) {
                    Some(&new) if new != u32::MAX => out.push(hash, new),
                    _ => {}
                }
            }
            let mut merged_any = false;
            while let Some((h, id)) = extra.next_if(|&(h, _)| h == hash) {
                out.push(h, id);
                merged_any = true;
            }
            if merged_any {
                out.sort_last();
            }
        }
        for (h, id) in extra {
            out.push(h, id);
        }
        out.finish()
    }
}

/// The three arrays of a [`KeyIndex`], filled in hash order.
struct Lists {
    hashes: Vec<u64>,
    starts: Vec<u32>,
    ids: Vec<u32>,
}

impl Lists {
    fn with_capacity(keys: usize, ids: usize) -> Lists {
        Lists {
            hashes: Vec::with_capacity(keys),
            starts: Vec::with_capacity(keys + 1),
            ids: Vec::with_capacity(ids),
        }
    }

    /// Appends `id` to the list of `hash`, opening that list unless it is the last one.
    fn push(&mut self, hash: u64, id: u32) {
        if self.hashes.last() != Some(&hash) {
            self.hashes.push(hash);
            self.starts
                .push(u32::try_from(self.ids.len()).unwrap_or(u32::MAX));
        }
        self.ids.push(id);
    }

    /// Sorts the last list and drops its duplicates (after ids were merged into it).
    fn sort_last(&mut self) {
        let start = self.starts.last().copied().unwrap_or(0) as usize;
        if let Some(last) = self.ids.get_mut(start..) {
            last.sort_unstable();
        }
        let mut w = start;
        for r in start..self.ids.len() {
            let v = self.ids.get(r).copied();
            if w > start && self.ids.get(w - 1).copied() == v {
                continue;
            }
            if let (Some(v), Some(slot)) = (v, self.ids.get_mut(w)) {
                *slot = v;
            }
            w += 1;
        }
        self.ids.truncate(w);
    }

    fn finish(mut self) -> KeyIndex {
        self.starts
            .push(u32::try_from(self.ids.len()).unwrap_or(u32::MAX));
        KeyIndex {
            hashes: self.hashes.into_boxed_slice(),
            starts: self.starts.into_boxed_slice(),
            ids: self.ids.into_boxed_slice(),
        }
    }
}

/// Per id `0..n`, a sorted list of ids (e.g. the groups an entry is in): one offsets array
/// and one flat id array instead of a map of vectors.
#[derive(Debug, Default)]
pub struct IdLists {
    /// `offsets[i]..offsets[i + 1]` is the list of id `i`; `n + 1` values.
    offsets: Box<[u32]>,
    ids: Box<[u32]>,
}

impl IdLists {
    /// Builds the lists for ids `0..n` from `(id, member)` pairs in any order; pairs with
    /// an id outside `0..n` are ignored.
    pub fn from_pairs(n: usize, mut pairs: Vec<(u32, u32)>) -> IdLists {
        pairs.retain(|&(id, _)| (id as usize) < n);
        pairs.sort_unstable();
        pairs.dedup();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut next = pairs.iter().peekable();
        let mut ids = Vec::with_capacity(pairs.len());
        for id in 0..n {
            offsets.push(u32::try_from(ids.len()).unwrap_or(u32::MAX));
            while let Some(&&(owner, member)) = next.peek() {
                if owner as usize != id {
                    break;
                }
                ids.push(member);
                next.next();
            }
        }
        offsets.push(u32::try_from(ids.len()).unwrap_or(u32::MAX));
        IdLists {
            offsets: offsets.into_boxed_slice(),
            ids: ids.into_boxed_slice(),
        }
    }

    /// Lists for ids `0..n`, each produced by `list(id, out)` appending to `out`; each
    /// list is sorted and deduplicated here. For patching a snapshot without sorting every
    /// pair again.
    pub fn from_fn(n: usize, mut list: impl FnMut(u32, &mut Vec<u32>)) -> IdLists {
        let mut offsets = Vec::with_capacity(n + 1);
        let mut ids: Vec<u32> = Vec::new();
        for id in 0..n {
            let start = ids.len();
            offsets.push(u32::try_from(start).unwrap_or(u32::MAX));
            list(u32::try_from(id).unwrap_or(u32::MAX), &mut ids);
            if let Some(added) = ids.get_mut(start..) {
                added.sort_unstable();
            }
            let mut w = start;
            for r in start..ids.len() {
                let (Some(&v), prev) = (ids.get(r), w.checked_sub(1).and_then(|p| ids.get(p)))
                else {
                    continue;
                };
                if w > start && prev == Some(&v) {
                    continue;
                }
                if let Some(slot) = ids.get_mut(w) {
                    *slot = v;
                }
                w += 1;
            }
            ids.truncate(w);
        }
        offsets.push(u32::try_from(ids.len()).unwrap_or(u32::MAX));
        ids.shrink_to_fit();
        IdLists {
            offsets: offsets.into_boxed_slice(),
            ids: ids.into_boxed_slice(),
        }
    }

    /// The list of `id` (empty when none or out of range).
    pub fn get(&self, id: u32) -> &[u32] {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&lo), Some(&hi)) => self.ids.get(lo as usize..hi as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_index_groups_sorted_ids_per_hash() {
        let idx = KeyIndex::from_pairs(vec![(7, 3), (5, 1), (7, 1), (7, 3), (9, 0)]);
        assert_eq!(idx.get(7), &[1, 3]);
        assert_eq!(idx.get(5), &[1]);
        assert_eq!(idx.get(9), &[0]);
        for absent in [0, 6, 8, 10, u64::MAX] {
            assert!(idx.get(absent).is_empty(), "{absent}");
        }
        assert!(KeyIndex::default().get(0).is_empty());
        // Every key of a large table is found, absent ones are not.
        let big = KeyIndex::from_pairs((0..10_000u32).map(|i| (u64::from(i) * 3, i)).collect());
        assert!((0..10_000u32).all(|i| big.get(u64::from(i) * 3) == [i]));
        assert!(big.get(1).is_empty() && big.get(30_000).is_empty());
    }

    /// `patched` must equal a table built from scratch of the renumbered and added pairs.
    #[test]
    fn patched_equals_a_table_built_from_the_renumbered_pairs() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..300 {
            let n = rng.gen_range(0..60u32);
            let keys = rng.gen_range(1..12u64);
            let pairs: Vec<(u64, u32)> = (0..rng.gen_range(0..120))
                .map(|_| (rng.gen_range(0..keys), rng.gen_range(0..n.max(1))))
                .collect();
            let old = KeyIndex::from_pairs(pairs.clone());
            // An order-keeping renumbering that drops some ids and leaves gaps for new ones.
            let mut next = 0u32;
            let map: Vec<u32> = (0..n)
                .map(|_| {
                    next += rng.gen_range(1..3);
                    if rng.gen_bool(0.2) { u32::MAX } else { next }
                })
                .collect();
            let added: Vec<(u64, u32)> = (0..rng.gen_range(0..20))
                .map(|_| (rng.gen_range(0..keys + 3), rng.gen_range(0..next + 2)))
                .collect();
            let mut want: Vec<(u64, u32)> = pairs
                .iter()
                .filter_map(|&(h, id)| {
                    map.get(id as usize)
                        .filter(|&&x| x != u32::MAX)
                        .map(|&x| (h, x))
                })
                .collect();
            want.extend(&added);
            let (got, want) = (old.patched(&map, added), KeyIndex::from_pairs(want));
            assert_eq!(got.hashes, want.hashes);
            assert_eq!(got.starts, want.starts);
            assert_eq!(got.ids, want.ids);
        }
    }

    #[test]
    fn masked_hasher_collides_and_full_hasher_separates() {
        let h = KeyHasher::colliding(0);
        assert_eq!(h.hash("alice"), h.hash("bob"));
        let h = KeyHasher::default();
        assert_ne!(h.hash("alice"), h.hash("bob"));
        assert_eq!(h.hash("alice"), h.hash("alice"));
    }

    #[test]
    fn id_lists_cover_every_id_and_ignore_strangers() {
        let lists = IdLists::from_pairs(4, vec![(2, 9), (0, 5), (2, 4), (7, 1), (2, 9)]);
        assert_eq!(lists.get(0), &[5]);
        assert!(lists.get(1).is_empty());
        assert_eq!(lists.get(2), &[4, 9]);
        assert!(lists.get(3).is_empty());
        assert!(lists.get(4).is_empty());
        assert!(lists.get(u32::MAX).is_empty());
    }
}
