//! One directory entry as the snapshot stores it: pre-rendered wire values plus their
//! normalised forms.
//!
//! Why: rendering a search result must only select and clone, and filter evaluation must
//! not normalise stored values again for every search. Both forms are computed once when
//! the snapshot is built.

use super::schema::{Rule, schema};
use super::snapshot::EntryId;
use super::values;
use std::borrow::Cow;

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

/// One attribute: schema index, values as served, values normalised by its equality rule.
#[derive(Clone, Debug)]
pub struct Attr {
    /// Index into `schema().attributes`.
    pub at: usize,
    pub vals: Vec<Vec<u8>>,
    /// Same order as `vals`: the normalised form only where it differs from the served
    /// text (`None` = identical), so numbers, paths and lowercase names are stored once.
    /// A value that does not normalise keeps its raw text.
    norm: Vec<Option<Box<str>>>,
}

impl Attr {
    /// Builds an attribute from string values, normalising each by the equality rule.
    pub fn new(at: usize, vals: Vec<String>) -> Attr {
        let rule = schema().attributes.get(at).and_then(|a| a.equality);
        let norm = vals
            .iter()
            .map(|v| {
                rule.and_then(|r| values::normalize(r, v))
                    .filter(|n| n != v)
                    .map(String::into_boxed_str)
            })
            .collect();
        Attr {
            at,
            vals: vals
                .into_iter()
                .map(|v| {
                    let mut bytes = v.into_bytes();
                    bytes.shrink_to_fit();
                    bytes
                })
                .collect(),
            norm,
        }
    }

    /// Builds an attribute whose normalised forms are already known: `(served, normalised)`.
    pub fn with_norms(at: usize, pairs: Vec<(String, String)>) -> Attr {
        let (vals, norm) = pairs
            .into_iter()
            .map(|(val, norm)| {
                let norm = (norm != val).then(|| norm.into_boxed_str());
                (val.into_bytes(), norm)
            })
            .unzip();
        Attr { at, vals, norm }
    }

    /// The values normalised by the attribute's equality rule (as indexed and compared).
    pub fn norms(&self) -> impl Iterator<Item = &str> {
        self.norm
            .iter()
            .zip(self.texts())
            .map(|(norm, text)| norm.as_deref().unwrap_or(text))
    }

    /// The values as text (they are always built from strings).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.vals
            .iter()
            .map(|v| std::str::from_utf8(v).unwrap_or(""))
    }

    /// Values normalised under `rule` (`None` for a value invalid under it): the stored
    /// forms, borrowed, when `rule` is the equality rule, otherwise computed now.
    pub fn normalized_as(&self, rule: Rule) -> impl Iterator<Item = Option<Cow<'_, str>>> {
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

/// One entry of the snapshot. Entry ids are assigned in DN-tree preorder, so a subtree is
/// the contiguous id range `id..end`.
#[derive(Clone, Debug)]
pub struct Entry {
    /// DN as served.
    pub dn: String,
    /// Normalised DN (see `dn::normalize`).
    pub ndn: String,
    pub parent: Option<EntryId>,
    pub children: Vec<EntryId>,
    /// One past the last id of this entry's subtree.
    pub end: EntryId,
    pub region: Region,
    pub attrs: Vec<Attr>,
}

impl Entry {
    /// The attribute with schema index `at`, if present.
    pub fn attr(&self, at: usize) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.at == at)
    }
}
