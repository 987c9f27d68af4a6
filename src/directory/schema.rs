//! Attribute types, matching rules and object classes we serve (and `cn=Subschema`).
//!
//! Why: `schema/entra-ldap.schema` is the single source of truth. It is embedded in the
//! binary, parsed once, served verbatim at `cn=Subschema`, and decides how every value is
//! compared (equality, ordering and substring rules), so what clients read in the schema is
//! exactly how the server behaves.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The schema file, embedded at compile time.
const SCHEMA_TEXT: &str = include_str!("../../schema/entra-ldap.schema");

/// How values of an attribute are normalised and compared. One variant per family of
/// matching rules that behave alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// caseIgnoreMatch, caseIgnoreIA5Match (and their substring/ordering forms).
    CaseIgnore,
    /// caseExactMatch, caseExactIA5Match.
    CaseExact,
    /// integerMatch / integerOrderingMatch: compared numerically.
    Integer,
    /// distinguishedNameMatch: compared after DN normalisation.
    Dn,
    /// octetStringMatch: byte for byte.
    OctetString,
    /// booleanMatch: `TRUE` / `FALSE`.
    Boolean,
    /// generalizedTimeMatch: compared in canonical `YYYYMMDDHHMMSSZ` form.
    GeneralizedTime,
    /// objectIdentifierMatch: names case-insensitively, OIDs mapped to names.
    ObjectIdentifier,
    /// uuidMatch: case-insensitive hex.
    Uuid,
}

impl Rule {
    /// Maps a matching rule name (or OID) to its family. `None` for rules we do not
    /// implement (the attribute then has no such rule and filters on it are Undefined).
    pub fn from_name(name: &str) -> Option<Rule> {
        let rule = match name.to_ascii_lowercase().as_str() {
            "caseignorematch"
            | "2.5.13.2"
            | "caseignoreorderingmatch"
            | "2.5.13.3"
            | "caseignoresubstringsmatch"
            | "2.5.13.4"
            | "caseignoreia5match"
            | "1.3.6.1.4.1.1466.109.114.2"
            | "caseignoreia5substringsmatch"
            | "1.3.6.1.4.1.1466.109.114.3" => Rule::CaseIgnore,
            "caseexactmatch"
            | "2.5.13.5"
            | "caseexactorderingmatch"
            | "2.5.13.6"
            | "caseexactsubstringsmatch"
            | "2.5.13.7"
            | "caseexactia5match"
            | "1.3.6.1.4.1.1466.109.114.1" => Rule::CaseExact,
            "integermatch" | "2.5.13.14" | "integerorderingmatch" | "2.5.13.15" => Rule::Integer,
            "distinguishednamematch" | "2.5.13.1" => Rule::Dn,
            "octetstringmatch" | "2.5.13.17" => Rule::OctetString,
            "booleanmatch" | "2.5.13.13" => Rule::Boolean,
            "generalizedtimematch" | "2.5.13.27" | "generalizedtimeorderingmatch" | "2.5.13.28" => {
                Rule::GeneralizedTime
            }
            "objectidentifiermatch" | "2.5.13.0" => Rule::ObjectIdentifier,
            "uuidmatch" | "1.3.6.1.1.16.2" | "uuidorderingmatch" | "1.3.6.1.1.16.3" => Rule::Uuid,
            _ => return None,
        };
        Some(rule)
    }
}

/// One attribute type from the schema.
#[derive(Clone, Debug)]
pub struct AttributeType {
    pub oid: String,
    /// Names as written in the schema; the first is the one we serve.
    pub names: Vec<String>,
    /// The first name, lowercased: the key everything else uses.
    pub key: String,
    /// Syntax OID without a length bound.
    pub syntax: String,
    /// Rule for equality, approx, compare and the indexes; `None` → such filters are Undefined.
    pub equality: Option<Rule>,
    /// Rule for `>=` / `<=`; `None` → Undefined.
    pub ordering: Option<Rule>,
    /// Rule for substring filters; `None` → Undefined.
    pub substr: Option<Rule>,
    pub single_value: bool,
    /// `USAGE` other than userApplications: returned only when asked for by name or `+`.
    pub operational: bool,
}

impl AttributeType {
    /// The name we serve (the schema's first name).
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or(&self.oid)
    }
}

/// Kind of an object class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassKind {
    Abstract,
    Structural,
    Auxiliary,
}

/// One object class from the schema.
#[derive(Clone, Debug)]
pub struct ObjectClass {
    pub oid: String,
    pub names: Vec<String>,
    pub kind: ClassKind,
    /// Lowercased names of the superclasses.
    pub sup: Vec<String>,
    /// Lowercased attribute names.
    pub must: Vec<String>,
    pub may: Vec<String>,
}

/// The parsed schema.
#[derive(Debug, Default)]
pub struct Schema {
    /// In file order; entries refer to attributes by index into this list.
    pub attributes: Vec<AttributeType>,
    pub classes: Vec<ObjectClass>,
    attr_index: HashMap<String, usize>,
    class_index: HashMap<String, usize>,
    /// Known matching rules: lowercased name and OID → OID.
    rule_oids: HashMap<String, String>,
    /// Definitions as served at `cn=Subschema`, per kind.
    pub ldap_syntaxes: Vec<String>,
    pub matching_rules: Vec<String>,
    pub attribute_types: Vec<String>,
    pub object_classes: Vec<String>,
    /// Definitions that did not parse (a test asserts there are none).
    pub rejected: Vec<String>,
}

/// The schema, parsed on first use.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(SCHEMA_TEXT))
}

impl Schema {
    /// Parses the text format described at the top of `schema/entra-ldap.schema`.
    /// Malformed definitions are skipped and listed in `rejected` rather than failing.
    pub fn parse(text: &str) -> Schema {
        let mut schema = Schema::default();
        for (kind, body) in records(text) {
            let tokens = tokenize(&body);
            let ok = match kind.to_ascii_lowercase().as_str() {
                "ldapsyntaxes" => {
                    schema.ldap_syntaxes.push(body.clone());
                    true
                }
                "matchingrules" => schema.add_rule(&tokens, &body),
                "attributetypes" => schema.add_attribute(&tokens, &body),
                "objectclasses" => schema.add_class(&tokens, &body),
                _ => false,
            };
            if !ok {
                tracing::warn!(definition = %body, "schema definition skipped");
                schema.rejected.push(format!("{kind}: {body}"));
            }
        }
        schema
    }

    fn add_rule(&mut self, tokens: &[Token], body: &str) -> bool {
        let Some(def) = Definition::parse(tokens) else {
            return false;
        };
        for name in def.names.iter().chain(std::iter::once(&def.oid)) {
            self.rule_oids
                .insert(name.to_ascii_lowercase(), def.oid.clone());
        }
        self.matching_rules.push(body.to_string());
        true
    }

    fn add_attribute(&mut self, tokens: &[Token], body: &str) -> bool {
        let Some(def) = Definition::parse(tokens) else {
            return false;
        };
        let Some(first) = def.names.first() else {
            return false;
        };
        let rule = |k: &str| def.single(k).and_then(Rule::from_name);
        let attr = AttributeType {
            key: first.to_ascii_lowercase(),
            oid: def.oid.clone(),
            names: def.names.clone(),
            syntax: def
                .single("SYNTAX")
                .map(|s| s.split('{').next().unwrap_or(s).to_string())
                .unwrap_or_default(),
            equality: rule("EQUALITY"),
            ordering: rule("ORDERING"),
            substr: rule("SUBSTR"),
            single_value: def.flags.iter().any(|f| f == "SINGLE-VALUE"),
            operational: def
                .single("USAGE")
                .is_some_and(|u| !u.eq_ignore_ascii_case("userApplications")),
        };
        let index = self.attributes.len();
        for name in attr.names.iter().chain(std::iter::once(&attr.oid)) {
            self.attr_index.insert(name.to_ascii_lowercase(), index);
        }
        self.attributes.push(attr);
        self.attribute_types.push(body.to_string());
        true
    }

    fn add_class(&mut self, tokens: &[Token], body: &str) -> bool {
        let Some(def) = Definition::parse(tokens) else {
            return false;
        };
        let kind = if def.flags.iter().any(|f| f == "ABSTRACT") {
            ClassKind::Abstract
        } else if def.flags.iter().any(|f| f == "AUXILIARY") {
            ClassKind::Auxiliary
        } else {
            ClassKind::Structural
        };
        let lower = |k: &str| -> Vec<String> {
            def.list(k).iter().map(|s| s.to_ascii_lowercase()).collect()
        };
        let class = ObjectClass {
            oid: def.oid.clone(),
            names: def.names.clone(),
            kind,
            sup: lower("SUP"),
            must: lower("MUST"),
            may: lower("MAY"),
        };
        let index = self.classes.len();
        for name in class.names.iter().chain(std::iter::once(&class.oid)) {
            self.class_index.insert(name.to_ascii_lowercase(), index);
        }
        self.classes.push(class);
        self.object_classes.push(body.to_string());
        true
    }

    /// Looks up an attribute by name or OID (case-insensitive; options such as `;binary`
    /// are ignored). Returns its index in [`Schema::attributes`].
    pub fn attribute_index(&self, description: &str) -> Option<usize> {
        let base = description.split(';').next().unwrap_or(description).trim();
        if let Some(i) = self.attr_index.get(base) {
            return Some(*i);
        }
        // Clients send names in any case ("uidNumber"); lowercase short ones on the stack
        // (this runs for every requested attribute of every search).
        let mut buf = [0u8; 64];
        match buf.get_mut(..base.len()) {
            Some(lower) => {
                lower.copy_from_slice(base.as_bytes());
                lower.make_ascii_lowercase();
                let lower = std::str::from_utf8(lower).ok()?;
                self.attr_index.get(lower).copied()
            }
            None => self.attr_index.get(&base.to_ascii_lowercase()).copied(),
        }
    }

    /// Looks up an attribute by name or OID.
    pub fn attribute(&self, description: &str) -> Option<&AttributeType> {
        self.attribute_index(description)
            .and_then(|i| self.attributes.get(i))
    }

    /// Looks up an object class by name or OID (case-insensitive).
    pub fn class(&self, name: &str) -> Option<&ObjectClass> {
        self.class_index
            .get(&name.trim().to_ascii_lowercase())
            .and_then(|i| self.classes.get(*i))
    }

    /// Every attribute (lowercased) an object class and its superclasses allow, for
    /// RFC 4529 `@class` attribute lists. `None` for an unknown class.
    pub fn class_attributes(&self, name: &str) -> Option<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut pending = vec![self.class(name)?];
        let mut visited = 0;
        while let Some(class) = pending.pop() {
            visited += 1;
            if visited > self.classes.len() {
                break;
            }
            for a in class.must.iter().chain(&class.may) {
                let key = self
                    .attribute(a)
                    .map(|x| x.key.clone())
                    .unwrap_or_else(|| a.clone());
                if !out.contains(&key) {
                    out.push(key);
                }
            }
            pending.extend(class.sup.iter().filter_map(|s| self.class(s)));
        }
        Some(out)
    }

    /// The OID of a matching rule given by name or OID, if we know it.
    pub fn rule_oid(&self, name: &str) -> Option<&str> {
        self.rule_oids
            .get(&name.trim().to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Splits the file into `(kind, definition)` records, joining continuation lines.
fn records(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some((_, body)) = out.last_mut() {
                body.push(' ');
                body.push_str(line.trim());
            }
            continue;
        }
        if let Some((kind, body)) = line.split_once(':') {
            out.push((kind.trim().to_string(), body.trim().to_string()));
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Dollar,
    Quoted(String),
    Word(String),
}

fn tokenize(body: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '$' => tokens.push(Token::Dollar),
            '\'' => {
                let mut s = String::new();
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    s.push(c);
                }
                tokens.push(Token::Quoted(s));
            }
            c if c.is_whitespace() => {}
            c => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || n == '(' || n == ')' || n == '$' || n == '\'' {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                tokens.push(Token::Word(s));
            }
        }
    }
    tokens
}

/// A generic RFC 4512 definition: OID, NAME(s), and keyword → values.
struct Definition {
    oid: String,
    names: Vec<String>,
    fields: Vec<(String, Vec<String>)>,
    flags: Vec<String>,
}

/// Keywords that take no value.
const FLAGS: &[&str] = &[
    "SINGLE-VALUE",
    "NO-USER-MODIFICATION",
    "COLLECTIVE",
    "OBSOLETE",
    "ABSTRACT",
    "STRUCTURAL",
    "AUXILIARY",
];

impl Definition {
    fn parse(tokens: &[Token]) -> Option<Definition> {
        let (Some(Token::Open), Some(Token::Close)) = (tokens.first(), tokens.last()) else {
            return None;
        };
        let inner = tokens.get(1..tokens.len().saturating_sub(1))?;
        let mut it = inner.iter().peekable();
        let Some(Token::Word(oid)) = it.next() else {
            return None;
        };
        let mut def = Definition {
            oid: oid.clone(),
            names: Vec::new(),
            fields: Vec::new(),
            flags: Vec::new(),
        };
        while let Some(token) = it.next() {
            let Token::Word(keyword) = token else {
                return None;
            };
            if FLAGS.contains(&keyword.as_str()) {
                def.flags.push(keyword.clone());
                continue;
            }
            let mut values = Vec::new();
            match it.next()? {
                Token::Word(w) | Token::Quoted(w) => values.push(w.clone()),
                Token::Open => loop {
                    match it.next()? {
                        Token::Close => break,
                        Token::Dollar => {}
                        Token::Word(w) | Token::Quoted(w) => values.push(w.clone()),
                        Token::Open => return None,
                    }
                },
                _ => return None,
            }
            if keyword == "NAME" {
                def.names = values;
            } else {
                def.fields.push((keyword.clone(), values));
            }
        }
        Some(def)
    }

    fn single(&self, keyword: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == keyword)
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }

    fn list(&self, keyword: &str) -> &[String] {
        self.fields
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_parses_completely() {
        let s = schema();
        assert!(s.rejected.is_empty(), "rejected: {:?}", s.rejected);
        assert!(s.attributes.len() >= 40);
        assert!(s.classes.len() > 15);
        assert_eq!(s.attribute_types.len(), s.attributes.len());
        assert!(!s.ldap_syntaxes.is_empty());
    }

    #[test]
    fn attributes_resolve_by_name_alias_and_oid() {
        let s = schema();
        let uid = s.attribute("UID").unwrap();
        assert_eq!(uid.name(), "uid");
        assert_eq!(s.attribute("userid").unwrap().oid, uid.oid);
        assert_eq!(s.attribute("0.9.2342.19200300.100.1.1").unwrap().key, "uid");
        assert_eq!(s.attribute("cn;lang-en").unwrap().key, "cn");
        assert_eq!(
            s.attribute("uidNumber").unwrap().equality,
            Some(Rule::Integer)
        );
        assert_eq!(
            s.attribute("uidnumber").unwrap().ordering,
            Some(Rule::Integer)
        );
        assert_eq!(s.attribute("member").unwrap().equality, Some(Rule::Dn));
        assert!(s.attribute("entryUUID").unwrap().operational);
        assert!(!s.attribute("memberOf").unwrap().operational);
        assert!(s.attribute("userPassword").is_none());
    }

    #[test]
    fn classes_and_their_attributes_are_defined() {
        let s = schema();
        assert_eq!(s.class("posixAccount").unwrap().kind, ClassKind::Auxiliary);
        assert_eq!(s.class("posixgroup").unwrap().kind, ClassKind::Auxiliary);
        assert_eq!(
            s.class("inetOrgPerson").unwrap().kind,
            ClassKind::Structural
        );
        for class in &s.classes {
            for a in class.must.iter().chain(&class.may) {
                assert!(s.attribute(a).is_some(), "{a} of {:?}", class.names);
            }
        }
        for attr in &s.attributes {
            let wanted = format!("( {} ", attr.syntax);
            assert!(
                s.ldap_syntaxes.iter().any(|d| d.starts_with(&wanted)),
                "syntax {} of {}",
                attr.syntax,
                attr.key
            );
        }
    }

    #[test]
    fn class_attribute_lists_include_superclasses() {
        let s = schema();
        let inet = s.class_attributes("inetOrgPerson").unwrap();
        for a in ["objectclass", "sn", "cn", "ou", "mail", "uid"] {
            assert!(inet.contains(&a.to_string()), "{a}");
        }
        assert!(!inet.contains(&"uidnumber".to_string()));
        assert!(s.class_attributes("nope").is_none());
    }

    #[test]
    fn matching_rules_resolve() {
        let s = schema();
        assert_eq!(s.rule_oid("caseIgnoreMatch"), Some("2.5.13.2"));
        assert_eq!(
            s.rule_oid("1.2.840.113556.1.4.1941"),
            Some("1.2.840.113556.1.4.1941")
        );
        assert_eq!(s.rule_oid("nonsense"), None);
    }

    #[test]
    fn malformed_definitions_are_rejected_not_fatal() {
        let s = Schema::parse("attributeTypes: ( 1.2.3 NAME 'x' \nobjectClasses: garbage\n");
        assert_eq!(s.rejected.len(), 2);
        assert!(s.attributes.is_empty());
    }
}
