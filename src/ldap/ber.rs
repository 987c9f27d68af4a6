//! Direct BER encoding of SearchResultEntry PDUs.
//!
//! Why: entries are most of what the server writes, and going through ldap3_proto's types
//! costs an owned `String` per attribute name, a `Vec<u8>` per value and a tag tree per
//! PDU before a single byte is written — about a fifth of the CPU of an indexed search.
//! Here an entry goes from the snapshot's packed text straight into the connection's write
//! buffer: lengths are computed in a first pass over borrowed values, then every byte is
//! written once. Every other PDU (results, bind and extended responses) still goes through
//! ldap3_proto's codec; a test decodes what this module writes with that codec and compares
//! it with ldap3_proto's own encoding of the same entry.
//!
//! Encoding (RFC 4511 §4.1, §4.5.2; X.690 definite lengths):
//! `LDAPMessage ::= SEQUENCE { messageID INTEGER, [APPLICATION 4] SEQUENCE { objectName
//! OCTET STRING, attributes SEQUENCE OF SEQUENCE { type OCTET STRING, vals SET OF OCTET
//! STRING } } }`.

use bytes::{BufMut, BytesMut};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
/// `[APPLICATION 4]`, constructed: SearchResultEntry.
const SEARCH_RESULT_ENTRY: u8 = 0x64;

/// One attribute to encode: its name as served and its values (cloneable, since values
/// are walked twice: once to measure, once to write).
pub(crate) struct EncodedAttr<'a, V> {
    pub name: &'a str,
    pub values: V,
}

/// Appends one complete SearchResultEntry LDAPMessage for `dn` and `attrs` to `out`.
/// With `types_only`, every attribute is sent with an empty value set (RFC 4511 §4.5.1.6).
pub(crate) fn search_result_entry<'a, A, V>(
    out: &mut BytesMut,
    msgid: i32,
    dn: &str,
    attrs: A,
    types_only: bool,
) where
    A: Iterator<Item = EncodedAttr<'a, V>> + Clone,
    V: Iterator<Item = &'a str> + Clone,
{
    let vals_len = |values: &V| -> usize {
        if types_only {
            0
        } else {
            values.clone().map(|v| tlv_len(v.len())).sum()
        }
    };
    let attr_content =
        |a: &EncodedAttr<'a, V>| tlv_len(a.name.len()) + tlv_len(vals_len(&a.values));
    let list_len: usize = attrs.clone().map(|a| tlv_len(attr_content(&a))).sum();
    let entry_len = tlv_len(dn.len()) + tlv_len(list_len);
    let id = msgid.to_be_bytes();
    let id = minimal_integer(&id);
    let message_len = tlv_len(id.len()) + tlv_len(entry_len);

    out.reserve(tlv_len(message_len));
    header(out, SEQUENCE, message_len);
    header(out, INTEGER, id.len());
    out.put_slice(id);
    header(out, SEARCH_RESULT_ENTRY, entry_len);
    octet_string(out, dn);
    header(out, SEQUENCE, list_len);
    for attr in attrs {
        header(out, SEQUENCE, attr_content(&attr));
        octet_string(out, attr.name);
        header(out, SET, vals_len(&attr.values));
        if !types_only {
            for value in attr.values {
                octet_string(out, value);
            }
        }
    }
}

/// Bytes of a tag-length-value with `content` bytes of content.
fn tlv_len(content: usize) -> usize {
    1 + length_len(content) + content
}

/// Bytes of the definite length field for `content` bytes.
fn length_len(content: usize) -> usize {
    if content < 0x80 {
        1
    } else {
        1 + significant_bytes(content)
    }
}

/// How many bytes `n` needs, big-endian, without leading zeros (at least one).
fn significant_bytes(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    (bits as usize).div_ceil(8).max(1)
}

fn header(out: &mut BytesMut, tag: u8, content: usize) {
    out.put_u8(tag);
    if content < 0x80 {
        // Fits: content < 0x80.
        out.put_u8(content as u8);
    } else {
        let n = significant_bytes(content);
        let bytes = content.to_be_bytes();
        let start = bytes.len() - n;
        // n ≤ size_of::<usize>() ≤ 8, so the long-form length octet is 0x81..=0x88.
        out.put_u8(0x80 | n as u8);
        out.put_slice(bytes.get(start..).unwrap_or(&bytes));
    }
}

fn octet_string(out: &mut BytesMut, value: &str) {
    header(out, OCTET_STRING, value.len());
    out.put_slice(value.as_bytes());
}

/// The shortest two's-complement form of a big-endian integer (X.690 §8.3.2): leading
/// 0x00 / 0xFF bytes are dropped while the sign bit of the next byte agrees.
fn minimal_integer(bytes: &[u8; 4]) -> &[u8] {
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (this, next) = (bytes[start], bytes[start + 1]);
        let redundant = (this == 0x00 && next & 0x80 == 0) || (this == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes.get(start..).unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::LdapCodec;
    use ldap3_proto::proto::{LdapMsg, LdapOp, LdapPartialAttribute, LdapSearchResultEntry};
    use tokio_util::codec::{Decoder, Encoder};

    /// Encodes with this module, decodes with ldap3_proto, and checks both that the
    /// decoded message is the expected one and that the bytes equal ldap3_proto's own
    /// encoding (so clients see exactly what they saw before).
    fn round_trip(msgid: i32, dn: &str, attrs: &[(&str, Vec<String>)], types_only: bool) {
        let mut ours = BytesMut::new();
        let encoded = attrs.iter().map(|(name, values)| EncodedAttr {
            name,
            values: values.iter().map(String::as_str),
        });
        search_result_entry(&mut ours, msgid, dn, encoded, types_only);

        let expected = LdapMsg::new(
            msgid,
            LdapOp::SearchResultEntry(LdapSearchResultEntry {
                dn: dn.to_string(),
                attributes: attrs
                    .iter()
                    .map(|(name, values)| LdapPartialAttribute {
                        atype: name.to_string(),
                        vals: if types_only {
                            Vec::new()
                        } else {
                            values.iter().map(|v| v.as_bytes().to_vec()).collect()
                        },
                    })
                    .collect(),
            }),
        );
        let mut theirs = BytesMut::new();
        LdapCodec::default()
            .encode(expected.clone(), &mut theirs)
            .unwrap();
        assert_eq!(ours, theirs, "bytes differ from ldap3_proto's encoding");

        let mut buf = ours.clone();
        let decoded = LdapCodec::new(Some(1 << 24), None)
            .decode(&mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(decoded, expected);
        assert!(buf.is_empty(), "trailing bytes after one message");
    }

    #[test]
    fn entries_match_ldap3_proto_byte_for_byte() {
        let member = |n: usize| format!("uid=user{n:04},ou=people,dc=example,dc=com");
        round_trip(1, "dc=example,dc=com", &[], false);
        round_trip(
            7,
            "uid=ada,ou=people,dc=example,dc=com",
            &[
                ("objectClass", vec!["top".into(), "person".into()]),
                ("uid", vec!["ada".into()]),
                ("description", vec![String::new()]),
            ],
            false,
        );
        // Lengths on both sides of every length-form boundary (127/128, 255/256, 65535/65536).
        for size in [126, 127, 128, 129, 255, 256, 65_535, 65_536, 70_000] {
            round_trip(
                2,
                "cn=big",
                &[("description", vec!["x".repeat(size)])],
                false,
            );
        }
        // A large group: thousands of values, a multi-byte SET length.
        let members: Vec<String> = (0..3000).map(member).collect();
        round_trip(
            3,
            "cn=g,ou=groups,dc=example,dc=com",
            &[("member", members)],
            false,
        );
        // UTF-8 values are sent as their bytes.
        round_trip(
            4,
            "cn=Zoë,dc=example,dc=com",
            &[("cn", vec!["Zoë".into()])],
            false,
        );
    }

    #[test]
    fn types_only_sends_empty_value_sets() {
        round_trip(
            9,
            "uid=ada,ou=people,dc=example,dc=com",
            &[("uid", vec!["ada".into()]), ("mail", vec!["a@x".into()])],
            true,
        );
    }

    /// (RFC 4511 message ids are 0..2^31-1; ldap3_proto reads requests' ids the same way.)
    #[test]
    fn message_ids_use_the_shortest_integer_form() {
        for msgid in [
            0,
            1,
            127,
            128,
            255,
            256,
            32_767,
            32_768,
            65_535,
            8_388_608,
            i32::MAX,
        ] {
            round_trip(msgid, "cn=x", &[("cn", vec!["x".into()])], false);
        }
    }
}
