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
use std::sync::{Arc, LazyLock, Mutex};

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

/// One value with 16-bit offsets: [`Val`] for an entry whose text is under 64 KiB.
#[derive(Clone, Copy, Debug)]
struct NarrowVal {
    text: [u16; 2],
    norm: [u16; 2],
}

/// [`Slot`] with 16-bit fields, for an entry of fewer than 65,536 values.
#[derive(Clone, Copy, Debug)]
struct NarrowSlot {
    at: u16,
    end: u16,
}

/// Where an entry's values and attributes lie in its text. Why two widths: the spans were
/// half of a user entry's memory (28 values × 16 bytes, 23 attributes × 8 bytes, next to
/// ~450 bytes of text). Nearly every entry fits 16-bit offsets; a group of thousands of
/// members may not, and keeps 32-bit ones.
#[derive(Debug)]
enum Spans {
    Narrow {
        vals: Box<[NarrowVal]>,
        slots: Box<[NarrowSlot]>,
    },
    Wide {
        vals: Box<[Val]>,
        slots: Box<[Slot]>,
    },
}

impl Spans {
    /// The narrow form when every offset, length, index and count fits 16 bits.
    fn new(vals: Vec<Val>, slots: Vec<Slot>) -> Spans {
        let n16 = |x: u32| u16::try_from(x).ok();
        let narrow_span = |s: Span| Some([n16(s.start)?, n16(s.len)?]);
        let narrow_vals: Option<Box<[NarrowVal]>> = vals
            .iter()
            .map(|v| {
                Some(NarrowVal {
                    text: narrow_span(v.text)?,
                    norm: narrow_span(v.norm)?,
                })
            })
            .collect();
        let narrow_slots: Option<Box<[NarrowSlot]>> = slots
            .iter()
            .map(|s| {
                Some(NarrowSlot {
                    at: n16(s.at)?,
                    end: n16(s.end)?,
                })
            })
            .collect();
        match (narrow_vals, narrow_slots) {
            (Some(vals), Some(slots)) => Spans::Narrow { vals, slots },
            _ => Spans::Wide {
                vals: vals.into_boxed_slice(),
                slots: slots.into_boxed_slice(),
            },
        }
    }

    /// Value `i` of the entry.
    fn val(&self, i: usize) -> Option<Val> {
        let wide = |[start, len]: [u16; 2]| Span {
            start: start.into(),
            len: len.into(),
        };
        match self {
            Spans::Narrow { vals, .. } => vals.get(i).map(|v| Val {
                text: wide(v.text),
                norm: wide(v.norm),
            }),
            Spans::Wide { vals, .. } => vals.get(i).copied(),
        }
    }

    /// Attribute `i` of the entry.
    fn slot(&self, i: usize) -> Option<Slot> {
        match self {
            Spans::Narrow { slots, .. } => slots.get(i).map(|s| Slot {
                at: s.at.into(),
                end: s.end.into(),
            }),
            Spans::Wide { slots, .. } => slots.get(i).copied(),
        }
    }
}

/// What an entry holds besides its place in the tree: its values, DN and region. Kept
/// behind an `Arc` so that a patched snapshot shares every unchanged entry's body with the
/// snapshot it was patched from instead of copying it (see `patch`).
#[derive(Debug)]
struct Body {
    /// Every distinct string of the entry, concatenated; the DN comes first.
    text: Box<str>,
    spans: Spans,
    /// The served DN is `text[..dn_len]`.
    dn_len: u32,
    ndn: Span,
    region: Region,
    /// A first attribute shared with other entries (see [`EntryBuilder::push_shared`]),
    /// served before this body's own.
    head: Option<Arc<Body>>,
}

/// Heads in use (one per distinct attribute and values: a handful, the object-class lists
/// of users with and without SSH keys, groups, binders). Why: a user's five object classes
/// were ~140 bytes of each user entry (texts, normalised forms, spans), 1.4 MB at 10,000
/// users; now each entry points at one shared body. Never shrinks; bounded by the distinct
/// lists the builder uses.
static SHARED_HEADS: LazyLock<Mutex<Vec<Arc<Body>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// The shared body holding exactly attribute `at` with `pairs` (served, normalised).
fn shared_head(at: usize, pairs: &[(&str, Option<&str>)]) -> Arc<Body> {
    // The list only ever grows by whole bodies: a poisoned lock holds nothing half-done.
    let mut heads = SHARED_HEADS.lock().unwrap_or_else(|p| p.into_inner());
    let same = |body: &Body| {
        let mut attrs = body_attrs(body);
        let first = attrs.next();
        attrs.next().is_none()
            && first.is_some_and(|a| {
                a.at == at
                    && a.vals().count() == pairs.len()
                    && a.texts()
                        .zip(a.norms())
                        .zip(pairs)
                        .all(|((t, n), (pt, pn))| {
                            t == *pt && n == pn.filter(|n| *n != *pt).unwrap_or(pt)
                        })
            })
    };
    if let Some(found) = heads.iter().find(|b| same(b)) {
        return Arc::clone(found);
    }
    let mut b = EntryBuilder::new("", "");
    b.push(at, pairs.iter().copied());
    let body = b.finish(None, 0, Region::Base).body;
    heads.push(Arc::clone(&body));
    body
}

/// The attributes of one body (not its head), in order.
fn body_attrs(body: &Body) -> impl Iterator<Item = Attr<'_>> + Clone {
    let slots = (0..).map_while(|i| body.spans.slot(i));
    slots.scan(0usize, move |first, s| {
        let (start, end) = (*first, s.end as usize);
        *first = end;
        Some(Attr {
            at: s.at as usize,
            body,
            start,
            end,
        })
    })
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

    /// All attributes, in the order they were added (the order they are served in): the
    /// shared head's first, if any.
    pub fn attrs(&self) -> impl Iterator<Item = Attr<'_>> + Clone {
        let body: &Body = &self.body;
        body.head
            .as_deref()
            .into_iter()
            .flat_map(body_attrs)
            .chain(body_attrs(body))
    }
}

/// A view of one attribute of an entry.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    /// Index into `schema().attributes`.
    pub at: usize,
    body: &'a Body,
    /// Its values are `start..end` of the entry's.
    start: usize,
    end: usize,
}

impl<'a> Attr<'a> {
    fn vals(self) -> impl Iterator<Item = Val> + Clone + 'a {
        (self.start..self.end).filter_map(move |i| self.body.spans.val(i))
    }

    /// The values as served.
    pub fn texts(self) -> impl Iterator<Item = &'a str> + Clone {
        let text: &'a str = &self.body.text;
        self.vals().map(move |v| v.text.of(text))
    }

    /// The values normalised by the attribute's equality rule (as indexed and compared).
    /// A value that does not normalise keeps its served text.
    pub fn norms(self) -> impl Iterator<Item = &'a str> {
        let text: &'a str = &self.body.text;
        self.vals().map(move |v| v.norm.of(text))
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
    head: Option<Arc<Body>>,
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
            head: None,
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
        self.with_norms(at, vals, |b, pairs| b.push(at, pairs.iter().copied()));
    }

    /// Adds attribute `at` (normalised as by `push_normalizing`) as the entry's first
    /// attribute, in a body shared with every entry that starts with the same attribute and
    /// values (a user's object classes). Added as an own attribute when it would not come
    /// first, so the serving order is always the order of the calls.
    pub fn push_shared<S: AsRef<str>>(&mut self, at: usize, vals: &[S]) {
        if !self.slots.is_empty() || self.head.is_some() {
            return self.push_normalizing(at, vals);
        }
        if !vals.is_empty() {
            self.head = Some(self.with_norms(at, vals, |_, pairs| shared_head(at, pairs)));
        }
    }

    /// Adds `attr`, an attribute of `from`, as it is there: still shared when it is
    /// `from`'s shared head and comes first here too.
    pub fn push_copy(&mut self, from: &Entry, attr: Attr<'_>) {
        if let Some(head) = &from.body.head
            && std::ptr::eq(attr.body, &**head)
            && self.slots.is_empty()
            && self.head.is_none()
        {
            self.head = Some(Arc::clone(head));
            return;
        }
        self.push(attr.at, attr.texts().zip(attr.norms().map(Some)));
    }

    /// Runs `then` with `vals` paired with their normalised forms under `at`'s equality rule.
    fn with_norms<S: AsRef<str>, T>(
        &mut self,
        at: usize,
        vals: &[S],
        then: impl FnOnce(&mut Self, &[(&str, Option<&str>)]) -> T,
    ) -> T {
        let rule = schema().attributes.get(at).and_then(|a| a.equality);
        let norms: Vec<Option<String>> = vals
            .iter()
            .map(|v| rule.and_then(|r| values::normalize(r, v.as_ref())))
            .collect();
        let pairs: Vec<(&str, Option<&str>)> = vals
            .iter()
            .zip(&norms)
            .map(|(v, n)| (v.as_ref(), n.as_deref()))
            .collect();
        then(self, &pairs)
    }

    /// The finished entry, placed in the tree.
    pub fn finish(self, parent: Option<EntryId>, id: EntryId, region: Region) -> Entry {
        // The DN is interned first into an empty buffer (see `new`): it starts at 0.
        Entry {
            body: Arc::new(Body {
                text: self.text.into_boxed_str(),
                spans: Spans::new(self.vals, self.slots),
                dn_len: self.dn.len,
                ndn: self.ndn,
                region,
                head: self.head,
            }),
            parent: parent.unwrap_or(NO_PARENT),
            end: id + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_and_wide_spans_serve_the_same_values() {
        // 3 members fit 16-bit offsets; 5,000 (~120 KB of text) do not.
        for (members, narrow) in [(3usize, true), (5_000, false)] {
            let served: Vec<String> = (0..members).map(|i| format!("Member-{i:05}")).collect();
            let norms: Vec<String> = served.iter().map(|v| v.to_lowercase()).collect();
            let mut b = EntryBuilder::new("CN=G,DC=x", "cn=g,dc=x");
            b.push(
                7,
                served
                    .iter()
                    .zip(&norms)
                    .map(|(s, n)| (s.as_str(), Some(n.as_str()))),
            );
            b.push(9, [("tail", None)]);
            let e = b.finish(None, 0, Region::Groups);
            assert_eq!(matches!(e.body.spans, Spans::Narrow { .. }), narrow);
            assert_eq!((e.dn(), e.ndn()), ("CN=G,DC=x", "cn=g,dc=x"));
            let attrs: Vec<Attr<'_>> = e.attrs().collect();
            assert_eq!(attrs.iter().map(|a| a.at).collect::<Vec<_>>(), [7, 9]);
            assert_eq!(attrs[0].texts().collect::<Vec<_>>(), served);
            assert_eq!(attrs[0].norms().collect::<Vec<_>>(), norms);
            let tail = e
                .attr(9)
                .map(|a| (a.texts().collect(), a.norms().collect()));
            assert_eq!(tail, Some((vec!["tail"], vec!["tail"])));
            assert!(e.attr(8).is_none());
        }
    }

    #[test]
    fn a_shared_first_attribute_is_served_first_and_kept_once() {
        let at_oc = schema().attribute_index("objectClass").unwrap_or(0);
        let classes = ["top", "person", "inetOrgPerson"];
        let build = |uid: &str| {
            let mut b = EntryBuilder::new(uid, uid);
            b.push_shared(at_oc, &classes);
            b.push(3, [(uid, None)]);
            b.finish(None, 0, Region::People)
        };
        let (a, b) = (build("uid=a"), build("uid=b"));
        let head = |e: &Entry| e.body.head.clone();
        assert!(matches!((head(&a), head(&b)), (Some(x), Some(y)) if Arc::ptr_eq(&x, &y)));
        for (e, uid) in [(&a, "uid=a"), (&b, "uid=b")] {
            let attrs: Vec<(usize, Vec<&str>, Vec<&str>)> = e
                .attrs()
                .map(|x| (x.at, x.texts().collect(), x.norms().collect()))
                .collect();
            let lower = vec!["top", "person", "inetorgperson"];
            assert_eq!(
                attrs,
                [(at_oc, classes.to_vec(), lower), (3, vec![uid], vec![uid])]
            );
        }
        // Copied attribute by attribute (as a patch rewrites an entry): still shared.
        let mut copy = EntryBuilder::new("uid=a", "uid=a");
        for attr in a.attrs() {
            copy.push_copy(&a, attr);
        }
        let copy = copy.finish(None, 0, Region::People);
        assert!(matches!((head(&a), head(&copy)), (Some(x), Some(y)) if Arc::ptr_eq(&x, &y)));
        let texts = |e: &Entry| -> Vec<Vec<String>> {
            e.attrs()
                .map(|x| x.texts().map(str::to_string).collect())
                .collect()
        };
        assert_eq!(texts(&copy), texts(&a));
        // Not first: kept as the entry's own attribute, in call order.
        let mut late = EntryBuilder::new("uid=c", "uid=c");
        late.push(3, [("uid=c", None)]);
        late.push_shared(at_oc, &classes);
        let late = late.finish(None, 0, Region::People);
        assert!(late.body.head.is_none());
        assert_eq!(late.attrs().map(|x| x.at).collect::<Vec<_>>(), [3, at_oc]);
        // Other values: another shared body.
        let mut other = EntryBuilder::new("uid=d", "uid=d");
        other.push_shared(at_oc, &["top", "person"]);
        let other = other.finish(None, 0, Region::People);
        assert!(matches!((head(&a), head(&other)), (Some(x), Some(y)) if !Arc::ptr_eq(&x, &y)));
    }
}
