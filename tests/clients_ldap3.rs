//! The `ldap3` crate against the whole stack: a generated tenant (benchmark shape) synced over
//! real HTTP from the simulator, served over LDAPS and StartTLS. This is how Rust applications
//! (and the benchmark's load tool) talk to us.

mod common;

use common::{DEMO_BINDER_SECRET, TestServer};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use std::collections::BTreeSet;

async fn connect(url: &str, starttls: bool) -> Ldap {
    // The demo certificate is self-signed; the OpenLDAP tests verify it, here we test the protocol.
    let settings = LdapConnSettings::new()
        .set_no_tls_verify(true)
        .set_starttls(starttls);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .expect("connect");
    ldap3::drive!(conn);
    ldap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_tenant_over_ldaps_and_starttls() {
    let server = TestServer::start_generated(200, 20).await;
    let mut ldaps = connect(&format!("ldaps://127.0.0.1:{}", server.ldaps.port()), false).await;
    ldaps
        .simple_bind(&server.user_dn("user0042"), "Secret-0042")
        .await
        .unwrap()
        .success()
        .expect("user0042 binds with its generated password");
    let wrong = ldaps
        .simple_bind(&server.user_dn("user0042"), "Secret-0043")
        .await
        .unwrap();
    assert_eq!(wrong.rc, 49);

    let mut ldap = connect(&server.ldap_url(), true).await;
    ldap.simple_bind(&server.binder_dn(), DEMO_BINDER_SECRET)
        .await
        .unwrap()
        .success()
        .expect("binder binds over StartTLS");

    // Paged walk of every user: each exactly once, all 200.
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(7))];
    let mut search = ldap
        .streaming_search_with(
            adapters,
            &server.base,
            Scope::Subtree,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    let mut uids = Vec::new();
    while let Some(entry) = search.next().await.unwrap() {
        uids.push(SearchEntry::construct(entry).attrs["uid"][0].clone());
    }
    assert_eq!(search.finish().await.rc, 0);
    let unique: BTreeSet<_> = uids.iter().cloned().collect();
    assert_eq!((uids.len(), unique.len()), (200, 200));

    // Every group has ~20 members; each member's memberOf names the group back.
    let (groups, res) = ldap
        .search(
            &format!("ou=groups,{}", server.base),
            Scope::OneLevel,
            "(objectClass=posixGroup)",
            vec!["cn", "memberUid"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(res.rc, 0);
    assert_eq!(groups.len(), 20);
    let group = SearchEntry::construct(groups[0].clone());
    let members = &group.attrs["memberUid"];
    assert_eq!(members.len(), 20, "{group:?}");
    let (entries, _) = ldap
        .search(
            &server.base,
            Scope::Subtree,
            &format!("(uid={})", members[0]),
            vec!["memberOf"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let user = SearchEntry::construct(entries[0].clone());
    assert!(
        user.attrs["memberOf"]
            .iter()
            .any(|g| g.eq_ignore_ascii_case(&group.dn)),
        "{user:?} should be in {}",
        group.dn
    );
    ldap.unbind().await.unwrap();
    ldaps.unbind().await.unwrap();
    server.stop().await;
}
