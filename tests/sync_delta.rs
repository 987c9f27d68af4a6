//! Delta sync end to end: the whole server (real sync over real HTTP from the simulated
//! tenant, real store, real LDAP listener) with the simulator kept in hand, so tests can
//! change the tenant between runs and check what LDAP clients then see.

mod common;

use entra_ldap::app::App;
use entra_ldap::auth::Principal;
use entra_ldap::config::Config;
use entra_ldap::model::{MemberRef, SyncMode, SyncOutcome, SyncRun, SyncTrigger};
use entra_ldap::simulator::{
    self, DeltaExpiry, Fault, MemberKind, SimMember, SimUser, SimulatorHandle, Tenant,
};
use ldap3::{LdapConnAsync, Scope, SearchEntry};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The server binary's allocator, so the benchmark's RSS figures match `entra-ldap serve`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const PASSWORD: &str = "delta-test-password";
/// A delta run of the demo tenant: one users page, one groups page, `/domains`.
const DELTA_REQUESTS: u64 = 3;
/// A full run of the demo tenant (page size 3): users 3 pages, groups 1, domains 1.
const FULL_REQUESTS: u64 = 5;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The server plus the simulator it syncs from.
struct Stack {
    sim: Arc<SimulatorHandle>,
    app: App,
    base: String,
}

/// Starts a simulator serving `tenant`, then the server on `dir`.
async fn start(tenant: Tenant, dir: &Path) -> Stack {
    let sim = simulator::start(tenant, any_port()).await.unwrap();
    start_on(Arc::new(sim), dir).await
}

/// Starts the server on `dir` against a running simulator; waits for the start-up run and
/// gives every user [`PASSWORD`].
async fn start_on(sim: Arc<SimulatorHandle>, dir: &Path) -> Stack {
    start_configured(sim, dir, |_| {}).await
}

/// [`start_on`], with `tweak` applied to the configuration (e.g. other `[sync]` options).
async fn start_configured(
    sim: Arc<SimulatorHandle>,
    dir: &Path,
    tweak: impl FnOnce(&mut Config),
) -> Stack {
    let mut config = Config::demo(dir.to_path_buf(), sim.url.clone());
    config.ldap.listen = Some(any_port());
    config.ldap.ldaps_listen = None;
    config.admin.listen = any_port();
    config.entra.sync_interval_secs = 0;
    // The demo tenant's VPN Users and Platform are mail-less security groups.
    config.sync.groups_without_email = Some(true);
    config.auth.argon2_memory_kib = 1024;
    config.auth.argon2_iterations = 1;
    tweak(&mut config);
    let app = App::start(config).await.unwrap();
    let first = app.services.sync.wait_first_run().await.unwrap();
    assert_eq!(first.outcome, SyncOutcome::Succeeded, "{:?}", first.error);
    let base = app.services.live.load().base_dn().to_string();
    let stack = Stack { sim, app, base };
    stack.set_passwords().await;
    stack
}

impl Stack {
    async fn set_passwords(&self) {
        let data = self.app.services.store.load_directory().unwrap();
        for user in data.users {
            self.app
                .services
                .credentials
                .seed_password(&Principal::User(user.entra.id), PASSWORD)
                .await
                .unwrap();
        }
    }

    /// Triggers a manual run and waits for it.
    async fn run(&self) -> SyncRun {
        let id = self.app.services.sync.trigger(SyncTrigger::Manual).unwrap();
        self.app.services.sync.wait_for(id).await.unwrap()
    }

    /// A run that must succeed as a cheap delta run.
    async fn delta_run(&self) -> SyncRun {
        let run = self.run().await;
        assert_eq!(run.outcome, SyncOutcome::Succeeded, "{:?}", run.error);
        assert_eq!(run.mode, Some(SyncMode::Delta));
        assert_eq!(run.graph_requests, DELTA_REQUESTS, "few requests");
        run
    }

    fn ldap_url(&self) -> String {
        format!("ldap://{}", self.app.ldap_addr.unwrap())
    }

    /// The LDAP result code of a simple bind as `uid` with [`PASSWORD`] (0: success).
    async fn bind(&self, uid: &str) -> u32 {
        let (conn, mut ldap) = LdapConnAsync::new(&self.ldap_url()).await.unwrap();
        ldap3::drive!(conn);
        let dn = format!("uid={uid},ou=people,{}", self.base);
        ldap.simple_bind(&dn, PASSWORD).await.unwrap().rc
    }

    /// Entries matching `filter` (bound as alice, who stays active throughout), as
    /// (DN, attributes).
    async fn search(&self, filter: &str) -> Vec<SearchEntry> {
        let (conn, mut ldap) = LdapConnAsync::new(&self.ldap_url()).await.unwrap();
        ldap3::drive!(conn);
        let dn = format!("uid=alice,ou=people,{}", self.base);
        ldap.simple_bind(&dn, PASSWORD)
            .await
            .unwrap()
            .success()
            .unwrap();
        let (entries, _) = ldap
            .search(&self.base, Scope::Subtree, filter, vec!["*"])
            .await
            .unwrap()
            .success()
            .unwrap();
        entries.into_iter().map(SearchEntry::construct).collect()
    }

    /// `memberUid` values of the group with this object id.
    async fn member_uids(&self, group_id: &str) -> Vec<String> {
        let found = self
            .search(&format!(
                "(&(objectClass=posixGroup)(entryUUID={group_id}))"
            ))
            .await;
        assert_eq!(found.len(), 1, "group {group_id}");
        let mut uids = found[0].attrs.get("memberUid").cloned().unwrap_or_default();
        uids.sort();
        uids
    }

    fn group_id(&self, name: &str) -> String {
        self.sim
            .with_tenant(|t| t.group_mut(name).unwrap().id.clone())
    }

    fn links(&self) -> entra_ldap::store::DeltaState {
        self.app.services.store.load_mirror().unwrap().state
    }
}

fn new_user(upn: &str) -> SimUser {
    let local = upn.split('@').next().unwrap().to_string();
    SimUser {
        // Kind 4 is unused by the shipped tenants: no collision with their ids.
        id: simulator::demo::object_id(
            4,
            upn.bytes()
                .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b))),
        ),
        user_principal_name: upn.to_string(),
        display_name: Some(local.clone()),
        mail: Some(upn.to_string()),
        mail_nickname: Some(local),
        account_enabled: true,
        user_type: "Member".to_string(),
        created_date_time: "2025-01-01T00:00:00Z".to_string(),
        ..SimUser::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_after_a_full_run_arrive_by_cheap_delta_runs_and_reach_ldap() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(simulator::demo_tenant(), dir.path()).await;
    let first = s.app.services.store.list_runs(1).unwrap().remove(0);
    assert_eq!(first.mode, Some(SyncMode::Full));
    assert_eq!(first.graph_requests, FULL_REQUESTS);
    assert!(s.links().users_link.is_some() && s.links().groups_link.is_some());
    assert_eq!(s.bind("bob").await, 0);

    // Nothing changed: still a delta run; only the new links and the run are written.
    let links = s.links();
    let data = s.app.services.store.load_directory().unwrap();
    let served = s.app.services.live.load();
    let run = s.delta_run().await;
    assert!(run.changes.is_empty(), "{:?}", run.changes);
    assert_ne!(s.links(), links, "links advanced");
    assert_eq!(s.app.services.store.load_directory().unwrap(), data);
    assert!(Arc::ptr_eq(&served, &s.app.services.live.load()));
    let stored = s.app.services.store.get_run(run.id).unwrap().unwrap();
    assert_eq!(stored, run, "the run is recorded as it ended");

    // Disable a user: the next delta run stops their binds. Delta runs publish by patching
    // the served snapshot (not a full build); the LDAP answers below come from the patch.
    let patches = s.app.services.live.patches();
    assert!(s.sim.with_tenant(|t| t.disable_user("bob@example.com")));
    let run = s.delta_run().await;
    assert_eq!(run.changes.users_deactivated, 1, "{:?}", run.changes);
    assert_eq!(s.app.services.live.patches(), patches + 1);
    assert_eq!(s.bind("bob").await, 49);
    assert_eq!(s.bind("alice").await, 0);

    // Remove a member from a group, add another.
    let engineering = s.group_id("Engineering");
    assert_eq!(s.member_uids(&engineering).await, ["alice", "frank.foster"]);
    let heidi = s
        .sim
        .with_tenant(|t| t.user_mut("heidi@example.com").unwrap().id.clone());
    s.sim.with_tenant(|t| {
        assert!(!t.remove_member("Engineering", "not-a-member"));
        let frank = t.user_mut("frank.foster@example.com").unwrap().id.clone();
        assert!(t.remove_member("Engineering", &frank));
        assert!(t.add_member(
            "Engineering",
            SimMember {
                kind: MemberKind::User,
                id: heidi.clone(),
            }
        ));
    });
    let run = s.delta_run().await;
    assert_eq!(run.changes.groups_changed, 1, "{:?}", run.changes);
    assert_eq!(s.app.services.live.patches(), patches + 2);
    assert_eq!(s.member_uids(&engineering).await, ["alice", "heidi"]);

    // Add a user: it appears, and can bind once it has a password.
    s.sim
        .with_tenant(|t| t.add_user(new_user("zoe@example.com")));
    let run = s.delta_run().await;
    assert_eq!(run.changes.users_added, 1, "{:?}", run.changes);
    assert_eq!(s.app.services.live.patches(), patches + 3);
    assert_eq!(s.search("(uid=zoe)").await.len(), 1);
    s.set_passwords().await;
    assert_eq!(s.bind("zoe").await, 0);

    // Soft delete (restorable, @removed "changed") and hard delete (@removed "deleted"):
    // both users become inactive (deleted), cannot bind and are no longer served.
    assert_eq!(s.bind("erin").await, 0);
    assert_eq!(s.bind("heidi").await, 0);
    s.sim.with_tenant(|t| {
        assert!(t.remove_user("erin@example.com"));
        assert!(t.hard_delete_user("heidi@example.com"));
    });
    let run = s.delta_run().await;
    assert_eq!(run.changes.users_deactivated, 2, "{:?}", run.changes);
    for uid in ["erin", "heidi"] {
        assert_eq!(s.bind(uid).await, 49, "{uid}");
        assert!(s.search(&format!("(uid={uid})")).await.is_empty(), "{uid}");
    }
    let mirror = s.app.services.store.load_mirror().unwrap().tenant;
    assert!(
        !mirror.users.iter().any(|u| u.id == heidi),
        "left the mirror"
    );
    assert_eq!(
        s.member_uids(&engineering).await,
        ["alice"],
        "membership gone"
    );

    // Restoring the soft-deleted user brings it back, binding and in its group again.
    let platform = s.group_id("Platform");
    let erin = "erin".to_string();
    assert!(!s.member_uids(&platform).await.contains(&erin));
    assert!(s.sim.with_tenant(|t| t.restore_user("erin@example.com")));
    let run = s.delta_run().await;
    assert_eq!(run.changes.users_changed, 1, "{:?}", run.changes);
    assert_eq!(s.bind("erin").await, 0);
    assert!(s.member_uids(&platform).await.contains(&erin));

    // Rename a group: the stored group follows (its cn stays stable by design).
    assert!(
        s.sim
            .with_tenant(|t| t.rename_group("Platform", "Platform Team"))
    );
    let run = s.delta_run().await;
    assert_eq!(run.changes.groups_changed, 1, "{:?}", run.changes);
    let data = s.app.services.store.load_directory().unwrap();
    let group = data.groups.iter().find(|g| g.entra.id == platform).unwrap();
    assert_eq!(group.entra.display_name, "Platform Team");
    s.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_unreadable_delta_link_falls_back_to_a_full_round() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(simulator::demo_tenant(), dir.path()).await;
    for (shape, user) in [
        (DeltaExpiry::SyncStateNotFound, "bob"),
        (DeltaExpiry::Gone, "alice"),
        // Found by hand: a server kept its data dir while the tenant behind the same URL
        // restarted; every run failed on "Invalid syntax for skip token." until this.
        (DeltaExpiry::Unreadable, "erin"),
    ] {
        s.sim.expire_delta_tokens(shape);
        assert!(
            s.sim
                .with_tenant(|t| t.disable_user(&format!("{user}@example.com")))
        );
        let run = s.run().await;
        assert_eq!(
            run.outcome,
            SyncOutcome::Succeeded,
            "{shape:?}: {:?}",
            run.error
        );
        assert_eq!(run.mode, Some(SyncMode::Full), "{shape:?}");
        // The refused delta request, then the whole tenant.
        assert_eq!(run.graph_requests, 1 + FULL_REQUESTS, "{shape:?}");
        assert_eq!(run.changes.users_deactivated, 1, "{shape:?}");
        assert_eq!(s.bind(user).await, 49);
        // The new links work: the next run is a delta run again.
        s.delta_run().await;
    }
    s.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_members_span_pages_is_merged() {
    let mut tenant = simulator::demo_tenant();
    tenant.member_slice = 1;
    let dir = tempfile::tempdir().unwrap();
    let s = start(tenant, dir.path()).await;
    // 8 users → 3 pages; groups: 3 + 3 + 4 member entries, one per appearance → 10
    // appearances → 4 pages; domains 1.
    let first = s.app.services.store.list_runs(1).unwrap().remove(0);
    assert_eq!(first.graph_requests, 3 + 4 + 1);
    let vpn = s.group_id("VPN Users");
    let stored = s.app.services.store.load_directory().unwrap();
    let group = stored.groups.iter().find(|g| g.entra.id == vpn).unwrap();
    let expected: Vec<MemberRef> = s.sim.with_tenant(|t| {
        let mut m: Vec<MemberRef> = t
            .group_mut("VPN Users")
            .unwrap()
            .members
            .iter()
            .filter_map(|m| match m.kind {
                MemberKind::User => Some(MemberRef::User(m.id.clone())),
                MemberKind::Group => Some(MemberRef::Group(m.id.clone())),
                _ => None,
            })
            .collect();
        m.sort();
        m
    });
    assert_eq!(group.entra.members, expected, "every slice merged");
    // memberUid is transitive: Platform (erin, heidi) is nested in VPN Users.
    assert_eq!(s.member_uids(&vpn).await, ["alice", "bob", "erin", "heidi"]);

    // Four member changes of one group: four appearances, over two pages of the round.
    s.sim.with_tenant(|t| {
        for upn in [
            "erin@example.com",
            "frank.foster@example.com",
            "heidi@example.com",
        ] {
            let id = t.user_mut(upn).unwrap().id.clone();
            let member = SimMember {
                kind: MemberKind::User,
                id,
            };
            assert!(t.add_member("VPN Users", member));
        }
        let alice = t.user_mut("alice@example.com").unwrap().id.clone();
        assert!(t.remove_member("VPN Users", &alice));
    });
    let run = s.run().await;
    assert_eq!(run.mode, Some(SyncMode::Delta));
    assert_eq!(
        run.graph_requests,
        1 + 2 + 1,
        "users, groups over 2 pages, domains"
    );
    assert_eq!(
        s.member_uids(&vpn).await,
        ["bob", "erin", "frank.foster", "heidi"]
    );
    let stored = s.app.services.store.load_directory().unwrap();
    let group = stored.groups.iter().find(|g| g.entra.id == vpn).unwrap();
    assert_eq!(
        group.entra.members.len(),
        5,
        "bob, erin, frank, heidi, Platform"
    );
    s.app.shutdown().await;
}

/// A delta run that fails midway (`fault` from the second request on, i.e. in the groups
/// round) leaves the served directory and the stored delta links unchanged; the next run
/// replays from the same links and succeeds.
async fn failing_delta_run_changes_nothing(fault: Fault, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let s = start(simulator::demo_tenant(), dir.path()).await;
    let links = s.links();
    let data = s.app.services.store.load_directory().unwrap();
    let served = s.app.services.live.load();
    assert!(s.sim.with_tenant(|t| t.disable_user("bob@example.com")));
    s.sim.inject_faults_after(1, fault, count);
    let run = s.run().await;
    assert_eq!(run.outcome, SyncOutcome::Failed, "{fault:?}");
    assert_eq!(run.mode, Some(SyncMode::Delta));
    assert!(
        run.error.as_deref().unwrap().contains("/v1.0/groups/delta"),
        "{:?}",
        run.error
    );
    assert_eq!(s.links(), links, "delta links unchanged");
    assert_eq!(s.app.services.store.load_directory().unwrap(), data);
    assert!(
        Arc::ptr_eq(&served, &s.app.services.live.load()),
        "served snapshot kept"
    );
    assert_eq!(s.bind("bob").await, 0, "the change has not been applied");

    let run = s.delta_run().await;
    assert_eq!(run.changes.users_deactivated, 1);
    assert_ne!(s.links(), links);
    assert_eq!(s.bind("bob").await, 49);
    s.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_body_midway_leaves_directory_and_links_unchanged() {
    failing_delta_run_changes_nothing(Fault::TruncatedBody, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_storm_beyond_the_retries_leaves_directory_and_links_unchanged() {
    failing_delta_run_changes_nothing(
        Fault::Unavailable {
            retry_after_secs: Some(0),
        },
        6,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_data_dir_continues_with_delta() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(simulator::demo_tenant(), dir.path()).await;
    let links = s.links();
    let sim = Arc::clone(&s.sim);
    s.app.shutdown().await;
    assert!(sim.with_tenant(|t| t.disable_user("bob@example.com")));

    let s = start_on(sim, dir.path()).await;
    let run = s.app.services.store.list_runs(1).unwrap().remove(0);
    assert_eq!(run.trigger, SyncTrigger::Startup);
    assert_eq!(run.mode, Some(SyncMode::Delta), "links were persisted");
    assert_eq!(run.graph_requests, DELTA_REQUESTS);
    assert_eq!(run.changes.users_deactivated, 1);
    assert_ne!(s.links(), links);
    assert_eq!(s.bind("bob").await, 49);
    s.app.shutdown().await;

    // Pointed at another Graph endpoint, the stored links are not followed: a full run.
    let other = simulator::start(simulator::demo_tenant(), any_port())
        .await
        .unwrap();
    let s = start_on(Arc::new(other), dir.path()).await;
    let run = s.app.services.store.list_runs(1).unwrap().remove(0);
    assert_eq!(run.mode, Some(SyncMode::Full));
    assert_eq!(run.graph_requests, FULL_REQUESTS);
    assert_eq!(s.bind("bob").await, 0, "that tenant's bob is enabled");
    s.app.shutdown().await;
}

/// Delta runs scope incrementally (the worker patches the tenant it scoped last time). Here
/// the changes reach what the delta did not touch: "VPN Users" is imported and lists the
/// members of its nested group "Platform", which is not imported (no `VPN` prefix) and is a
/// denied group. A full run afterwards must find nothing to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_runs_scoped_incrementally_leave_what_a_full_run_would() {
    // The demo tenant is small: keep its mirror in memory anyway, as a large one is kept.
    delta_runs_leave_what_a_full_run_would(0).await;
}

/// The same changes with the default `keep_mirror_min_objects`: this small tenant's mirror
/// stays in the store between runs, each delta run that carries changes reads it back and
/// scopes in full, and a run that carries none does not read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_runs_with_the_mirror_left_in_the_store_leave_what_a_full_run_would() {
    delta_runs_leave_what_a_full_run_would(entra_ldap::config::DEFAULT_KEEP_MIRROR_MIN_OBJECTS)
        .await;
}

async fn delta_runs_leave_what_a_full_run_would(keep_mirror_min_objects: usize) {
    use entra_ldap::model::{InactiveReason, UserStatus};
    let dir = tempfile::tempdir().unwrap();
    let sim = Arc::new(
        simulator::start(simulator::demo_tenant(), any_port())
            .await
            .unwrap(),
    );
    let s = start_configured(sim, dir.path(), |config| {
        config.sync.group_prefixes = Some(vec!["VPN".into(), "Engineering".into()]);
        config.sync.denied_groups = Some(vec!["Platform".into()]);
        config.entra.keep_mirror_min_objects = keep_mirror_min_objects;
    })
    .await;
    // A delta run that carries nothing commits only its links, mirror kept or not, and
    // reads nothing in full; like every run it ends by giving sled's memory back.
    let before = s.app.services.store.load_directory().unwrap();
    let full_reads = s.app.services.store.full_reads();
    let releases = s.app.services.store.memory_releases();
    let run = s.delta_run().await;
    assert!(run.changes.is_empty(), "{:?}", run.changes);
    assert_eq!(s.app.services.store.full_reads(), full_reads);
    assert!(s.app.services.store.memory_releases() > releases);
    assert_eq!(s.app.services.store.load_directory().unwrap(), before);
    let vpn = s.group_id("VPN Users");
    let id_of = |upn: &str| s.sim.with_tenant(|t| t.user_mut(upn).unwrap().id.clone());
    // The stored members of VPN Users and the status of the user `id`.
    let members = || {
        let data = s.app.services.store.load_directory().unwrap();
        let group = data.groups.iter().find(|g| g.entra.id == vpn).unwrap();
        group.entra.members.clone()
    };
    let status = |id: &str| {
        let data = s.app.services.store.load_directory().unwrap();
        data.users.iter().find(|u| u.entra.id == id).unwrap().status
    };
    let denied = UserStatus::Inactive(InactiveReason::InDeniedGroup);
    let (bob, heidi) = (id_of("bob@example.com"), id_of("heidi@example.com"));
    assert!(
        members().contains(&MemberRef::User(heidi.clone())),
        "through Platform"
    );
    assert_eq!(status(&heidi), denied);

    // A new user joins Platform: VPN Users (untouched by the delta) lists her, she is denied.
    s.sim
        .with_tenant(|t| t.add_user(new_user("zoe@example.com")));
    let zoe = id_of("zoe@example.com");
    let zoe_member = SimMember {
        kind: MemberKind::User,
        id: zoe.clone(),
    };
    assert!(s.sim.with_tenant(|t| t.add_member("Platform", zoe_member)));
    let run = s.delta_run().await;
    assert_eq!(run.changes.groups_changed, 1, "{:?}", run.changes);
    assert!(members().contains(&MemberRef::User(zoe.clone())));
    assert_eq!(status(&zoe), denied);

    // heidi leaves Platform: no longer in VPN Users, and active again.
    assert!(s.sim.with_tenant(|t| t.remove_member("Platform", &heidi)));
    s.delta_run().await;
    assert!(!members().contains(&MemberRef::User(heidi.clone())));
    assert_eq!(status(&heidi), UserStatus::Active);

    // Platform is deleted: its members leave VPN Users and nobody is denied any more.
    assert!(s.sim.with_tenant(|t| t.delete_group("Platform")));
    let run = s.delta_run().await;
    assert!(!members().contains(&MemberRef::User(zoe.clone())));
    assert!(
        members().contains(&MemberRef::User(bob)),
        "direct members stay"
    );
    assert_eq!(status(&zoe), UserStatus::Active);
    assert!(
        run.warnings.iter().any(|w| w.contains("Platform")),
        "{run:?}"
    );

    // A full run scopes everything again: it must find the directory as it should be.
    let data = s.app.services.store.load_directory().unwrap();
    let id = s
        .app
        .services
        .sync
        .trigger_full(SyncTrigger::Manual)
        .unwrap();
    let full = s.app.services.sync.wait_for(id).await.unwrap();
    assert_eq!(full.outcome, SyncOutcome::Succeeded, "{:?}", full.error);
    assert_eq!(full.mode, Some(SyncMode::Full));
    assert!(full.changes.is_empty(), "{:?}", full.changes);
    assert_eq!(s.app.services.store.load_directory().unwrap(), data);
    s.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_can_ask_for_a_full_run_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(simulator::demo_tenant(), dir.path()).await;
    let url = format!("http://{}/api/v1/sync", s.app.admin_addr);
    let token = s.app.services.admin_token.expose().to_string();
    let post = |body: Option<Value>| {
        let mut request = reqwest::Client::new().post(&url).bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    for (body, mode) in [
        (Some(serde_json::json!({"full": true})), SyncMode::Full),
        (None, SyncMode::Delta),
        (Some(serde_json::json!({})), SyncMode::Delta),
    ] {
        let answer: Value = post(body.clone()).await.unwrap().json().await.unwrap();
        let id = answer["run_id"].as_u64().unwrap();
        let run = s.app.services.sync.wait_for(id).await.unwrap();
        assert_eq!(run.outcome, SyncOutcome::Succeeded, "{body:?}");
        assert_eq!(run.mode, Some(mode), "{body:?}");
    }
    let refused = post(Some(serde_json::json!({"full": "yes"})))
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    s.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_asks_for_a_full_run_with_dash_dash_full() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(simulator::demo_tenant(), &dir.path().join("server")).await;
    let token = s.app.services.admin_token.expose();
    let config = common::cli_config(dir.path(), s.app.admin_addr, token);
    for (extra, mode) in [(Some("--full"), "\"full\""), (None, "\"delta\"")] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"));
        command.arg("sync").args(extra).arg("--config").arg(&config);
        let out = command.env("RUST_LOG", "warn").output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("\"mode\": {mode}")),
            "{extra:?}: {stdout}"
        );
    }
    s.app.shutdown().await;
}

// ---- the simulated delta endpoints themselves, over raw HTTP ----

async fn get(token: &str, url: &str) -> (u16, Option<String>, Value) {
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, location, resp.json().await.unwrap())
}

/// Follows a round from `url` to its deltaLink; returns every item and the deltaLink.
async fn round(token: &str, url: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut url = url.to_string();
    loop {
        let (status, _, body) = get(token, &url).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        let next = body["@odata.nextLink"].as_str();
        let delta = body["@odata.deltaLink"].as_str();
        assert!(
            next.is_some() != delta.is_some(),
            "exactly one link: {body}"
        );
        match (next, delta) {
            (Some(n), None) => url = n.to_string(),
            (None, Some(d)) => return (items, d.to_string()),
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn delta_endpoints_page_select_report_changes_and_expire() {
    let sim = simulator::start(simulator::demo_tenant(), any_port())
        .await
        .unwrap();
    let token = common::graph_token(&sim).await.0;
    let base = sim.url.as_str().trim_end_matches('/').to_string();

    let (users, users_link) = round(
        &token,
        &format!("{base}/v1.0/users/delta?$select=id,accountEnabled"),
    )
    .await;
    assert_eq!(users.len(), 8);
    assert!(
        users.iter().all(|u| u.as_object().unwrap().len() == 2),
        "$select"
    );
    assert!(users_link.contains("$deltatoken="));
    assert!(
        !users_link.contains("accountEnabled"),
        "the token carries the query"
    );

    let (groups, groups_link) = round(
        &token,
        &format!("{base}/v1.0/groups/delta?$select=displayName,members"),
    )
    .await;
    assert_eq!(groups.len(), 3);
    let vpn = groups
        .iter()
        .find(|g| g["displayName"] == "VPN Users")
        .unwrap();
    let members = vpn["members@delta"].as_array().unwrap();
    assert_eq!(members.len(), 4, "every member kind, sync filters");
    assert!(
        members.iter().all(|m| m.as_object().unwrap().len() == 2),
        "type and id only"
    );
    let (plain, _) = round(
        &token,
        &format!("{base}/v1.0/groups/delta?$select=displayName"),
    )
    .await;
    assert!(plain.iter().all(|g| g.get("members@delta").is_none()));

    // No change: an empty round with a new link.
    let (none, again) = round(&token, &users_link).await;
    assert!(none.is_empty());
    assert_ne!(again, users_link, "a new deltaLink");

    sim.with_tenant(|t| {
        assert!(t.disable_user("bob@example.com"));
        assert!(t.remove_user("erin@example.com"));
        assert!(t.hard_delete_user("dave_partner.org#EXT#@example.onmicrosoft.com"));
    });
    let (changed, _) = round(&token, &users_link).await;
    assert_eq!(changed.len(), 3);
    assert_eq!(changed[0]["accountEnabled"], false);
    assert_eq!(changed[1]["@removed"]["reason"], "changed", "soft delete");
    assert_eq!(changed[2]["@removed"]["reason"], "deleted", "hard delete");
    let (groups, _) = round(&token, &groups_link).await;
    assert_eq!(groups.len(), 1, "only Platform lost a member: {groups:?}");
    assert_eq!(
        groups[0]["members@delta"][0]["@removed"]["reason"],
        "deleted"
    );

    // "Sync from now": no data, only a link; following it brings later changes only.
    let (now, latest) = round(
        &token,
        &format!("{base}/v1.0/users/delta?$deltatoken=latest"),
    )
    .await;
    assert!(now.is_empty());
    sim.with_tenant(|t| assert!(t.disable_user("alice@example.com")));
    let (later, _) = round(&token, &latest).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["userPrincipalName"], "alice@example.com");

    sim.expire_delta_tokens(DeltaExpiry::SyncStateNotFound);
    let (status, _, body) = get(&token, &users_link).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "syncStateNotFound");
    assert_eq!(
        body["error"]["message"],
        "The sync state generation is not found. The delta token is expired and data must be synchronized again."
    );
    sim.expire_delta_tokens(DeltaExpiry::Gone);
    let (status, location, _) = get(&token, &groups_link).await;
    assert_eq!(status, 410);
    let location = location.unwrap();
    assert!(
        location.starts_with(&format!("{base}/v1.0/groups/delta?")),
        "{location}"
    );
    let (fresh, _) = round(&token, &location).await;
    assert_eq!(fresh.len(), 3, "the Location restarts the round");

    // Added latency applies to every Graph request (the benchmark's 50 ms).
    sim.set_latency(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let (status, _, _) = get(&token, &format!("{base}/v1.0/domains")).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}

// ---- benchmark (ignored; scripts/bench-sync runs it in a release build) ----

/// A number from the environment, or `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Makes `n` changes of every kind, spread over the tenant.
fn hundred_changes(t: &mut Tenant, n: usize, round: usize) {
    let users = t.users.len();
    let groups = t.groups.len();
    for i in 0..n {
        let u = (i * 997 + round * 31) % users;
        let g = (i * 89 + round * 7) % groups;
        match i % 5 {
            0 => {
                let upn = t.users[u].user_principal_name.clone();
                t.disable_user(&upn);
            }
            1 => t.add_user(new_user(&format!("bench{round}x{i}@example.com"))),
            2 => {
                let name = t.groups[g].display_name.clone();
                let id = t.users[u].id.clone();
                t.add_member(
                    &name,
                    SimMember {
                        kind: MemberKind::User,
                        id,
                    },
                );
            }
            3 => {
                let name = t.groups[g].display_name.clone();
                if let Some(m) = t.groups[g].members.first().map(|m| m.id.clone()) {
                    t.remove_member(&name, &m);
                }
            }
            _ => {
                let upn = t.users[u].user_principal_name.clone();
                t.update_user(&upn, |user| user.surname = Some(format!("Changed{round}")));
            }
        }
    }
}

/// The sync benchmark (docs/benchmarks.md, "Sync"): BENCH_USERS / BENCH_GROUPS /
/// BENCH_MEMBERS (per group) / BENCH_LATENCY_MS / BENCH_CHANGES.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench-sync in a release build"]
async fn bench_sync() {
    use entra_ldap::config::{DirectoryConfig, EntraConfig};
    use entra_ldap::directory::{DirectorySettings, LiveDirectory};
    use entra_ldap::model::DirectoryData;
    use entra_ldap::store::Store;
    use entra_ldap::sync::SyncService;
    use std::time::{Duration, Instant};

    let (users, groups, members) = (
        env_or("BENCH_USERS", 100_000),
        env_or("BENCH_GROUPS", 10_000),
        env_or("BENCH_MEMBERS", 100),
    );
    let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", 50) as u64);
    let changes = env_or("BENCH_CHANGES", 100);
    // The generated groups have no mail: by default they are not imported (only used for
    // scoping). BENCH_ALL_GROUPS=1 imports them, so the delta runs' member changes reach
    // the directory (member, memberUid, memberOf of 10,000 groups of 100).
    let all_groups = env_or("BENCH_ALL_GROUPS", 0) == 1;
    // The worker's per-phase timings ("sync phases") and the store's reopens go to stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("entra_ldap::sync=debug,entra_ldap::store=debug")
        .with_writer(std::io::stderr)
        .try_init();
    let clock = Instant::now();
    let tenant = simulator::generated_tenant_sized(users, groups, members);
    println!(
        "tenant: {users} users, {groups} groups, {} memberships, built in {:.2?}",
        users.min(members) * groups,
        clock.elapsed()
    );
    let sim = simulator::start(tenant, any_port()).await.unwrap();
    sim.set_latency(latency);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let live = Arc::new(LiveDirectory::new(
        &DirectoryData::default(),
        DirectorySettings::default(),
    ));
    let entra = EntraConfig {
        page_size: 999,
        request_timeout_secs: 60,
        ..common::entra_config(&sim, &sim.client_secret)
    };
    let rules = DirectoryConfig {
        uid_number_max: 4_000_000,
        gid_number_max: 4_000_000,
        ..common::directory_rules()
    };
    let (rss_before, _) = rss_mib();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let clock = Instant::now();
    let settings = entra_ldap::sync::settings::SettingsSource::fixed(
        &entra_ldap::sync::settings::SyncSettings {
            groups_without_email: all_groups,
            ..entra_ldap::sync::settings::SyncSettings::default()
        },
    );
    println!(
        "groups imported: {}",
        if all_groups {
            "all"
        } else {
            "with mail only (none)"
        }
    );
    let sync = SyncService::start_with_settings(
        entra,
        rules,
        store.clone(),
        live,
        settings,
        shutdown.clone(),
        None,
    );
    let full = sync.wait_first_run().await.unwrap();
    let full_time = clock.elapsed();
    assert_eq!(full.outcome, SyncOutcome::Succeeded, "{:?}", full.error);
    let minimum = users.div_ceil(999) + groups.div_ceil(999) + 1;
    let (rss_after, hwm) = rss_mib();
    println!(
        "full sync: {full_time:.2?}, {} Graph requests (minimum {minimum}), mode {:?}",
        full.graph_requests, full.mode
    );
    println!(
        "RSS: {rss_before} MiB before sync (simulated tenant included), {rss_after} MiB after, peak {hwm} MiB"
    );
    for round in 0..3 {
        sim.with_tenant(|t| hundred_changes(t, changes, round));
        let clock = Instant::now();
        let id = sync.trigger(SyncTrigger::Manual).unwrap();
        let run = sync.wait_for(id).await.unwrap();
        assert_eq!(run.outcome, SyncOutcome::Succeeded, "{:?}", run.error);
        assert_eq!(run.mode, Some(SyncMode::Delta));
        println!(
            "delta run {round}: {changes} changes, {:.2?} end to end, {} Graph requests, {:?}",
            clock.elapsed(),
            run.graph_requests,
            run.changes
        );
    }
    let clock = Instant::now();
    let id = sync.trigger(SyncTrigger::Manual).unwrap();
    let run = sync.wait_for(id).await.unwrap();
    assert_eq!(run.mode, Some(SyncMode::Delta));
    println!(
        "delta run without changes: {:.2?} end to end, {} Graph requests",
        clock.elapsed(),
        run.graph_requests
    );
    let (rss, hwm) = rss_mib();
    println!("RSS after the delta runs: {rss} MiB, peak {hwm} MiB");
    // What the worker's in-memory mirror saves each delta run (and what it costs to keep).
    let clock = Instant::now();
    let mirror = store.load_mirror().unwrap();
    println!(
        "load_mirror: {:.2?} for {} users / {} groups (the worker keeps it in memory instead)",
        clock.elapsed(),
        mirror.tenant.users.len(),
        mirror.tenant.groups.len()
    );
    shutdown.cancel();
}
