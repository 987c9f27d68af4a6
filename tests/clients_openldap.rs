//! The real OpenLDAP command-line clients against the real server, over real sockets:
//! ldapsearch (plain, StartTLS `-ZZ`, `ldaps://`, paged `-E pr=`), ldapwhoami, ldapcompare,
//! ldappasswd. The tenant is the simulated demo tenant, synced over real HTTP.

mod common;

use common::{DEMO_BINDER_SECRET, DEMO_USER_PASSWORD, TestServer, dns, split, values};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_user_binds_and_whoami_names_them() {
    let server = TestServer::start().await;
    let dn = server.user_dn("alice");
    let (code, out, err) = split(
        server
            .tool(
                "ldapwhoami",
                &[
                    "-x",
                    "-H",
                    &server.ldap_url(),
                    "-D",
                    &dn,
                    "-w",
                    DEMO_USER_PASSWORD,
                ],
            )
            .await,
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out.trim().to_ascii_lowercase(),
        format!("dn:{}", dn.to_ascii_lowercase())
    );
    // Bare uid and mail address bind too.
    for name in ["alice", "alice@example.com"] {
        let (code, _, err) = split(
            server
                .tool(
                    "ldapwhoami",
                    &[
                        "-x",
                        "-H",
                        &server.ldap_url(),
                        "-D",
                        name,
                        "-w",
                        DEMO_USER_PASSWORD,
                    ],
                )
                .await,
        );
        assert_eq!(code, 0, "bind as {name}: {err}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_unknown_and_wrong_password_get_the_same_49() {
    let server = TestServer::start().await;
    let url = server.ldap_url();
    let attempts = [
        (server.user_dn("carol"), DEMO_USER_PASSWORD.to_string()), // disabled in Entra, right password
        (server.user_dn("nosuchuser"), DEMO_USER_PASSWORD.to_string()), // unknown
        (server.user_dn("alice"), "wrong-password".to_string()),   // wrong password
    ];
    let mut messages = Vec::new();
    for (dn, password) in &attempts {
        let (code, _, err) = split(
            server
                .tool("ldapwhoami", &["-x", "-H", &url, "-D", dn, "-w", password])
                .await,
        );
        assert_eq!(code, 49, "{dn}: {err}");
        messages.push(err.trim().to_string());
    }
    assert!(
        messages.iter().all(|m| m == &messages[0]),
        "messages differ: {messages:?}"
    );
    assert!(
        messages[0].contains("Invalid credentials (49)"),
        "{}",
        messages[0]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_reads_only_root_dse() {
    let server = TestServer::start().await;
    let url = server.ldap_url();
    let (code, out, err) = split(
        server
            .tool(
                "ldapsearch",
                &["-x", "-LLL", "-H", &url, "-s", "base", "-b", "", "+", "*"],
            )
            .await,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        values(&out, "namingContexts").contains(&server.base),
        "{out}"
    );
    assert!(out.contains("supportedLDAPVersion: 3"), "{out}");
    assert!(
        values(&out, "supportedExtension").contains(&"1.3.6.1.4.1.1466.20037".to_string()),
        "{out}"
    );
    let (code, _, err) = split(
        server
            .tool(
                "ldapsearch",
                &["-x", "-LLL", "-H", &url, "-b", &server.base, "(uid=alice)"],
            )
            .await,
    );
    assert_eq!(
        code, 50,
        "anonymous search below the root DSE must be refused: {err}"
    );
    // The schema is readable anonymously.
    let (code, out, err) = split(
        server
            .tool(
                "ldapsearch",
                &[
                    "-x",
                    "-LLL",
                    "-H",
                    &url,
                    "-s",
                    "base",
                    "-b",
                    "cn=Subschema",
                    "(objectClass=*)",
                    "attributeTypes",
                ],
            )
            .await,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.to_ascii_lowercase().contains("'uidnumber'"),
        "schema lists uidNumber"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_plain_starttls_and_ldaps_agree() {
    let server = TestServer::start().await;
    let (code, plain, err) = server
        .search_as_binder(&server.ldap_url(), &["(uid=alice)"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        dns(&plain),
        vec![server.user_dn("alice").to_ascii_lowercase()]
    );
    let (code, tls, err) = server
        .search_as_binder(&server.ldap_tls_url(), &["-ZZ", "(uid=alice)"])
        .await;
    assert_eq!(code, 0, "StartTLS: {err}");
    let (code, ldaps, err) = server
        .search_as_binder(&server.ldaps_url(), &["(uid=alice)"])
        .await;
    assert_eq!(code, 0, "LDAPS: {err}");
    assert_eq!(plain, tls);
    assert_eq!(plain, ldaps);
    for attr in [
        "uidNumber",
        "gidNumber",
        "homeDirectory",
        "loginShell",
        "mail",
        "cn",
        "sn",
    ] {
        assert_eq!(values(&plain, attr).len(), 1, "{attr} in {plain}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_search_returns_every_entry_exactly_once() {
    let server = TestServer::start().await;
    let (code, all, err) = server
        .search_as_binder(&server.ldap_url(), &["(objectClass=*)", "1.1"])
        .await;
    assert_eq!(code, 0, "{err}");
    let mut expected = dns(&all);
    assert!(expected.len() > 6, "demo directory has entries: {all}");
    let (code, paged, err) = server
        .search_as_binder(
            &server.ldap_url(),
            &["-E", "pr=2/noprompt", "(objectClass=*)", "1.1"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let mut got = dns(&paged);
    assert_eq!(got.len(), expected.len(), "{paged}");
    got.sort();
    expected.sort();
    got.dedup();
    assert_eq!(got, expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_memberof_and_memberuid_agree() {
    let server = TestServer::start().await;
    let url = server.ldap_url();
    let (code, users, err) = server
        .search_as_binder(&url, &["(objectClass=posixAccount)", "uid", "memberOf"])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, groups, err) = server
        .search_as_binder(&url, &["(objectClass=posixGroup)", "member", "memberUid"])
        .await;
    assert_eq!(code, 0, "{err}");
    let mut checked = 0;
    for entry in users.split("\n\n").filter(|e| e.starts_with("dn: ")) {
        let dn = dns(entry)[0].clone();
        let uid = values(entry, "uid")[0].clone();
        for group_dn in values(entry, "memberOf") {
            // The group lists the user as member (DN) and memberUid.
            let group = groups
                .split("\n\n")
                .find(|g| dns(g).first() == Some(&group_dn.to_ascii_lowercase()))
                .unwrap_or_else(|| panic!("memberOf {group_dn} of {dn} is not a group"));
            let members: Vec<String> = values(group, "member")
                .iter()
                .map(|m| m.to_ascii_lowercase())
                .collect();
            assert!(members.contains(&dn), "{group_dn} lacks member {dn}");
            assert!(
                values(group, "memberUid").contains(&uid),
                "{group_dn} lacks memberUid {uid}"
            );
            // And the server's own index agrees.
            let (_, by_member, _) = server
                .search_as_binder(&url, &[&format!("(member={dn})"), "1.1"])
                .await;
            assert!(dns(&by_member).contains(&group_dn.to_ascii_lowercase()));
            checked += 1;
        }
    }
    assert!(checked >= 2, "demo users are in groups: {users}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_are_case_insensitive_and_uidnumber_reverse_lookup_works() {
    let server = TestServer::start().await;
    let url = server.ldap_url();
    let (_, lower, _) = server
        .search_as_binder(&url, &["(uid=alice)", "uidNumber"])
        .await;
    let (code, upper, err) = server
        .search_as_binder(&url, &["(UID=ALICE)", "uidNumber"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(dns(&lower), dns(&upper));
    let uid_number = values(&lower, "uidNumber")[0].clone();
    let (_, reverse, _) = server
        .search_as_binder(
            &url,
            &[
                &format!("(&(objectClass=posixAccount)(uidNumber={uid_number}))"),
                "uid",
            ],
        )
        .await;
    assert_eq!(values(&reverse, "uid"), vec!["alice".to_string()]);
    let (_, sub, _) = server
        .search_as_binder(&url, &["(mail=ALI*@EXAMPLE.COM)", "1.1"])
        .await;
    assert_eq!(
        dns(&sub),
        vec![server.user_dn("alice").to_ascii_lowercase()]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_users_are_hidden_from_searches() {
    let server = TestServer::start().await;
    let (code, out, err) = server
        .search_as_binder(&server.ldap_url(), &["(uid=carol)"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(dns(&out).is_empty(), "carol is disabled in Entra: {out}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_group_matching_rule_in_chain() {
    let server = TestServer::start().await;
    let url = server.ldap_url();
    // Find a group that has another group as member.
    let (_, groups, _) = server
        .search_as_binder(&url, &["(objectClass=groupOfNames)", "member"])
        .await;
    let group_dns: Vec<String> = dns(&groups);
    let (outer, inner) = groups
        .split("\n\n")
        .filter(|g| g.starts_with("dn: "))
        .find_map(|g| {
            let nested = values(g, "member")
                .into_iter()
                .find(|m| group_dns.contains(&m.to_ascii_lowercase()))?;
            Some((dns(g)[0].clone(), nested))
        })
        .expect("the demo tenant has a nested group");
    // A user of the inner group is in the outer group only through the chain.
    let (_, inner_entry, _) = server
        .search_as_binder(
            &url,
            &["-s", "sub", &format!("(entryDN={inner})"), "member"],
        )
        .await;
    let inner_user = values(&inner_entry, "member")
        .into_iter()
        .find(|m| m.to_ascii_lowercase().contains("ou=people"))
        .expect("inner group has a user");
    let (_, direct, _) = server
        .search_as_binder(
            &url,
            &[&format!("(&(entryDN={outer})(member={inner_user}))"), "1.1"],
        )
        .await;
    let (_, chained, _) = server
        .search_as_binder(
            &url,
            &[
                &format!("(member:1.2.840.113556.1.4.1941:={inner_user})"),
                "1.1",
            ],
        )
        .await;
    assert!(
        dns(&chained).contains(&outer),
        "{outer} must contain {inner_user} transitively: {chained}"
    );
    assert!(dns(&chained).contains(&inner.to_ascii_lowercase()));
    assert!(dns(&direct).is_empty() || dns(&direct) == vec![outer.clone()]);
    let (_, member_of_chain, _) = server
        .search_as_binder(
            &url,
            &[
                &format!("(memberOf:1.2.840.113556.1.4.1941:={outer})"),
                "1.1",
            ],
        )
        .await;
    assert!(dns(&member_of_chain).contains(&inner_user.to_ascii_lowercase()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_password_change() {
    let server = TestServer::start().await;
    let url = server.ldap_url();
    let dn = server.user_dn("alice");
    let binder = server.binder_dn();
    for (assertion, want) in [("uid:alice", (6, "TRUE")), ("uid:bob", (5, "FALSE"))] {
        let args = [
            "-x",
            "-H",
            &url,
            "-D",
            &binder,
            "-w",
            DEMO_BINDER_SECRET,
            &dn,
            assertion,
        ];
        let (code, out, _) = split(server.tool("ldapcompare", &args).await);
        assert_eq!((code, out.trim()), want, "ldapcompare {assertion}");
    }
    // The user changes their own password with the old one (over StartTLS).
    let tls = server.ldap_tls_url();
    let (code, _, err) = split(
        server
            .tool(
                "ldappasswd",
                &[
                    "-x",
                    "-ZZ",
                    "-H",
                    &tls,
                    "-D",
                    &dn,
                    "-w",
                    DEMO_USER_PASSWORD,
                    "-a",
                    DEMO_USER_PASSWORD,
                    "-s",
                    "a-new-long-password",
                ],
            )
            .await,
    );
    assert_eq!(code, 0, "ldappasswd: {err}");
    let (old, _, _) = split(
        server
            .tool(
                "ldapwhoami",
                &["-x", "-H", &url, "-D", &dn, "-w", DEMO_USER_PASSWORD],
            )
            .await,
    );
    let (new, _, err) = split(
        server
            .tool(
                "ldapwhoami",
                &["-x", "-H", &url, "-D", &dn, "-w", "a-new-long-password"],
            )
            .await,
    );
    assert_eq!((old, new), (49, 0), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_with_a_reason() {
    let server = TestServer::start().await;
    let binder = server.binder_dn();
    let dn = server.user_dn("alice");
    let mut child = tokio::process::Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            &server.ldap_url(),
            "-D",
            &binder,
            "-w",
            DEMO_BINDER_SECRET,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ldapmodify");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(
                format!(
                    "dn: {dn}\nchangetype: modify\nreplace: loginShell\nloginShell: /bin/zsh\n"
                )
                .as_bytes(),
            )
            .await
            .expect("write ldif");
    }
    let (code, _, err) = split(child.wait_with_output().await.expect("ldapmodify runs"));
    assert_eq!(code, 53, "{err}");
    assert!(err.contains("Entra"), "{err}");
    server.stop().await;
}

/// A simple bind over plain LDAP from a peer that is not loopback is refused with
/// confidentialityRequired (13) and nothing about the password is checked; the same client
/// succeeds after StartTLS. (Uses this machine's own non-loopback address, so the server
/// sees a remote peer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_plaintext_bind_needs_tls() {
    let Some(ip) = common::non_loopback_ipv4() else {
        eprintln!("SKIPPED: this machine has no non-loopback IPv4 address to test a remote peer");
        return;
    };
    let server = TestServer::start_ldap_on(ip).await;
    let url = format!("ldap://{}", server.ldap);
    let alice = server.user_dn("alice");
    let whoami = |extra: &'static [&'static str], password: &'static str| {
        let (server, url, alice) = (&server, url.clone(), alice.clone());
        async move {
            let mut args = vec!["-x", "-H", &url, "-D", &alice, "-w", password];
            args.extend_from_slice(extra);
            split(server.tool("ldapwhoami", &args).await)
        }
    };
    let (code, _, err) = whoami(&[], DEMO_USER_PASSWORD).await;
    assert_eq!(code, 13, "plaintext bind from {ip}: {err}");
    assert!(err.to_lowercase().contains("confidentiality"), "{err}");
    // Same answer with a wrong password: nothing is verified over the clear channel.
    assert_eq!(whoami(&[], "wrong").await.0, 13);
    // The certificate names localhost, not this address: trust it explicitly for StartTLS.
    let output = tokio::process::Command::new("ldapwhoami")
        .args([
            "-x",
            "-ZZ",
            "-H",
            &url,
            "-D",
            &alice,
            "-w",
            DEMO_USER_PASSWORD,
        ])
        .env("LDAPTLS_CACERT", &server.cert)
        .env("LDAPTLS_REQCERT", "allow")
        .env("LDAPCONF", "/dev/null")
        .env("LDAPRC", "/dev/null")
        .output()
        .await
        .unwrap();
    let (code, out, err) = split(output);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("uid=alice"), "{out}");
    server.stop().await;
}
