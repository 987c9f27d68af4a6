//! One directory entry as the snapshot stores it: pre-rendered values and their normalised
//! forms, packed into one text buffer per entry.
//!
//! Why: rendering a search result must only select and copy, and filter evaluation must
//! not normalise stored values again for every search, so both forms are computed once
//! when the snapshot is built. Why packed: a `String` per value (and a `Vec` per
//! attribute) cost ~4 KB per user entry in headers and allocator slack. Here an entry is
//! one `str` buffer plus small arrays of spans into it, and a string that occurs twice in
//! an entry (the DN and `entryDN`, `cn` and `displayName`, a value and its normalised
//! form) is stored once. Why an `Arc` around that body: a snapshot patched after a sync
//! shares every unchanged entry with the snapshot it came from (see `patch`); only the
//! tree links (parent, subtree end) are per snapshot.

use super::schema::{Rule, schema};
use super::snapshot::EntryId;
use super::values;
use std::borrow::Cow;
use std::sync::Arc;

/// Which part of the DIT an entry belongs to; access rules are stated per region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    RootDse,
    Subschema,
    /// The naming context entry itself.
    Base,
    /// `ou=people` and the users below it.
    People,
    /// `ou=groups` and the groups below it.
    Groups,
    /// Service accounts directly below the base.
    Binder,
}

/// A byte range of an entry's text buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// The text this span covers ("" if it does not fit, which the builder never produces).
    fn of(self, text: &str) -> &str {
        let start = self.start as usize;
        text.get(start..start + self.len as usize).unwrap_or("")
    }
}

/// One value: its served text and its normalised form (the same span when they are equal,
/// and for a value that does not normalise).
#[derive(Clone, Copy, Debug)]
struct Val {
    text: Span,
    norm: Span,
}

/// One attribute: its schema index and where its run of values in [`Entry::vals`] ends
/// (it starts where the previous attribute's ends).
#[derive(Clone, Copy, Debug)]
struct Slot {
    at: u32,
    end: u32,
}

/// What an entry holds besides its place in the tree: its values, DN and region. Kept
/// behind an `Arc` so that a patched snapshot shares every unchanged entry's body with the
/// snapshot it was patched from instead of copying it (see `patch`).
#[derive(Debug)]
struct Body {
    /// Every distinct string of the entry, concatenated; the DN comes first.
    text: Box<str>,
    vals: Box<[Val]>,
    slots: Box<[Slot]>,
    /// The served DN is `text[..dn_len]`.
    dn_len: u32,
    ndn: Span,
    region: Region,
}

/// "No parent" in [`Entry::parent`] (the root DSE, `cn=Subschema`, the naming context).
const NO_PARENT: EntryId = EntryId::MAX;

/// One entry of the snapshot: its shared body and its links in this snapshot's tree.
/// Entry ids are assigned in DN-tree preorder, so a subtree is the contiguous id range
/// `id..end` and the children of `id` are `id + 1`, then each child's `end` in turn.
#[derive(Clone, Debug)]
pub struct Entry {
    body: Arc<Body>,
    /// The parent's id, [`NO_PARENT`] for none (a `u32`, not an `Option`: 4 bytes less).
    parent: EntryId,
    /// One past the last id of this entry's subtree.
    pub end: EntryId,
}

impl Entry {
    /// DN as served.
    pub fn dn(&self) -> &str {
        let text: &str = &self.body.text;
        text.get(..self.body.dn_len as usize).unwrap_or("")
    }

    /// Normalised DN (see `dn::normalize`).
    pub fn ndn(&self) -> &str {
        self.body.ndn.of(&self.body.text)
    }

    /// Which part of the DIT the entry is in.
    pub fn region(&self) -> Region {
        self.body.region
    }

    /// The parent entry's id (`None` for the root DSE, `cn=Subschema` and the base).
    pub fn parent(&self) -> Option<EntryId> {
        (self.parent != NO_PARENT).then_some(self.parent)
    }

    /// Moves the entry under `parent` (its subtree end is set by `build::link_subtrees`).
    pub fn set_parent(&mut self, parent: Option<EntryId>) {
        self.parent = parent.unwrap_or(NO_PARENT);
    }

    /// Whether `self` and `other` share one body (a patch kept the entry unchanged).
    #[cfg(test)]
    pub fn shares_body(&self, other: &Entry) -> bool {
        Arc::ptr_eq(&self.body, &other.body)
    }

    /// The attribute with schema index `at`, if present.
    pub fn attr(&self, at: usize) -> Option<Attr<'_>> {
        self.attrs().find(|a| a.at == at)
    }

    /// All attributes, in the order they were added (the order they are served in).
    pub fn attrs(&self) -> impl Iterator<Item = Attr<'_>> + Clone {
        let body: &Body = &self.body;
        body.slots.iter().scan(0usize, |first, s| {
            let (start, end) = (*first, s.end as usize);
            *first = end;
            Some(Attr {
                at: s.at as usize,
                text: &body.text,
                vals: body.vals.get(start..end).unwrap_or(&[]),
            })
        })
    }
}

/// A view of one attribute of an entry.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    /// Index into `schema().attributes`.
    pub at: usize,
    text: &'a str,
    vals: &'a [Val],
}

impl<'a> Attr<'a> {
    /// The values as served.
    pub fn texts(self) -> impl Iterator<Item = &'a str> + Clone {
        self.vals.iter().map(move |v| v.text.of(self.text))
    }

    /// The values normalised by the attribute's equality rule (as indexed and compared).
    /// A value that does not normalise keeps its served text.
    pub fn norms(self) -> impl Iterator<Item = &'a str> {
        self.vals.iter().map(move |v| v.norm.of(self.text))
    }

    /// The values in wire form (a copy: the protocol types own their bytes).
    pub fn to_wire(self) -> Vec<Vec<u8>> {
        self.texts().map(|t| t.as_bytes().to_vec()).collect()
    }

    /// Values normalised under `rule` (`None` for a value invalid under it): the stored
    /// forms, borrowed, when `rule` is the equality rule, otherwise computed now.
    pub fn normalized_as(self, rule: Rule) -> impl Iterator<Item = Option<Cow<'a, str>>> {
        let stored = schema().attributes.get(self.at).and_then(|a| a.equality) == Some(rule);
        self.norms().zip(self.texts()).map(move |(norm, text)| {
            if stored {
                Some(Cow::Borrowed(norm))
            } else {
                values::normalize(rule, text).map(Cow::Owned)
            }
        })
    }
}

/// How many of an entry's earlier spans a new string is compared with before it is
/// appended: catches the duplicates that matter (DN, names, normalised forms equal to a
/// served value) while keeping a group with many members linear to build.
const DEDUP_WINDOW: usize = 48;

/// Accumulates one entry: its DN, then its attributes in serving order.
pub struct EntryBuilder {
    text: String,
    vals: Vec<Val>,
    slots: Vec<Slot>,
    dn: Span,
    ndn: Span,
}

impl EntryBuilder {
    /// Starts an entry with its served and normalised DN.
    pub fn new(dn: &str, ndn: &str) -> EntryBuilder {
        let mut b = EntryBuilder {
            text: String::new(),
            vals: Vec::new(),
            slots: Vec::new(),
            dn: Span::default(),
            ndn: Span::default(),
        };
        b.dn = b.intern(dn).unwrap_or_default();
        b.ndn = b.intern(ndn).unwrap_or_default();
        b
    }

    /// The span of `s` in the buffer, reusing an earlier equal string when one is near.
    /// `None` only if the entry's text would exceed 4 GiB.
    fn intern(&mut self, s: &str) -> Option<Span> {
        let earlier = [self.dn, self.ndn].into_iter().chain(
            self.vals
                .iter()
                .take(DEDUP_WINDOW)
                .flat_map(|v| [v.text, v.norm]),
        );
        for span in earlier {
            if span.len as usize == s.len() && span.of(&self.text) == s {
                return Some(span);
            }
        }
        let start = u32::try_from(self.text.len()).ok()?;
        let len = u32::try_from(s.len()).ok()?;
        start.checked_add(len)?;
        self.text.push_str(s);
        Some(Span { start, len })
    }

    /// Adds attribute `at` with `(served, normalised)` pairs; a `None` normalised form
    /// means "same as served". Nothing is added for an empty list.
    pub fn push<'s>(
        &mut self,
        at: usize,
        pairs: impl IntoIterator<Item = (&'s str, Option<&'s str>)>,
    ) {
        let first = self.vals.len();
        for (served, norm) in pairs {
            let Some(text) = self.intern(served) else {
                tracing::error!("entry larger than 4 GiB; value dropped");
                continue;
            };
            let norm = match norm.filter(|n| *n != served) {
                Some(n) => self.intern(n).unwrap_or(text),
                None => text,
            };
            self.vals.push(Val { text, norm });
        }
        match (u32::try_from(at), u32::try_from(self.vals.len())) {
            (Ok(at), Ok(end)) if self.vals.len() > first => self.slots.push(Slot { at, end }),
            // Nothing added (or beyond 4 billion values): drop what this call added.
            _ => self.vals.truncate(first),
        }
    }

    /// Adds attribute `at`, normalising each value by its equality rule.
    pub fn push_normalizing<S: AsRef<str>>(&mut self, at: usize, vals: &[S]) {
        let rule = schema().attributes.get(at).and_then(|a| a.equality);
        let norms: Vec<Option<String>> = vals
            .iter()
            .map(|v| rule.and_then(|r| values::normalize(r, v.as_ref())))
            .collect();
        self.push(
            at,
            vals.iter()
                .zip(&norms)
                .map(|(v, n)| (v.as_ref(), n.as_deref())),
        );
    }

    /// The finished entry, placed in the tree.
    pub fn finish(self, parent: Option<EntryId>, id: EntryId, region: Region) -> Entry {
        // The DN is interned first into an empty buffer (see `new`): it starts at 0.
        Entry {
            body: Arc::new(Body {
                text: self.text.into_boxed_str(),
                vals: self.vals.into_boxed_slice(),
                slots: self.slots.into_boxed_slice(),
                dn_len: self.dn.len,
                ndn: self.ndn,
                region,
            }),
            parent: parent.unwrap_or(NO_PARENT),
            end: id + 1,
        }
    }
}
