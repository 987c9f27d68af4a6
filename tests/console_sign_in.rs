//! Signing in with Microsoft (OpenID Connect) over real HTTP against the simulated tenant:
//! who gets the console, who gets only the self-service page, who is refused; every way an
//! id_token can be wrong; state bound to the browser; the employee setting their own LDAP
//! password (then `ldapwhoami` binds with it) and adding/removing their own SSH public keys
//! (then `ldapsearch` serves them as `sshPublicKey`), with CSRF enforced.

mod common;

use common::admin::Api;
use common::microsoft::{callback, sign_in, start, submit_form};
use common::{TestServer, values};
use entra_ldap::simulator::{DEFAULT_SIGN_IN_PASSWORD, IdTokenFault, SimUser};
use serde_json::json;

const PW: &str = DEFAULT_SIGN_IN_PASSWORD;
/// A new LDAP password for bob that passes the password policy.
const NEW_PASSWORD: &str = "quiet-harbour-lantern-7";
const ED25519: &str = include_str!("fixtures/ssh/ed25519.pub");
const ED25519_FINGERPRINT: &str = "SHA256:wzPsJBtc+3Ar7dLwR7lbfguafxaQ1lb9x8EsyUgXUDc";
const ECDSA_P256: &str = include_str!("fixtures/ssh/ecdsa-p256.pub");
const RSA_1024: &str = include_str!("fixtures/ssh/rsa-1024.pub");

/// The newest audit entry for `action`, as `(actor, target, outcome)`.
async fn last_audit(server: &TestServer, action: &str) -> (String, String, String) {
    let (_, log) = Api::of(server).get("/api/v1/logs/audit?limit=50").await;
    let entry = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in {log}"));
    let text = |k: &str| entry[k].as_str().unwrap_or_default().to_string();
    (text("actor"), text("target"), text("outcome"))
}

/// The `sshPublicKey` values of `uid`'s entry as `ldapsearch` (bound as the demo binder) reads them.
async fn served_ssh_keys(server: &TestServer, uid: &str) -> Vec<String> {
    let url = server.ldap_url();
    let (code, out, err) = server
        .search_as_binder(&url, &[&format!("(uid={uid})"), "uid", "sshPublicKey"])
        .await;
    assert_eq!(code, 0, "ldapsearch: {err}");
    assert_eq!(values(&out, "uid"), [uid], "{uid} is served: {out}");
    values(&out, "sshPublicKey")
}

/// The fingerprints of `uid`'s keys, as the admin API lists them.
async fn fingerprints(server: &TestServer, uid: &str) -> Vec<String> {
    let (status, body) = Api::of(server)
        .get(&format!("/api/v1/users/{uid}/ssh-keys"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["fingerprint"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_get_the_console_employees_only_their_page_others_are_refused() {
    let server = TestServer::start().await;

    // A user the sync has not seen is refused by the console. (First: the demo's next
    // scheduled sync, which would import them, is 30 s away.)
    server.sim.with_tenant(|t| {
        t.users.push(SimUser {
            id: "9b0c7a3e-0000-4000-8000-00000000new1".into(),
            user_principal_name: "newbie@example.com".into(),
            account_enabled: true,
            user_type: "Member".into(),
            ..Default::default()
        })
    });
    let (newbie, page) = sign_in(&server, "newbie@example.com", PW).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("not in the directory"), "{}", page.body);
    assert!(newbie.cookie.is_none());
    let (actor, _, outcome) = last_audit(&server, "console.sign_in").await;
    assert_eq!(actor, "microsoft:newbie@example.com");
    assert!(outcome.contains("not in the directory"), "{outcome}");

    // alice is listed in [admin] admins.
    let (alice, page) = sign_in(&server, "alice@example.com", PW).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("url=/console/sync"), "{}", page.body);
    assert!(
        page.set_cookie
            .iter()
            .any(|c| c.starts_with("entra_ldap_console=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Strict")),
        "{:?}",
        page.set_cookie
    );
    let sync = alice.get("/console/sync").await;
    assert_eq!(sync.status, 200);
    assert!(
        sync.body.contains("microsoft:alice@example.com"),
        "the header names her"
    );
    assert_eq!(
        last_audit(&server, "console.sign_in").await,
        (
            "microsoft:alice@example.com".into(),
            "microsoft".into(),
            "ok".into()
        )
    );

    // heidi is in Platform, the demo's admin group.
    let (heidi, page) = sign_in(&server, "heidi@example.com", PW).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(heidi.get("/console/users").await.status, 200);

    // bob is an active user and nothing more: /me yes, the console no (403, clear page).
    let (bob, page) = sign_in(&server, "bob@example.com", PW).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("url=/me"), "{}", page.body);
    for path in ["/console/sync", "/console/users", "/console/logs/audit"] {
        let refused = bob.get(path).await;
        assert_eq!(refused.status, 403, "{path}");
        assert!(refused.body.contains("for admins"), "{}", refused.body);
    }
    let me = bob.get("/me").await;
    assert_eq!(me.status, 200);
    for shown in [
        "<dd id=\"uid\">bob</dd>",
        "<dd id=\"groups\">VPN Users</dd>",
        "uid=bob,ou=people,",
        "ldapwhoami -x -ZZ -H ldap://127.0.0.1:",
    ] {
        assert!(me.body.contains(shown), "{shown} in {}", me.body);
    }
    // A console form post by an employee, even with their CSRF token, changes nothing.
    let token = bob.csrf_of("/me").await;
    let sync_now = bob.post("/console/sync/now", &[("csrf", &token)]).await;
    assert_eq!(sync_now.status, 403);

    // A wrong Microsoft password stays on the tenant's form (AADSTS50126).
    let flow = start(&server).await;
    let (status, location, body) = submit_form(&flow, "alice@example.com", "wrong").await;
    assert_eq!((status, location), (200, None));
    assert!(body.contains("AADSTS50126"), "{body}");
    let (status, location, body) = submit_form(&flow, "nobody@example.com", PW).await;
    assert_eq!((status, location), (200, None));
    assert!(body.contains("AADSTS50034"), "{body}");

    // carol is disabled in Entra: the tenant refuses (AADSTS50057) and so does the console.
    let (carol, page) = sign_in(&server, "carol@example.com", PW).await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("AADSTS50057"), "{}", page.body);
    assert!(carol.cookie.is_none(), "no session");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_sets_their_ldap_password_with_csrf_enforced() {
    let server = TestServer::start().await;
    let bob_dn = server.user_dn("bob");
    let (bob, _) = sign_in(&server, "bob@example.com", PW).await;

    // Without the CSRF token: refused, nothing changed.
    let refused = bob
        .post(
            "/me/password",
            &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("security token"), "{}", refused.body);
    assert_eq!(server.whoami(&bob_dn, NEW_PASSWORD).await, 49);

    // Two different passwords: refused with a message, nothing changed.
    let token = bob.csrf_of("/me").await;
    let differ = bob
        .post(
            "/me/password",
            &[
                ("password", NEW_PASSWORD),
                ("confirm", "other"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(
        (differ.status, differ.location.as_deref()),
        (303, Some("/me"))
    );
    assert!(bob.get("/me").await.body.contains("differ"));
    assert_eq!(server.whoami(&bob_dn, NEW_PASSWORD).await, 49);

    // Too short: the password policy's own words are shown.
    let short = bob
        .post(
            "/me/password",
            &[
                ("password", "short"),
                ("confirm", "short"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(short.status, 303);
    let page = bob.get("/me").await.body;
    assert!(page.contains("flash error"), "{page}");

    // With his login name in it: refused in the policy's words (not echoing the password).
    let personal = bob
        .post(
            "/me/password",
            &[
                ("password", "bobs-new-ldap-pw-1"),
                ("confirm", "bobs-new-ldap-pw-1"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(personal.status, 303);
    let page = bob.get("/me").await.body;
    assert!(page.contains("must not contain your login name"), "{page}");
    assert!(!page.contains("bobs-new-ldap-pw-1"), "{page}");
    assert_eq!(server.whoami(&bob_dn, "bobs-new-ldap-pw-1").await, 49);

    // Set: the flash says so, ldapwhoami binds with it, the old one stops working.
    let set = bob
        .post(
            "/me/password",
            &[
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(set.status, 303);
    assert!(
        bob.get("/me")
            .await
            .body
            .contains("Your LDAP password is set.")
    );
    assert_eq!(server.whoami(&bob_dn, NEW_PASSWORD).await, 0);
    assert_eq!(server.whoami(&bob_dn, common::DEMO_USER_PASSWORD).await, 49);
    assert_eq!(
        last_audit(&server, "user.set_password").await,
        (
            "microsoft:bob@example.com".into(),
            "bob".into(),
            "ok".into()
        )
    );

    // Signing out ends the session.
    let out = bob.post("/console/sign-out", &[("csrf", &token)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(
        bob.get("/me").await.location.as_deref(),
        Some("/console/sign-in")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wrong_id_token_is_refused_and_a_rotated_key_is_fetched() {
    let server = TestServer::start().await;
    let cases = [
        (IdTokenFault::BadSignature, "signature does not verify"),
        (IdTokenFault::WrongAudience, "another application"),
        (
            IdTokenFault::WrongIssuer,
            "was issued by `https://sts.windows.net/",
        ),
        (IdTokenFault::WrongNonce, "nonce"),
        (IdTokenFault::Expired, "has expired"),
        (IdTokenFault::WrongTenant, "another tenant"),
    ];
    for (fault, says) in cases {
        server.sim.break_next_id_token(fault);
        let (console, page) = sign_in(&server, "alice@example.com", PW).await;
        assert_eq!(page.status, 401, "{fault:?}: {}", page.body);
        assert!(page.body.contains(says), "{fault:?}: {}", page.body);
        assert!(console.cookie.is_none(), "{fault:?}: no session");
        let (actor, _, outcome) = last_audit(&server, "console.sign_in").await;
        assert!(actor.starts_with("console:127.0.0.1"), "{actor}");
        assert!(outcome.contains(says), "{outcome}");
    }
    // The same sign-in without a fault works: the faults were the reason.
    let (_, page) = sign_in(&server, "alice@example.com", PW).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Microsoft rotates its signing key: the unknown kid makes the server refetch the JWKS.
    server.sim.rotate_signing_key();
    let (admin, page) = sign_in(&server, "alice@example.com", PW).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(admin.get("/console/sync").await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_must_come_back_to_the_browser_that_started_it_once() {
    let server = TestServer::start().await;
    let mine = start(&server).await;
    let theirs = start(&server).await;
    let (_, location, _) = submit_form(&theirs, "alice@example.com", PW).await;
    let location = location.expect("callback");

    // Someone else's callback in my browser (login CSRF): state mismatch.
    let (console, page) = callback(&server, &location, Some(&mine.flow_cookie)).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("state mismatch"), "{}", page.body);
    assert!(console.cookie.is_none());
    // No flow cookie at all: the same.
    let (_, page) = callback(&server, &location, None).await;
    assert_eq!(page.status, 400);

    // The right browser: signed in, once. Replaying the callback does not sign in again.
    let (console, page) = callback(&server, &location, Some(&theirs.flow_cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(console.cookie.is_some());
    let (replayed, page) = callback(&server, &location, Some(&theirs.flow_cookie)).await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("expired or was already used"),
        "{}",
        page.body
    );
    assert!(replayed.cookie.is_none());

    // Starting sign-ins is limited per address (each keeps a pending flow): two were
    // started above, so the limit is reached after MAX_STARTS - 2 more.
    let max = entra_ldap::console::MAX_MICROSOFT_SIGN_IN_STARTS;
    for _ in 2..max {
        let page = common::console::Console::of(&server)
            .get("/console/sign-in/microsoft")
            .await;
        assert_eq!(page.status, 303);
    }
    let page = common::console::Console::of(&server)
        .get("/console/sign-in/microsoft")
        .await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("Too many sign-ins"), "{}", page.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_adds_and_removes_their_own_ssh_keys_with_csrf_enforced() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    // alice has a key an admin added: bob sees its fingerprint nowhere, and naming it
    // does not remove it.
    let (status, alice_key) = api
        .post(
            "/api/v1/users/alice/ssh-keys",
            Some(json!({"key": ECDSA_P256.trim()})),
        )
        .await;
    assert_eq!(status, 201, "{alice_key}");
    let alice_fingerprint = alice_key["fingerprint"].as_str().unwrap().to_string();

    let (bob, _) = sign_in(&server, "bob@example.com", PW).await;
    let page = bob.get("/me").await.body;
    assert!(page.contains("No SSH public keys."), "{page}");
    assert!(
        page.contains("action=\"/me/ssh-keys\""),
        "the add form: {page}"
    );
    assert!(!page.contains(&alice_fingerprint), "{page}");

    // Without the CSRF token: refused, nothing changed.
    let refused = bob.post("/me/ssh-keys", &[("key", ED25519)]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("security token"), "{}", refused.body);
    assert!(served_ssh_keys(&server, "bob").await.is_empty());

    // Added: the page lists it, LDAP serves it at once, the audit trail names bob.
    let token = bob.csrf_of("/me").await;
    let added = bob
        .post("/me/ssh-keys", &[("key", ED25519), ("csrf", &token)])
        .await;
    assert_eq!(
        (added.status, added.location.as_deref()),
        (303, Some("/me"))
    );
    let page = bob.get("/me").await.body;
    for shown in [
        format!("SSH key {ED25519_FINGERPRINT} added."),
        ED25519_FINGERPRINT.to_string(),
        "ssh-ed25519".to_string(),
        "<td class=\"num\">256</td>".to_string(),
        "alice@laptop".to_string(),
        "action=\"/me/ssh-keys/remove\"".to_string(),
    ] {
        assert!(page.contains(&shown), "{shown} in {page}");
    }
    assert_eq!(served_ssh_keys(&server, "bob").await, [ED25519.trim()]);
    assert_eq!(
        last_audit(&server, "user.ssh_key.add").await,
        (
            "microsoft:bob@example.com".into(),
            "bob".into(),
            "ok".into()
        )
    );

    // A weak key is refused with the reason; nothing changed.
    let weak = bob
        .post("/me/ssh-keys", &[("key", RSA_1024), ("csrf", &token)])
        .await;
    assert_eq!(weak.status, 303);
    let page = bob.get("/me").await.body;
    assert!(page.contains("flash error"), "{page}");
    assert!(page.contains("2048"), "says why: {page}");
    assert_eq!(fingerprints(&server, "bob").await, [ED25519_FINGERPRINT]);

    // Another user's key cannot be removed from here: only bob's own keys are looked at.
    let theirs = bob
        .post(
            "/me/ssh-keys/remove",
            &[("fingerprint", &alice_fingerprint), ("csrf", &token)],
        )
        .await;
    assert_eq!(theirs.status, 303);
    let page = bob.get("/me").await.body;
    assert!(page.contains("has no SSH key"), "{page}");
    assert_eq!(fingerprints(&server, "alice").await, [alice_fingerprint]);
    assert_eq!(fingerprints(&server, "bob").await, [ED25519_FINGERPRINT]);
    let (_, _, outcome) = last_audit(&server, "user.ssh_key.remove").await;
    assert!(outcome.contains("has no SSH key"), "{outcome}");

    // Removing without the CSRF token: refused, the key stays.
    let refused = bob
        .post(
            "/me/ssh-keys/remove",
            &[("fingerprint", ED25519_FINGERPRINT)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(served_ssh_keys(&server, "bob").await, [ED25519.trim()]);

    // Removed: gone from LDAP and from the page.
    let removed = bob
        .post(
            "/me/ssh-keys/remove",
            &[("fingerprint", ED25519_FINGERPRINT), ("csrf", &token)],
        )
        .await;
    assert_eq!(removed.status, 303);
    let page = bob.get("/me").await.body;
    assert!(
        page.contains(&format!("SSH key {ED25519_FINGERPRINT} removed.")),
        "{page}"
    );
    assert!(page.contains("No SSH public keys."), "{page}");
    assert!(served_ssh_keys(&server, "bob").await.is_empty());
    assert_eq!(
        last_audit(&server, "user.ssh_key.remove").await,
        (
            "microsoft:bob@example.com".into(),
            "bob".into(),
            "ok".into()
        )
    );

    // Once bob is disabled in Entra (and synced), his still-open session cannot add keys.
    server.sim.with_tenant(|t| {
        assert!(t.update_user("bob@example.com", |u| u.account_enabled = false));
    });
    let run = api.sync_now().await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    let page = bob.get("/me").await.body;
    assert!(
        page.contains("Inactive users cannot get SSH keys."),
        "{page}"
    );
    let inactive = bob
        .post("/me/ssh-keys", &[("key", ED25519), ("csrf", &token)])
        .await;
    assert_eq!(inactive.status, 303);
    let page = bob.get("/me").await.body;
    assert!(page.contains("flash error"), "{page}");
    assert!(
        page.contains("is inactive and cannot get SSH keys"),
        "{page}"
    );
    assert!(fingerprints(&server, "bob").await.is_empty());
    server.stop().await;
}

/// The Sync page's "Authorize another account (backup)" and domain list: an admin authorizes
/// a backup account through the tenant's form; when the primary app's secret expires, the
/// next run moves to the backup by itself and the page says which credential was used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_authorizes_a_backup_account_that_takes_over_from_the_primary() {
    let server = TestServer::start().await;
    let console = common::console::Console::signed_in(&server).await;
    let page = console.get("/console/sync").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"data-domain="example.com""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("refresh-domains"), "{}", page.body);
    assert!(page.body.contains("The last run used: "), "{}", page.body);

    let started = console
        .submit(
            "/console/sync/authorize",
            &[("slot", "backup"), ("purpose", "all")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let flow = common::microsoft::Flow {
        flow_cookie: String::new(),
        authorize_url: url::Url::parse(&started.location.expect("to Microsoft")).unwrap(),
    };
    let (status, location, body) = submit_form(&flow, "alice@example.com", PW).await;
    assert_eq!(status, 302, "{body}");
    let back = console
        .get(&callback_path(&location.expect("callback")))
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.body.contains("alice@example.com"), "{}", back.body);
    assert_eq!(
        last_audit(&server, "sync.authorize").await,
        (
            "console:admin-token".into(),
            "backup everything".into(),
            "ok".into()
        )
    );
    let (_, credentials) = Api::of(&server).get("/api/v1/sync/credentials").await;
    assert!(
        credentials["credentials"]
            .as_array()
            .expect("credentials")
            .iter()
            .any(|c| c["slot"] == "backup" && c["kind"] == "delegated"),
        "{credentials}"
    );

    // Graph starts refusing the primary (app-only) credential (403
    // Authorization_RequestDenied, e.g. its permission was removed): the run moves to the
    // backup account by itself.
    server.sim.deny_graph_access(&server.sim.client_id);
    let run = Api::of(&server).sync_now().await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    let used = run["credential"].as_str().unwrap_or_default();
    assert!(
        used.starts_with("backup") && used.contains("alice@example.com"),
        "{run}"
    );
    let page = console.get("/console/sync").await;
    assert!(
        page.body.contains(used),
        "the page names {used}: {}",
        page.body
    );
    server.stop().await;
}

/// The path and query of an absolute callback URL (the console client takes paths).
fn callback_path(location: &str) -> String {
    let url = url::Url::parse(location).expect("callback URL");
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}
