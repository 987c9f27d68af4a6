//! SSH public keys and the password policy end to end: the real server (simulated tenant,
//! real sync), its admin API over HTTP, the CLI binary, the console's forms, and the
//! OpenLDAP clients (`ldapsearch`, `ldappasswd`, `ldapwhoami`) over real sockets.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::admin::{Api, Cli};
use common::console::Console;
use common::{DEMO_USER_PASSWORD, TestServer, values};
use serde_json::{Value, json};

const ED25519: &str = include_str!("fixtures/ssh/ed25519.pub");
const RSA_1024: &str = include_str!("fixtures/ssh/rsa-1024.pub");
const ECDSA_P384: &str = include_str!("fixtures/ssh/ecdsa-p384.pub");
const KEYGEN: &str = include_str!("fixtures/ssh/fingerprints.txt");

/// The fingerprint `ssh-keygen -l` printed for fixture `name`.
fn keygen_fingerprint(name: &str) -> String {
    KEYGEN
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split(' ').nth(2))
        .unwrap()
        .to_string()
}

/// A well-formed Ed25519 key line whose 32 key bytes are all `n` (distinct keys for the
/// limit test; the format is what is checked, not the curve point).
fn ed25519_line(n: u8) -> String {
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), &[n; 32]] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!("ssh-ed25519 {} key-{n}", STANDARD.encode(blob))
}

/// A path segment with `+`, `/` and `:` percent-encoded.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// (objectClass values, sshPublicKey values) of `uid` as the demo binder reads them.
async fn served(server: &TestServer, uid: &str) -> (Vec<String>, Vec<String>) {
    let url = server.ldap_url();
    let (code, out, err) = server
        .search_as_binder(
            &url,
            &[&format!("(uid={uid})"), "objectClass", "sshPublicKey"],
        )
        .await;
    assert_eq!(code, 0, "ldapsearch: {err}");
    (values(&out, "objectClass"), values(&out, "sshPublicKey"))
}

async fn keys_of(api: &Api, uid: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/api/v1/users/{uid}/ssh-keys")).await;
    assert_eq!(status, 200, "{body}");
    body["keys"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_added_through_the_api_is_served_over_ldap_survives_a_sync_and_goes_on_delete() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    let (classes, keys) = served(&server, "alice").await;
    assert!(!classes.iter().any(|c| c == "ldapPublicKey"), "{classes:?}");
    assert!(keys.is_empty());

    let (status, added) = api
        .post(
            "/api/v1/users/alice/ssh-keys",
            Some(json!({ "key": ED25519 })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let fingerprint = keygen_fingerprint("ed25519");
    assert_eq!(added["fingerprint"], fingerprint.as_str());
    assert_eq!(added["algorithm"], "ssh-ed25519");
    assert_eq!(added["bits"], 256);
    assert_eq!(added["comment"], "alice@laptop");

    // Served at once, with the object class sshd's LDAP lookups filter on.
    let (classes, keys) = served(&server, "alice").await;
    assert!(classes.iter().any(|c| c == "ldapPublicKey"), "{classes:?}");
    assert_eq!(keys, [ED25519.trim()]);
    let (_, bob_keys) = served(&server, "bob").await;
    assert!(bob_keys.is_empty(), "only alice got the key");

    // A sync rewrites alice's record from Entra; the key stays.
    let run = api.sync_now().await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(served(&server, "alice").await.1, [ED25519.trim()]);
    assert_eq!(keys_of(&api, "alice").await.len(), 1);

    // Removed by fingerprint (percent-encoded: it holds '+' and '/').
    let (status, body) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/alice/ssh-keys/{}", segment(&fingerprint)),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (classes, keys) = served(&server, "alice").await;
    assert!(keys.is_empty(), "{keys:?}");
    assert!(!classes.iter().any(|c| c == "ldapPublicKey"), "{classes:?}");
    assert!(keys_of(&api, "alice").await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_requests_get_a_clear_4xx_and_change_nothing() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    let path = "/api/v1/users/alice/ssh-keys";
    let (status, body) = api.post(path, Some(json!({ "key": ECDSA_P384 }))).await;
    assert_eq!(status, 201, "{body}");
    let before = keys_of(&api, "alice").await;
    let served_before = served(&server, "alice").await;

    let ed = ED25519.trim();
    let cases: Vec<(String, Value, u16, &str)> = vec![
        (
            path.into(),
            json!({ "key": "ssh-ed25519 AAAAnot-a-key" }),
            400,
            "base64",
        ),
        (path.into(), json!({ "key": &ed[..60] }), 400, "truncated"),
        (path.into(), json!({ "key": RSA_1024 }), 400, "2048 bits"),
        (
            path.into(),
            json!({ "key": format!("command=\"/bin/sh\" {ed}") }),
            400,
            "options",
        ),
        (
            path.into(),
            json!({ "key": format!("{ed}\n{ed}") }),
            400,
            "one key per entry",
        ),
        (
            path.into(),
            json!({ "key": ECDSA_P384 }),
            409,
            "already has",
        ),
        (
            path.into(),
            json!({ "key": ed, "options": "x" }),
            400,
            "options",
        ),
        (path.into(), json!({ "key": 42 }), 400, "key"),
        (
            "/api/v1/users/nosuchuser/ssh-keys".into(),
            json!({ "key": ed }),
            404,
            "not found",
        ),
        (
            "/api/v1/users/carol/ssh-keys".into(),
            json!({ "key": ed }),
            409,
            "inactive",
        ),
    ];
    for (path, body, want, mentions) in cases {
        let (status, answer) = api.post(&path, Some(body.clone())).await;
        assert_eq!(status, want, "{path} {body} → {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{body}: {message}");
    }
    for (fingerprint, want) in [
        (keygen_fingerprint("ed25519"), 404), // a key alice does not have
        ("SHA256:not-a-fingerprint".to_string(), 400),
    ] {
        let (status, answer) = api
            .send(
                reqwest::Method::DELETE,
                &format!("{path}/{}", segment(&fingerprint)),
                None,
            )
            .await;
        assert_eq!(status, want, "{fingerprint}: {answer}");
    }
    let huge = json!({ "key": format!("ssh-ed25519 {}", "A".repeat(20 * 1024)) });
    let (status, _) = api.post(path, Some(huge)).await;
    assert_eq!(status, 413, "bodies are at most 16 KiB");
    let (status, _) = api.get("/api/v1/users/nosuchuser/ssh-keys").await;
    assert_eq!(status, 404);
    assert_eq!(keys_of(&api, "alice").await, before, "nothing changed");
    assert_eq!(served(&server, "alice").await, served_before);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_has_at_most_twenty_keys() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    for n in 0..20 {
        let (status, body) = api
            .post(
                "/api/v1/users/bob/ssh-keys",
                Some(json!({ "key": ed25519_line(n) })),
            )
            .await;
        assert_eq!(status, 201, "key {n}: {body}");
    }
    let (status, body) = api
        .post(
            "/api/v1/users/bob/ssh-keys",
            Some(json!({ "key": ed25519_line(20) })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("20"), "{body}");
    assert_eq!(keys_of(&api, "bob").await.len(), 20);
    assert_eq!(served(&server, "bob").await.1.len(), 20);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_adds_lists_and_removes_keys() {
    let server = TestServer::start().await;
    let cli = Cli::of(&server);
    let fingerprint = keygen_fingerprint("ed25519");
    let (code, out, err) = cli
        .run(&["user", "ssh-key", "add", "bob"], Some(ED25519))
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&fingerprint), "{out}");
    let (code, out, err) = cli.run(&["user", "ssh-key", "list", "bob"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("{fingerprint}\tssh-ed25519\t256\talice@laptop")),
        "{out}"
    );
    // Adding it again is refused with the server's reason.
    let (code, _, err) = cli
        .run(&["user", "ssh-key", "add", "bob"], Some(ED25519))
        .await;
    assert_ne!(code, 0);
    assert!(err.contains("already has"), "{err}");
    let (code, _, err) = cli
        .run(&["user", "ssh-key", "remove", "bob", &fingerprint], None)
        .await;
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cli.run(&["user", "ssh-key", "list", "bob"], None).await;
    assert!(out.trim().is_empty(), "{out}");
    assert!(served(&server, "bob").await.1.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_adds_and_removes_keys_with_csrf_and_audit() {
    let server = TestServer::start().await;
    let console = Console::signed_in(&server).await;
    let fingerprint = keygen_fingerprint("ed25519");
    // Without the CSRF token: refused, nothing added.
    let page = console
        .post("/console/users/alice/ssh-keys", &[("key", ED25519)])
        .await;
    assert_eq!(page.status, 403);
    assert!(served(&server, "alice").await.1.is_empty());

    let page = console
        .submit("/console/users/alice/ssh-keys", &[("key", ED25519)])
        .await;
    assert_eq!(page.status, 303);
    let detail = console.get("/console/users/alice").await;
    assert!(detail.body.contains(&fingerprint), "{}", detail.body);
    assert!(detail.body.contains("added to alice"), "flash message");
    assert_eq!(served(&server, "alice").await.1, [ED25519.trim()]);

    // A bad key shows why, and changes nothing.
    console
        .submit("/console/users/alice/ssh-keys", &[("key", RSA_1024)])
        .await;
    let detail = console.get("/console/users/alice").await;
    assert!(detail.body.contains("2048 bits"), "{}", detail.body);

    let page = console
        .submit(
            "/console/users/alice/ssh-keys/remove",
            &[("fingerprint", &fingerprint)],
        )
        .await;
    assert_eq!(page.status, 303);
    let detail = console.get("/console/users/alice").await;
    assert!(
        detail.body.contains("No SSH public keys"),
        "{}",
        detail.body
    );
    assert!(served(&server, "alice").await.1.is_empty());

    let (_, trail) = Api::of(&server).get("/api/v1/logs/audit?limit=10").await;
    let actions: Vec<(String, String)> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (action, outcome) in [("user.ssh_key.add", "ok"), ("user.ssh_key.remove", "ok")] {
        assert!(
            actions.contains(&(action.to_string(), outcome.to_string())),
            "{action}: {actions:?}"
        );
    }
    assert!(
        actions
            .iter()
            .any(|(a, o)| a == "user.ssh_key.add" && o.contains("2048 bits")),
        "refused add audited with its reason: {actions:?}"
    );
    server.stop().await;
}

/// `ldappasswd` as alice over StartTLS; (exit code, stdout and stderr: it prints the result
/// and the server's text on stdout).
async fn ldappasswd(server: &TestServer, old: &str, new: &str) -> (i32, String) {
    let url = server.ldap_tls_url();
    let dn = server.user_dn("alice");
    let (code, out, err) = common::split(
        server
            .tool(
                "ldappasswd",
                &[
                    "-x", "-ZZ", "-H", &url, "-D", &dn, "-w", old, "-a", old, "-s", new,
                ],
            )
            .await,
    );
    (code, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_passwords_are_refused_by_ldappasswd_and_the_api_and_the_old_one_keeps_working() {
    let server = TestServer::start().await;
    let alice = server.user_dn("alice");
    for (weak, rule) in [
        ("alice-in-wonderland", "login name"),
        ("Anderson-family-1", "login name"),
        ("Password1234!", "most common"),
        ("short-one", "at least 12"),
        ("abcabcabcabc", "repetitive"),
    ] {
        let (code, err) = ldappasswd(&server, DEMO_USER_PASSWORD, weak).await;
        // ldappasswd exits 1 and prints the result code and the server's text.
        assert_ne!(code, 0, "{weak}: {err}");
        assert!(err.contains("Constraint violation (19)"), "{err}");
        assert!(err.contains(rule), "{weak}: {err}");
        assert!(!err.contains(weak), "the password is not echoed: {err}");
    }
    assert_eq!(server.whoami(&alice, DEMO_USER_PASSWORD).await, 0);

    let api = Api::of(&server);
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/alice/password",
            Some(json!({ "password": "alice-in-wonderland" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("login name"),
        "{body}"
    );
    assert_eq!(server.whoami(&alice, DEMO_USER_PASSWORD).await, 0);

    // The rules are published for pages and scripts.
    let (status, policy) = api.get("/api/v1/password-policy").await;
    assert_eq!(status, 200);
    assert_eq!(policy["min_length"], 12);
    assert!(policy["rules"].as_array().unwrap().len() >= 4, "{policy}");

    // A good one goes through ldappasswd and binds.
    let (code, err) = ldappasswd(&server, DEMO_USER_PASSWORD, "tangerine walrus orbit").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(server.whoami(&alice, "tangerine walrus orbit").await, 0);
    assert_eq!(server.whoami(&alice, DEMO_USER_PASSWORD).await, 49);
    server.stop().await;
}
