//! RFC 4511 filter evaluation against snapshot entries, and index planning.
//!
//! Why: a filter is checked in three steps. [`validate`] bounds its size without recursion
//! (hostile clients send 10,000-deep filters); [`compile`] resolves attribute names and
//! matching rules once and normalises assertion values once, looking up equality indexes
//! and transitive-membership sets on the way; [`Compiled::eval`] then applies RFC 4511
//! three-valued logic per candidate, and [`plan`] picks the smallest candidate set an
//! indexed clause offers so a search never scans the directory when it need not.

use super::dn;
use super::entry::Entry;
use super::schema::{Rule, schema};
use super::snapshot::{EntryId, SearchError};
use super::values;
use ldap3_proto::proto::LdapFilter;

/// Deepest filter nesting we evaluate.
pub const MAX_DEPTH: usize = 64;
/// Most filter nodes we evaluate.
pub const MAX_NODES: usize = 10_000;

/// OID of Active Directory's LDAP_MATCHING_RULE_IN_CHAIN.
pub const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
const BIT_AND: &str = "1.2.840.113556.1.4.803";
const BIT_OR: &str = "1.2.840.113556.1.4.804";

/// RFC 4511 three-valued truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Undefined,
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }

    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Undefined => Tri::Undefined,
        }
    }
}

/// What the snapshot offers the compiler: indexes and transitive memberships.
pub trait FilterContext {
    /// Sorted ids of entries whose attribute `at` has normalised value `norm`, or `None`
    /// when `at` is not indexed.
    fn index(&self, at: usize, norm: &str) -> Option<&[EntryId]>;
    /// In-chain sets: with `member_of`, every entry that is a transitive member of the
    /// group `ndn`; otherwise every group that transitively contains the entry `ndn`.
    fn chain(&self, member_of: bool, ndn: &str) -> &[EntryId];
}

/// A filter with names resolved and assertion values normalised.
#[derive(Debug)]
pub enum Compiled<'a> {
    And(Vec<Compiled<'a>>),
    Or(Vec<Compiled<'a>>),
    Not(Box<Compiled<'a>>),
    Const(Tri),
    /// Some value of `at`, normalised under `rule`, equals `value`. `index` is the
    /// candidate list when `rule` is the attribute's (indexed) equality rule.
    Match {
        at: usize,
        rule: Rule,
        value: String,
        index: Option<&'a [EntryId]>,
    },
    Substr {
        at: usize,
        rule: Rule,
        initial: Option<String>,
        any: Vec<String>,
        last: Option<String>,
    },
    Order {
        at: usize,
        rule: Rule,
        value: String,
        greater: bool,
    },
    Present {
        at: usize,
    },
    /// The entry id is in this sorted set (in-chain matching).
    InSet(&'a [EntryId]),
    Bitwise {
        at: usize,
        mask: i128,
        all: bool,
    },
    /// Extensible match over several attributes and/or the DN's AVAs.
    Ext {
        at: Option<usize>,
        rule: Rule,
        value: String,
        dn_attributes: bool,
    },
}

/// Rejects filters deeper than [`MAX_DEPTH`] or larger than [`MAX_NODES`], iteratively.
pub fn validate(filter: &LdapFilter) -> Result<(), SearchError> {
    let mut stack = vec![(filter, 1usize)];
    let mut nodes = 0usize;
    while let Some((f, depth)) = stack.pop() {
        nodes += 1;
        if depth > MAX_DEPTH {
            return Err(SearchError::Unwilling(format!(
                "filter nested deeper than {MAX_DEPTH} levels"
            )));
        }
        if nodes > MAX_NODES {
            return Err(too_many());
        }
        match f {
            LdapFilter::And(v) | LdapFilter::Or(v) => {
                if nodes + v.len() > MAX_NODES {
                    return Err(too_many());
                }
                stack.extend(v.iter().map(|c| (c, depth + 1)));
            }
            LdapFilter::Not(c) => stack.push((c, depth + 1)),
            _ => {}
        }
    }
    Ok(())
}

fn too_many() -> SearchError {
    SearchError::Unwilling(format!("filter has more than {MAX_NODES} elements"))
}

/// Compiles a validated filter. Call [`validate`] first: recursion depth is bounded by it.
pub fn compile<'a>(filter: &LdapFilter, ctx: &'a dyn FilterContext) -> Compiled<'a> {
    let s = schema();
    let lookup = |name: &str| {
        s.attribute_index(name)
            .and_then(|i| s.attributes.get(i).map(|a| (i, a)))
    };
    match filter {
        LdapFilter::And(v) => Compiled::And(v.iter().map(|c| compile(c, ctx)).collect()),
        LdapFilter::Or(v) => Compiled::Or(v.iter().map(|c| compile(c, ctx)).collect()),
        LdapFilter::Not(c) => Compiled::Not(Box::new(compile(c, ctx))),
        LdapFilter::Present(name) => match s.attribute_index(name) {
            Some(at) => Compiled::Present { at },
            None => Compiled::Const(Tri::False),
        },
        LdapFilter::Equality(name, value) => match lookup(name) {
            Some((at, a)) => match a.equality {
                Some(rule) => equality(at, rule, value, ctx),
                None => Compiled::Const(Tri::Undefined),
            },
            None => Compiled::Const(Tri::Undefined),
        },
        LdapFilter::Approx(name, value) => match lookup(name) {
            Some((at, a)) => match a.equality {
                Some(Rule::CaseExact) => equality(at, Rule::CaseIgnore, value, ctx),
                Some(rule) => equality(at, rule, value, ctx),
                None => Compiled::Const(Tri::Undefined),
            },
            None => Compiled::Const(Tri::Undefined),
        },
        LdapFilter::GreaterOrEqual(name, value) | LdapFilter::LessOrEqual(name, value) => {
            let greater = matches!(filter, LdapFilter::GreaterOrEqual(..));
            let Some((at, a)) = lookup(name) else {
                return Compiled::Const(Tri::Undefined);
            };
            match a
                .ordering
                .and_then(|rule| values::normalize(rule, value).map(|v| (rule, v)))
            {
                Some((rule, value)) => Compiled::Order {
                    at,
                    rule,
                    value,
                    greater,
                },
                None => Compiled::Const(Tri::Undefined),
            }
        }
        LdapFilter::Substring(name, sub) => {
            let Some((at, a)) = lookup(name) else {
                return Compiled::Const(Tri::Undefined);
            };
            let Some(rule) = a.substr else {
                return Compiled::Const(Tri::Undefined);
            };
            let piece = |p: &str| values::normalize_piece(rule, p);
            let initial = sub.initial.as_deref().map(piece);
            let last = sub.final_.as_deref().map(piece);
            let any: Option<Vec<String>> = sub.any.iter().map(|p| piece(p)).collect();
            match (initial, any, last) {
                (Some(None), _, _) | (_, None, _) | (_, _, Some(None)) => {
                    Compiled::Const(Tri::Undefined)
                }
                (initial, Some(any), last) => Compiled::Substr {
                    at,
                    rule,
                    initial: initial.flatten(),
                    any,
                    last: last.flatten(),
                },
            }
        }
        LdapFilter::Extensible(m) => extensible(
            m.matching_rule.as_deref(),
            m.type_.as_deref(),
            &m.match_value,
            m.dn_attributes,
            ctx,
        ),
    }
}

fn equality<'a>(at: usize, rule: Rule, value: &str, ctx: &'a dyn FilterContext) -> Compiled<'a> {
    let Some(value) = values::normalize(rule, value) else {
        return Compiled::Const(Tri::Undefined);
    };
    let is_eq = schema().attributes.get(at).and_then(|a| a.equality) == Some(rule);
    let index = if is_eq { ctx.index(at, &value) } else { None };
    Compiled::Match {
        at,
        rule,
        value,
        index,
    }
}

fn extensible<'a>(
    rule: Option<&str>,
    type_: Option<&str>,
    value: &str,
    dn_attributes: bool,
    ctx: &'a dyn FilterContext,
) -> Compiled<'a> {
    let s = schema();
    let at = match type_ {
        Some(t) => match s.attribute_index(t) {
            Some(at) => Some(at),
            None => return Compiled::Const(Tri::Undefined),
        },
        None => None,
    };
    let attr = at.and_then(|i| s.attributes.get(i));
    let rule_oid = match rule {
        Some(r) => match s.rule_oid(r) {
            Some(oid) => Some(oid),
            None => return Compiled::Const(Tri::Undefined),
        },
        None => None,
    };
    match (rule_oid, at) {
        (Some(IN_CHAIN), Some(_)) => {
            let key = attr.map(|a| a.key.as_str()).unwrap_or("");
            let member_of = match key {
                "memberof" => true,
                "member" => false,
                _ => return Compiled::Const(Tri::Undefined),
            };
            match dn::normalize(value) {
                Ok(ndn) => Compiled::InSet(ctx.chain(member_of, &ndn)),
                Err(_) => Compiled::Const(Tri::Undefined),
            }
        }
        (Some(oid @ (BIT_AND | BIT_OR)), Some(at)) => match value.trim().parse::<i128>() {
            Ok(mask) => Compiled::Bitwise {
                at,
                mask,
                all: oid == BIT_AND,
            },
            Err(_) => Compiled::Const(Tri::Undefined),
        },
        (Some(IN_CHAIN | BIT_AND | BIT_OR), None) => Compiled::Const(Tri::Undefined),
        (Some(oid), _) => {
            let Some(rule) = Rule::from_name(oid) else {
                return Compiled::Const(Tri::Undefined);
            };
            ext_match(at, rule, value, dn_attributes, ctx)
        }
        (None, Some(at)) => match attr.and_then(|a| a.equality) {
            Some(rule) => ext_match(Some(at), rule, value, dn_attributes, ctx),
            None => Compiled::Const(Tri::Undefined),
        },
        // RFC 4511 requires a type when no rule is given.
        (None, None) => Compiled::Const(Tri::Undefined),
    }
}

fn ext_match<'a>(
    at: Option<usize>,
    rule: Rule,
    value: &str,
    dn_attributes: bool,
    ctx: &'a dyn FilterContext,
) -> Compiled<'a> {
    match (at, dn_attributes) {
        (Some(at), false) => equality(at, rule, value, ctx),
        _ => match values::normalize(rule, value) {
            Some(value) => Compiled::Ext {
                at,
                rule,
                value,
                dn_attributes,
            },
            None => Compiled::Const(Tri::Undefined),
        },
    }
}

impl Compiled<'_> {
    /// RFC 4511 evaluation of this filter against one entry.
    pub fn eval(&self, id: EntryId, entry: &Entry) -> Tri {
        match self {
            Compiled::And(v) => {
                let mut result = Tri::True;
                for c in v {
                    match c.eval(id, entry) {
                        Tri::False => return Tri::False,
                        Tri::Undefined => result = Tri::Undefined,
                        Tri::True => {}
                    }
                }
                result
            }
            Compiled::Or(v) => {
                let mut result = Tri::False;
                for c in v {
                    match c.eval(id, entry) {
                        Tri::True => return Tri::True,
                        Tri::Undefined => result = Tri::Undefined,
                        Tri::False => {}
                    }
                }
                result
            }
            Compiled::Not(c) => c.eval(id, entry).not(),
            Compiled::Const(t) => *t,
            Compiled::Present { at } => Tri::from_bool(entry.attr(*at).is_some()),
            Compiled::InSet(set) => Tri::from_bool(set.binary_search(&id).is_ok()),
            Compiled::Match {
                at, rule, value, ..
            } => match entry.attr(*at) {
                None => Tri::False,
                Some(a) => Tri::from_bool(a.normalized_as(*rule).flatten().any(|n| n == *value)),
            },
            Compiled::Substr {
                at,
                rule,
                initial,
                any,
                last,
            } => match entry.attr(*at) {
                None => Tri::False,
                Some(a) => Tri::from_bool(a.normalized_as(*rule).flatten().any(|v| {
                    values::substrings_match(&v, initial.as_deref(), any, last.as_deref())
                })),
            },
            Compiled::Order {
                at,
                rule,
                value,
                greater,
            } => match entry.attr(*at) {
                None => Tri::False,
                Some(a) => {
                    let mut result = Tri::False;
                    for v in a.normalized_as(*rule) {
                        match v.and_then(|v| values::compare(*rule, &v, value)) {
                            Some(o) if o.is_eq() || o.is_gt() == *greater => return Tri::True,
                            Some(_) => {}
                            None => result = Tri::Undefined,
                        }
                    }
                    result
                }
            },
            Compiled::Bitwise { at, mask, all } => match entry.attr(*at) {
                None => Tri::False,
                Some(a) => {
                    let mut result = Tri::False;
                    for v in a.texts() {
                        match v.trim().parse::<i128>() {
                            Ok(n) if *all && n & mask == *mask => return Tri::True,
                            Ok(n) if !*all && n & mask != 0 => return Tri::True,
                            Ok(_) => {}
                            Err(_) => result = Tri::Undefined,
                        }
                    }
                    result
                }
            },
            Compiled::Ext {
                at,
                rule,
                value,
                dn_attributes,
            } => Tri::from_bool(ext_eval(*at, *rule, value, *dn_attributes, entry)),
        }
    }
}

fn ext_eval(
    at: Option<usize>,
    rule: Rule,
    value: &str,
    dn_attributes: bool,
    entry: &Entry,
) -> bool {
    let s = schema();
    let in_attrs = entry.attrs().any(|a| {
        let applies = match at {
            Some(at) => a.at == at,
            None => s.attributes.get(a.at).and_then(|x| x.equality) == Some(rule),
        };
        applies && a.normalized_as(rule).flatten().any(|n| n == value)
    });
    if in_attrs || !dn_attributes {
        return in_attrs;
    }
    let wanted = at.and_then(|i| s.attributes.get(i)).map(|a| a.key.as_str());
    let Ok(parsed) = dn::parse(entry.dn()) else {
        return false;
    };
    parsed.rdns.iter().flat_map(|r| r.0.iter()).any(|ava| {
        let key = s.attribute(&ava.attr).map(|a| a.key.as_str());
        (wanted.is_none() || key == wanted)
            && values::normalize(rule, &ava.value).as_deref() == Some(value)
    })
}

/// A candidate set: sorted, duplicate-free entry ids.
#[derive(Debug)]
pub enum Candidates<'a> {
    Borrowed(&'a [EntryId]),
    Owned(Vec<EntryId>),
}

impl Candidates<'_> {
    /// The ids, sorted.
    pub fn ids(&self) -> &[EntryId] {
        match self {
            Candidates::Borrowed(s) => s,
            Candidates::Owned(v) => v,
        }
    }
}

/// The smallest candidate set indexed clauses guarantee to contain every match, or `None`
/// when the filter has no usable indexed clause (the caller then walks the scope).
pub fn plan<'a>(filter: &Compiled<'a>) -> Option<Candidates<'a>> {
    match filter {
        Compiled::Match {
            index: Some(ids), ..
        }
        | Compiled::InSet(ids) => Some(Candidates::Borrowed(ids)),
        Compiled::Const(Tri::False | Tri::Undefined) => Some(Candidates::Owned(Vec::new())),
        Compiled::And(v) => v.iter().filter_map(plan).min_by_key(|c| c.ids().len()),
        Compiled::Or(v) => {
            let mut sets = Vec::with_capacity(v.len());
            for c in v {
                sets.push(plan(c)?);
            }
            Some(Candidates::Owned(union(&sets)))
        }
        _ => None,
    }
}

fn union(sets: &[Candidates<'_>]) -> Vec<EntryId> {
    let mut all: Vec<EntryId> = sets.iter().flat_map(|c| c.ids().iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}
