//! RFC 4514 distinguished names: parsing with escapes, normalisation, comparison.
//!
//! Why: clients write the same DN in many spellings (`UID=Alice, OU=People,…`,
//! `uid=alice,ou=people,…`, hex escapes). Every DN we look up is first parsed and
//! normalised here (attribute types to their schema name, values by the attribute's
//! equality rule, multi-valued RDNs sorted) so one string comparison decides equality.

use super::schema::{Rule, schema};
use super::snapshot::SearchError;
use super::values;

/// One `type=value` pair of an RDN. `value` is unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ava {
    pub attr: String,
    pub value: String,
}

/// A relative distinguished name: one or more AVAs joined by `+`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rdn(pub Vec<Ava>);

/// A parsed DN. `rdns[0]` is the leftmost (most specific) RDN; the root DSE has none.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dn {
    pub rdns: Vec<Rdn>,
}

/// Longest DN we accept, to bound work on hostile input.
const MAX_DN_LEN: usize = 16 * 1024;

fn invalid(dn: &str, why: &str) -> SearchError {
    let shown: String = dn.chars().take(200).collect();
    SearchError::InvalidDn(format!("invalid DN \"{shown}\": {why}"))
}

/// Parses an RFC 4514 string. The empty string is the root DSE.
pub fn parse(input: &str) -> Result<Dn, SearchError> {
    if input.len() > MAX_DN_LEN {
        return Err(invalid("", "too long"));
    }
    let mut p = Parser {
        s: input.as_bytes(),
        pos: 0,
        input,
    };
    let mut dn = Dn::default();
    p.skip_spaces();
    if p.at_end() {
        return Ok(dn);
    }
    loop {
        let mut rdn = Vec::new();
        loop {
            rdn.push(p.ava()?);
            match p.peek() {
                Some(b'+') => p.pos += 1,
                _ => break,
            }
        }
        dn.rdns.push(Rdn(rdn));
        match p.peek() {
            None => return Ok(dn),
            Some(b',') => {
                p.pos += 1;
            }
            Some(_) => return Err(invalid(input, "expected ',' or '+'")),
        }
    }
}

/// Parses and normalises in one step (see [`Dn::normalized`]).
pub fn normalize(input: &str) -> Result<String, SearchError> {
    parse(input).map(|dn| dn.normalized())
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn ava(&mut self) -> Result<Ava, SearchError> {
        self.skip_spaces();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let attr = self.input.get(start..self.pos).unwrap_or("");
        let valid_type = match attr.as_bytes().first() {
            Some(c) if c.is_ascii_alphabetic() => !attr.contains('.'),
            Some(c) if c.is_ascii_digit() => attr
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())),
            _ => false,
        };
        if !valid_type {
            return Err(invalid(self.input, "bad attribute type"));
        }
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return Err(invalid(self.input, "expected '='"));
        }
        self.pos += 1;
        self.skip_spaces();
        let value = if self.peek() == Some(b'#') {
            self.hex_value()?
        } else {
            self.string_value()?
        };
        Ok(Ava {
            attr: attr.to_string(),
            value,
        })
    }

    /// `#` followed by the hex of a BER encoding. String types are decoded; anything else
    /// is kept as the literal `#hex` text.
    fn hex_value(&mut self) -> Result<String, SearchError> {
        self.pos += 1;
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let hex_text = self.input.get(start..self.pos).unwrap_or("");
        self.skip_spaces();
        let bytes = hex::decode(hex_text).map_err(|_| invalid(self.input, "bad hex string"))?;
        if bytes.is_empty() {
            return Err(invalid(self.input, "empty hex string"));
        }
        let decoded = match bytes.as_slice() {
            [tag, len, rest @ ..]
                if matches!(tag, 0x04 | 0x0c | 0x13 | 0x14 | 0x16)
                    && usize::from(*len) == rest.len() =>
            {
                String::from_utf8(rest.to_vec()).ok()
            }
            _ => None,
        };
        Ok(decoded.unwrap_or_else(|| format!("#{}", hex_text.to_ascii_lowercase())))
    }

    fn string_value(&mut self) -> Result<String, SearchError> {
        let mut bytes = Vec::new();
        // Length of `bytes` up to the last character that is not an unescaped space.
        let mut significant = 0;
        while let Some(c) = self.peek() {
            match c {
                b',' | b'+' => break,
                b'\\' => {
                    self.pos += 1;
                    let Some(n) = self.peek() else {
                        return Err(invalid(self.input, "dangling '\\'"));
                    };
                    if n.is_ascii_hexdigit() {
                        let pair = self.s.get(self.pos..self.pos + 2).unwrap_or(&[]);
                        let text = std::str::from_utf8(pair).unwrap_or("");
                        let byte = u8::from_str_radix(text, 16)
                            .ok()
                            .filter(|_| text.len() == 2)
                            .ok_or_else(|| invalid(self.input, "bad hex escape"))?;
                        bytes.push(byte);
                        self.pos += 2;
                    } else if b" \"#+,;<=>\\".contains(&n) {
                        bytes.push(n);
                        self.pos += 1;
                    } else {
                        return Err(invalid(self.input, "bad escape"));
                    }
                    significant = bytes.len();
                }
                b'"' | b';' | b'<' | b'>' | 0 => {
                    return Err(invalid(self.input, "unescaped special character"));
                }
                _ => {
                    bytes.push(c);
                    self.pos += 1;
                    if c != b' ' {
                        significant = bytes.len();
                    }
                }
            }
        }
        bytes.truncate(significant);
        String::from_utf8(bytes).map_err(|_| invalid(self.input, "value is not UTF-8"))
    }
}

impl Dn {
    /// True for the root DSE (`""`).
    pub fn is_root(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The DN one level up; `None` for the root DSE.
    pub fn parent(&self) -> Option<Dn> {
        if self.rdns.is_empty() {
            return None;
        }
        Some(Dn {
            rdns: self.rdns.get(1..).unwrap_or(&[]).to_vec(),
        })
    }

    /// Every proper ancestor, nearest first, ending with the root DSE.
    pub fn ancestors(&self) -> impl Iterator<Item = Dn> + '_ {
        (1..=self.rdns.len()).map(move |i| Dn {
            rdns: self.rdns.get(i..).unwrap_or(&[]).to_vec(),
        })
    }

    /// Whether `self` is `other` or below it (both normalised first).
    pub fn is_within(&self, other: &Dn) -> bool {
        let (mine, theirs) = (self.normalized_rdns(), other.normalized_rdns());
        mine.len() >= theirs.len() && mine.ends_with(&theirs)
    }

    /// Canonical string: types as their schema name in lower case, values normalised by the
    /// attribute's equality rule (case-insensitive when the type is unknown), AVAs of a
    /// multi-valued RDN sorted, and minimal escaping. Equal DNs give equal strings.
    pub fn normalized(&self) -> String {
        self.normalized_rdns().join(",")
    }

    fn normalized_rdns(&self) -> Vec<String> {
        self.rdns
            .iter()
            .map(|rdn| {
                let mut avas: Vec<String> = rdn
                    .0
                    .iter()
                    .map(|ava| {
                        let (key, value) = normalize_ava(&ava.attr, &ava.value);
                        format!("{key}={}", escape_value(&value))
                    })
                    .collect();
                avas.sort();
                avas.join("+")
            })
            .collect()
    }
}

/// The normalised (type, value) of one AVA.
pub fn normalize_ava(attr: &str, value: &str) -> (String, String) {
    match schema().attribute(attr) {
        Some(at) => {
            let rule = at.equality.unwrap_or(Rule::CaseIgnore);
            let v = values::normalize(rule, value).unwrap_or_else(|| value.to_string());
            (at.key.clone(), v)
        }
        None => (
            attr.to_ascii_lowercase(),
            values::normalize(Rule::CaseIgnore, value).unwrap_or_default(),
        ),
    }
}

impl std::fmt::Display for Dn {
    /// Formats with RFC 4514 escaping, keeping types and values as parsed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in rdn.0.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}={}", ava.attr, escape_value(&ava.value))?;
            }
        }
        Ok(())
    }
}

/// Escapes an attribute value for use in a DN string (RFC 4514 section 2.4).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Builds `type=value,parent` with the value escaped.
pub fn child(attr: &str, value: &str, parent: &str) -> String {
    if parent.is_empty() {
        format!("{attr}={}", escape_value(value))
    } else {
        format!("{attr}={},{parent}", escape_value(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_and_normalises_case_and_spaces() {
        let dn = parse("UID=Alice , OU=People,DC=Example,DC=COM").unwrap();
        assert_eq!(dn.rdns.len(), 4);
        assert_eq!(dn.normalized(), "uid=alice,ou=people,dc=example,dc=com");
        assert_eq!(
            normalize("cn=John   Smith,dc=x").unwrap(),
            normalize("CN=john smith,DC=X").unwrap()
        );
    }

    #[test]
    fn escapes_and_hex_pairs() {
        let dn = parse(r"cn=Smith\, John,dc=x").unwrap();
        assert_eq!(dn.rdns[0].0[0].value, "Smith, John");
        let dn = parse(r"cn=Smith\2C John,dc=x").unwrap();
        assert_eq!(dn.rdns[0].0[0].value, "Smith, John");
        let dn = parse(r"cn=caf\C3\A9,dc=x").unwrap();
        assert_eq!(dn.rdns[0].0[0].value, "café");
        let dn = parse(r"cn=\#hash\ ,dc=x").unwrap();
        assert_eq!(dn.rdns[0].0[0].value, "#hash ");
        let dn = parse(r"cn=\ lead,dc=x").unwrap();
        assert_eq!(dn.rdns[0].0[0].value, " lead");
    }

    #[test]
    fn hex_string_values() {
        // BER OCTET STRING "abc"
        let dn = parse("cn=#0403616263,dc=x").unwrap();
        assert_eq!(dn.rdns[0].0[0].value, "abc");
        let dn = parse("1.2.3=#0102,dc=x").unwrap();
        assert_eq!(dn.rdns[0].0[0].value, "#0102");
        assert!(parse("cn=#zz").is_err());
    }

    #[test]
    fn multi_valued_rdn_is_order_independent() {
        let a = normalize("cn=A+uid=b,dc=x").unwrap();
        let b = normalize("UID=B+CN=a,dc=x").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse("cn=A+uid=b,dc=x").unwrap().rdns[0].0.len(), 2);
    }

    #[test]
    fn oid_types_map_to_names() {
        assert_eq!(
            normalize("0.9.2342.19200300.100.1.1=Bob,dc=x").unwrap(),
            "uid=bob,dc=x"
        );
    }

    #[test]
    fn round_trip_formatting() {
        for s in [
            r"cn=Smith\, John+uid=js,ou=people,dc=example,dc=com",
            r"cn=\#1\ ,dc=x",
            r#"cn=a\\b\;c\<d\>e\+f\"g,dc=x"#,
            "",
        ] {
            let dn = parse(s).unwrap();
            let again = parse(&dn.to_string()).unwrap();
            assert_eq!(dn, again, "{s}");
        }
        assert_eq!(escape_value(" a,b "), r"\ a\,b\ ");
        assert_eq!(child("cn", "x,y", "dc=z"), r"cn=x\,y,dc=z");
    }

    #[test]
    fn errors() {
        for bad in [
            "cn",
            "=x",
            "cn=a,",
            ",cn=a",
            "cn=a,,dc=b",
            r"cn=a\",
            r"cn=a\zz",
            r"cn=a\2",
            "cn=a;dc=b",
            "c n=a",
            "1.=a",
            "cn=a\"b",
            r"cn=\FF",
        ] {
            assert!(
                matches!(parse(bad), Err(SearchError::InvalidDn(_))),
                "{bad} should fail"
            );
        }
    }

    #[test]
    fn parents_and_ancestors() {
        let dn = parse("uid=a,ou=people,dc=x").unwrap();
        assert_eq!(dn.parent().unwrap().normalized(), "ou=people,dc=x");
        let all: Vec<String> = dn.ancestors().map(|d| d.normalized()).collect();
        assert_eq!(all, vec!["ou=people,dc=x", "dc=x", ""]);
        assert!(dn.is_within(&parse("DC=X").unwrap()));
        assert!(!parse("dc=x").unwrap().is_within(&dn));
        assert!(parse("").unwrap().is_root());
        assert!(parse("").unwrap().parent().is_none());
    }
}
