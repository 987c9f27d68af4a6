//! The accidental-deletion guard, end to end: a run that would deactivate too many users is
//! held (LDAP keeps serving the last good state), shown on the status, and then approved or
//! discarded through the admin API and the CLI; real LDAP clients check the effect.

mod common;

use common::TestServer;
use common::admin::{Api, Cli};

/// 200 generated users: disabling 30 (15 %, at least 10) trips the default 10 % threshold.
const USERS: usize = 200;
const DISABLED: usize = 30;

async fn server_with_mass_disable() -> (TestServer, Api) {
    let server = TestServer::start_generated(USERS, 0).await;
    server.sim.with_tenant(|t| {
        for i in 0..DISABLED {
            assert!(t.set_enabled(&format!("user{i:04}@example.com"), false));
        }
    });
    let api = Api::of(&server);
    (server, api)
}

async fn user_binds(server: &TestServer, i: usize) -> i32 {
    server
        .whoami(
            &server.user_dn(&format!("user{i:04}")),
            &format!("Secret-{i:04}"),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_deactivation_is_held_then_approved() {
    let (server, api) = server_with_mass_disable().await;
    let held = api.sync_now().await;
    assert_eq!(held["outcome"], "held", "{held}");
    let reason = held["error"].as_str().unwrap();
    assert!(
        reason.contains("deactivate or remove 30 of 200 active users (15.0%)"),
        "{reason}"
    );
    assert_eq!(held["changes"]["users_deactivated"], 30, "{held}");
    let id = held["id"].as_u64().unwrap();

    // Nothing was committed: the disabled users still bind, the served directory is as before.
    assert_eq!(user_binds(&server, 0).await, 0);
    let (status, body) = api.get("/api/v1/sync/status").await;
    assert_eq!(status, 200);
    assert_eq!(body["held"]["id"], id, "{body}");

    // The CLI shows it, with how to decide.
    let cli = Cli::of(&server);
    let (code, out, err) = cli.run(&["sync", "status"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("HELD: run {id}")), "{out}");
    assert!(
        out.contains(&format!("entra-ldap sync approve {id}")),
        "{out}"
    );

    // Approving commits exactly what was held.
    let (code, out, err) = cli.run(&["sync", "approve", &id.to_string()], None).await;
    assert_eq!(code, 0, "{out}{err}");
    let run = api.wait_run(id).await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["changes"]["users_deactivated"], 30, "{run}");
    assert_eq!(
        user_binds(&server, 0).await,
        49,
        "approved: disabled users are out"
    );
    assert_eq!(user_binds(&server, DISABLED).await, 0, "others unaffected");
    let (_, body) = api.get("/api/v1/sync/status").await;
    assert!(body["held"].is_null(), "{body}");
    // Approving twice is refused.
    let (status, body) = api
        .post(&format!("/api/v1/sync/runs/{id}/approve"), None)
        .await;
    assert_eq!(status, 404, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discarded_and_superseded_runs_change_nothing() {
    let (server, api) = server_with_mass_disable().await;
    let first = api.sync_now().await;
    assert_eq!(first["outcome"], "held", "{first}");
    let first_id = first["id"].as_u64().unwrap();

    // A new "Sync now" re-reads the tenant and replaces the held run.
    let second = api.sync_now().await;
    assert_eq!(second["outcome"], "held", "{second}");
    let second_id = second["id"].as_u64().unwrap();
    let (_, old) = api.get(&format!("/api/v1/sync/runs/{first_id}")).await;
    assert_eq!(old["outcome"], "discarded", "{old}");
    assert!(
        old["error"]
            .as_str()
            .unwrap()
            .contains(&format!("superseded by run {second_id}")),
        "{old}"
    );
    let (status, _) = api
        .post(&format!("/api/v1/sync/runs/{first_id}/approve"), None)
        .await;
    assert_eq!(status, 404, "a superseded run cannot be approved");

    let (status, run) = api
        .post(&format!("/api/v1/sync/runs/{second_id}/discard"), None)
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["outcome"], "discarded");
    assert_eq!(
        user_binds(&server, 0).await,
        0,
        "discarded: nothing committed"
    );
    let (_, body) = api.get("/api/v1/sync/status").await;
    assert!(body["held"].is_null(), "{body}");
    assert_eq!(body["last_success"]["trigger"], "startup", "{body}");

    // A routine change (below the threshold) goes through as usual.
    server.sim.with_tenant(|t| {
        for i in 0..DISABLED {
            t.set_enabled(&format!("user{i:04}@example.com"), true);
        }
        t.set_enabled("user0199@example.com", false);
    });
    let run = api.sync_now().await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["changes"]["users_deactivated"], 1, "{run}");
    assert_eq!(user_binds(&server, 199).await, 49);
    server.stop().await;
}
