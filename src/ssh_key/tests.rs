//! Key parsing against keys made by `ssh-keygen` (tests/fixtures/ssh/*.pub) and the
//! fingerprints `ssh-keygen -l -E sha256` printed for them (fingerprints.txt).

use super::*;

/// (fixture name, public key line) of every fixture.
const FIXTURES: &[(&str, &str)] = &[
    (
        "ed25519",
        include_str!("../../tests/fixtures/ssh/ed25519.pub"),
    ),
    (
        "ecdsa-p256",
        include_str!("../../tests/fixtures/ssh/ecdsa-p256.pub"),
    ),
    (
        "ecdsa-p384",
        include_str!("../../tests/fixtures/ssh/ecdsa-p384.pub"),
    ),
    (
        "ecdsa-p521",
        include_str!("../../tests/fixtures/ssh/ecdsa-p521.pub"),
    ),
    (
        "rsa-2048",
        include_str!("../../tests/fixtures/ssh/rsa-2048.pub"),
    ),
    (
        "rsa-1024",
        include_str!("../../tests/fixtures/ssh/rsa-1024.pub"),
    ),
    ("dsa", include_str!("../../tests/fixtures/ssh/dsa.pub")),
    (
        "sk-ed25519",
        include_str!("../../tests/fixtures/ssh/sk-ed25519.pub"),
    ),
    (
        "sk-ecdsa-p256",
        include_str!("../../tests/fixtures/ssh/sk-ecdsa-p256.pub"),
    ),
];

/// `name bits fingerprint` lines from ssh-keygen.
const KEYGEN: &str = include_str!("../../tests/fixtures/ssh/fingerprints.txt");

fn fixture(name: &str) -> &'static str {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, line)| *line)
        .unwrap()
}

/// ssh-keygen's (bits, fingerprint) for a fixture.
fn keygen(name: &str) -> (u32, String) {
    let line = KEYGEN
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .unwrap();
    let mut words = line.split(' ').skip(1);
    (
        words.next().unwrap().parse().unwrap(),
        words.next().unwrap().to_string(),
    )
}

fn err(text: &str) -> String {
    SshPublicKey::parse(text).unwrap_err().to_string()
}

#[test]
fn keys_of_every_accepted_type_parse_with_ssh_keygens_fingerprint_and_size() {
    for (name, algorithm) in [
        ("ed25519", "ssh-ed25519"),
        ("ecdsa-p256", "ecdsa-sha2-nistp256"),
        ("ecdsa-p384", "ecdsa-sha2-nistp384"),
        ("ecdsa-p521", "ecdsa-sha2-nistp521"),
        ("rsa-2048", "ssh-rsa"),
        ("sk-ed25519", "sk-ssh-ed25519@openssh.com"),
        ("sk-ecdsa-p256", "sk-ecdsa-sha2-nistp256@openssh.com"),
    ] {
        let key = SshPublicKey::parse(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (bits, fingerprint) = keygen(name);
        assert_eq!(key.algorithm, algorithm, "{name}");
        assert_eq!(key.bits, bits, "{name}");
        assert_eq!(key.fingerprint, fingerprint, "{name}");
        assert_eq!(
            key.line,
            fixture(name).trim(),
            "{name}: canonical form is the .pub line"
        );
        assert!(key.comment.is_some(), "{name}");
    }
}

#[test]
fn fingerprint_is_sha256_of_the_decoded_blob() {
    // Computed here independently of the module: decode the base64 field, hash, encode.
    let line = fixture("ed25519");
    let blob = STANDARD.decode(line.split(' ').nth(1).unwrap()).unwrap();
    let digest = sha2::Sha256::digest(&blob);
    let expected = format!("SHA256:{}", STANDARD_NO_PAD.encode(digest));
    assert_eq!(SshPublicKey::parse(line).unwrap().fingerprint, expected);
    assert_eq!(expected, keygen("ed25519").1);
}

#[test]
fn comment_is_optional_and_whitespace_is_normalised() {
    let line = fixture("ed25519").trim();
    let bare = line.rsplit_once(' ').unwrap().0;
    let key = SshPublicKey::parse(bare).unwrap();
    assert_eq!(key.comment, None);
    assert_eq!(key.line, bare);
    let spaced = format!("  {bare}   my laptop key  \n");
    let key = SshPublicKey::parse(&spaced).unwrap();
    assert_eq!(key.comment.as_deref(), Some("my laptop key"));
    assert_eq!(key.line, format!("{bare} my laptop key"));
}

#[test]
fn weak_and_unsupported_keys_are_refused_with_a_reason() {
    assert!(err(fixture("rsa-1024")).contains("at least 2048 bits"));
    assert!(err(fixture("dsa")).contains("DSA"));
    assert!(err("ssh-ed25519-cert-v01@openssh.com AAAA x").contains("certificates"));
    assert!(err("-----BEGIN OPENSSH PRIVATE KEY-----").contains("PEM"));
    assert!(err("ssh-foo AAAA").contains("unknown key type"));
}

#[test]
fn options_prefixes_and_several_keys_are_refused() {
    let ed = fixture("ed25519").trim();
    for prefixed in [
        format!("command=\"/bin/sh\" {ed}"),
        format!("restrict {ed}"),
        format!("no-pty,from=\"10.0.0.1\" {ed}"),
    ] {
        assert!(err(&prefixed).contains("options"), "{prefixed}");
    }
    let two_lines = format!("{ed}\n{}", fixture("ecdsa-p256").trim());
    assert!(err(&two_lines).contains("one key per entry"));
    let bare = ed.rsplit_once(' ').unwrap().0;
    let two_on_one_line = format!("{bare} {bare}");
    assert!(err(&two_on_one_line).contains("one key per entry"));
    // A comment that merely starts with a type name is a comment.
    let named = SshPublicKey::parse(&format!("{bare} ssh-rsa replacement")).unwrap();
    assert_eq!(named.comment.as_deref(), Some("ssh-rsa replacement"));
}

#[test]
fn malformed_key_data_is_refused() {
    let ed = fixture("ed25519").trim();
    let (kind, rest) = ed.split_once(' ').unwrap();
    let (data, _) = rest.split_once(' ').unwrap();
    // Missing data, not base64, truncated.
    assert!(err(kind).contains("missing"));
    assert!(err(&format!("{kind} not*base64")).contains("base64"));
    let blob = STANDARD.decode(data).unwrap();
    let truncated = STANDARD.encode(&blob[..blob.len() - 4]);
    assert!(err(&format!("{kind} {truncated}")).contains("truncated"));
    // Trailing bytes after the key.
    let mut longer = blob.clone();
    longer.extend_from_slice(&[0, 0, 0, 0]);
    assert!(err(&format!("{kind} {}", STANDARD.encode(&longer))).contains("extra bytes"));
    // The line says ecdsa, the blob is ed25519.
    assert!(err(&format!("ecdsa-sha2-nistp256 {data}")).contains("differ"));
    // The type is right but the curve inside is another.
    let p384 = fixture("ecdsa-p384").split(' ').nth(1).unwrap().to_string();
    let mut blob = STANDARD.decode(&p384).unwrap();
    // Rename the outer type to nistp256 (same length), keep the nistp384 curve inside.
    let at = blob
        .windows(19)
        .position(|w| w == b"ecdsa-sha2-nistp384")
        .unwrap();
    blob[at..at + 19].copy_from_slice(b"ecdsa-sha2-nistp256");
    let line = format!("ecdsa-sha2-nistp256 {}", STANDARD.encode(&blob));
    assert!(err(&line).contains("curve"), "{}", err(&line));
    // Control characters in the comment, overlong input.
    assert!(err(&format!("{kind} {data} a\u{7}b")).contains("control"));
    assert!(err(&format!("{kind} {data} {}", "c".repeat(300))).contains("comment"));
    assert!(err(&"A".repeat(MAX_KEY_BYTES + 1)).contains("longer"));
    assert!(err("   ").contains("empty"));
}

#[test]
fn error_messages_never_echo_the_key() {
    let data = fixture("rsa-1024").split(' ').nth(1).unwrap();
    assert!(!err(fixture("rsa-1024")).contains(data));
}

#[test]
fn fingerprints_normalise_from_the_forms_people_and_urls_use() {
    let fp = keygen("ecdsa-p384").1; // contains '+' and '/'
    let body = fp.strip_prefix("SHA256:").unwrap();
    let url_safe = body.replace('+', "-").replace('/', "_");
    for written in [fp.clone(), body.to_string(), url_safe, format!("{body}=")] {
        assert_eq!(
            normalize_fingerprint(&written).as_deref(),
            Some(fp.as_str())
        );
    }
    assert_eq!(normalize_fingerprint("SHA256:short"), None);
    assert_eq!(normalize_fingerprint("not a fingerprint!"), None);
}

#[test]
fn every_accepted_type_refuses_a_cut_a_padded_and_a_mislabelled_blob() {
    let names = [
        "ed25519",
        "ecdsa-p256",
        "ecdsa-p384",
        "ecdsa-p521",
        "rsa-2048",
        "sk-ed25519",
        "sk-ecdsa-p256",
    ];
    for name in names {
        let mut words = fixture(name).split(' ');
        let (kind, data) = (words.next().unwrap(), words.next().unwrap());
        let blob = STANDARD.decode(data).unwrap();
        let cut = STANDARD.encode(&blob[..blob.len() - 1]);
        assert!(
            SshPublicKey::parse(&format!("{kind} {cut}")).is_err(),
            "{name} cut"
        );
        let mut padded = blob.clone();
        padded.push(0);
        let padded = STANDARD.encode(&padded);
        assert!(
            err(&format!("{kind} {padded}")).contains("extra bytes"),
            "{name} padded"
        );
        let other = if kind == "ssh-ed25519" {
            "ssh-rsa"
        } else {
            "ssh-ed25519"
        };
        assert!(
            err(&format!("{other} {data}")).contains("differ"),
            "{name} mislabelled"
        );
    }
}

#[test]
fn wrong_sized_key_material_is_refused() {
    fn blob(parts: &[&[u8]]) -> String {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
            out.extend_from_slice(part);
        }
        STANDARD.encode(out)
    }
    let short_ed = blob(&[b"ssh-ed25519", &[7; 31]]);
    assert!(err(&format!("ssh-ed25519 {short_ed}")).contains("32 bytes"));
    let mut point = vec![4u8];
    point.extend_from_slice(&[9; 63]); // one byte short of a P-256 point
    let short_point = blob(&[b"ecdsa-sha2-nistp256", b"nistp256", &point]);
    assert!(err(&format!("ecdsa-sha2-nistp256 {short_point}")).contains("malformed"));
    let no_app = blob(&[b"sk-ssh-ed25519@openssh.com", &[7; 32], b""]);
    assert!(err(&format!("sk-ssh-ed25519@openssh.com {no_app}")).contains("application"));
    let zero_exponent = blob(&[b"ssh-rsa", b"", &[0x7f; 256]]);
    assert!(err(&format!("ssh-rsa {zero_exponent}")).contains("exponent"));
    let negative = blob(&[b"ssh-rsa", &[1, 0, 1], &[0xff; 256]]);
    assert!(err(&format!("ssh-rsa {negative}")).contains("negative"));
}
