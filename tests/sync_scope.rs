//! The sync scoping rules and the `[sync]` options end to end: the simulated tenant over
//! real HTTP, the real server (sync worker, store, LDAP listener, admin API), options set in
//! the config file or changed through `PATCH /api/v1/sync/settings`, and the effect checked
//! with real LDAP clients (`ldap3` binds, OpenLDAP's `ldapsearch`).

mod common;

use common::{dns, split, values};
use entra_ldap::app::App;
use entra_ldap::auth::Principal;
use entra_ldap::config::Config;
use entra_ldap::model::{BinderRecord, SyncOutcome, SyncRun};
use entra_ldap::simulator::{self, SimDomain, SimUser, SimulatorHandle, Tenant};
use entra_ldap::sync::settings::SyncOptions;
use ldap3::LdapConnAsync;
use serde_json::{Value, json};
use std::net::SocketAddr;

const PASSWORD: &str = "scope-test-password";
const BINDER: &str = "reader";
const BINDER_SECRET: &str = "reader-secret-123";

/// The simulator, the data directory and the server running on it (restartable).
struct Server {
    sim: SimulatorHandle,
    config: Config,
    app: Option<App>,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The demo tenant plus `ulla@eu.example.com` on the verified subdomain eu.example.com.
fn tenant() -> Tenant {
    let mut t = simulator::demo_tenant();
    t.domains
        .push(SimDomain::verified("eu.example.com", false, false));
    t.users.push(SimUser {
        id: "0000000a-0000-4000-8000-0000000000aa".into(),
        user_principal_name: "ulla@eu.example.com".into(),
        display_name: Some("Ulla Ulm".into()),
        mail: Some("ulla@eu.example.com".into()),
        mail_nickname: Some("ulla".into()),
        account_enabled: true,
        user_type: "Member".into(),
        created_date_time: "2024-05-01T00:00:00Z".into(),
        ..SimUser::default()
    });
    t
}

/// Starts the server with these `[sync]` options (no schedule unless they set one) and
/// waits for its first sync; every synced user gets [`PASSWORD`].
async fn start(sync: Value) -> Server {
    let sim = simulator::start(tenant(), any_port()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo(dir.path().to_path_buf(), sim.url.clone());
    config.ldap.listen = Some(any_port());
    config.ldap.ldaps_listen = Some(any_port());
    config.admin.listen = any_port();
    config.auth.argon2_memory_kib = 1024;
    config.auth.argon2_iterations = 1;
    let Value::Object(map) = sync else {
        panic!("sync options must be an object")
    };
    config.sync = SyncOptions::from_map(&map).unwrap();
    let mut server = Server {
        sim,
        config,
        app: None,
        base: String::new(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        _dir: dir,
    };
    server.boot().await;
    server.set_credentials().await;
    server
}

impl Server {
    fn app(&self) -> &App {
        self.app.as_ref().expect("server running")
    }

    /// Starts the server on the data directory and waits for the start-up run.
    async fn boot(&mut self) {
        let app = App::start(self.config.clone()).await.unwrap();
        let first = app.services.sync.wait_first_run().await.unwrap();
        assert_eq!(first.outcome, SyncOutcome::Succeeded, "{:?}", first.error);
        self.base = app.services.live.load().base_dn().to_string();
        self.app = Some(app);
    }

    /// Stops the server and starts it again on the same data directory.
    async fn restart(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        self.boot().await;
    }

    async fn set_credentials(&self) {
        let services = &self.app().services;
        for user in services.store.load_directory().unwrap().users {
            services
                .credentials
                .seed_password(&Principal::User(user.entra.id), PASSWORD)
                .await
                .unwrap();
        }
        let binder = BinderRecord {
            name: BINDER.into(),
            description: None,
            scope: Vec::new(),
            created: 0,
        };
        let phc = services.credentials.hash(BINDER_SECRET).await.unwrap();
        services.store.add_binder(&binder, &phc).unwrap();
        services.republish().unwrap();
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://{}{}", self.app().admin_addr, path);
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.config.admin.token.expose());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.api(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn patch(&self, body: Value) -> (u16, Value) {
        self.api(reqwest::Method::PATCH, "/api/v1/sync/settings", Some(body))
            .await
    }

    /// PATCHes the settings, expects success and waits for the run that applies them.
    async fn change(&self, body: Value) -> SyncRun {
        let (status, answer) = self.patch(body).await;
        assert_eq!(status, 200, "{answer}");
        let id = answer["run_id"].as_u64().expect("a run applies the change");
        self.wait(id).await
    }

    /// Runs a manual sync through the API and waits for it.
    async fn sync_now(&self) -> SyncRun {
        let (status, answer) = self.api(reqwest::Method::POST, "/api/v1/sync", None).await;
        assert_eq!(status, 202, "{answer}");
        self.wait(answer["run_id"].as_u64().unwrap()).await
    }

    async fn wait(&self, id: u64) -> SyncRun {
        let run = self.app().services.sync.wait_for(id).await.unwrap();
        assert_eq!(run.outcome, SyncOutcome::Succeeded, "{:?}", run.error);
        run
    }

    /// The LDAP result code of a simple bind as `uid` (0 success, 49 invalid credentials).
    async fn bind(&self, uid: &str) -> u32 {
        let url = format!("ldap://127.0.0.1:{}", self.app().ldap_addr.unwrap().port());
        let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
        ldap3::drive!(conn);
        let dn = format!("uid={uid},ou=people,{}", self.base);
        let rc = ldap.simple_bind(&dn, PASSWORD).await.unwrap().rc;
        let _ = ldap.unbind().await;
        rc
    }

    /// `ldapsearch` as the service account: the LDIF it prints.
    async fn ldapsearch(&self, filter: &str, attrs: &[&str]) -> String {
        let url = format!("ldap://127.0.0.1:{}", self.app().ldap_addr.unwrap().port());
        let binder = format!("cn={BINDER},{}", self.base);
        let mut args = vec![
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &url,
            "-D",
            &binder,
            "-w",
            BINDER_SECRET,
            "-b",
            &self.base,
            filter,
        ];
        args.extend_from_slice(attrs);
        let output = tokio::process::Command::new("ldapsearch")
            .args(&args)
            .env("LDAPCONF", "/dev/null")
            .env("LDAPRC", "/dev/null")
            .kill_on_drop(true)
            .output()
            .await
            .expect("ldapsearch (scripts/install-test-deps installs it)");
        let (code, out, err) = split(output);
        assert_eq!(code, 0, "ldapsearch {filter}: {err}");
        out
    }

    /// The user as `GET /api/v1/users?q=` shows it.
    async fn user(&self, uid: &str) -> Value {
        let list = self.get(&format!("/api/v1/users?q={uid}")).await;
        list["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["uid"] == uid)
            .unwrap_or_else(|| panic!("{uid} not listed: {list}"))
            .clone()
    }

    async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        self.sim.stop();
    }
}

fn group_dn(server: &Server, cn: &str) -> String {
    format!("cn={cn},ou=groups,{}", server.base).to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_removed_from_the_allowed_group_cannot_bind_after_the_next_sync() {
    let server = start(json!({
        "interval": 0, "groups_without_email": true, "allowed_groups": ["VPN Users"]
    }))
    .await;
    // alice and bob are direct members, erin is in Platform, which is nested in VPN Users.
    assert_eq!(server.bind("alice").await, 0);
    assert_eq!(server.bind("erin").await, 0, "transitive member");
    assert_eq!(server.bind("frank.foster").await, 49, "not in VPN Users");
    let frank = server.user("frank.foster").await;
    assert_eq!(frank["status"], "inactive");
    assert_eq!(frank["reason"], "not_in_allowed_group");

    server.sim.with_tenant(|t| {
        let alice = t.user_mut("alice@example.com").unwrap().id.clone();
        assert!(t.remove_member("VPN Users", &alice));
    });
    let run = server.sync_now().await;
    assert_eq!(run.changes.users_deactivated, 1, "{:?}", run.changes);
    assert_eq!(server.bind("alice").await, 49);
    let alice = server.user("alice").await;
    assert_eq!(alice["reason"], "not_in_allowed_group");
    assert!(dns(&server.ldapsearch("(uid=alice)", &["1.1"]).await).is_empty());
    assert_eq!(server.bind("bob").await, 0, "still a member");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_group_member_cannot_bind_and_is_hidden() {
    let server = start(json!({"interval": 0, "denied_groups": ["platform"]})).await;
    assert_eq!(server.bind("erin").await, 49);
    assert_eq!(server.bind("alice").await, 0);
    assert_eq!(server.user("erin").await["reason"], "in_denied_group");
    assert!(dns(&server.ldapsearch("(uid=erin)", &["1.1"]).await).is_empty());
    // A disabled user keeps the stronger reason.
    let carol = server.user("carol").await;
    assert_eq!(carol["reason"], "disabled_in_entra");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patching_groups_without_email_brings_the_security_group_into_ldap() {
    let server = start(json!({"interval": 0})).await;
    let vpn = group_dn(&server, "VPN Users");
    let before = server.ldapsearch("(objectClass=posixGroup)", &["cn"]).await;
    assert!(
        !dns(&before).contains(&vpn),
        "mail-less group hidden: {before}"
    );
    assert!(dns(&before).contains(&group_dn(&server, "Engineering")));

    let run = server.change(json!({"groups_without_email": true})).await;
    assert_eq!(run.trigger, entra_ldap::model::SyncTrigger::SettingsChanged);
    assert_eq!(run.changes.groups_added, 2, "VPN Users and Platform");
    let after = server
        .ldapsearch("(cn=VPN Users)", &["memberUid", "member"])
        .await;
    assert_eq!(dns(&after), [vpn]);
    assert!(values(&after, "memberUid").contains(&"alice".to_string()));
    let settings = server.get("/api/v1/sync/settings").await;
    let option = &settings["options"]["groups_without_email"];
    assert_eq!(option["value"], true);
    assert_eq!(option["source"], "admin");
    assert_eq!(option["editable"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_prefixes_keep_only_matching_groups_with_nested_members_flattened() {
    let server = start(json!({"interval": 0, "groups_without_email": true})).await;
    server.change(json!({"group_prefixes": ["vpn"]})).await;
    let groups = server
        .ldapsearch("(objectClass=posixGroup)", &["memberUid"])
        .await;
    assert_eq!(dns(&groups), [group_dn(&server, "VPN Users")], "{groups}");
    // Platform is not imported: its members erin and heidi are VPN Users members directly.
    let members = values(&groups, "memberUid");
    for uid in ["alice", "bob", "erin", "heidi"] {
        assert!(members.contains(&uid.to_string()), "{uid} in {members:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_selected_subdomains_are_in_scope() {
    let server = start(json!({"interval": 0})).await;
    assert_eq!(server.bind("ulla").await, 49, "eu.example.com not selected");
    assert_eq!(
        server.user("ulla").await["reason"],
        "outside_selected_domains"
    );

    server
        .change(json!({"subdomains": ["eu.example.com"]}))
        .await;
    assert_eq!(server.bind("ulla").await, 0);
    assert_eq!(server.user("ulla").await["status"], "active");

    // Back to the default domain only, then every subdomain of it.
    server.change(json!({"subdomains": null})).await;
    assert_eq!(server.bind("ulla").await, 49);
    server.change(json!({"all_subdomains": true})).await;
    assert_eq!(server.bind("ulla").await, 0);

    // The domain list is re-read by every run: a subdomain verified later is picked up.
    server.sim.with_tenant(|t| {
        t.add_domain(SimDomain::verified("us.example.com", false, false));
        t.add_user(SimUser {
            id: "0000000a-0000-4000-8000-0000000000bb".into(),
            user_principal_name: "uwe@us.example.com".into(),
            account_enabled: true,
            user_type: "Member".into(),
            created_date_time: "2024-05-02T00:00:00Z".into(),
            ..SimUser::default()
        });
    });
    let run = server.sync_now().await;
    assert_eq!(run.changes.users_added, 1, "{:?}", run.changes);
    assert_eq!(server.user("uwe").await["status"], "active");
    server.change(json!({"all_subdomains": false})).await;
    assert_eq!(
        server.user("uwe").await["reason"],
        "outside_selected_domains"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_managed_option_is_refused_and_nothing_changes() {
    let server = start(json!({"interval": 0, "groups_without_email": true})).await;
    let settings_before = server.get("/api/v1/sync/settings").await;
    let runs_before = server.get("/api/v1/sync/runs").await;
    let (status, body) = server
        .patch(json!({"denied_groups": ["VPN Users"], "groups_without_email": false}))
        .await;
    assert_eq!(status, 403, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("groups_without_email"), "{error}");
    assert!(error.contains("config file"), "{error}");
    assert_eq!(server.get("/api/v1/sync/settings").await, settings_before);
    assert_eq!(server.get("/api/v1/sync/runs").await, runs_before, "no run");
    let option = &settings_before["options"]["groups_without_email"];
    assert_eq!(
        (option["source"].clone(), option["editable"].clone()),
        (json!("file"), json!(false))
    );
    assert_eq!(server.bind("alice").await, 0, "denied_groups not applied");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_patch_bodies_get_a_4xx_and_change_nothing() {
    let server = start(json!({"interval": 0})).await;
    let settings_before = server.get("/api/v1/sync/settings").await;
    let runs_before = server.get("/api/v1/sync/runs").await;
    for (body, names) in [
        (json!({"group_prefix": ["x"]}), "group_prefix"),
        (json!({"groups": "yes"}), "groups"),
        (json!({"allowed_groups": "VPN Users"}), "allowed_groups"),
        (json!({"group_prefixes": ["ok", ""]}), "group_prefixes[1]"),
        (json!({"interval": 3}), "interval"),
        (json!({"inactive_users": "sometimes"}), "inactive_users"),
        (
            json!({"deletion_threshold": {"percent": 500}}),
            "deletion_threshold",
        ),
        (json!({}), "option"),
        (json!(["users"]), ""),
    ] {
        let (status, answer) = server.patch(body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(names), "{body}: {error}");
    }
    assert_eq!(server.get("/api/v1/sync/settings").await, settings_before);
    assert_eq!(server.get("/api/v1/sync/runs").await, runs_before, "no run");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_options_persist_across_a_restart() {
    let mut server = start(json!({"interval": 0})).await;
    server
        .change(json!({"denied_groups": ["Platform"], "inactive_users": "show"}))
        .await;
    assert_eq!(server.bind("erin").await, 49);
    server.restart().await;
    let settings = server.get("/api/v1/sync/settings").await;
    let denied = &settings["options"]["denied_groups"];
    assert_eq!(denied["value"], json!(["Platform"]));
    assert_eq!(denied["source"], "admin");
    assert_eq!(settings["options"]["inactive_users"]["value"], "show");
    // The start-up run after the restart applied them again.
    assert_eq!(server.bind("erin").await, 49);
    assert_eq!(server.user("erin").await["reason"], "in_denied_group");
    let shown = server.ldapsearch("(uid=erin)", &["1.1"]).await;
    assert_eq!(dns(&shown).len(), 1, "inactive users shown: {shown}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_users_show_serves_them_but_they_still_cannot_bind() {
    let server = start(json!({"interval": 0})).await;
    assert!(dns(&server.ldapsearch("(uid=carol)", &["1.1"]).await).is_empty());
    let (status, answer) = server.patch(json!({"inactive_users": "show"})).await;
    assert_eq!(status, 200, "{answer}");
    // Visibility is applied at once, without waiting for the run.
    assert_eq!(
        dns(&server.ldapsearch("(uid=carol)", &["1.1"]).await).len(),
        1
    );
    server.wait(answer["run_id"].as_u64().unwrap()).await;
    assert_eq!(server.bind("carol").await, 49);
    server.change(json!({"inactive_users": "hide"})).await;
    assert!(dns(&server.ldapsearch("(uid=carol)", &["1.1"]).await).is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_sync_off_leaves_stored_users_exactly_as_they_are() {
    let server = start(json!({"interval": 0})).await;
    server.change(json!({"users": false})).await;
    server
        .sim
        .with_tenant(|t| t.disable_user("alice@example.com"));
    let run = server.sync_now().await;
    assert_eq!(run.changes.users_deactivated, 0, "{:?}", run.changes);
    assert_eq!(
        server.bind("alice").await,
        0,
        "not updated while user sync is off"
    );
    server.change(json!({"users": true})).await;
    assert_eq!(server.bind("alice").await, 49);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_group_that_matches_nothing_is_a_warning_on_the_status() {
    let server = start(json!({"interval": 0})).await;
    let run = server
        .change(json!({"allowed_groups": ["VPN Userz"]}))
        .await;
    let warnings = run.warnings.join("\n");
    assert!(
        warnings.contains("`VPN Userz` matches no group"),
        "{warnings}"
    );
    let settings = server.get("/api/v1/sync/settings").await;
    assert!(
        settings["warnings"].to_string().contains("VPN Userz"),
        "{settings}"
    );
    let status = server.get("/api/v1/status").await;
    assert!(
        status["last_run"]["warnings"]
            .to_string()
            .contains("VPN Userz")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_list_filters_by_status_and_text() {
    let server = start(json!({"interval": 0})).await;
    let inactive = server.get("/api/v1/users?status=inactive").await;
    let uids: Vec<&str> = inactive["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["uid"].as_str().unwrap())
        .collect();
    assert!(
        uids.contains(&"carol") && !uids.contains(&"alice"),
        "{uids:?}"
    );
    let limited = server.get("/api/v1/users?limit=2").await;
    assert_eq!(limited["users"].as_array().unwrap().len(), 2);
    assert_eq!(limited["truncated"], true);
    let found = server.get("/api/v1/users?q=ANDERSON").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["users"][0]["uid"], "alice");
    assert!(found["users"][0]["uid_number"].is_u64());
    let (status, _) = server
        .api(reqwest::Method::GET, "/api/v1/users?status=gone", None)
        .await;
    assert_eq!(status, 400);
    server.stop().await;
}

/// Polls the run history until a finished run with `trigger` newer than `after` shows up.
async fn wait_for_trigger(server: &Server, trigger: &str, after: u64, within_secs: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(within_secs);
    loop {
        let runs = server.get("/api/v1/sync/runs").await;
        if let Some(run) = runs["runs"].as_array().unwrap().iter().find(|r| {
            r["trigger"] == trigger
                && r["id"].as_u64().unwrap() > after
                && r["outcome"] != "running"
        }) {
            return run.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {trigger} run after {after}: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_a_run_is_applied_by_a_run_that_follows_it() {
    let server = start(json!({"interval": 0})).await;
    // Slow the next run down: two throttled answers with Retry-After 1.
    server.sim.inject_faults(
        simulator::Fault::Throttle {
            retry_after_secs: 1,
        },
        2,
    );
    let (status, started) = server
        .api(reqwest::Method::POST, "/api/v1/sync", None)
        .await;
    assert_eq!(status, 202);
    let running = started["run_id"].as_u64().unwrap();
    let (status, answer) = server.patch(json!({"denied_groups": ["Platform"]})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["run_id"].as_u64(), Some(running), "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("already running")
    );
    server.wait(running).await;
    let follow = wait_for_trigger(&server, "settings_changed", running, 20).await;
    assert_eq!(follow["outcome"], "succeeded", "{follow}");
    assert_eq!(
        server.bind("erin").await,
        49,
        "the follow-up run applied it"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_follows_the_interval_set_at_run_time() {
    // No interval in the file: the default (60 s) applies until an admin changes it.
    let server = start(json!({})).await;
    let run = server.change(json!({"interval": 10})).await;
    let scheduled = wait_for_trigger(&server, "schedule", run.id, 25).await;
    assert_eq!(scheduled["outcome"], "succeeded", "{scheduled}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_shows_the_effective_sync_options() {
    let server = start(json!({"interval": 0, "groups_without_email": true})).await;
    server.change(json!({"denied_groups": ["Platform"]})).await;
    let status = server.get("/api/v1/status").await;
    let sync = &status["sync_settings"];
    assert_eq!(sync["groups_without_email"], true);
    assert_eq!(sync["denied_groups"], json!(["Platform"]));
    assert_eq!(sync["interval_secs"], 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_only_changes_visibility_still_republishes() {
    let server = start(json!({"interval": 0})).await;
    // Changed behind the API's back: only the worker can make it visible.
    let Value::Object(patch) = json!({"inactive_users": "show"}) else {
        unreachable!()
    };
    server
        .app()
        .services
        .sync
        .settings()
        .update(&patch)
        .unwrap();
    assert!(dns(&server.ldapsearch("(uid=carol)", &["1.1"]).await).is_empty());
    let run = server.sync_now().await;
    assert!(run.changes.is_empty(), "{:?}", run.changes);
    assert_eq!(
        dns(&server.ldapsearch("(uid=carol)", &["1.1"]).await).len(),
        1
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_and_changes_sync_options() {
    let server = start(json!({"interval": 0})).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n[entra]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"unused\"\n[admin]\nlisten = \"{admin}\"\ntoken = \"{token}\"\n",
            data = dir.path().join("data").display(),
            admin = server.app().admin_addr,
            token = server.config.admin.token.expose(),
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"));
        command
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        async move { split(command.output().await.unwrap()) }
    };
    let (code, out, err) = cli(&["sync", "set", "denied_groups", r#"["Platform"]"#]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("denied_groups = [\"Platform\"]\t[admin]"),
        "{out}"
    );
    let (code, out, err) = cli(&["sync", "settings"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("interval = 0\t[file] (read-only)"), "{out}");
    let (code, _, err) = cli(&["sync", "set", "interval", "120"]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("interval") && err.contains("config file"),
        "{err}"
    );
    let (code, _, err) = cli(&["sync", "set", "users", "perhaps"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("users"), "{err}");
    // The change took effect through the run the CLI's PATCH started.
    let runs = server.get("/api/v1/sync/runs").await;
    let id = runs["runs"][0]["id"].as_u64().unwrap();
    server.wait(id).await;
    assert_eq!(server.user("erin").await["reason"], "in_denied_group");
    server.stop().await;
}
