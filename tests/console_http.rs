//! The web console over real HTTP (no browser): sign-in, rate limit, cookies, CSRF, sign-out
//! and the audit trail. The browser scenarios are in console_browser.rs.

mod common;

use common::admin::{Api, admin_token};
use common::console::Console;
use common::{DEMO_USER_PASSWORD, TestServer};

/// Number of runs the server has recorded.
async fn run_count(api: &Api) -> usize {
    let (status, body) = api.get("/api/v1/sync/runs?limit=1000").await;
    assert_eq!(status, 200);
    body["runs"].as_array().expect("runs").len()
}

async fn audit_actions(api: &Api) -> Vec<(String, String, String)> {
    let (status, body) = api.get("/api/v1/logs/audit").await;
    assert_eq!(status, 200);
    body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("").to_string(),
                e["action"].as_str().unwrap_or("").to_string(),
                e["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_sign_in_and_posts_are_refused() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    let console = Console::of(&server);
    let root = console.get("/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.location.as_deref(), Some("/console/sync"));
    for path in [
        "/console/sync",
        "/console/users",
        "/console/users/alice",
        "/console/logs",
    ] {
        let page = console.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location.as_deref(), Some("/console/sign-in"), "{path}");
    }
    let sign_in = console.get("/console/sign-in").await;
    assert_eq!(sign_in.status, 200);
    assert!(sign_in.body.contains("Admin token"));

    let before = run_count(&api).await;
    let post = console.post("/console/sync/now", &[("csrf", "x")]).await;
    assert_eq!(post.status, 401);
    assert_eq!(run_count(&api).await, before, "no run started");
    server.stop().await;
}

#[tokio::test]
async fn wrong_tokens_are_refused_then_rate_limited() {
    let server = TestServer::start().await;
    let mut console = Console::of(&server);
    for attempt in 0..5 {
        let page = console.sign_in("not-the-token").await;
        assert_eq!(page.status, 401, "attempt {attempt}");
        assert!(page.body.contains("That token is not right."));
        assert!(page.set_cookie.is_empty(), "no session for a wrong token");
    }
    // Now even the right token is refused from this address until the window passes.
    let page = console.sign_in(&admin_token(&server)).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("Too many failed sign-ins"));
    assert!(page.set_cookie.is_empty());
    let failures = audit_actions(&Api::of(&server))
        .await
        .into_iter()
        .filter(|(_, action, outcome)| action == "console.sign_in" && outcome == "wrong token")
        .count();
    assert_eq!(failures, 5, "each failed sign-in is audited");
    server.stop().await;
}

#[tokio::test]
async fn session_cookie_is_strict_and_http_only_and_sign_out_ends_the_session() {
    let server = TestServer::start().await;
    let mut console = Console::of(&server);
    let page = console.sign_in(&admin_token(&server)).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/console/sync"));
    let cookie = page.set_cookie.first().expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let sync = console.get("/console/sync").await;
    assert_eq!(sync.status, 200);
    assert!(sync.body.contains("Sync now"));
    assert!(sync.body.contains("console:admin-token"));

    let old_cookie = console.cookie.clone();
    let out = console.submit("/console/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/console/sign-in"));
    assert!(out.set_cookie.iter().any(|c| c.contains("Max-Age=0")));
    // The old cookie no longer opens anything.
    console.cookie = old_cookie;
    let after = console.get("/console/sync").await;
    assert_eq!(after.status, 303);
    assert_eq!(after.location.as_deref(), Some("/console/sign-in"));
    server.stop().await;
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    let console = Console::signed_in(&server).await;
    let runs = run_count(&api).await;
    let alice = server.user_dn("alice");
    let (_, settings_before) = api.get("/api/v1/sync/settings").await;

    for csrf in [None, Some("wrong-token"), Some("")] {
        let with = |mut form: Vec<(&'static str, String)>| {
            if let Some(token) = csrf {
                form.push(("csrf", token.to_string()));
            }
            form
        };
        let cases = [
            ("/console/sync/now", with(vec![])),
            (
                "/console/users/alice/password",
                with(vec![("password", "a-brand-new-password".to_string())]),
            ),
            (
                "/console/binders",
                with(vec![("name", "sneaky".to_string())]),
            ),
            (
                "/console/sync/settings",
                with(vec![("opt.interval", "12345".to_string())]),
            ),
        ];
        for (path, form) in cases {
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = console.post(path, &fields).await;
            assert_eq!(page.status, 403, "{path} with csrf {csrf:?}");
            assert!(page.body.contains("security token"), "{}", page.body);
        }
    }
    assert_eq!(run_count(&api).await, runs, "no sync started");
    let (_, settings_after) = api.get("/api/v1/sync/settings").await;
    assert_eq!(
        settings_before["options"], settings_after["options"],
        "options unchanged"
    );
    assert_eq!(
        server.whoami(&alice, DEMO_USER_PASSWORD).await,
        0,
        "password unchanged"
    );
    assert_eq!(server.whoami(&alice, "a-brand-new-password").await, 49);
    let (_, binders) = api.get("/api/v1/binders").await;
    assert!(
        !binders.to_string().contains("sneaky"),
        "no binder created: {binders}"
    );

    // With the token, the same forms work, and the audit trail names the console.
    let page = console.submit("/console/sync/now", &[]).await;
    assert_eq!(page.status, 303);
    let flash = console.get("/console/sync").await;
    assert!(
        flash.body.contains("Sync initiated successfully"),
        "{}",
        flash.body
    );
    // The part the Sync page polls while a run progresses: the run table, no page frame.
    let live = console.get("/console/sync/live").await;
    assert_eq!(live.status, 200);
    assert!(live.body.starts_with("<div id=\"live\""), "{}", live.body);
    assert!(live.body.contains("id=\"runs\"") && !live.body.contains("<html"));
    assert_eq!(run_count(&api).await, runs + 1);
    let page = console
        .submit(
            "/console/users/alice/password",
            &[("password", "a-brand-new-password")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(server.whoami(&alice, "a-brand-new-password").await, 0);
    let actions = audit_actions(&api).await;
    for action in ["sync.trigger", "user.set_password"] {
        assert!(
            actions
                .iter()
                .any(|(actor, a, outcome)| actor == "console:admin-token"
                    && a == action
                    && outcome == "ok"),
            "{action} audited: {actions:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn password_policy_errors_are_shown_and_change_nothing() {
    let server = TestServer::start().await;
    let console = Console::signed_in(&server).await;
    let alice = server.user_dn("alice");
    let page = console
        .submit("/console/users/alice/password", &[("password", "short")])
        .await;
    assert_eq!(page.status, 303);
    let detail = console.get("/console/users/alice").await;
    assert!(detail.body.contains("must be at least"), "{}", detail.body);
    assert_eq!(server.whoami(&alice, DEMO_USER_PASSWORD).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn users_and_groups_pages_show_status_reasons_kinds_and_nested_groups() {
    let server = TestServer::start().await;
    let console = Console::signed_in(&server).await;

    let inactive = console.get("/console/users?status=inactive").await;
    assert_eq!(inactive.status, 200);
    assert!(inactive.body.contains(">carol<"), "{}", inactive.body);
    assert!(inactive.body.contains("disabled in Entra"));
    assert!(
        !inactive.body.contains(">alice<"),
        "filter keeps only inactive users"
    );
    let carol = console.get("/console/users/carol").await;
    assert!(
        carol
            .body
            .contains("Inactive users cannot get an LDAP password")
    );
    assert!(
        !carol.body.contains("name=\"password\""),
        "no password form"
    );

    // A bind is remembered for the user's page.
    assert_eq!(
        server
            .whoami(&server.user_dn("alice"), DEMO_USER_PASSWORD)
            .await,
        0
    );
    let alice = console.get("/console/users/alice").await;
    assert!(
        alice.body.contains("uid=alice,ou=people,"),
        "{}",
        alice.body
    );
    assert!(!alice.body.contains("not since the server started"));

    let groups = console.get("/console/groups").await;
    for kind in ["Microsoft 365", "Security"] {
        assert!(groups.body.contains(kind), "{kind}: {}", groups.body);
    }
    let vpn_link = groups
        .body
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|href| href.starts_with("/console/groups/") && href.to_lowercase().contains("vpn"))
        .expect("a link to the VPN group")
        .to_string();
    let vpn = console.get(&vpn_link).await;
    assert_eq!(vpn.status, 200);
    assert!(
        vpn.body.contains(">alice<") && vpn.body.contains(">bob<"),
        "{}",
        vpn.body
    );
    assert!(
        vpn.body.contains("nested group"),
        "the Platform group shown as a group"
    );
    assert!(console.get("/console/groups/no-such-group").await.status == 404);
    server.stop().await;
}
