//! Tests of the snapshot as a whole: DIT, filters, scopes, access, rendering, binds.

use super::snapshot::{ROOT_DSE_ID, SUBSCHEMA_ID, SearchStats, plan_size};
use super::*;
use crate::model::{
    BinderRecord, EntraDomain, EntraGroup, EntraUser, GroupRecord, InactiveReason, MemberRef,
    UserRecord, UserStatus,
};
use ldap3_proto::proto::{
    LdapFilter, LdapMatchingRuleAssertion, LdapSearchScope, LdapSubstringFilter,
};
use std::time::{Duration, Instant};

const BASE: &str = "dc=example,dc=com";

fn user(id: &str, uid: &str, uid_number: u32, active: bool) -> UserRecord {
    UserRecord {
        entra: EntraUser {
            id: id.to_string(),
            user_principal_name: format!("{uid}@example.com"),
            display_name: None,
            mail: Some(format!("{}.mail@Example.com", uid.to_uppercase())),
            account_enabled: active,
            ..EntraUser::default()
        },
        uid: uid.to_string(),
        uid_number,
        gid_number: uid_number,
        status: if active {
            UserStatus::Active
        } else {
            UserStatus::Inactive(InactiveReason::DisabledInEntra)
        },
        ssh_public_keys: Vec::new(),
        created: 1_700_000_000,
        modified: 1_700_000_100,
    }
}

fn group(id: &str, cn: &str, gid: u32, members: Vec<MemberRef>) -> GroupRecord {
    GroupRecord {
        entra: EntraGroup {
            id: id.to_string(),
            display_name: cn.to_string(),
            description: Some(format!("The {cn} group")),
            members,
            ..EntraGroup::default()
        },
        cn: cn.to_string(),
        gid_number: gid,
        created: 1_700_000_000,
        modified: 1_700_000_000,
    }
}

/// alice (active, full profile), bob (uidNumber 9999), carol (inactive), dave.
/// admins = {alice, devs}; devs = {bob, carol, admins} (a cycle); empty = {}.
fn data() -> DirectoryData {
    let mut alice = user("a-1", "alice", 10001, true);
    alice.entra.display_name = Some("Alice Äpfel".into());
    alice.entra.given_name = Some("Alice".into());
    alice.entra.surname = Some("Äpfel".into());
    alice.ssh_public_keys = vec!["ssh-ed25519 AAAA alice".into()];
    DirectoryData {
        users: vec![
            user("d-4", "dave", 10004, true),
            alice,
            user("b-2", "bob", 9999, true),
            user("c-3", "carol", 10003, false),
        ],
        groups: vec![
            group(
                "g-1",
                "admins",
                5001,
                vec![
                    MemberRef::User("a-1".into()),
                    MemberRef::Group("g-2".into()),
                ],
            ),
            group(
                "g-2",
                "Devs",
                5002,
                vec![
                    MemberRef::User("b-2".into()),
                    MemberRef::User("c-3".into()),
                    MemberRef::Group("g-1".into()),
                    MemberRef::User("unknown".into()),
                ],
            ),
            group("g-3", "empty", 5003, vec![]),
        ],
        domains: vec![
            EntraDomain {
                id: "contoso.onmicrosoft.com".into(),
                is_initial: true,
                is_verified: true,
                ..EntraDomain::default()
            },
            EntraDomain {
                id: "Example.com".into(),
                is_default: true,
                is_verified: true,
                ..EntraDomain::default()
            },
        ],
        binders: vec![
            BinderRecord {
                name: "svc".into(),
                description: Some("all".into()),
                scope: vec![],
                created: 1_700_000_000,
            },
            BinderRecord {
                name: "grouponly".into(),
                description: None,
                scope: vec!["OU=Groups,DC=Example,DC=Com".into()],
                created: 1_700_000_000,
            },
        ],
    }
}

fn settings() -> DirectorySettings {
    DirectorySettings {
        home_directory: "/home/{uid}".into(),
        login_shell: "/bin/sh".into(),
        supported_controls: vec!["1.2.840.113556.1.4.319".into()],
        supported_extensions: vec!["1.3.6.1.4.1.4203.1.11.3".into()],
        vendor_version: "9.9".into(),
        bind_by_uid: true,
        bind_by_mail: true,
        bind_by_upn: true,
        ..DirectorySettings::default()
    }
}

fn snap() -> Snapshot {
    Snapshot::build(&data(), &settings())
}

fn binder() -> Viewer {
    Viewer::Binder { name: "svc".into() }
}

fn eq(a: &str, v: &str) -> LdapFilter {
    LdapFilter::Equality(a.into(), v.into())
}

fn ext(rule: Option<&str>, type_: Option<&str>, value: &str, dn_attributes: bool) -> LdapFilter {
    LdapFilter::Extensible(LdapMatchingRuleAssertion {
        matching_rule: rule.map(str::to_string),
        type_: type_.map(str::to_string),
        match_value: value.into(),
        dn_attributes,
    })
}

fn search_as(
    s: &Snapshot,
    base: &str,
    scope: LdapSearchScope,
    f: &LdapFilter,
    viewer: &Viewer,
) -> Result<Vec<String>, SearchError> {
    let q = SearchQuery {
        base,
        scope,
        filter: f,
    };
    s.search(&q, viewer, None).map(|ids| {
        ids.iter()
            .map(|&id| s.entry_dn(id).unwrap_or("?").to_string())
            .collect()
    })
}

/// Subtree search from the base as the all-seeing binder; returns the leftmost RDN values.
fn names(s: &Snapshot, f: &LdapFilter) -> Vec<String> {
    search_as(s, BASE, LdapSearchScope::Subtree, f, &binder())
        .unwrap()
        .iter()
        .map(|dn| dn.split([',', '=']).nth(1).unwrap_or("").to_string())
        .collect()
}

fn attr_values(s: &Snapshot, dn: &str, attr: &str) -> Vec<String> {
    let q = SearchQuery {
        base: dn,
        scope: LdapSearchScope::Base,
        filter: &LdapFilter::Present("objectClass".into()),
    };
    let ids = s.search(&q, &binder(), None).unwrap();
    let sel = AttrSelection::parse(&["*".into(), "+".into()]);
    let e = s.render(ids[0], &sel, false);
    e.attributes
        .iter()
        .filter(|a| a.atype.eq_ignore_ascii_case(attr))
        .flat_map(|a| a.vals.iter().map(|v| String::from_utf8(v.clone()).unwrap()))
        .collect()
}

#[test]
fn base_dn_from_settings_domain_or_fallback() {
    let s = snap();
    assert_eq!(s.base_dn(), BASE);
    let mut st = settings();
    st.base_dn = Some("O=Acme Corp".into());
    assert_eq!(Snapshot::build(&data(), &st).base_dn(), "o=acme corp");
    let empty = Snapshot::build(&DirectoryData::default(), &settings());
    assert_eq!(empty.base_dn(), FALLBACK_BASE_DN);
    // Root DSE, subschema, base, ou=people, ou=groups.
    assert_eq!(empty.len(), 5);
    st.base_dn = Some("not a dn".into());
    assert_eq!(Snapshot::build(&data(), &st).base_dn(), BASE);
}

#[test]
fn dit_layout_in_preorder() {
    let s = snap();
    let all = search_as(
        &s,
        BASE,
        LdapSearchScope::Subtree,
        &LdapFilter::Present("objectclass".into()),
        &binder(),
    )
    .unwrap();
    assert_eq!(
        all,
        vec![
            BASE.to_string(),
            format!("ou=people,{BASE}"),
            format!("uid=alice,ou=people,{BASE}"),
            format!("uid=bob,ou=people,{BASE}"),
            format!("uid=dave,ou=people,{BASE}"),
            format!("ou=groups,{BASE}"),
            format!("cn=admins,ou=groups,{BASE}"),
            format!("cn=Devs,ou=groups,{BASE}"),
            format!("cn=empty,ou=groups,{BASE}"),
        ]
    );
    // The all-seeing binder does not see binder entries; they exist for bind only.
    assert_eq!(s.len(), 2 + all.len() + 2);
}

#[test]
fn user_entry_attributes() {
    let s = snap();
    let dn = format!("uid=alice,ou=people,{BASE}");
    let get = |a: &str| attr_values(&s, &dn, a);
    assert_eq!(
        get("objectClass"),
        [
            "top",
            "person",
            "organizationalPerson",
            "inetOrgPerson",
            "posixAccount",
            "ldapPublicKey"
        ]
    );
    assert_eq!(get("cn"), ["Alice Äpfel"]);
    assert_eq!(get("sn"), ["Äpfel"]);
    assert_eq!(get("givenName"), ["Alice"]);
    assert_eq!(get("gecos"), ["Alice Apfel"]);
    assert_eq!(get("homeDirectory"), ["/home/alice"]);
    assert_eq!(get("loginShell"), ["/bin/sh"]);
    assert_eq!(get("uidNumber"), ["10001"]);
    assert_eq!(get("userPrincipalName"), ["alice@example.com"]);
    assert_eq!(get("memberOf"), [format!("cn=admins,ou=groups,{BASE}")]);
    assert_eq!(get("sshPublicKey"), ["ssh-ed25519 AAAA alice"]);
    assert_eq!(get("entryUUID"), ["a-1"]);
    assert_eq!(get("entryDN"), [dn.as_str()]);
    assert_eq!(get("createTimestamp"), ["20231114221320Z"]);
    assert_eq!(get("modifyTimestamp"), ["20231114221500Z"]);
    assert_eq!(get("structuralObjectClass"), ["inetOrgPerson"]);
    assert_eq!(get("hasSubordinates"), ["FALSE"]);
    assert_eq!(get("subschemaSubentry"), [SUBSCHEMA_DN]);
    // bob has no display name: cn and sn fall back to the uid.
    let bob = format!("uid=bob,ou=people,{BASE}");
    assert_eq!(attr_values(&s, &bob, "cn"), ["bob"]);
    assert_eq!(attr_values(&s, &bob, "sn"), ["bob"]);
    assert!(
        attr_values(&s, &bob, "objectClass")
            .iter()
            .all(|c| c != "ldapPublicKey")
    );
}

#[test]
fn every_emitted_attribute_is_in_the_schema() {
    let s = snap();
    let sch = schema::schema();
    let mut seen = std::collections::BTreeSet::new();
    let sel = AttrSelection::parse(&["*".into(), "+".into()]);
    for id in 0..s.len() as EntryId {
        for a in s.render(id, &sel, false).attributes {
            let def = sch
                .attribute(&a.atype)
                .unwrap_or_else(|| panic!("{} not in schema", a.atype));
            assert_eq!(def.name(), a.atype);
            seen.insert(def.key.clone());
        }
    }
    for needed in [
        "objectclass",
        "uid",
        "cn",
        "sn",
        "givenname",
        "displayname",
        "mail",
        "userprincipalname",
        "uidnumber",
        "gidnumber",
        "homedirectory",
        "loginshell",
        "gecos",
        "memberof",
        "member",
        "memberuid",
        "description",
        "sshpublickey",
        "entryuuid",
        "entrydn",
        "createtimestamp",
        "modifytimestamp",
        "subschemasubentry",
        "hassubordinates",
        "structuralobjectclass",
        "dc",
        "o",
        "ou",
        "namingcontexts",
        "supportedldapversion",
        "supportedcontrol",
        "supportedextension",
        "supportedfeatures",
        "vendorname",
        "vendorversion",
        "attributetypes",
        "objectclasses",
        "matchingrules",
        "ldapsyntaxes",
    ] {
        assert!(seen.contains(needed), "{needed} never emitted");
    }
}

#[test]
fn group_members_nested_and_inactive_hidden() {
    let s = snap();
    let admins = format!("cn=admins,ou=groups,{BASE}");
    let devs = format!("cn=Devs,ou=groups,{BASE}");
    assert_eq!(
        attr_values(&s, &admins, "member"),
        [format!("uid=alice,ou=people,{BASE}"), devs.clone()]
    );
    // Transitive users through the cycle, inactive carol hidden.
    assert_eq!(attr_values(&s, &admins, "memberUid"), ["alice", "bob"]);
    assert_eq!(
        attr_values(&s, &devs, "member"),
        [format!("uid=bob,ou=people,{BASE}"), admins.clone()]
    );
    assert_eq!(attr_values(&s, &devs, "memberUid"), ["alice", "bob"]);
    assert_eq!(
        attr_values(&s, &devs, "objectClass"),
        ["top", "groupOfNames", "posixGroup"]
    );
    let empty = format!("cn=empty,ou=groups,{BASE}");
    assert!(attr_values(&s, &empty, "member").is_empty());
    assert_eq!(attr_values(&s, &empty, "gidNumber"), ["5003"]);
    assert!(names(&s, &eq("uid", "carol")).is_empty());

    let mut st = settings();
    st.show_inactive_users = true;
    let s = Snapshot::build(&data(), &st);
    assert_eq!(names(&s, &eq("uid", "carol")), ["carol"]);
    assert_eq!(
        attr_values(&s, &devs, "memberUid"),
        ["alice", "bob", "carol"]
    );
    assert_eq!(
        attr_values(&s, &format!("uid=carol,ou=people,{BASE}"), "memberOf"),
        [devs]
    );
}

#[test]
fn equality_is_case_insensitive_in_names_and_values() {
    let s = snap();
    assert_eq!(names(&s, &eq("UID", "ALICE")), ["alice"]);
    assert_eq!(names(&s, &eq("0.9.2342.19200300.100.1.1", "Bob")), ["bob"]);
    assert_eq!(names(&s, &eq("mail", "alice.MAIL@example.COM")), ["alice"]);
    assert_eq!(names(&s, &eq("cn", "  alice   äpfel ")), ["alice"]);
    assert_eq!(names(&s, &eq("memberUid", "BOB")), ["admins", "Devs"]);
    assert_eq!(
        names(
            &s,
            &eq(
                "member",
                &format!("UID=Bob, OU=People, {}", BASE.to_uppercase())
            )
        ),
        ["Devs"]
    );
    assert_eq!(
        names(&s, &eq("memberOf", &format!("cn=ADMINS,ou=groups,{BASE}"))),
        ["alice"]
    );
    assert_eq!(names(&s, &eq("objectClass", "POSIXGROUP")).len(), 3);
    assert_eq!(names(&s, &eq("objectClass", "1.3.6.1.1.1.2.2")).len(), 3);
    assert_eq!(names(&s, &eq("uidNumber", "09999")), ["bob"]);
    assert_eq!(names(&s, &eq("entryUUID", "B-2")), ["bob"]);
    // caseExactIA5 homeDirectory.
    assert_eq!(names(&s, &eq("homeDirectory", "/home/bob")), ["bob"]);
    assert!(names(&s, &eq("homeDirectory", "/HOME/bob")).is_empty());
}

#[test]
fn substring_ordering_present_approx() {
    let s = snap();
    let sub = |a: &str, i: Option<&str>, any: &[&str], f: Option<&str>| {
        LdapFilter::Substring(
            a.into(),
            LdapSubstringFilter {
                initial: i.map(str::to_string),
                any: any.iter().map(|x| x.to_string()).collect(),
                final_: f.map(str::to_string),
            },
        )
    };
    assert_eq!(names(&s, &sub("uid", Some("A"), &[], None)), ["alice"]);
    assert_eq!(
        names(&s, &sub("mail", None, &["MAIL@"], Some(".com"))),
        ["alice", "bob", "dave"]
    );
    assert_eq!(
        names(&s, &sub("cn", None, &["e"], None)),
        ["alice", "dave", "Devs", "empty"]
    );
    // No substring rule on uidNumber: Undefined, never matches.
    assert!(names(&s, &sub("uidNumber", Some("1"), &[], None)).is_empty());
    // entryDN is indexed and DN-normalised.
    let f = eq("entryDN", &format!("UID=Bob,ou=people,{BASE}"));
    assert_eq!(names(&s, &f), ["bob"]);
    assert_eq!(plan_size(&s, &f).unwrap(), Some(1));
    // GeneralizedTime ordering, with offsets converted to UTC.
    let ts = |t: &str| LdapFilter::GreaterOrEqual("modifyTimestamp".into(), t.into());
    // Users were modified at 22:15:00Z, groups at 22:13:20Z; containers have no timestamps.
    assert_eq!(names(&s, &ts("20231114221500Z")), ["alice", "bob", "dave"]);
    assert!(names(&s, &ts("20231114221501Z")).is_empty());
    assert_eq!(names(&s, &ts("20231115001500+0200")).len(), 3);
    assert_eq!(names(&s, &ts("2023111422Z")).len(), 6);
    // Numeric, not lexicographic: 9999 < 10001.
    assert_eq!(
        names(
            &s,
            &LdapFilter::GreaterOrEqual("uidnumber".into(), "10000".into())
        ),
        ["alice", "dave"]
    );
    assert_eq!(
        names(
            &s,
            &LdapFilter::LessOrEqual("uidNumber".into(), "10000".into())
        ),
        ["bob"]
    );
    assert_eq!(
        names(
            &s,
            &LdapFilter::LessOrEqual("gidNumber".into(), "5002".into())
        ),
        ["admins", "Devs"]
    );
    assert_eq!(
        names(&s, &LdapFilter::Present("sshPublicKey".into())),
        ["alice"]
    );
    assert!(names(&s, &LdapFilter::Present("noSuchAttr".into())).is_empty());
    assert_eq!(
        names(
            &s,
            &LdapFilter::Approx("homeDirectory".into(), "/HOME/BOB".into())
        ),
        ["bob"]
    );
    assert_eq!(
        names(&s, &LdapFilter::Approx("uid".into(), "DAVE".into())),
        ["dave"]
    );
}

#[test]
fn three_valued_logic() {
    let s = snap();
    let undefined = eq("noSuchAttr", "x");
    let not = |f: LdapFilter| LdapFilter::Not(Box::new(f));
    assert!(names(&s, &undefined).is_empty());
    // NOT Undefined is Undefined, not True.
    assert!(names(&s, &not(undefined.clone())).is_empty());
    // Invalid integer assertion is Undefined as well.
    assert!(names(&s, &not(eq("uidNumber", "abc"))).is_empty());
    // OR(Undefined, True) is True; AND(Undefined, True) is Undefined; AND(Undefined, False) is False.
    assert_eq!(
        names(
            &s,
            &LdapFilter::Or(vec![undefined.clone(), eq("uid", "bob")])
        ),
        ["bob"]
    );
    assert!(
        names(
            &s,
            &LdapFilter::And(vec![undefined.clone(), eq("uid", "bob")])
        )
        .is_empty()
    );
    let and_false = LdapFilter::And(vec![undefined.clone(), eq("uid", "nobody")]);
    assert_eq!(names(&s, &not(and_false)).len(), 9);
    // NOT False is True for entries lacking the attribute (absent attribute → False).
    assert_eq!(names(&s, &not(eq("uid", "alice"))).len(), 8);
    // Empty AND is True, empty OR is False.
    assert_eq!(names(&s, &LdapFilter::And(vec![])).len(), 9);
    assert!(names(&s, &LdapFilter::Or(vec![])).is_empty());
}

#[test]
fn extensible_matching() {
    let s = snap();
    assert_eq!(
        names(&s, &ext(Some("caseExactMatch"), Some("cn"), "Devs", false)),
        ["Devs"]
    );
    assert!(names(&s, &ext(Some("2.5.13.5"), Some("cn"), "devs", false)).is_empty());
    assert_eq!(
        names(&s, &ext(Some("caseIgnoreMatch"), Some("cn"), "DEVS", false)),
        ["Devs"]
    );
    assert_eq!(names(&s, &ext(None, Some("uid"), "BOB", false)), ["bob"]);
    assert_eq!(
        names(
            &s,
            &ext(Some("integerMatch"), Some("uidNumber"), "10004", false)
        ),
        ["dave"]
    );
    assert_eq!(
        names(
            &s,
            &ext(
                Some("octetStringMatch"),
                Some("sshPublicKey"),
                "ssh-ed25519 AAAA alice",
                false
            )
        ),
        ["alice"]
    );
    let dn = format!("cn=admins,ou=groups,{BASE}");
    assert_eq!(
        names(
            &s,
            &ext(
                Some("distinguishedNameMatch"),
                Some("memberOf"),
                &dn.to_uppercase(),
                false
            )
        ),
        ["alice"]
    );
    // dnAttributes: every entry whose DN has ou=groups.
    assert_eq!(
        names(&s, &ext(None, Some("ou"), "Groups", true)),
        ["groups", "admins", "Devs", "empty"]
    );
    assert_eq!(
        names(&s, &ext(Some("caseIgnoreMatch"), None, "people", true)).len(),
        4
    );
    // Bitwise: 9999 has bits 0 and 2 set, 10001 bits 0 and 4, 10004 bits 2 and 4.
    assert_eq!(
        names(
            &s,
            &ext(
                Some("1.2.840.113556.1.4.803"),
                Some("uidNumber"),
                "5",
                false
            )
        ),
        ["bob"]
    );
    assert_eq!(
        names(
            &s,
            &ext(
                Some("1.2.840.113556.1.4.803"),
                Some("uidNumber"),
                "17",
                false
            )
        ),
        ["alice"]
    );
    assert_eq!(
        names(
            &s,
            &ext(
                Some("1.2.840.113556.1.4.804"),
                Some("gidNumber"),
                "3",
                false
            )
        ),
        ["alice", "bob", "admins", "Devs", "empty"]
    );
    // Unknown rule: Undefined.
    assert!(names(&s, &ext(Some("9.9.9"), Some("cn"), "x", false)).is_empty());
    assert!(
        names(
            &s,
            &LdapFilter::Not(Box::new(ext(Some("9.9.9"), Some("cn"), "x", false)))
        )
        .is_empty()
    );
}

#[test]
fn in_chain_is_transitive_and_cycle_safe() {
    let s = snap();
    let chain = "1.2.840.113556.1.4.1941";
    let admins = format!("cn=admins,ou=groups,{BASE}");
    let devs = format!("CN=devs,ou=groups,{BASE}");
    // Everything below admins: alice directly, devs and bob through devs, admins itself
    // excluded even though the cycle leads back to it.
    assert_eq!(
        names(&s, &ext(Some(chain), Some("memberOf"), &admins, false)),
        ["alice", "bob", "Devs"]
    );
    assert_eq!(
        names(&s, &ext(Some(chain), Some("memberOf"), &devs, false)),
        ["alice", "bob", "admins"]
    );
    // Groups that contain bob transitively.
    let bob = format!("uid=bob,ou=people,{BASE}");
    assert_eq!(
        names(&s, &ext(Some(chain), Some("member"), &bob, false)),
        ["admins", "Devs"]
    );
    let dave = format!("uid=dave,ou=people,{BASE}");
    assert!(names(&s, &ext(Some(chain), Some("member"), &dave, false)).is_empty());
    // In-chain on another attribute is Undefined.
    assert!(names(&s, &ext(Some(chain), Some("cn"), &bob, false)).is_empty());
}

#[test]
fn scopes() {
    let s = snap();
    let all = LdapFilter::Present("objectClass".into());
    let people = format!("ou=people,{BASE}");
    let count = |base: &str, scope| search_as(&s, base, scope, &all, &binder()).unwrap().len();
    assert_eq!(count(&people, LdapSearchScope::Base), 1);
    assert_eq!(count(&people, LdapSearchScope::OneLevel), 3);
    assert_eq!(count(&people, LdapSearchScope::Subtree), 4);
    assert_eq!(count(&people, LdapSearchScope::Children), 3);
    assert_eq!(count(BASE, LdapSearchScope::OneLevel), 2);
    assert_eq!(count(BASE, LdapSearchScope::Children), 8);
    // One-level with an indexed filter still respects the level.
    let f = eq("objectClass", "organizationalUnit");
    assert_eq!(
        search_as(&s, BASE, LdapSearchScope::OneLevel, &f, &binder())
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        search_as(&s, &people, LdapSearchScope::OneLevel, &f, &binder())
            .unwrap()
            .len(),
        0
    );
    // Sub from "" searches the naming context.
    assert_eq!(count("", LdapSearchScope::Subtree), 9);
    assert_eq!(
        search_as(&s, "", LdapSearchScope::OneLevel, &all, &binder()).unwrap(),
        [BASE]
    );
    // Missing base: NoSuchObject with the deepest existing ancestor.
    let err = search_as(
        &s,
        &format!("uid=zed,{people}"),
        LdapSearchScope::Base,
        &all,
        &binder(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        SearchError::NoSuchObject {
            matched: people.clone()
        }
    );
    assert!(matches!(
        search_as(&s, "uid=,,", LdapSearchScope::Base, &all, &binder()),
        Err(SearchError::InvalidDn(_))
    ));
}

#[test]
fn anonymous_access() {
    let s = snap();
    let all = LdapFilter::Present("objectClass".into());
    let anon = Viewer::Anonymous;
    assert_eq!(
        search_as(&s, "", LdapSearchScope::Base, &all, &anon).unwrap(),
        [""]
    );
    assert_eq!(
        search_as(&s, "CN=SUBSCHEMA", LdapSearchScope::Base, &all, &anon).unwrap(),
        [SUBSCHEMA_DN]
    );
    for (base, scope) in [
        (BASE, LdapSearchScope::Base),
        (BASE, LdapSearchScope::Subtree),
        ("", LdapSearchScope::Subtree),
        ("cn=subschema", LdapSearchScope::Subtree),
        ("uid=nobody,dc=nowhere", LdapSearchScope::Base),
    ] {
        match search_as(&s, base, scope, &all, &anon) {
            Err(SearchError::InsufficientAccess(msg)) => assert!(msg.contains("bind first")),
            other => panic!("{base}: {other:?}"),
        }
    }
    assert!(s.compare("", "supportedLDAPVersion", b"3", &anon).unwrap());
    assert!(matches!(
        s.compare(&format!("uid=bob,ou=people,{BASE}"), "uid", b"bob", &anon),
        Err(SearchError::InsufficientAccess(_))
    ));
}

#[test]
fn user_and_binder_access() {
    let s = snap();
    let all = LdapFilter::Present("objectClass".into());
    let bob = Viewer::User { id: "b-2".into() };
    assert_eq!(
        search_as(&s, BASE, LdapSearchScope::Subtree, &all, &bob)
            .unwrap()
            .len(),
        9
    );
    // Binder entries are invisible to users; the base is the matched ancestor.
    let svc = format!("cn=svc,{BASE}");
    assert_eq!(
        search_as(&s, &svc, LdapSearchScope::Base, &all, &bob).unwrap_err(),
        SearchError::NoSuchObject {
            matched: BASE.into()
        }
    );
    // An inactive (hidden) user has no access at all.
    let carol = Viewer::User { id: "c-3".into() };
    assert!(matches!(
        search_as(&s, BASE, LdapSearchScope::Base, &all, &carol),
        Err(SearchError::InsufficientAccess(_))
    ));
    // A scoped binder sees the base and its subtree only.
    let scoped = Viewer::Binder {
        name: "grouponly".into(),
    };
    let seen = search_as(&s, BASE, LdapSearchScope::Subtree, &all, &scoped).unwrap();
    assert_eq!(seen.len(), 1 + 4);
    assert!(seen.iter().all(|d| !d.contains("people")));
    assert_eq!(
        search_as(
            &s,
            &format!("uid=bob,ou=people,{BASE}"),
            LdapSearchScope::Base,
            &all,
            &scoped
        )
        .unwrap_err(),
        SearchError::NoSuchObject {
            matched: BASE.into()
        }
    );
    assert!(matches!(
        s.compare(&format!("uid=bob,ou=people,{BASE}"), "uid", b"bob", &scoped),
        Err(SearchError::NoSuchObject { .. })
    ));
    let gone = Viewer::Binder {
        name: "removed".into(),
    };
    assert!(matches!(
        search_as(&s, BASE, LdapSearchScope::Base, &all, &gone),
        Err(SearchError::InsufficientAccess(_))
    ));
}

#[test]
fn compare_uses_matching_rules() {
    let s = snap();
    let v = binder();
    let bob = format!("UID=BOB,ou=people,{BASE}");
    assert!(s.compare(&bob, "uidNumber", b"09999", &v).unwrap());
    assert!(!s.compare(&bob, "uidNumber", b"10000", &v).unwrap());
    assert!(s.compare(&bob, "UID", b"Bob", &v).unwrap());
    assert!(s.compare(&bob, "objectclass", b"POSIXACCOUNT", &v).unwrap());
    assert!(!s.compare(&bob, "givenName", b"x", &v).unwrap());
    assert!(!s.compare(&bob, "nonsense", b"x", &v).unwrap());
    assert!(
        s.compare(
            &bob,
            "memberOf",
            format!("cn=devs,ou=groups,{BASE}").as_bytes(),
            &v
        )
        .unwrap()
    );
    assert!(matches!(
        s.compare(&bob, "objectClasses", b"x", &v),
        Err(SearchError::Unwilling(_))
    ));
    assert!(matches!(
        s.compare("uid=x,dc=nowhere", "uid", b"x", &v),
        Err(SearchError::NoSuchObject { .. })
    ));
}

#[test]
fn root_dse_and_subschema() {
    let s = snap();
    let get = |a: &str| attr_values(&s, "", a);
    assert_eq!(get("namingContexts"), [BASE]);
    assert_eq!(get("supportedLDAPVersion"), ["3"]);
    assert_eq!(get("supportedControl"), ["1.2.840.113556.1.4.319"]);
    assert_eq!(get("supportedExtension"), ["1.3.6.1.4.1.4203.1.11.3"]);
    assert_eq!(
        get("supportedFeatures"),
        [
            "1.3.6.1.4.1.4203.1.5.1",
            "1.3.6.1.4.1.4203.1.5.2",
            "1.3.6.1.4.1.4203.1.5.3"
        ]
    );
    assert_eq!(get("vendorName"), ["entra-ldap"]);
    assert_eq!(get("vendorVersion"), ["9.9"]);
    assert_eq!(get("subschemaSubentry"), [SUBSCHEMA_DN]);
    // Root DSE attributes come with a plain request too.
    let plain = s.render(ROOT_DSE_ID, &AttrSelection::parse(&[]), false);
    assert!(plain.attributes.iter().any(|a| a.atype == "namingContexts"));

    let sub = |a: &str| attr_values(&s, SUBSCHEMA_DN, a);
    assert_eq!(sub("objectClass"), ["top", "subentry", "subschema"]);
    let types = sub("attributeTypes");
    assert!(types.iter().any(|t| t.contains("NAME 'memberOf'")));
    assert!(types.iter().all(|t| !t.contains("userPassword")));
    assert!(
        sub("objectClasses")
            .iter()
            .any(|t| t.contains("NAME 'posixGroup' SUP top AUXILIARY"))
    );
    assert!(
        sub("matchingRules")
            .iter()
            .any(|t| t.contains("1.2.840.113556.1.4.1941"))
    );
    assert!(!sub("ldapSyntaxes").is_empty());
    // Schema attributes are operational: not returned for a plain request.
    let plain = s.render(SUBSCHEMA_ID, &AttrSelection::parse(&[]), false);
    assert!(plain.attributes.iter().all(|a| a.atype != "attributeTypes"));
}

#[test]
fn attribute_selection_and_rendering() {
    let sel = AttrSelection::parse(&[]);
    assert!(sel.all_user && !sel.all_operational && sel.names.is_empty());
    let sel = AttrSelection::parse(&["1.1".into()]);
    assert!(!sel.all_user && !sel.all_operational && sel.names.is_empty());
    let sel = AttrSelection::parse(&[
        "1.1".into(),
        "UID".into(),
        "2.5.4.3".into(),
        "commonName".into(),
        "x-Custom".into(),
    ]);
    assert_eq!(sel.names, ["uid", "cn", "x-custom"]);
    let sel = AttrSelection::parse(&["@posixGroup".into()]);
    assert!(!sel.all_user);
    assert!(sel.names.contains(&"gidnumber".into()) && sel.names.contains(&"memberuid".into()));
    assert!(AttrSelection::parse(&["@nope".into()]).names.is_empty());
    let sel = AttrSelection::parse(&["+".into()]);
    assert!(sel.all_operational && !sel.all_user);

    let s = snap();
    let ids = s
        .search(
            &SearchQuery {
                base: BASE,
                scope: LdapSearchScope::Subtree,
                filter: &eq("uid", "alice"),
            },
            &binder(),
            None,
        )
        .unwrap();
    let id = ids[0];
    let types = |sel: &AttrSelection, types_only: bool| -> Vec<String> {
        let e = s.render(id, sel, types_only);
        assert_eq!(e.dn, format!("uid=alice,ou=people,{BASE}"));
        if types_only {
            assert!(e.attributes.iter().all(|a| a.vals.is_empty()));
        }
        e.attributes.into_iter().map(|a| a.atype).collect()
    };
    let star = types(&AttrSelection::parse(&["*".into()]), false);
    assert!(star.contains(&"memberOf".to_string()));
    assert!(star.contains(&"uid".to_string()));
    assert!(!star.contains(&"entryUUID".to_string()));
    let plus = types(&AttrSelection::parse(&["+".into()]), false);
    assert!(plus.contains(&"entryUUID".to_string()) && !plus.contains(&"uid".to_string()));
    assert_eq!(
        types(&AttrSelection::parse(&["1.1".into()]), false),
        Vec::<String>::new()
    );
    assert_eq!(
        types(
            &AttrSelection::parse(&["MAIL".into(), "entryuuid".into()]),
            true
        ),
        ["mail", "entryUUID"]
    );
    // Out-of-range ids do not panic.
    assert!(
        s.render(u32::MAX, &AttrSelection::parse(&[]), false)
            .attributes
            .is_empty()
    );
}

#[test]
fn resolve_bind_names() {
    let s = snap();
    let alice = BindTarget::User {
        id: "a-1".into(),
        dn: format!("uid=alice,ou=people,{BASE}"),
        active: true,
    };
    assert_eq!(
        s.resolve_bind(&format!("UID=Alice,OU=People,{}", BASE.to_uppercase())),
        alice
    );
    assert_eq!(s.resolve_bind("ALICE"), alice);
    assert_eq!(s.resolve_bind("alice@EXAMPLE.com"), alice);
    assert_eq!(s.resolve_bind("Alice.Mail@example.com"), alice);
    let carol = s.resolve_bind("carol");
    assert_eq!(
        carol,
        BindTarget::User {
            id: "c-3".into(),
            dn: format!("uid=carol,ou=people,{BASE}"),
            active: false
        }
    );
    assert_eq!(
        s.resolve_bind(&format!("uid=carol,ou=people,{BASE}")),
        carol
    );
    assert!(!s.is_user_active("c-3"));
    assert!(s.is_user_active("a-1"));
    assert!(!s.is_user_active("nobody"));
    assert_eq!(
        s.resolve_bind(&format!("cn=SVC,{BASE}")),
        BindTarget::Binder {
            name: "svc".into(),
            dn: format!("cn=svc,{BASE}")
        }
    );
    assert_eq!(s.resolve_bind("nobody"), BindTarget::Unknown);
    assert_eq!(s.resolve_bind("uid=a,,"), BindTarget::Unknown);
    assert_eq!(
        s.resolve_bind(&format!("cn=admins,ou=groups,{BASE}")),
        BindTarget::Unknown
    );
    assert!(s.has_binder("svc") && !s.has_binder("nope"));
    assert_eq!(s.dn_of(&binder()), Some(format!("cn=svc,{BASE}")));
    assert_eq!(
        s.dn_of(&Viewer::User { id: "c-3".into() }),
        Some(format!("uid=carol,ou=people,{BASE}"))
    );
    assert_eq!(s.dn_of(&Viewer::Anonymous), None);

    let mut st = settings();
    st.bind_by_uid = false;
    st.bind_by_mail = false;
    let s = Snapshot::build(&data(), &st);
    assert_eq!(s.resolve_bind("alice"), BindTarget::Unknown);
    assert_eq!(
        s.resolve_bind("alice.mail@example.com"),
        BindTarget::Unknown
    );
    assert_eq!(s.resolve_bind("alice@example.com"), alice);
}

/// A tenant shaped like the benchmark: `users` users, `groups` groups of ~20 members.
fn big(users: usize, groups: usize) -> DirectoryData {
    let users_v: Vec<UserRecord> = (0..users)
        .map(|i| {
            let mut u = user(
                &format!("u-{i}"),
                &format!("user{i:04}"),
                10_000 + i as u32,
                true,
            );
            u.entra.display_name = Some(format!("User {i}"));
            u
        })
        .collect();
    let groups_v = (0..groups)
        .map(|g| {
            let members = (0..20)
                .map(|k| MemberRef::User(format!("u-{}", (g * 7 + k * 13) % users.max(1))))
                .collect();
            group(
                &format!("g-{g}"),
                &format!("group{g:04}"),
                50_000 + g as u32,
                members,
            )
        })
        .collect();
    DirectoryData {
        users: users_v,
        groups: groups_v,
        domains: data().domains,
        binders: data().binders,
    }
}

fn stats(s: &Snapshot, f: &LdapFilter) -> (usize, SearchStats) {
    let q = SearchQuery {
        base: BASE,
        scope: LdapSearchScope::Subtree,
        filter: f,
    };
    let (ids, st) = s.search_with_stats(&q, &binder(), None).unwrap();
    (ids.len(), st)
}

#[test]
fn indexed_searches_never_scan() {
    let s = Snapshot::build(&big(2000, 100), &settings());
    let (n, st) = stats(&s, &eq("uid", "user0500"));
    assert_eq!((n, st.evaluated, st.indexed), (1, 1, true));
    // objectClass does not force a scan when a narrower indexed clause exists.
    let f = LdapFilter::And(vec![
        eq("objectClass", "posixAccount"),
        eq("uidNumber", "10500"),
        LdapFilter::Present("cn".into()),
    ]);
    assert_eq!(stats(&s, &f).1.evaluated, 1);
    assert_eq!(plan_size(&s, &f).unwrap(), Some(1));
    // OR of indexed clauses: the union.
    let f = LdapFilter::Or(vec![
        eq("memberUid", "user0001"),
        eq("mail", "USER0002.mail@example.com"),
    ]);
    let (n, st) = stats(&s, &f);
    assert!(st.indexed && st.evaluated == n && n >= 1, "{n} {st:?}");
    // In-chain gives a candidate set too.
    let f = ext(
        Some("1.2.840.113556.1.4.1941"),
        Some("memberOf"),
        &format!("cn=group0001,ou=groups,{BASE}"),
        false,
    );
    let (n, st) = stats(&s, &f);
    assert!(st.indexed && n == 20 && st.evaluated == 20, "{n} {st:?}");
    // An OR with one unindexed branch falls back to walking the scope.
    let f = LdapFilter::Or(vec![eq("uid", "user0001"), eq("sn", "x")]);
    assert_eq!(plan_size(&s, &f).unwrap(), None);
    // Everything but the root DSE and the subschema entry is in the scope.
    assert_eq!(stats(&s, &f).1.evaluated, s.len() - 2);
    // One level below the base: the two containers are fewer than the candidates.
    let q = SearchQuery {
        base: BASE,
        scope: LdapSearchScope::OneLevel,
        filter: &eq("objectClass", "top"),
    };
    let (ids, st) = s.search_with_stats(&q, &binder(), None).unwrap();
    assert_eq!((ids.len(), st.evaluated, st.indexed), (2, 4, false));
    // A value nobody has: no candidates at all.
    assert_eq!(stats(&s, &eq("uid", "nobody")).1.evaluated, 0);
}

#[test]
fn paging_order_is_stable() {
    let s = Snapshot::build(&big(300, 30), &settings());
    let f = LdapFilter::Or(vec![
        eq("objectClass", "posixAccount"),
        eq("objectClass", "posixGroup"),
    ]);
    let q = SearchQuery {
        base: BASE,
        scope: LdapSearchScope::Subtree,
        filter: &f,
    };
    let a = s.search(&q, &binder(), None).unwrap();
    let b = s.search(&q, &binder(), None).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 330);
    assert!(a.windows(2).all(|w| w[0] < w[1]));
    // A rebuilt snapshot of the same data orders the same DNs the same way.
    let s2 = Snapshot::build(&big(300, 30), &settings());
    let dns = |s: &Snapshot, ids: &[EntryId]| {
        ids.iter()
            .map(|&i| s.entry_dn(i).unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        dns(&s, &a),
        dns(&s2, &s2.search(&q, &binder(), None).unwrap())
    );
}

#[test]
fn deadline_returns_partial_results() {
    let s = Snapshot::build(&big(1000, 10), &settings());
    let f = LdapFilter::Present("uid".into());
    let q = SearchQuery {
        base: BASE,
        scope: LdapSearchScope::Subtree,
        filter: &f,
    };
    let past = Instant::now()
        .checked_sub(Duration::from_millis(1))
        .unwrap_or_else(Instant::now);
    match s.search(&q, &binder(), Some(past)) {
        Err(SearchError::TimeLimitExceeded { partial }) => {
            assert!(!partial.is_empty() && partial.len() < 1000)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_filters_are_refused_without_recursion() {
    let s = snap();
    let mut f = eq("uid", "alice");
    for i in 0..10_000 {
        f = if i % 2 == 0 {
            LdapFilter::Not(Box::new(f))
        } else {
            LdapFilter::And(vec![f])
        };
    }
    let q = SearchQuery {
        base: BASE,
        scope: LdapSearchScope::Subtree,
        filter: &f,
    };
    match s.search(&q, &binder(), None) {
        Err(SearchError::Unwilling(msg)) => assert!(msg.contains("deeper than")),
        other => panic!("{other:?}"),
    }
    // Dismantle iteratively: dropping a 10,000-deep Box chain recursively could overflow.
    loop {
        f = match f {
            LdapFilter::Not(inner) => *inner,
            LdapFilter::And(mut v) => match v.pop() {
                Some(inner) => inner,
                None => break,
            },
            _ => break,
        };
    }
    let wide = LdapFilter::Or((0..10_001).map(|i| eq("uid", &i.to_string())).collect());
    let q = SearchQuery {
        base: BASE,
        scope: LdapSearchScope::Subtree,
        filter: &wide,
    };
    assert!(
        matches!(s.search(&q, &binder(), None), Err(SearchError::Unwilling(m)) if m.contains("more than"))
    );
}

#[test]
fn builds_the_benchmark_tenant_quickly() {
    let data = big(10_000, 1_000);
    let started = Instant::now();
    let s = Snapshot::build(&data, &settings());
    let took = started.elapsed();
    eprintln!("built 10,000 users / 1,000 groups in {took:?} (debug build)");
    // Debug build; release is several times faster. Generous bound to stay robust on CI.
    assert!(took < Duration::from_secs(20), "build took {took:?}");
    assert_eq!(s.len(), 2 + 3 + 10_000 + 1_000 + 2);
    let (n, st) = stats(&s, &eq("uid", "user9999"));
    assert_eq!((n, st.evaluated), (1, 1));
    let (n, st) = stats(&s, &eq("memberUid", "user0013"));
    assert_eq!(st.evaluated, n);
}

/// Builds the test tenant with a hasher whose every hash collides, so each "value → ids"
/// table returns every id it holds for any key.
fn colliding(data: &DirectoryData) -> Snapshot {
    super::build::build_with(data, &settings(), super::tables::KeyHasher::colliding(0))
}

#[test]
fn hash_collisions_never_change_search_results() {
    let (normal, worst) = (snap(), colliding(&data()));
    let filters = [
        eq("uid", "ALICE"),
        eq("uid", "nobody"),
        eq("cn", "devs"),
        eq("mail", "bob.mail@example.COM"),
        eq("memberUid", "bob"),
        eq("member", &format!("UID=Alice,OU=People,{BASE}")),
        eq("memberOf", &format!("cn=admins,ou=groups,{BASE}")),
        eq("objectClass", "posixGroup"),
        eq("entryDN", &format!("uid=dave,ou=people,{BASE}")),
        eq("uidNumber", "9999"),
        eq("entryUUID", "C-3"),
        LdapFilter::And(vec![eq("objectClass", "person"), eq("uid", "dave")]),
        LdapFilter::Or(vec![eq("uid", "bob"), eq("cn", "empty")]),
        ext(
            Some(filter::IN_CHAIN),
            Some("memberOf"),
            &format!("cn=admins,ou=groups,{BASE}"),
            false,
        ),
        ext(
            Some(filter::IN_CHAIN),
            Some("member"),
            &format!("uid=bob,ou=people,{BASE}"),
            false,
        ),
    ];
    for f in &filters {
        let expected = names(&normal, f);
        assert_eq!(names(&worst, f), expected, "{f:?}");
    }
    // Spot checks that the comparison is not vacuous.
    assert_eq!(names(&worst, &eq("uid", "ALICE")), ["alice"]);
    assert!(names(&worst, &eq("uid", "nobody")).is_empty());
    assert_eq!(names(&worst, &eq("memberUid", "bob")), ["admins", "Devs"]);
    // Base lookups go through the hashed DN table too.
    let base = format!("uid=bob,ou=people,{BASE}");
    let found = search_as(
        &worst,
        &base,
        LdapSearchScope::Base,
        &eq("uid", "bob"),
        &binder(),
    );
    assert_eq!(found.unwrap(), [base]);
    let missing = format!("uid=nobody,ou=people,{BASE}");
    let err = search_as(
        &worst,
        &missing,
        LdapSearchScope::Base,
        &eq("uid", "x"),
        &binder(),
    );
    assert_eq!(
        err,
        Err(SearchError::NoSuchObject {
            matched: format!("ou=people,{BASE}")
        })
    );
}

#[test]
fn hash_collisions_never_change_bind_resolution() {
    let (normal, worst) = (snap(), colliding(&data()));
    let names = [
        "alice".to_string(),
        "ALICE@example.com".into(),
        "Alice.Mail@example.com".into(),
        "carol".into(),
        "bob".into(),
        "nobody".into(),
        String::new(),
        format!("uid=DAVE,ou=people,{BASE}"),
        format!("cn=svc,{BASE}"),
        format!("cn=admins,ou=groups,{BASE}"),
    ];
    for name in &names {
        assert_eq!(
            worst.resolve_bind(name),
            normal.resolve_bind(name),
            "{name}"
        );
    }
    assert!(matches!(worst.resolve_bind("dave"), BindTarget::User { ref id, .. } if id == "d-4"));
    for id in ["a-1", "b-2", "c-3", "d-4", "nobody"] {
        assert_eq!(worst.is_user_active(id), normal.is_user_active(id), "{id}");
        let viewer = Viewer::User { id: id.into() };
        assert_eq!(worst.dn_of(&viewer), normal.dn_of(&viewer), "{id}");
    }
    assert!(worst.is_user_active("a-1") && !worst.is_user_active("c-3"));
}

#[test]
fn a_name_two_users_share_is_ambiguous_with_or_without_collisions() {
    let mut d = data();
    // dave's mail now equals bob's, in another case.
    if let Some(dave) = d.users.iter_mut().find(|u| u.uid == "dave") {
        dave.entra.mail = Some("bob.MAIL@example.com".into());
    }
    for s in [Snapshot::build(&d, &settings()), colliding(&d)] {
        assert_eq!(s.resolve_bind("bob.mail@example.com"), BindTarget::Unknown);
        assert!(matches!(s.resolve_bind("bob"), BindTarget::User { ref id, .. } if id == "b-2"));
        assert!(matches!(s.resolve_bind("dave"), BindTarget::User { ref id, .. } if id == "d-4"));
    }
}

/// The search fast path looks a base up as given before parsing it. That is only right if
/// every stored normalised DN is its own normal form, and if a base in any other spelling
/// (case, spaces, attribute aliases) still finds the same entry by the slow path.
#[test]
fn bases_in_normal_form_take_the_fast_path_with_the_same_answers() {
    let s = snap();
    let present = LdapFilter::Present("objectClass".into());
    let mut found_some = 0;
    for id in 1..s.len() as EntryId {
        let Some(dn) = s.entry_dn(id) else { continue };
        if dn.eq_ignore_ascii_case(SUBSCHEMA_DN) {
            continue;
        }
        let normal = dn::parse(dn).unwrap().normalized();
        assert_eq!(dn::parse(&normal).unwrap().normalized(), normal, "{dn}");
        let spelled = dn.to_ascii_uppercase().replace(',', " , ");
        for scope in [LdapSearchScope::Base, LdapSearchScope::Subtree] {
            let fast = search_as(&s, &normal, scope.clone(), &present, &binder());
            let slow = search_as(&s, &spelled, scope.clone(), &present, &binder());
            assert_eq!(fast, slow, "{dn} as {normal:?} and {spelled:?}");
            // (Other binders' entries are invisible to this binder: empty both ways.)
            found_some += usize::from(fast.is_ok_and(|found| !found.is_empty()));
        }
    }
    assert!(
        found_some >= 16,
        "the comparison saw real entries: {found_some}"
    );
    // A name that is not in the directory still answers noSuchObject with the matched DN.
    let missing = search_as(
        &s,
        "uid=nobody,ou=people,dc=example,dc=com",
        LdapSearchScope::Base,
        &present,
        &binder(),
    );
    assert_eq!(
        missing,
        Err(SearchError::NoSuchObject {
            matched: "ou=people,dc=example,dc=com".into()
        })
    );
}
