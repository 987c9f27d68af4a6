//! The admin HTTP API and the CLI that drives it, against a running server; effects are
//! checked with real LDAP clients.

mod common;

use common::TestServer;
use common::admin::{Api, Cli, admin_token};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_and_checked() {
    let server = TestServer::start().await;
    let api = Api::new(&server, "not-the-token".into());
    let (status, _) = api.send(reqwest::Method::GET, "/healthz", None).await;
    assert_eq!(status, 200);
    let (status, body) = api.send(reqwest::Method::GET, "/api/v1/status", None).await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap_or("").contains("token"));
    let api = Api::new(&server, admin_token(&server));
    let (status, body) = api.send(reqwest::Method::GET, "/api/v1/status", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["base_dn"], "dc=example,dc=com");
    assert_eq!(body["last_run"]["outcome"], "succeeded");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_runs_and_is_recorded() {
    let server = TestServer::start().await;
    let api = Api::new(&server, admin_token(&server));
    let (status, body) = api.send(reqwest::Method::POST, "/api/v1/sync", None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["message"], "Sync initiated successfully");
    let id = body["run_id"].as_u64().expect("run id");
    let run = server
        .app
        .services
        .sync
        .wait_for(id)
        .await
        .expect("run finishes");
    assert_eq!(
        run.outcome,
        entra_ldap::model::SyncOutcome::Succeeded,
        "{run:?}"
    );
    assert!(run.graph_requests > 0);
    let (status, body) = api
        .send(reqwest::Method::GET, "/api/v1/sync/runs?limit=5", None)
        .await;
    assert_eq!(status, 200);
    let runs = body["runs"].as_array().expect("runs");
    assert!(runs.len() >= 2, "startup run and manual run: {body}");
    assert_eq!(runs[0]["id"].as_u64(), Some(id));
    assert_eq!(runs[0]["trigger"], "manual");
    let (status, _) = api
        .send(reqwest::Method::GET, "/api/v1/sync/runs/999999", None)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_a_clear_4xx_and_change_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server, admin_token(&server));
    let path = "/api/v1/users/alice/password";
    let cases = [
        (
            json!({"password": "long-enough-1", "extra": 1}),
            400,
            "extra",
        ),
        (json!({"password": 42}), 400, "password"),
        (json!({"password": "short"}), 400, "12"),
    ];
    for (body, want, mentions) in cases {
        let (status, answer) = api
            .send(reqwest::Method::PUT, path, Some(body.clone()))
            .await;
        assert_eq!(status, want, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(mentions),
            "{answer}"
        );
    }
    let huge = json!({"password": "x".repeat(64 * 1024)});
    let (status, _) = api.send(reqwest::Method::PUT, path, Some(huge)).await;
    assert_eq!(status, 413);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/nosuchuser/password",
            Some(json!({"password": "long-enough-1"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/carol/password",
            Some(json!({"password": "long-enough-1"})),
        )
        .await;
    assert_eq!(status, 409, "carol is disabled");
    // Nothing changed: alice's demo password still works.
    assert_eq!(
        server
            .whoami(&server.user_dn("alice"), common::DEMO_USER_PASSWORD)
            .await,
        0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_manages_binders_and_passwords() {
    let server = TestServer::start().await;
    let cli = Cli::of(&server);
    let (code, out, err) = cli.run(&["binder", "add", "grafana"], None).await;
    assert_eq!(code, 0, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret printed")
        .to_string();
    let dn = format!("cn=grafana,{}", server.base);
    assert!(out.contains(&format!("dn: {dn}")), "{out}");
    assert_eq!(server.whoami(&dn, &secret).await, 0);
    let (code, out, _) = cli.run(&["binder", "list"], None).await;
    assert_eq!(code, 0);
    assert!(out.contains("grafana"), "{out}");
    let (code, out, err) = cli.run(&["binder", "reset", "grafana"], None).await;
    assert_eq!(code, 0, "{err}");
    let new_secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .to_string();
    assert_eq!(
        server.whoami(&dn, &secret).await,
        49,
        "old secret stops working"
    );
    assert_eq!(server.whoami(&dn, &new_secret).await, 0);
    let (code, _, err) = cli.run(&["binder", "remove", "grafana"], None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        server.whoami(&dn, &new_secret).await,
        49,
        "removed binder cannot bind"
    );

    let (code, _, err) = cli
        .run(
            &["user", "set-password", "bob"],
            Some("lantern-orbit-paper\n"),
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        server
            .whoami(&server.user_dn("bob"), "lantern-orbit-paper")
            .await,
        0
    );

    let (code, out, err) = cli.run(&["sync"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("succeeded"), "{out}");
    server.stop().await;
}

/// `/metrics` (Prometheus text, no token) counts what really happened over LDAP and in sync;
/// `/readyz` says ready once a sync committed the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.app.admin_addr);
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let r = reqwest::get(url).await.expect("admin API reachable");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let value = |text: &str, prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let (status, body) = get("/readyz").await;
    assert_eq!((status, body.contains("ready")), (200, true), "{body}");

    let (_, before) = get("/metrics").await;
    let failures = "entra_ldap_ldap_bind_failures_total";
    assert_eq!(server.whoami(&server.user_dn("alice"), "wrong").await, 49);
    assert_eq!(
        server
            .whoami(&server.user_dn("alice"), common::DEMO_USER_PASSWORD)
            .await,
        0
    );
    let (status, after) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        value(&after, failures) >= value(&before, failures) + 1.0,
        "{after}"
    );
    assert!(
        value(
            &after,
            "entra_ldap_ldap_operations_total{op=\"bind\",code=\"0\"}"
        ) >= 1.0,
        "{after}"
    );
    assert!(value(&after, "entra_ldap_sync_runs_total{outcome=\"succeeded\"}") >= 1.0);
    assert!(value(&after, "entra_ldap_sync_last_success_timestamp_seconds") > 1.7e9);
    assert!(value(&after, "entra_ldap_directory_entries") > 0.0);
    assert!(after.contains("entra_ldap_ldap_operation_duration_seconds_bucket"));
    assert!(!after.contains(common::DEMO_USER_PASSWORD));
    server.stop().await;
}

/// The Logs page's data: LDAP operations (filterable, JSON and CSV) and the audit trail of
/// admin actions — with outcomes, without passwords.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_log_and_audit_trail() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    assert_eq!(
        server
            .whoami(&server.user_dn("alice"), "not-her-password")
            .await,
        49
    );

    let (status, body) = api
        .get("/api/v1/logs/ldap?op=bind&result=49&q=uid%3Dalice")
        .await;
    assert_eq!(status, 200, "{body}");
    let entry = &body["entries"][0];
    assert_eq!(entry["op"], "bind", "{body}");
    assert!(
        entry["dn"].as_str().unwrap().starts_with("uid=alice"),
        "{body}"
    );
    assert!(
        entry["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{body}"
    );
    assert!(!body.to_string().contains("not-her-password"));

    let response = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/logs/ldap?op=bind&format=csv",
            server.app.admin_addr
        ))
        .bearer_auth(admin_token(&server))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    assert!(
        csv.starts_with("time_ms,conn,peer,bind_dn,op,dn,result"),
        "{csv}"
    );
    assert!(csv.contains(",bind,\"uid=alice,ou=people,"), "{csv}");
    let (status, _) = api.get("/api/v1/logs/ldap?format=xml").await;
    assert_eq!(status, 400);
    let (status, _) = api.get("/api/v1/logs/ldap?colour=red").await;
    assert_eq!(status, 400);

    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/bob/password",
            Some(json!({ "password": "a-fresh-password-1" })),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/users/nobody/password",
            Some(json!({ "password": "a-fresh-password-1" })),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = api.get("/api/v1/logs/audit?limit=2").await;
    assert_eq!(status, 200, "{body}");
    let trail = body["entries"].as_array().unwrap();
    assert_eq!(trail[0]["action"], "PUT /api/v1/users/nobody/password");
    assert_eq!(trail[0]["outcome"], "HTTP 404");
    assert_eq!(trail[1]["action"], "PUT /api/v1/users/bob/password");
    assert_eq!(trail[1]["outcome"], "ok");
    assert_eq!(trail[1]["actor"], "admin-token");
    assert!(!body.to_string().contains("a-fresh-password-1"));
    // Reads are not audited; a request with a wrong token is refused before auditing.
    let (status, _) = Api::new(&server, "wrong-token".into())
        .post("/api/v1/sync", None)
        .await;
    assert_eq!(status, 401);
    let (_, again) = api.get("/api/v1/logs/audit?limit=1").await;
    assert_eq!(
        again["entries"][0]["action"],
        "PUT /api/v1/users/nobody/password"
    );
    server.stop().await;
}

/// What the console's Users and Groups pages show is in the API and the CLI too: one user
/// with the entry LDAP serves, groups with members, credentials and the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_views_are_in_the_api_and_the_cli() {
    let server = TestServer::start().await;
    let api = Api::of(&server);

    let (status, alice) = api.get("/api/v1/users/alice").await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["status"], "active");
    assert_eq!(
        alice["dn"].as_str().unwrap().to_lowercase(),
        server.user_dn("alice").to_lowercase()
    );
    let attribute = |name: &str| -> Vec<String> {
        alice["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|a| serde_json::from_value(a["values"].clone()).unwrap())
            .unwrap_or_default()
    };
    // The same uidNumber an LDAP client reads; never a password verifier.
    let (code, ldif, err) = server
        .search_as_binder(&server.ldap_url(), &["(uid=alice)", "uidNumber"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(attribute("uidNumber"), common::values(&ldif, "uidNumber"));
    assert_eq!(attribute("uidNumber"), [alice["uid_number"].to_string()]);
    assert!(attribute("userPassword").is_empty(), "{alice}");
    let group = alice["groups"][0]
        .as_str()
        .expect("alice is in a group")
        .to_string();

    let (status, groups) = api.get("/api/v1/groups").await;
    assert_eq!(status, 200);
    let listed = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["cn"] == group.as_str())
        .unwrap_or_else(|| panic!("{group} listed: {groups}"));
    let path = format!("/api/v1/groups/{}", group.replace(' ', "%20"));
    let (status, detail) = api.get(&path).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["member_count"], listed["member_count"]);
    assert!(
        detail["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "user" && m["name"] == "alice" && m["status"] == "active"),
        "{detail}"
    );

    // The CLI shows the same.
    let cli = Cli::of(&server);
    let run = |args: &'static [&'static str]| {
        let cli = &cli;
        async move {
            let (code, out, err) = cli.run(args, None).await;
            assert_eq!(code, 0, "{args:?}: {out}{err}");
            out
        }
    };
    let users = run(&["user", "list", "--search", "ali"]).await;
    assert!(
        users.starts_with("UID") && users.contains("alice"),
        "{users}"
    );
    assert!(!users.contains("bob"), "{users}");
    let shown: serde_json::Value =
        serde_json::from_str(&run(&["user", "show", "alice"]).await).unwrap();
    assert_eq!(shown["dn"], alice["dn"]);
    let groups_out = run(&["group", "list"]).await;
    assert!(groups_out.contains(&group), "{groups_out}");
    let (code, out, err) = cli.run(&["group", "show", &group], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"alice\""), "{out}");
    let credentials = run(&["sync", "credentials"]).await;
    assert!(credentials.contains("client_secret"), "{credentials}");
    assert_eq!(server.whoami(&server.user_dn("alice"), "wrong").await, 49);
    let csv = run(&[
        "logs", "ldap", "--op", "bind", "--result", "49", "--format", "csv",
    ])
    .await;
    assert!(
        csv.starts_with("time_ms,") && csv.contains("uid=alice"),
        "{csv}"
    );
    let audit: serde_json::Value =
        serde_json::from_str(&run(&["logs", "audit", "--limit", "5"]).await).unwrap();
    assert!(audit["entries"].is_array(), "{audit}");
    let (code, _, err) = cli.run(&["user", "show", "nobody"], None).await;
    assert_ne!(code, 0);
    assert!(err.contains("404") && err.contains("nobody"), "{err}");

    // Binder scopes from the CLI: the binder reads people, not groups.
    let people = format!("ou=people,{}", server.base);
    let (code, out, err) = cli
        .run(&["binder", "add", "reader", "--scope", &people], None)
        .await;
    assert_eq!(code, 0, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret printed")
        .to_string();
    let listed = run(&["binder", "list"]).await;
    assert!(
        listed.contains(&format!("reader\tcn=reader,{}\t{people}", server.base)),
        "{listed}"
    );
    let reader = format!("cn=reader,{}", server.base);
    let (code, ldif, err) = search_as(&server, &reader, &secret, "(uid=alice)").await;
    assert_eq!((code, common::dns(&ldif).len()), (0, 1), "{ldif}{err}");
    let (code, ldif, err) = search_as(&server, &reader, &secret, "(objectClass=posixGroup)").await;
    assert_eq!(code, 0, "{err}");
    assert!(
        common::dns(&ldif).is_empty(),
        "groups are outside the scope: {ldif}"
    );

    // Removing a delegated authorization that does not exist is refused by name.
    let (code, _, err) = cli
        .run(
            &[
                "sync",
                "deauthorize",
                "--slot",
                "backup",
                "--purpose",
                "users",
            ],
            None,
        )
        .await;
    assert_ne!(code, 0);
    assert!(err.contains("404"), "{err}");
    server.stop().await;
}

/// `ldapsearch` of the whole tree bound as `dn`; (exit code, LDIF of DNs, stderr).
async fn search_as(
    server: &TestServer,
    dn: &str,
    password: &str,
    filter: &str,
) -> (i32, String, String) {
    let url = server.ldap_url();
    let args = [
        "-x",
        "-LLL",
        "-H",
        &url,
        "-D",
        dn,
        "-w",
        password,
        "-b",
        &server.base,
        filter,
        "dn",
    ];
    common::split(server.tool("ldapsearch", &args).await)
}
