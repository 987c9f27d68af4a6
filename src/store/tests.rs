//! Store tests: allocation rules, atomicity, durability across re-open, corruption.

use super::*;
use crate::config::LoginSource;
use crate::model::{
    EntraGroup, EntraUser, InactiveReason, MemberRef, SyncOutcome, SyncTrigger, UserStatus,
};

fn rules(uid: (u32, u32), gid: (u32, u32)) -> DirectoryConfig {
    DirectoryConfig {
        login_source: LoginSource::Upn,
        uid_number_min: uid.0,
        uid_number_max: uid.1,
        gid_number_min: gid.0,
        gid_number_max: gid.1,
        home_directory: "/home/{uid}".into(),
        login_shell: "/bin/bash".into(),
        show_inactive_users: false,
    }
}

fn default_rules() -> DirectoryConfig {
    rules((1000, 1999), (5000, 5999))
}

fn user(id: &str, upn: &str) -> (EntraUser, UserStatus) {
    let u = EntraUser {
        id: id.into(),
        user_principal_name: upn.into(),
        account_enabled: true,
        ..Default::default()
    };
    (u, UserStatus::Active)
}

fn group(id: &str, name: &str, members: &[&str]) -> EntraGroup {
    EntraGroup {
        id: id.into(),
        display_name: name.into(),
        security_enabled: true,
        members: members
            .iter()
            .map(|m| MemberRef::User((*m).into()))
            .collect(),
        ..Default::default()
    }
}

fn run(id: u64) -> SyncRun {
    SyncRun {
        id,
        started: 1,
        finished: Some(2),
        outcome: SyncOutcome::Succeeded,
        ..SyncRun::starting(SyncTrigger::Manual)
    }
}

fn snapshot(users: Vec<(EntraUser, UserStatus)>, groups: Vec<EntraGroup>) -> TenantSnapshot {
    TenantSnapshot {
        users,
        groups,
        domains: vec![EntraDomain {
            id: "example.com".into(),
            is_default: true,
            is_initial: false,
            is_verified: true,
        }],
        ..TenantSnapshot::default()
    }
}

fn find_user<'a>(data: &'a DirectoryData, id: &str) -> &'a UserRecord {
    data.users.iter().find(|u| u.entra.id == id).unwrap()
}

fn find_group<'a>(data: &'a DirectoryData, id: &str) -> &'a GroupRecord {
    data.groups.iter().find(|g| g.entra.id == id).unwrap()
}

/// A new store holding one committed user, `a` (alice@x). Keep the directory alive.
fn store_with_alice() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .commit_sync(
            &snapshot(vec![user("a", "alice@x")], vec![]),
            &default_rules(),
            &run(1),
        )
        .unwrap();
    (dir, store)
}

#[test]
fn new_users_and_groups_get_names_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snap = snapshot(
        vec![
            user("b", "Bob@example.com"),
            user("a", "Alice.Smith@example.com"),
        ],
        vec![group("g1", "  Sales   Team ", &["a", "b"])],
    );
    let counts = store.commit_sync(&snap, &default_rules(), &run(1)).unwrap();
    assert_eq!(counts.users_added, 2);
    assert_eq!(counts.groups_added, 1);
    let data = store.load_directory().unwrap();
    let a = find_user(&data, "a");
    assert_eq!(
        (a.uid.as_str(), a.uid_number, a.gid_number),
        ("alice.smith", 1000, 1000)
    );
    let b = find_user(&data, "b");
    assert_eq!((b.uid.as_str(), b.uid_number), ("bob", 1001));
    let g = find_group(&data, "g1");
    assert_eq!((g.cn.as_str(), g.gid_number), ("Sales Team", 5000));
    assert_eq!(data.domains.len(), 1);
    // The run is stored with its counts in the same commit.
    assert_eq!(store.get_run(1).unwrap().unwrap().changes, counts);
}

#[test]
fn login_source_rule_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut r = default_rules();
    r.login_source = LoginSource::MailNickname;
    let (mut u, s) = user("a", "alice@example.com");
    u.mail_nickname = Some("ASmith".into());
    store
        .commit_sync(
            &snapshot(vec![(u, s), user("b", "Bob@x")], vec![]),
            &r,
            &run(1),
        )
        .unwrap();
    let data = store.load_directory().unwrap();
    assert_eq!(find_user(&data, "a").uid, "asmith");
    assert_eq!(find_user(&data, "b").uid, "bob");
}

#[test]
fn collisions_get_deterministic_suffixes_by_object_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Snapshot order is deliberately not object-id order.
    let snap = snapshot(
        vec![
            user("c", "JOHN@b.example"),
            user("a", "john@a.example"),
            user("b", "John@c.example"),
            user("r", "root@example.com"),
        ],
        vec![group("g2", "ops", &[]), group("g1", "OPS", &[])],
    );
    store.commit_sync(&snap, &default_rules(), &run(1)).unwrap();
    let data = store.load_directory().unwrap();
    assert_eq!(find_user(&data, "a").uid, "john");
    assert_eq!(find_user(&data, "b").uid, "john2");
    assert_eq!(find_user(&data, "c").uid, "john3");
    assert_eq!(
        find_user(&data, "r").uid,
        "root2",
        "system names are never shadowed"
    );
    assert_eq!(find_group(&data, "g1").cn, "OPS");
    assert_eq!(
        find_group(&data, "g2").cn,
        "ops2",
        "cn is unique case-insensitively"
    );
    // A later user with the same name never takes an existing one's name.
    let mut more = snap.clone();
    more.users.push(user("0", "john@d.example"));
    store.commit_sync(&more, &default_rules(), &run(2)).unwrap();
    let data = store.load_directory().unwrap();
    assert_eq!(find_user(&data, "a").uid, "john");
    assert_eq!(find_user(&data, "0").uid, "john4");
}

#[test]
fn allocations_are_stable_across_reopen_and_upn_changes() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = Store::open(dir.path()).unwrap();
        let snap = snapshot(
            vec![user("a", "alice@x"), user("b", "bob@x")],
            vec![group("g", "G", &[])],
        );
        store.commit_sync(&snap, &default_rules(), &run(1)).unwrap();
        store.load_directory().unwrap()
    };
    let store = Store::open(dir.path()).unwrap();
    // Alice's UPN changes and a new user arrives after the re-open.
    let snap = snapshot(
        vec![
            user("a", "alice.renamed@x"),
            user("b", "bob@x"),
            user("c", "alice@y"),
        ],
        vec![group("g", "Renamed", &[])],
    );
    let counts = store.commit_sync(&snap, &default_rules(), &run(2)).unwrap();
    assert_eq!(
        (
            counts.users_added,
            counts.users_changed,
            counts.groups_changed
        ),
        (1, 1, 1)
    );
    let after = store.load_directory().unwrap();
    let (a0, a1) = (find_user(&before, "a"), find_user(&after, "a"));
    assert_eq!(
        (a1.uid.as_str(), a1.uid_number),
        (a0.uid.as_str(), a0.uid_number)
    );
    assert!(a1.modified >= a0.modified);
    assert_eq!(
        find_user(&after, "b"),
        find_user(&before, "b"),
        "unchanged user untouched"
    );
    let c = find_user(&after, "c");
    assert_eq!(c.uid, "alice2", "alice's old name stays hers");
    assert_eq!(c.uid_number, 1002);
    let g = find_group(&after, "g");
    assert_eq!((g.cn.as_str(), g.gid_number), ("G", 5000));
}

#[test]
fn unchanged_data_keeps_modified_and_ssh_keys_survive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snap = snapshot(vec![user("a", "alice@x")], vec![]);
    store.commit_sync(&snap, &default_rules(), &run(1)).unwrap();
    // An admin-set key; `modified` forced to a marker value to see whether syncs move it.
    store
        .set_ssh_public_keys(&"a".to_string(), &["ssh-ed25519 AAAA".to_string()])
        .unwrap();
    let mut rec = store.get_user(&"a".to_string()).unwrap().unwrap();
    assert_eq!(rec.ssh_public_keys, vec!["ssh-ed25519 AAAA".to_string()]);
    rec.modified = 7;
    store
        .handles()
        .unwrap()
        .trees
        .users
        .insert("a", codec::encode(trees::USERS, &rec).unwrap())
        .unwrap();
    let counts = store.commit_sync(&snap, &default_rules(), &run(2)).unwrap();
    assert_eq!(counts, ChangeCounts::default());
    assert_eq!(
        store.get_user(&"a".to_string()).unwrap().unwrap().modified,
        7
    );
    let mut changed = snap.clone();
    changed.users[0].0.display_name = Some("Alice".into());
    store
        .commit_sync(&changed, &default_rules(), &run(3))
        .unwrap();
    let now_rec = find_user(&store.load_directory().unwrap(), "a").clone();
    assert_ne!(now_rec.modified, 7);
    assert_eq!(
        now_rec.ssh_public_keys,
        vec!["ssh-ed25519 AAAA".to_string()]
    );
}

#[test]
fn deleted_user_is_kept_inactive_and_gets_its_identity_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = default_rules();
    store
        .commit_sync(
            &snapshot(vec![user("a", "alice@x"), user("b", "bob@x")], vec![]),
            &r,
            &run(1),
        )
        .unwrap();
    let counts = store
        .commit_sync(&snapshot(vec![user("b", "bob@x")], vec![]), &r, &run(2))
        .unwrap();
    assert_eq!(counts.users_deactivated, 1);
    assert_eq!(counts.users_removed, 0);
    let data = store.load_directory().unwrap();
    let a = find_user(&data, "a");
    assert_eq!(a.status, UserStatus::Inactive(InactiveReason::Deleted));
    // A newcomer with the same name and the next number does not take alice's.
    let counts = store
        .commit_sync(
            &snapshot(vec![user("b", "bob@x"), user("c", "alice@y")], vec![]),
            &r,
            &run(3),
        )
        .unwrap();
    assert_eq!(
        counts.users_deactivated, 0,
        "already inactive: not counted again"
    );
    let data = store.load_directory().unwrap();
    assert_eq!(find_user(&data, "c").uid, "alice2");
    assert_eq!(find_user(&data, "c").uid_number, 1002);
    // Alice re-appears (disabled in Entra first, then enabled): same uid and uidNumber.
    let (au, _) = user("a", "alice@x");
    let snap = snapshot(
        vec![
            (
                au.clone(),
                UserStatus::Inactive(InactiveReason::DisabledInEntra),
            ),
            user("b", "bob@x"),
        ],
        vec![],
    );
    store.commit_sync(&snap, &r, &run(4)).unwrap();
    let snap = snapshot(vec![(au, UserStatus::Active), user("b", "bob@x")], vec![]);
    store.commit_sync(&snap, &r, &run(5)).unwrap();
    let data = store.load_directory().unwrap();
    let a = find_user(&data, "a");
    assert_eq!(
        (a.uid.as_str(), a.uid_number, a.status),
        ("alice", 1000, UserStatus::Active)
    );
}

#[test]
fn numbers_are_never_reused_and_removed_groups_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = default_rules();
    let g = |id: &str| group(id, "team", &[]);
    store
        .commit_sync(&snapshot(vec![], vec![g("g1")]), &r, &run(1))
        .unwrap();
    let counts = store
        .commit_sync(&snapshot(vec![], vec![g("g2")]), &r, &run(2))
        .unwrap();
    assert_eq!((counts.groups_added, counts.groups_removed), (1, 1));
    let data = store.load_directory().unwrap();
    assert_eq!(data.groups.len(), 1);
    let g2 = find_group(&data, "g2");
    assert_eq!((g2.cn.as_str(), g2.gid_number), ("team2", 5001));
    // g1 comes back: its old cn and gidNumber, not new ones.
    store
        .commit_sync(&snapshot(vec![], vec![g("g1"), g("g2")]), &r, &run(3))
        .unwrap();
    let data = store.load_directory().unwrap();
    let g1 = find_group(&data, "g1");
    assert_eq!((g1.cn.as_str(), g1.gid_number), ("team", 5000));
    // A brand-new group continues the counter past every number ever handed out.
    store
        .commit_sync(
            &snapshot(vec![], vec![g("g1"), g("g2"), g("g3")]),
            &r,
            &run(4),
        )
        .unwrap();
    assert_eq!(
        find_group(&store.load_directory().unwrap(), "g3").gid_number,
        5002
    );
    // Raising the minimum jumps the counter; lowering it never goes back.
    let raised = rules((1000, 1999), (5500, 5999));
    store
        .commit_sync(&snapshot(vec![], vec![g("g4")]), &raised, &run(5))
        .unwrap();
    store
        .commit_sync(&snapshot(vec![], vec![g("g5")]), &r, &run(6))
        .unwrap();
    let data = store.load_directory().unwrap();
    assert_eq!(find_group(&data, "g5").gid_number, 5501);
}

#[test]
fn a_failing_commit_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tight = rules((1000, 1002), (5000, 5999));
    store
        .commit_sync(
            &snapshot(vec![user("a", "alice@x")], vec![]),
            &tight,
            &run(1),
        )
        .unwrap();
    let before = store.load_directory().unwrap();
    // Three new users but two numbers left: the third exhausts the range midway, after
    // the first two (and a group, and the deactivation of alice) were written in the tx.
    let snap = snapshot(
        vec![user("b", "b@x"), user("c", "c@x"), user("d", "d@x")],
        vec![group("g", "G", &[])],
    );
    let err = store.commit_sync(&snap, &tight, &run(2)).unwrap_err();
    assert!(matches!(err, StoreError::Exhausted(_)), "{err}");
    assert_eq!(store.load_directory().unwrap(), before);
    assert!(
        store.get_run(2).unwrap().is_none(),
        "no run record for a failed commit"
    );
    // Nothing was reserved either: the same users fit once the range allows it.
    let wider = rules((1000, 1003), (5000, 5999));
    store.commit_sync(&snap, &wider, &run(3)).unwrap();
    let data = store.load_directory().unwrap();
    assert_eq!(find_user(&data, "b").uid, "b");
    assert_eq!(find_user(&data, "b").uid_number, 1001);
    assert_eq!(find_user(&data, "d").uid_number, 1003);
    assert_eq!(find_group(&data, "g").gid_number, 5000);
}

#[test]
fn corrupt_records_are_reported_not_skipped() {
    let (_dir, store) = store_with_alice();
    store
        .handles()
        .unwrap()
        .trees
        .users
        .insert("zzz", &b"\x01{not json"[..])
        .unwrap();
    let err = store.load_directory().unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { tree: "users", .. }),
        "{err}"
    );
    // A commit that meets the corrupt record fails instead of overwriting it.
    let err = store
        .commit_sync(
            &snapshot(vec![user("a", "alice@x")], vec![]),
            &default_rules(),
            &run(2),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    store
        .handles()
        .unwrap()
        .trees
        .runs
        .insert(codec::run_key(9), &b"\x02{}"[..])
        .unwrap();
    assert!(matches!(
        store.list_runs(10),
        Err(StoreError::Corrupt { tree: "runs", .. })
    ));
}

#[test]
fn a_store_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let v = codec::encode(trees::META, &(SCHEMA_VERSION + 1)).unwrap();
        store
            .handles()
            .unwrap()
            .trees
            .meta
            .insert(META_SCHEMA, v)
            .unwrap();
        store.handles().unwrap().db.flush().unwrap();
    }
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Corrupt { tree: "meta", .. })
    ));
}

#[test]
fn run_ids_are_monotonic_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut started = run(0);
    started.outcome = SyncOutcome::Running;
    let (first, second) = {
        let store = Store::open(dir.path()).unwrap();
        (
            store.begin_run(&started).unwrap(),
            store.begin_run(&started).unwrap(),
        )
    };
    assert!(second > first);
    let store = Store::open(dir.path()).unwrap();
    let third = store.begin_run(&started).unwrap();
    assert!(third > second);
    // Runs left `Running` by the previous process are failed on open.
    let interrupted = store.get_run(second).unwrap().unwrap();
    assert_eq!(interrupted.outcome, SyncOutcome::Failed);
    assert!(interrupted.error.unwrap().contains("interrupted"));
    let mut failed = store.get_run(third).unwrap().unwrap();
    assert_eq!((failed.id, failed.outcome), (third, SyncOutcome::Running));
    failed.outcome = SyncOutcome::Failed;
    failed.error = Some("boom".into());
    store.record_run(&failed).unwrap();
    let runs = store.list_runs(10).unwrap();
    let ids: Vec<u64> = runs.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![third, second, first], "newest first");
    assert_eq!(runs[0].error.as_deref(), Some("boom"));
    assert_eq!(store.list_runs(1).unwrap().len(), 1);
}

#[test]
fn verifiers_and_binders() {
    let (_dir, store) = store_with_alice();
    assert_eq!(store.user_verifier(&"a".to_string()).unwrap(), None);
    store
        .set_user_verifier(&"a".to_string(), "$argon2id$x")
        .unwrap();
    assert_eq!(
        store.user_verifier(&"a".to_string()).unwrap().as_deref(),
        Some("$argon2id$x")
    );
    assert!(matches!(
        store.set_user_verifier(&"nobody".to_string(), "$x"),
        Err(StoreError::NotFound(_))
    ));

    let binder = BinderRecord {
        name: "Grafana".into(),
        description: None,
        scope: vec![],
        created: 1,
    };
    store.add_binder(&binder, "$v1").unwrap();
    let mut other = binder.clone();
    other.name = "grafana".into();
    assert!(matches!(
        store.add_binder(&other, "$v"),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store.binder_verifier("GRAFANA").unwrap().as_deref(),
        Some("$v1")
    );
    store.set_binder_verifier("grafana", "$v2").unwrap();
    assert_eq!(
        store.binder_verifier("Grafana").unwrap().as_deref(),
        Some("$v2")
    );
    assert_eq!(store.list_binders().unwrap(), vec![binder.clone()]);
    assert_eq!(store.load_directory().unwrap().binders, vec![binder]);
    store.remove_binder("Grafana").unwrap();
    assert_eq!(store.binder_verifier("Grafana").unwrap(), None);
    assert!(store.list_binders().unwrap().is_empty());
    assert!(matches!(
        store.remove_binder("Grafana"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_binder_verifier("x", "$v"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn users_are_found_by_login_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = default_rules();
    let snap = snapshot(vec![user("a", "Alice@x"), user("b", "alice@y")], vec![]);
    store.commit_sync(&snap, &r, &run(1)).unwrap();
    assert_eq!(
        store.user_id_by_login("alice").unwrap().as_deref(),
        Some("a")
    );
    assert_eq!(
        store.user_id_by_login("ALICE2").unwrap().as_deref(),
        Some("b")
    );
    assert_eq!(store.user_id_by_login("bob").unwrap(), None);
    assert!(matches!(
        store.set_ssh_public_keys(&"zz".to_string(), &[]),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn old_runs_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for id in 1..=6 {
        store.record_run(&run(id)).unwrap();
    }
    store.prune_runs(6, 3).unwrap();
    let ids: Vec<u64> = store.list_runs(10).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![6, 5, 4]);
    store.prune_runs(2, 3).unwrap();
    assert_eq!(
        store.list_runs(10).unwrap().len(),
        3,
        "nothing to prune yet"
    );
}

/// Users of the `n`-th snapshot of the crash test: a growing, deterministic set.
fn crash_snapshot(n: u64) -> TenantSnapshot {
    let users = (0..n * 5)
        .map(|i| user(&format!("u{i:08}"), &format!("user{i}@example.com")))
        .collect();
    let groups = (0..n)
        .map(|g| group(&format!("g{g:08}"), &format!("group{g}"), &["u00000000"]))
        .collect();
    snapshot(users, groups)
}

const CRASH_DIR_VAR: &str = "ENTRA_LDAP_STORE_CRASH_DIR";

/// Child half of `a_killed_process_leaves_the_last_committed_state`: commits ever larger
/// snapshots until it is killed. Without the variable (a normal test run) it does nothing.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_VAR) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir)).unwrap();
    let r = rules((1000, 999_999), (1_000_000, 1_999_999));
    let started = std::time::Instant::now();
    for n in 1.. {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            break; // never outlive a parent that failed to kill us
        }
        store.commit_sync(&crash_snapshot(n), &r, &run(n)).unwrap();
        // Only after commit_sync returned: the parent checks this run survived.
        println!("committed {n}");
    }
}

#[test]
fn a_killed_process_leaves_the_last_committed_state() {
    let exe = std::env::current_exe().unwrap();
    for delay_ms in [300u64, 700, 1100] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "store::tests::crash_child",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CRASH_DIR_VAR, dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL: no destructors, no flush
        let output = child.wait_with_output().unwrap();
        let acknowledged = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("committed ")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);

        let store = Store::open(dir.path()).unwrap();
        let data = store.load_directory().unwrap();
        let last = store.list_runs(1).unwrap().first().map_or(0, |r| r.id);
        assert!(
            last >= acknowledged,
            "run {acknowledged} was acknowledged but lost"
        );
        let expected = crash_snapshot(last);
        assert_eq!(data.users.len(), expected.users.len(), "after run {last}");
        assert_eq!(data.groups.len(), expected.groups.len(), "after run {last}");
        let mut numbers: Vec<u32> = data.users.iter().map(|u| u.uid_number).collect();
        numbers.sort_unstable();
        let contiguous: Vec<u32> = (1000..1000 + numbers.len() as u32).collect();
        assert_eq!(numbers, contiguous, "numbers handed out exactly once");
        for u in &data.users {
            assert_eq!(
                store.user_id_by_login(&u.uid).unwrap().as_ref(),
                Some(&u.entra.id)
            );
        }
        // The next commit continues where the committed state left off.
        let r = rules((1000, 999_999), (1_000_000, 1_999_999));
        store
            .commit_sync(&crash_snapshot(last + 1), &r, &run(last + 1))
            .unwrap();
        let data = store.load_directory().unwrap();
        let max = data.users.iter().map(|u| u.uid_number).max().unwrap();
        assert_eq!(max as usize, 1000 + data.users.len() - 1);
        eprintln!("killed after {delay_ms} ms: acknowledged {acknowledged}, found {last}");
    }
}

#[test]
fn domain_changes_are_counted_and_unchanged_domains_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut snap = snapshot(vec![], vec![]);
    snap.domains = vec![crate::model::EntraDomain {
        id: "example.com".into(),
        is_default: true,
        is_verified: true,
        ..Default::default()
    }];
    let commit =
        |snap: &TenantSnapshot, id| store.commit_sync(snap, &default_rules(), &run(id)).unwrap();
    assert_eq!(commit(&snap, 1).domains_changed, 1);
    assert!(commit(&snap, 2).is_empty());
    snap.domains[0].is_default = false;
    assert_eq!(commit(&snap, 3).domains_changed, 1);
    snap.domains.clear();
    assert_eq!(commit(&snap, 4).domains_changed, 1);
    assert!(store.load_directory().unwrap().domains.is_empty());
}

#[test]
fn guarded_commit_writes_nothing_when_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let users = vec![user("a", "alice@x"), user("b", "bob@x")];
    store
        .commit_sync(&snapshot(users, vec![]), &default_rules(), &run(1))
        .unwrap();
    let before = store.load_directory().unwrap();
    let seen = std::sync::Mutex::new(None);
    let refuse = |p: &CommitPreview| {
        *seen.lock().unwrap() = Some(*p);
        Err("too many".to_string())
    };
    let result = store.commit_sync_guarded(
        &snapshot(vec![], vec![]),
        &default_rules(),
        &run(2),
        &refuse,
    );
    assert!(matches!(result, Err(StoreError::Held(ref r)) if r == "too many"));
    let preview = seen.lock().unwrap().unwrap();
    assert_eq!(preview.counts.users_deactivated, 2);
    assert_eq!(preview.active_users_before, 2);
    assert_eq!(store.load_directory().unwrap(), before, "nothing written");
    assert_eq!(store.get_run(2).unwrap(), None, "no run record either");
}

#[test]
fn held_runs_are_discarded_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut held = run(0);
    held.outcome = SyncOutcome::Held;
    held.error = Some("would deactivate 600".into());
    let id = {
        let store = Store::open(dir.path()).unwrap();
        let id = store.begin_run(&held).unwrap();
        held.id = id;
        store.record_run(&held).unwrap();
        id
    };
    let store = Store::open(dir.path()).unwrap();
    let after = store.get_run(id).unwrap().unwrap();
    assert_eq!(after.outcome, SyncOutcome::Discarded);
    let why = after.error.unwrap();
    assert!(why.starts_with("would deactivate 600"), "{why}");
    assert!(why.contains("server restarted"), "{why}");
}

#[test]
fn releasing_memory_keeps_every_record_and_the_store_stays_writable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let users = vec![user("a", "alice@x"), user("b", "bob@x")];
    let groups = vec![group("g", "staff", &["a", "b"])];
    store
        .commit_sync(&snapshot(users, groups), &default_rules(), &run(1))
        .unwrap();
    let before = store.load_directory().unwrap();
    let clone = store.clone();

    // Only a store read in full is reopened (the load above read it all).
    store.release_memory();
    assert_eq!(store.handles.reopens(), 1);
    store.release_memory();
    assert_eq!(store.handles.reopens(), 1);
    store.user_verifier(&"a".to_string()).unwrap();
    store.release_memory();
    assert_eq!(store.handles.reopens(), 1);
    // After a sync run the database is reopened whatever was read.
    store.release_memory_after_run();
    assert_eq!(store.handles.reopens(), 2);
    assert_eq!(store.load_directory().unwrap(), before);

    // Every clone sees the reopened database, with everything committed before.
    assert_eq!(clone.load_directory().unwrap(), before);
    clone
        .set_user_verifier(&"a".to_string(), "$argon2id$after")
        .unwrap();
    assert_eq!(
        store.user_verifier(&"a".to_string()).unwrap().as_deref(),
        Some("$argon2id$after")
    );
    drop((store, clone));
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.load_directory().unwrap(), before);
    assert_eq!(
        reopened.user_verifier(&"a".to_string()).unwrap().as_deref(),
        Some("$argon2id$after")
    );
}

#[test]
fn a_reopen_waits_for_operations_in_flight_and_gives_up_without_harm() {
    let (_dir, store) = store_with_alice();
    // An operation that keeps the database for longer than a reopen waits.
    let in_flight = store.handles().unwrap();
    assert!(!store.handles.reopen().unwrap());
    assert_eq!(in_flight.trees.users.len(), 1);
    drop(in_flight);

    // One that finishes while the reopen waits: the reopen completes after it.
    let held = store.handles().unwrap();
    let releaser = {
        let store = store.clone();
        std::thread::spawn(move || store.handles.reopen().unwrap())
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(held.trees.users.len(), 1);
    drop(held);
    assert!(releaser.join().unwrap());
    assert_eq!(store.load_directory().unwrap().users.len(), 1);
}
