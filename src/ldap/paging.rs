//! Per-connection state of RFC 2696 paged searches.
//!
//! Why: a client walks a large result page by page, possibly over many seconds while syncs
//! publish new snapshots. Keeping the matching entry ids *with the snapshot they came from*
//! gives every entry exactly once, consistently. The state is bounded per connection (the
//! least recently used search is dropped when a new one would exceed the bound) and keyed
//! by a random cookie that only means something on the connection that issued it.

use crate::directory::{AttrSelection, EntryId, Snapshot};
use ldap3_proto::proto::{LdapFilter, LdapSearchScope};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many paged searches are kept open per connection.
pub(crate) const MAX_PAGED_SEARCHES: usize = 8;

/// A paged search not continued for this long is dropped, so a client that walks away
/// does not keep an old snapshot alive for the life of its connection.
pub(crate) const PAGED_SEARCH_TTL: Duration = Duration::from_secs(300);

/// What identifies "the same search" across pages (RFC 2696 §3 requires the client to
/// repeat it unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchKey {
    pub base: String,
    pub scope: LdapSearchScope,
    pub filter: LdapFilter,
}

/// One paged search in progress.
pub(crate) struct PagedSearch {
    pub key: SearchKey,
    pub snapshot: Arc<Snapshot>,
    /// Every matching entry (already cut to the client's size limit).
    pub ids: Vec<EntryId>,
    /// Index into `ids` of the next entry to send.
    pub next: usize,
    /// The client's size limit cut `ids`: the last page ends with sizeLimitExceeded.
    pub truncated: bool,
    pub attrs: AttrSelection,
    pub types_only: bool,
    /// Message id of the request that produced the current cookie (for Abandon).
    pub msgid: i32,
    last_used: u64,
    parked_at: Option<Instant>,
}

impl PagedSearch {
    /// A search whose first page has not been sent yet.
    pub(crate) fn new(
        key: SearchKey,
        snapshot: Arc<Snapshot>,
        ids: Vec<EntryId>,
        truncated: bool,
        attrs: AttrSelection,
        types_only: bool,
        msgid: i32,
    ) -> PagedSearch {
        PagedSearch {
            key,
            snapshot,
            ids,
            next: 0,
            truncated,
            attrs,
            types_only,
            msgid,
            last_used: 0,
            parked_at: None,
        }
    }

    /// The ids of the next page of at most `size` entries, advancing the position.
    pub(crate) fn take_page(&mut self, size: usize) -> Vec<EntryId> {
        let start = self.next.min(self.ids.len());
        let end = start.saturating_add(size).min(self.ids.len());
        self.next = end;
        self.ids
            .get(start..end)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// True when every entry has been sent.
    pub(crate) fn is_done(&self) -> bool {
        self.next >= self.ids.len()
    }
}

/// The open paged searches of one connection.
#[derive(Default)]
pub(crate) struct PagingState {
    searches: HashMap<[u8; 16], PagedSearch>,
    clock: u64,
}

impl PagingState {
    /// Stores `search` under a fresh random cookie (returned), dropping the least recently
    /// used search if the connection already has [`MAX_PAGED_SEARCHES`].
    pub(crate) fn park(&mut self, search: PagedSearch) -> Vec<u8> {
        self.park_at(search, Instant::now())
    }

    fn park_at(&mut self, mut search: PagedSearch, now: Instant) -> Vec<u8> {
        self.expire(now);
        if self.searches.len() >= MAX_PAGED_SEARCHES {
            let oldest = self
                .searches
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(cookie, _)| *cookie);
            if let Some(cookie) = oldest {
                self.searches.remove(&cookie);
            }
        }
        self.clock = self.clock.wrapping_add(1);
        search.last_used = self.clock;
        search.parked_at = Some(now);
        let mut cookie: [u8; 16] = rand::random();
        while self.searches.contains_key(&cookie) {
            cookie = rand::random();
        }
        self.searches.insert(cookie, search);
        cookie.to_vec()
    }

    /// Removes and returns the search a cookie refers to (the caller parks it again under
    /// a new cookie if pages remain). `None` for unknown, expired or foreign cookies.
    pub(crate) fn take(&mut self, cookie: &[u8]) -> Option<PagedSearch> {
        self.expire(Instant::now());
        let key: [u8; 16] = cookie.try_into().ok()?;
        self.searches.remove(&key)
    }

    /// Drops searches parked longer than [`PAGED_SEARCH_TTL`] before `now`.
    fn expire(&mut self, now: Instant) {
        self.searches.retain(|_, s| {
            s.parked_at
                .is_none_or(|at| now.saturating_duration_since(at) < PAGED_SEARCH_TTL)
        });
    }

    /// Drops the search last continued by message `msgid` (Abandon).
    pub(crate) fn abandon(&mut self, msgid: i32) -> bool {
        let before = self.searches.len();
        self.searches.retain(|_, s| s.msgid != msgid);
        self.searches.len() != before
    }

    /// Drops everything (identity change, StartTLS).
    pub(crate) fn clear(&mut self) {
        self.searches.clear();
    }

    /// Number of open paged searches.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.searches.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::DirectorySettings;
    use crate::model::DirectoryData;

    fn search(ids: Vec<EntryId>, msgid: i32) -> PagedSearch {
        let snapshot = Snapshot::build(&DirectoryData::default(), &DirectorySettings::default());
        PagedSearch::new(
            SearchKey {
                base: "dc=example,dc=com".into(),
                scope: LdapSearchScope::Subtree,
                filter: LdapFilter::Present("objectClass".into()),
            },
            Arc::new(snapshot),
            ids,
            false,
            AttrSelection {
                all_user: true,
                all_operational: false,
                names: Vec::new(),
            },
            false,
            msgid,
        )
    }

    #[test]
    fn pages_cover_every_id_once() {
        let mut s = search((0..10).collect(), 1);
        let mut seen = Vec::new();
        while !s.is_done() {
            seen.extend(s.take_page(3));
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert!(s.take_page(3).is_empty());
    }

    #[test]
    fn cookies_are_single_use_and_bounded() {
        let mut state = PagingState::default();
        let cookie = state.park(search(vec![1], 1));
        for i in 0..MAX_PAGED_SEARCHES {
            state.park(search(vec![1], 100 + i as i32));
        }
        assert_eq!(state.len(), MAX_PAGED_SEARCHES);
        // The first (least recently used) search was evicted.
        assert!(state.take(&cookie).is_none());
        assert!(state.take(b"not a cookie").is_none());
        assert!(state.abandon(100 + 1));
        assert!(!state.abandon(100 + 1));
        state.clear();
        assert_eq!(state.len(), 0);
    }

    #[test]
    fn stale_searches_expire() {
        let mut state = PagingState::default();
        let start = Instant::now();
        let stale = state.park_at(search(vec![1], 1), start);
        let later = start + PAGED_SEARCH_TTL + Duration::from_secs(1);
        let fresh = state.park_at(search(vec![2], 2), later);
        state.expire(later);
        assert_eq!(state.len(), 1);
        let key: [u8; 16] = stale.as_slice().try_into().unwrap();
        assert!(!state.searches.contains_key(&key));
        let key: [u8; 16] = fresh.as_slice().try_into().unwrap();
        assert!(state.searches.contains_key(&key));
    }
}
