//! Sync against the simulated tenant over real HTTP on loopback: the Graph client and
//! fetch code, the simulator's fidelity, and the worker committing into a real store.

use entra_ldap::config::{DirectoryConfig, EntraConfig, LoginSource, Secret};
use entra_ldap::directory::{DirectorySettings, LiveDirectory};
use entra_ldap::model::{
    DirectoryData, InactiveReason, MemberRef, SyncOutcome, SyncTrigger, UserStatus,
};
use entra_ldap::simulator::{self, Fault, SimulatorHandle, Tenant};
use entra_ldap::store::Store;
use entra_ldap::sync::fetch::{RawTenant, fetch_tenant};
use entra_ldap::sync::graph::GraphClient;
use entra_ldap::sync::{AlreadyRunning, SyncError, SyncService};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;

/// Requests one full fetch of the demo tenant takes at page size 3: users 8 → 3 pages,
/// groups 3 → 1, domains 1, members: Engineering 3 → 1, VPN Users 4 → 2, Platform 3 → 1.
const DEMO_FETCH_REQUESTS: u64 = 9;

async fn start_demo() -> SimulatorHandle {
    start_with(simulator::demo_tenant()).await
}

async fn start_with(tenant: Tenant) -> SimulatorHandle {
    simulator::start(tenant, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn entra_config(sim: &SimulatorHandle, secret: &str) -> EntraConfig {
    EntraConfig {
        tenant_id: sim.tenant_id.clone(),
        client_id: sim.client_id.clone(),
        client_secret: Secret::new(secret),
        authority_url: sim.url.clone(),
        graph_url: sim.url.clone(),
        sync_interval_secs: 0,
        page_size: 100,
        request_timeout_secs: 5,
        client_certificate: None,
        backup: None,
    }
}

async fn fetch(sim: &SimulatorHandle, secret: &str) -> (Result<RawTenant, SyncError>, u64) {
    let graph = GraphClient::new(&entra_config(sim, secret)).unwrap();
    let requests = AtomicU64::new(0);
    let result = fetch_tenant(&graph, 100, &requests).await;
    (result, requests.load(Ordering::Relaxed))
}

/// A token straight from the simulator, for raw Graph requests.
async fn raw_token(sim: &SimulatorHandle) -> String {
    let (token, expires_in) = request_token(sim).await;
    assert_eq!(expires_in, 3599);
    token
}

/// A token from a tenant with a short token lifetime.
async fn raw_token_expiring(sim: &SimulatorHandle) -> String {
    request_token(sim).await.0
}

async fn request_token(sim: &SimulatorHandle) -> (String, u64) {
    let url = sim
        .url
        .join(&format!("{}/oauth2/v2.0/token", sim.tenant_id))
        .unwrap();
    let resp: Value = reqwest::Client::new()
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id.as_str()),
            ("client_secret", sim.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["token_type"], "Bearer");
    assert_eq!(resp["ext_expires_in"], resp["expires_in"]);
    (
        resp["access_token"].as_str().unwrap().to_string(),
        resp["expires_in"].as_u64().unwrap(),
    )
}

async fn graph_get(sim: &SimulatorHandle, token: &str, path_and_query: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}{}",
            sim.url.as_str().trim_end_matches('/'),
            path_and_query
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn fetch_reads_every_user_group_member_and_domain_through_paging() {
    let sim = start_demo().await;
    let (result, requests) = fetch(&sim, &sim.client_secret).await;
    let raw = result.unwrap();
    assert_eq!(raw.users.len(), 8);
    assert_eq!(raw.groups.len(), 3);
    assert_eq!(raw.domains.len(), 2);
    assert_eq!(requests, DEMO_FETCH_REQUESTS, "paging at page size 3");
    assert_eq!(sim.graph_requests(), DEMO_FETCH_REQUESTS);
    assert_eq!(sim.token_requests(), 1, "one token for the whole run");

    let default = raw.domains.iter().find(|d| d.is_default).unwrap();
    assert_eq!(default.id, "example.com");
    let carol = raw
        .users
        .iter()
        .find(|u| u.user_principal_name == "carol@example.com")
        .unwrap();
    assert!(!carol.account_enabled);
    let frank = raw
        .users
        .iter()
        .find(|u| u.user_principal_name.starts_with("frank"))
        .unwrap();
    assert_eq!(
        frank.on_premises_sam_account_name.as_deref(),
        Some("FFOSTER")
    );
    assert_eq!(frank.user_type.as_deref(), Some("Member"));
    assert!(frank.created_date_time.is_some());

    let vpn = raw
        .groups
        .iter()
        .find(|g| g.display_name == "VPN Users")
        .unwrap();
    let platform = raw
        .groups
        .iter()
        .find(|g| g.display_name == "Platform")
        .unwrap();
    assert_eq!(vpn.members.len(), 3, "device dropped: {:?}", vpn.members);
    assert!(vpn.members.contains(&MemberRef::Group(platform.id.clone())));
    assert_eq!(platform.members.len(), 2, "org contact dropped");
    assert!(vpn.mail.is_none() && !vpn.mail_enabled && vpn.security_enabled);
    let eng = raw
        .groups
        .iter()
        .find(|g| g.display_name == "Engineering")
        .unwrap();
    assert_eq!(eng.group_types, vec!["Unified".to_string()]);
    assert_eq!(eng.mail.as_deref(), Some("engineering@example.com"));
}

#[tokio::test]
async fn a_429_storm_with_retry_after_is_survived() {
    let sim = start_demo().await;
    sim.inject_faults(
        Fault::Throttle {
            retry_after_secs: 1,
        },
        3,
    );
    sim.inject_faults(
        Fault::Unavailable {
            retry_after_secs: Some(1),
        },
        1,
    );
    let started = std::time::Instant::now();
    let (result, requests) = fetch(&sim, &sim.client_secret).await;
    assert_eq!(result.unwrap().users.len(), 8);
    assert_eq!(requests, DEMO_FETCH_REQUESTS + 4);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn throttling_beyond_the_retry_budget_fails_and_other_5xx_fail_at_once() {
    let sim = start_demo().await;
    sim.inject_faults(
        Fault::Throttle {
            retry_after_secs: 0,
        },
        6,
    );
    let (result, requests) = fetch(&sim, &sim.client_secret).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::GaveUp {
                status: 429,
                retries: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(requests, 6, "first attempt plus 5 retries");

    sim.inject_faults(Fault::InternalError, 1);
    let (result, requests) = fetch(&sim, &sim.client_secret).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, SyncError::Status { status: 500, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("generalException"), "{err}");
    assert_eq!(requests, 1, "no retry on 500");
}

#[tokio::test]
async fn a_truncated_body_fails_and_names_the_path_not_the_token() {
    let sim = start_demo().await;
    sim.inject_faults(Fault::TruncatedBody, 1);
    let (result, _) = fetch(&sim, &sim.client_secret).await;
    let err = result.unwrap_err();
    assert!(matches!(err, SyncError::Malformed { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("/v1.0/users"), "{text}");
    assert!(!text.contains("sim."), "no token in: {text}");
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let sim = start_demo().await;
    sim.inject_faults(Fault::ForeignNextLink, 1);
    let (result, requests) = fetch(&sim, &sim.client_secret).await;
    let err = result.unwrap_err();
    assert!(matches!(err, SyncError::ForeignLink { .. }), "{err}");
    assert!(err.to_string().contains("graph.attacker.invalid"), "{err}");
    assert_eq!(requests, 1, "stopped before sending anything there");
}

#[tokio::test]
async fn a_generated_tenant_is_read_with_concurrent_member_requests() {
    let sim = start_with(simulator::generated_tenant(2_000, 200)).await;
    let graph = GraphClient::new(&entra_config(&sim, &sim.client_secret)).unwrap();
    let requests = AtomicU64::new(0);
    let raw = fetch_tenant(&graph, 999, &requests).await.unwrap();
    assert_eq!(raw.users.len(), 2_000);
    assert_eq!(raw.groups.len(), 200);
    assert!(raw.groups.iter().all(|g| g.members.len() == 20));
    // users: 3 pages of 999; groups: 1; domains: 1; one members page per group.
    assert_eq!(requests.load(Ordering::Relaxed), 3 + 1 + 1 + 200);
    let mut ids: Vec<_> = raw.users.iter().map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2_000, "every user exactly once across pages");
}

#[tokio::test]
async fn expired_access_tokens_get_a_401() {
    let mut tenant = simulator::demo_tenant();
    tenant.token_lifetime_secs = 1;
    let sim = start_with(tenant).await;
    let token = raw_token_expiring(&sim).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, body) = graph_get(&sim, &token, "/v1.0/users").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "Access token has expired or is not yet valid."
    );
}

#[tokio::test]
async fn wrong_secret_fails_with_aadsts7000215_and_never_shows_the_secret() {
    let sim = start_demo().await;
    let (result, requests) = fetch(&sim, "my-wrong-secret-value").await;
    let text = result.unwrap_err().to_string();
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains("my-wrong-secret-value"), "{text}");
    assert!(!text.contains(&sim.client_secret), "{text}");
    assert_eq!(requests, 0, "no Graph request without a token");
}

#[tokio::test]
async fn expired_secret_and_unknown_tenant_are_explained() {
    let sim = start_demo().await;
    sim.revoke_secret();
    let (result, _) = fetch(&sim, &sim.client_secret).await;
    let text = result.unwrap_err().to_string();
    assert!(text.contains("AADSTS7000222"), "{text}");

    let mut config = entra_config(&sim, &sim.client_secret);
    config.tenant_id = "contoso.onmicrosoft.com".into();
    let graph = GraphClient::new(&config).unwrap();
    let err = fetch_tenant(&graph, 100, &AtomicU64::new(0))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("AADSTS90002"), "{err}");
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_reported() {
    let sim = start_demo().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = entra_config(&sim, &sim.client_secret);
    config.authority_url = format!("http://127.0.0.1:{port}").parse().unwrap();
    let graph = GraphClient::new(&config).unwrap();
    let err = fetch_tenant(&graph, 100, &AtomicU64::new(0))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot reach the token endpoint"), "{err}");
    assert!(!err.contains(&sim.client_secret), "{err}");
}

#[tokio::test]
async fn revoked_access_tokens_are_replaced_after_a_401() {
    let sim = start_demo().await;
    let graph = GraphClient::new(&entra_config(&sim, &sim.client_secret)).unwrap();
    let requests = AtomicU64::new(0);
    fetch_tenant(&graph, 100, &requests).await.unwrap();
    sim.revoke_tokens();
    fetch_tenant(&graph, 100, &requests).await.unwrap();
    assert_eq!(sim.token_requests(), 2);
    assert_eq!(
        requests.load(Ordering::Relaxed),
        2 * DEMO_FETCH_REQUESTS + 1
    );
}

#[tokio::test]
async fn graph_rejects_missing_and_unknown_tokens_with_graph_errors() {
    let sim = start_demo().await;
    let (status, body) = graph_get(&sim, "not-a-token", "/v1.0/users").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    let token = raw_token(&sim).await;
    let (status, body) = graph_get(&sim, &token, "/v1.0/nothing-here").await;
    assert_eq!(status, 404);
    assert!(body["error"]["code"].is_string());
}

#[tokio::test]
async fn top_above_999_is_a_400_with_graphs_message() {
    let sim = start_demo().await;
    let token = raw_token(&sim).await;
    let (status, body) = graph_get(&sim, &token, "/v1.0/users?$top=1000").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    let (status, _) = graph_get(&sim, &token, "/v1.0/users?$top=999").await;
    assert_eq!(status, 200);
    let (_, body) = graph_get(&sim, &token, "/v1.0/users?$top=2").await;
    assert_eq!(
        body["value"].as_array().unwrap().len(),
        2,
        "$top below the cap"
    );
    let (status, _) = graph_get(&sim, &token, "/v1.0/users?$skiptoken=garbage").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn select_is_honoured_and_select_only_properties_stay_hidden_otherwise() {
    let sim = start_demo().await;
    let token = raw_token(&sim).await;
    let (status, body) = graph_get(&sim, &token, "/v1.0/users?$select=id,accountEnabled").await;
    assert_eq!(status, 200);
    let page = body["value"].as_array().unwrap();
    assert_eq!(page.len(), 3, "max_page_size");
    for user in page {
        let keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(user["accountEnabled"].is_boolean());
    }
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#users(id,accountEnabled)")
    );
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(sim.url.as_str()), "absolute: {next}");
    assert!(next.contains("$select=id,accountEnabled") && next.contains("$skiptoken="));

    let (_, body) = graph_get(&sim, &token, "/v1.0/users").await;
    let alice = &body["value"][0];
    assert_eq!(alice["userPrincipalName"], "alice@example.com");
    assert!(alice.get("businessPhones").is_some());
    for hidden in [
        "accountEnabled",
        "mailNickname",
        "userType",
        "createdDateTime",
    ] {
        assert!(alice.get(hidden).is_none(), "{hidden} without $select");
    }
    let (status, _) = graph_get(&sim, &token, "/v1.0/users?$select=noSuchProperty").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn members_pages_carry_odata_types() {
    let sim = start_demo().await;
    let token = raw_token(&sim).await;
    let vpn_id = sim.with_tenant(|t| t.group_mut("VPN Users").unwrap().id.clone());
    let (status, body) = graph_get(
        &sim,
        &token,
        &format!("/v1.0/groups/{vpn_id}/members?$select=id&$top=999"),
    )
    .await;
    assert_eq!(status, 200);
    let types: Vec<_> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "#microsoft.graph.user",
            "#microsoft.graph.user",
            "#microsoft.graph.group"
        ]
    );
    assert!(body["@odata.nextLink"].is_string(), "4th member on page 2");
}

// ---- the worker, committing into a real store ----

struct Env {
    sim: SimulatorHandle,
    store: Store,
    live: Arc<LiveDirectory>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

fn rules() -> DirectoryConfig {
    DirectoryConfig {
        login_source: LoginSource::Upn,
        uid_number_min: 10_000,
        uid_number_max: 60_000,
        gid_number_min: 10_000,
        gid_number_max: 60_000,
        home_directory: "/home/{uid}".into(),
        login_shell: "/bin/bash".into(),
        show_inactive_users: false,
    }
}

async fn env() -> Env {
    let sim = start_demo().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let live = Arc::new(LiveDirectory::new(
        &DirectoryData::default(),
        DirectorySettings::default(),
    ));
    Env {
        sim,
        store,
        live,
        shutdown: CancellationToken::new(),
        _dir: dir,
    }
}

impl Env {
    fn start_sync(&self, secret: &str) -> SyncService {
        SyncService::start(
            entra_config(&self.sim, secret),
            rules(),
            self.store.clone(),
            Arc::clone(&self.live),
            self.shutdown.clone(),
        )
    }
}

#[tokio::test]
async fn a_run_commits_users_groups_and_domains_and_publishes_them() {
    let env = env().await;
    let sync = env.start_sync(&env.sim.client_secret);
    let run = sync.wait_first_run().await.unwrap();
    assert_eq!(run.outcome, SyncOutcome::Succeeded, "{:?}", run.error);
    assert_eq!(run.trigger, SyncTrigger::Startup);
    assert_eq!(run.graph_requests, DEMO_FETCH_REQUESTS);
    assert_eq!(run.changes.users_added, 8);
    // Default sync options: only groups with an email; VPN Users and Platform are
    // mail-less security groups (tests/sync_scope.rs covers `groups_without_email`).
    assert_eq!(run.changes.groups_added, 1);

    let data = env.store.load_directory().unwrap();
    assert_eq!(data.users.len(), 8);
    assert_eq!(data.groups.len(), 1);
    assert_eq!(data.domains.len(), 2);
    let carol = data
        .users
        .iter()
        .find(|u| u.entra.user_principal_name == "carol@example.com")
        .unwrap();
    assert_eq!(
        carol.status,
        UserStatus::Inactive(InactiveReason::DisabledInEntra)
    );
    let alice = data
        .users
        .iter()
        .find(|u| u.entra.user_principal_name == "alice@example.com")
        .unwrap();
    assert_eq!(alice.status, UserStatus::Active);
    let served = env.live.load();
    assert_eq!(served.base_dn(), "dc=example,dc=com");
    assert!(served.is_user_active(&alice.entra.id));
    assert!(!served.is_user_active(&carol.entra.id));
    let stored = env.store.get_run(run.id).unwrap().unwrap();
    assert_eq!(stored.outcome, SyncOutcome::Succeeded);
    env.shutdown.cancel();
}

#[tokio::test]
async fn a_truncated_body_fails_the_run_and_leaves_committed_data_unchanged() {
    let env = env().await;
    let sync = env.start_sync(&env.sim.client_secret);
    let first = sync.wait_first_run().await.unwrap();
    assert_eq!(first.outcome, SyncOutcome::Succeeded, "{:?}", first.error);
    let before = env.store.load_directory().unwrap();
    let served_before = env.live.load();

    // The tenant changes, but the run that would bring the change is cut short.
    env.sim.with_tenant(|t| t.disable_user("alice@example.com"));
    env.sim.inject_faults(Fault::TruncatedBody, 1);
    let id = sync.trigger(SyncTrigger::Manual).unwrap();
    let run = sync.wait_for(id).await.unwrap();
    assert_eq!(run.outcome, SyncOutcome::Failed);
    let error = run.error.clone().unwrap();
    assert!(error.contains("/v1.0/users"), "{error}");
    assert_eq!(env.store.load_directory().unwrap(), before);
    assert!(
        Arc::ptr_eq(&served_before, &env.live.load()),
        "served snapshot untouched"
    );
    let stored = env.store.get_run(id).unwrap().unwrap();
    assert_eq!(stored.outcome, SyncOutcome::Failed);

    // The next run brings the change.
    let id = sync.trigger(SyncTrigger::Manual).unwrap();
    assert_eq!(
        sync.wait_for(id).await.unwrap().outcome,
        SyncOutcome::Succeeded
    );
    let after = env.store.load_directory().unwrap();
    let alice = after
        .users
        .iter()
        .find(|u| u.entra.user_principal_name == "alice@example.com")
        .unwrap();
    assert_eq!(
        alice.status,
        UserStatus::Inactive(InactiveReason::DisabledInEntra)
    );
    assert!(!env.live.load().is_user_active(&alice.entra.id));
    env.shutdown.cancel();
}

#[tokio::test]
async fn a_wrong_secret_records_a_failed_run_with_the_aadsts_code() {
    let env = env().await;
    let sync = env.start_sync("definitely-wrong-secret");
    let run = sync.wait_first_run().await.unwrap();
    assert_eq!(run.outcome, SyncOutcome::Failed);
    let error = run.error.unwrap();
    assert!(error.contains("AADSTS7000215"), "{error}");
    assert!(!error.contains("definitely-wrong-secret"), "{error}");
    let stored = env.store.get_run(run.id).unwrap().unwrap();
    assert_eq!(stored.outcome, SyncOutcome::Failed);
    assert!(env.store.load_directory().unwrap().users.is_empty());
    env.shutdown.cancel();
}

#[tokio::test]
async fn trigger_while_running_is_refused() {
    let env = env().await;
    // Slow the start-up run down: two throttled answers with Retry-After 1.
    env.sim.inject_faults(
        Fault::Throttle {
            retry_after_secs: 1,
        },
        2,
    );
    let sync = env.start_sync(&env.sim.client_secret);
    let running = sync.running().unwrap();
    assert_eq!(
        sync.trigger(SyncTrigger::Manual),
        Err(AlreadyRunning(running))
    );
    let run = sync.wait_for(running).await.unwrap();
    assert_eq!(run.outcome, SyncOutcome::Succeeded, "{:?}", run.error);
    let next = sync.trigger(SyncTrigger::Manual).unwrap();
    assert_ne!(next, running);
    assert_eq!(
        sync.wait_for(next).await.unwrap().outcome,
        SyncOutcome::Succeeded
    );
    env.shutdown.cancel();
}

#[tokio::test]
async fn runs_repeat_on_the_schedule() {
    let env = env().await;
    let mut config = entra_config(&env.sim, &env.sim.client_secret);
    config.sync_interval_secs = 1;
    let sync = SyncService::start(
        config,
        rules(),
        env.store.clone(),
        Arc::clone(&env.live),
        env.shutdown.clone(),
    );
    let first = sync.wait_first_run().await.unwrap();
    assert_eq!(first.outcome, SyncOutcome::Succeeded, "{:?}", first.error);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let runs = env.store.list_runs(10).unwrap();
        if let Some(scheduled) = runs.iter().find(|r| r.trigger == SyncTrigger::Schedule) {
            let done = sync.wait_for(scheduled.id).await.unwrap();
            assert_eq!(done.outcome, SyncOutcome::Succeeded, "{:?}", done.error);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no scheduled run");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    env.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_changes_nothing_keeps_the_served_snapshot() {
    let env = env().await;
    let sync = env.start_sync(&env.sim.client_secret);
    let first = sync.wait_first_run().await.unwrap();
    assert_eq!(first.outcome, SyncOutcome::Succeeded, "{:?}", first.error);
    let served = env.live.load();

    let id = sync.trigger(SyncTrigger::Manual).unwrap();
    let run = sync.wait_for(id).await.unwrap();
    assert_eq!(run.outcome, SyncOutcome::Succeeded, "{:?}", run.error);
    assert!(run.changes.is_empty(), "{:?}", run.changes);
    assert!(
        Arc::ptr_eq(&served, &env.live.load()),
        "no rebuild when nothing changed"
    );

    env.sim.with_tenant(|t| t.disable_user("alice@example.com"));
    let id = sync.trigger(SyncTrigger::Manual).unwrap();
    let run = sync.wait_for(id).await.unwrap();
    assert_eq!(run.changes.users_deactivated, 1, "{:?}", run.changes);
    assert!(
        !Arc::ptr_eq(&served, &env.live.load()),
        "a change publishes a new snapshot"
    );
}
