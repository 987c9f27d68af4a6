//! End-to-end tests of the LDAP listener over real loopback sockets.
//!
//! Each test starts `ldap::serve` on 127.0.0.1:0 with a hand-made directory (three real
//! users, one of them inactive, filler users for paging, a group and a binder), a sled
//! store in a temporary directory holding cheap argon2id verifiers, and a generated
//! self-signed certificate. Clients are the `ldap3` crate and, for malformed or hand-built
//! PDUs, raw sockets with ldap3_proto's codec.

use entra_ldap::auth::{Credentials, Principal};
use entra_ldap::config::{AuthConfig, DirectoryConfig, LdapConfig, LoginSource};
use entra_ldap::directory::{DirectorySettings, LiveDirectory};
use entra_ldap::ldap::{self, LdapContext};
use entra_ldap::model::{
    BinderRecord, DirectoryData, EntraDomain, EntraGroup, EntraUser, GroupRecord, InactiveReason,
    MemberRef, SyncOutcome, SyncRun, SyncTrigger, TenantSnapshot, UserRecord, UserStatus,
};
use entra_ldap::store::Store;
use futures_util::{SinkExt, StreamExt};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::{self as ctrl, RawControl};
use ldap3::exop::{PasswordModify, WhoAmI};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapExtendedRequest, LdapMsg, LdapOp, LdapResultCode,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

const BASE: &str = "dc=example,dc=com";
const ALICE_ID: &str = "00000000-0000-0000-0000-0000000000a1";
const BOB_ID: &str = "00000000-0000-0000-0000-0000000000b0";
const CAROL_ID: &str = "00000000-0000-0000-0000-0000000000c0";
const ALICE_PW: &str = "Alice-Secret-1";
const BOB_PW: &str = "Bob-Secret-1";
const CAROL_PW: &str = "Carol-Secret-1";
/// Bob's new password in the Password Modify test: passes the policy (no uid in it).
const BOB_NEW_PW: &str = "Harbour-Lights-42";
const BINDER_PW: &str = "App-Secret-Value-1";
const FILLERS: usize = 30;
const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";
const OID_NOTICE: &str = "1.3.6.1.4.1.1466.20036";

fn alice_dn() -> String {
    format!("uid=alice,ou=people,{BASE}")
}

fn entra_user(id: &str, local: &str, enabled: bool) -> EntraUser {
    EntraUser {
        id: id.to_string(),
        user_principal_name: format!("{local}@example.com"),
        display_name: Some(format!("{local} example")),
        given_name: Some(local.to_string()),
        surname: Some("Example".to_string()),
        mail: Some(format!("{local}@example.com")),
        mail_nickname: Some(local.to_string()),
        on_premises_sam_account_name: None,
        account_enabled: enabled,
        user_type: Some("Member".to_string()),
        created_date_time: None,
        last_password_change_date_time: None,
    }
}

fn user_record(user: EntraUser, n: u32, status: UserStatus) -> UserRecord {
    let uid = user
        .user_principal_name
        .split('@')
        .next()
        .unwrap()
        .to_string();
    UserRecord {
        entra: user,
        uid,
        uid_number: 10_000 + n,
        gid_number: 10_000 + n,
        status,
        ssh_public_keys: Vec::new(),
        created: 0,
        modified: 0,
    }
}

fn inactive() -> UserStatus {
    UserStatus::Inactive(InactiveReason::DisabledInEntra)
}

/// The three users with passwords: alice and bob active, carol disabled in Entra.
fn real_users() -> Vec<(EntraUser, UserStatus)> {
    vec![
        (entra_user(ALICE_ID, "alice", true), UserStatus::Active),
        (entra_user(BOB_ID, "bob", true), UserStatus::Active),
        (entra_user(CAROL_ID, "carol", false), inactive()),
    ]
}

/// The directory the snapshot is built from; `alice_status` lets a test deactivate her.
fn directory_data(alice_status: UserStatus) -> DirectoryData {
    let mut users: Vec<UserRecord> = real_users()
        .into_iter()
        .enumerate()
        .map(|(n, (user, status))| {
            let status = if user.id == ALICE_ID {
                alice_status
            } else {
                status
            };
            user_record(user, n as u32, status)
        })
        .collect();
    for i in 0..FILLERS {
        let id = format!("00000000-0000-0000-0001-{i:012}");
        let user = entra_user(&id, &format!("filler{i:02}"), true);
        users.push(user_record(user, 100 + i as u32, UserStatus::Active));
    }
    let staff = EntraGroup {
        id: "00000000-0000-0000-0002-000000000001".to_string(),
        display_name: "staff".to_string(),
        description: Some("Everyone".to_string()),
        mail: None,
        mail_enabled: false,
        security_enabled: true,
        group_types: Vec::new(),
        created_date_time: None,
        members: vec![
            MemberRef::User(ALICE_ID.to_string()),
            MemberRef::User(BOB_ID.to_string()),
        ],
    };
    DirectoryData {
        users,
        groups: vec![GroupRecord {
            entra: staff,
            cn: "staff".to_string(),
            gid_number: 20_000,
            created: 0,
            modified: 0,
        }],
        domains: vec![domain()],
        binders: vec![binder()],
    }
}

fn domain() -> EntraDomain {
    EntraDomain {
        id: "example.com".to_string(),
        is_default: true,
        is_initial: false,
        is_verified: true,
    }
}

fn binder() -> BinderRecord {
    BinderRecord {
        name: "app".to_string(),
        description: Some("test binder".to_string()),
        scope: Vec::new(),
        created: 0,
    }
}

fn directory_config() -> DirectoryConfig {
    DirectoryConfig {
        login_source: LoginSource::Upn,
        uid_number_min: 10_000,
        uid_number_max: 60_000,
        gid_number_min: 10_000,
        gid_number_max: 60_000,
        home_directory: "/home/{uid}".to_string(),
        login_shell: "/bin/bash".to_string(),
        show_inactive_users: false,
    }
}

fn ldap_config() -> LdapConfig {
    LdapConfig {
        listen: None,
        ldaps_listen: None,
        tls_cert: None,
        tls_key: None,
        max_connections: 64,
        idle_timeout_secs: 60,
        tls_handshake_timeout_secs: 5,
        max_pdu_bytes: 128 * 1024,
        size_limit: 0,
        time_limit_secs: 0,
        allow_plaintext_bind: false,
        bind_by_uid: true,
        bind_by_mail: true,
        bind_by_upn: true,
    }
}

/// A running server with everything it needs, torn down on drop of the temp dir.
struct Harness {
    _dir: tempfile::TempDir,
    plain: SocketAddr,
    ldaps: SocketAddr,
    directory: Arc<LiveDirectory>,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut LdapConfig)) -> Harness {
        // Server logs show with `RUST_LOG=debug cargo test -- --nocapture`.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let mut run = SyncRun {
            id: 0,
            trigger: SyncTrigger::Manual,
            started: 0,
            finished: None,
            outcome: SyncOutcome::Running,
            credential: None,
            credential_failures: Vec::new(),
            mode: None,
            graph_requests: 0,
            changes: Default::default(),
            error: None,
            warnings: Vec::new(),
        };
        run.id = store.begin_run(&run).unwrap();
        run.outcome = SyncOutcome::Succeeded;
        run.finished = Some(1);
        let tenant = TenantSnapshot {
            users: real_users(),
            groups: Vec::new(),
            domains: vec![domain()],
            ..TenantSnapshot::default()
        };
        store
            .commit_sync(&tenant, &directory_config(), &run)
            .unwrap();
        let auth = AuthConfig {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            max_concurrent_hashes: 2,
            verified_cache_secs: 0,
            min_password_length: 12,
        };
        let credentials = Credentials::new(store.clone(), &auth);
        for (id, pw) in [(ALICE_ID, ALICE_PW), (BOB_ID, BOB_PW), (CAROL_ID, CAROL_PW)] {
            // Fixture passwords contain the uid, which the policy refuses for chosen ones.
            credentials
                .seed_password(&Principal::User(id.to_string()), pw)
                .await
                .unwrap();
        }
        let phc = credentials.hash(BINDER_PW).await.unwrap();
        store.add_binder(&binder(), &phc).unwrap();

        let settings = DirectorySettings {
            base_dn: Some(BASE.to_string()),
            show_inactive_users: false,
            home_directory: "/home/{uid}".to_string(),
            login_shell: "/bin/bash".to_string(),
            supported_controls: ldap::supported_controls(),
            supported_extensions: ldap::supported_extensions(),
            vendor_version: "test".to_string(),
            bind_by_uid: true,
            bind_by_mail: true,
            bind_by_upn: true,
        };
        let directory = Arc::new(LiveDirectory::new(
            &directory_data(UserStatus::Active),
            settings,
        ));
        let tls = entra_ldap::tls::load_or_generate(None, None, dir.path()).unwrap();
        let mut config = ldap_config();
        tweak(&mut config);
        let ctx = Arc::new(LdapContext {
            directory: Arc::clone(&directory),
            credentials,
            tls: tls.config,
            config,
        });
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ldaps = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (plain_addr, ldaps_addr) = (plain.local_addr().unwrap(), ldaps.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(ldap::serve(Some(plain), Some(ldaps), ctx, shutdown.clone()));
        Harness {
            _dir: dir,
            plain: plain_addr,
            ldaps: ldaps_addr,
            directory,
            shutdown,
            server,
        }
    }

    async fn plain_client(&self) -> Ldap {
        connect(&format!("ldap://{}", self.plain), LdapConnSettings::new()).await
    }

    async fn ldaps_client(&self) -> Ldap {
        let settings = LdapConnSettings::new().set_no_tls_verify(true);
        connect(&format!("ldaps://{}", self.ldaps), settings).await
    }

    async fn starttls_client(&self) -> Ldap {
        let settings = LdapConnSettings::new()
            .set_starttls(true)
            .set_no_tls_verify(true);
        connect(&format!("ldap://{}", self.plain), settings).await
    }

    /// A raw socket speaking LDAP PDUs through ldap3_proto's codec.
    async fn raw(&self) -> Framed<TcpStream, LdapCodec> {
        let tcp = TcpStream::connect(self.plain).await.unwrap();
        Framed::new(tcp, LdapCodec::default())
    }
}

async fn connect(url: &str, settings: LdapConnSettings) -> Ldap {
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await.unwrap();
    ldap3::drive!(conn);
    ldap
}

async fn bind_ok(ldap: &mut Ldap, name: &str, pw: &str) {
    let res = ldap.simple_bind(name, pw).await.unwrap();
    assert_eq!(res.rc, 0, "bind as {name}: {res:?}");
}

/// DNs returned by a subtree search (panics on a non-success result).
async fn search_dns(ldap: &mut Ldap, base: &str, filter: &str) -> Vec<String> {
    let (entries, _) = ldap
        .search(base, Scope::Subtree, filter, vec!["1.1"])
        .await
        .unwrap()
        .success()
        .unwrap();
    entries
        .into_iter()
        .map(|e| SearchEntry::construct(e).dn)
        .collect()
}

async fn search_rc(ldap: &mut Ldap, base: &str, filter: &str) -> u32 {
    ldap.search(base, Scope::Subtree, filter, vec!["1.1"])
        .await
        .unwrap()
        .1
        .rc
}

async fn whoami(ldap: &mut Ldap) -> String {
    let (exop, _) = ldap.extended(WhoAmI).await.unwrap().success().unwrap();
    String::from_utf8(exop.val.unwrap_or_default()).unwrap()
}

/// Reads from a raw socket until EOF; true when the server closed it within `limit`.
async fn closed_by_server(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

fn start_tls_exop() -> ldap3::exop::Exop {
    ldap3::exop::Exop {
        name: Some(OID_START_TLS.to_string()),
        val: None,
    }
}

fn ber_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(ber_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// A searchRequest PDU whose filter is `depth` nested NOTs around (objectClass=*).
fn deeply_nested_search(depth: usize) -> Vec<u8> {
    let mut filter = ber(0x87, b"objectClass");
    for _ in 0..depth {
        filter = ber(0xa2, &filter);
    }
    let mut body = Vec::new();
    body.extend(ber(0x04, BASE.as_bytes())); // baseObject
    body.extend(ber(0x0a, &[2])); // scope: subtree
    body.extend(ber(0x0a, &[0])); // derefAliases
    body.extend(ber(0x02, &[0])); // sizeLimit
    body.extend(ber(0x02, &[0])); // timeLimit
    body.extend(ber(0x01, &[0])); // typesOnly
    body.extend(filter);
    body.extend(ber(0x30, &[])); // attributes
    let mut msg = ber(0x02, &[1]);
    msg.extend(ber(0x63, &body));
    ber(0x30, &msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_reads_root_dse_but_not_the_tree() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    let (entries, res) = ldap
        .search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["namingContexts", "supportedControl", "supportedExtension"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(res.rc, 0);
    assert_eq!(entries.len(), 1);
    let dse = SearchEntry::construct(entries.into_iter().next().unwrap());
    assert_eq!(dse.attrs["namingContexts"], vec![BASE.to_string()]);
    assert!(dse.attrs["supportedControl"].contains(&"1.2.840.113556.1.4.319".to_string()));
    assert!(dse.attrs["supportedExtension"].contains(&OID_START_TLS.to_string()));

    assert_eq!(search_rc(&mut ldap, BASE, "(uid=alice)").await, 50);
    let cmp = ldap.compare(&alice_dn(), "uid", "alice").await.unwrap();
    assert_eq!(cmp.0.rc, 50);
    assert_eq!(whoami(&mut ldap).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_by_dn_uid_mail_and_upn() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    for name in [
        alice_dn().as_str(),
        "alice",
        "alice@example.com",
        "ALICE@example.com",
    ] {
        bind_ok(&mut ldap, name, ALICE_PW).await;
        assert_eq!(whoami(&mut ldap).await, format!("dn:{}", alice_dn()));
    }
    // Anonymous bind resets the identity.
    bind_ok(&mut ldap, "", "").await;
    assert_eq!(whoami(&mut ldap).await, "");
    // The binder.
    bind_ok(&mut ldap, &format!("cn=app,{BASE}"), BINDER_PW).await;
    assert_eq!(whoami(&mut ldap).await, format!("dn:cn=app,{BASE}"));
    assert_eq!(search_dns(&mut ldap, BASE, "(uid=bob)").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_binds_are_indistinguishable() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    let wrong = ldap
        .simple_bind(&alice_dn(), "not-her-password")
        .await
        .unwrap();
    let unknown = ldap
        .simple_bind(&format!("uid=nobody,ou=people,{BASE}"), "whatever-1")
        .await
        .unwrap();
    let unknown_bare = ldap.simple_bind("nobody", "whatever-1").await.unwrap();
    let inactive = ldap
        .simple_bind(&format!("uid=carol,ou=people,{BASE}"), CAROL_PW)
        .await
        .unwrap();
    let binder_wrong = ldap
        .simple_bind(&format!("cn=app,{BASE}"), "nope-nope")
        .await
        .unwrap();
    for res in [&wrong, &unknown, &unknown_bare, &inactive, &binder_wrong] {
        assert_eq!(res.rc, 49, "{res:?}");
        assert_eq!(res.text, wrong.text);
        assert_eq!(res.matched, "");
    }
    // A failed bind leaves the connection anonymous.
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    let again = ldap.simple_bind("alice", "wrong-again").await.unwrap();
    assert_eq!(again.rc, 49);
    assert_eq!(whoami(&mut ldap).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_binds_get_rfc_answers() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    // Unauthenticated bind (name, no password).
    let res = ldap.simple_bind(&alice_dn(), "").await.unwrap();
    assert_eq!(res.rc, 53);
    // SASL.
    let res = ldap.sasl_external_bind().await.unwrap();
    assert_eq!(res.rc, 7);

    // LDAPv2 over a raw socket.
    let mut raw = h.raw().await;
    let bind = LdapOp::BindRequest(LdapBindRequest {
        version: 2,
        dn: alice_dn(),
        cred: LdapBindCred::Simple(ALICE_PW.to_string()),
    });
    raw.send(LdapMsg::new(1, bind)).await.unwrap();
    let reply = raw.next().await.unwrap().unwrap();
    match reply.op {
        LdapOp::BindResponse(resp) => assert_eq!(resp.res.code, LdapResultCode::ProtocolError),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_user_searches_with_filters_and_limits() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    assert_eq!(
        search_dns(&mut ldap, BASE, "(uid=bob)").await,
        vec![format!("uid=bob,ou=people,{BASE}")]
    );
    assert_eq!(
        search_dns(
            &mut ldap,
            BASE,
            "(&(objectClass=posixAccount)(mail=ALICE@EXAMPLE.COM))"
        )
        .await
        .len(),
        1
    );
    // Inactive users are hidden.
    assert!(search_dns(&mut ldap, BASE, "(uid=carol)").await.is_empty());
    let people = search_dns(&mut ldap, BASE, "(objectClass=posixAccount)").await;
    assert_eq!(people.len(), 2 + FILLERS);
    let group = search_dns(
        &mut ldap,
        BASE,
        "(&(objectClass=posixGroup)(memberUid=alice))",
    )
    .await;
    assert_eq!(group, vec![format!("cn=staff,ou=groups,{BASE}")]);

    // Client size limit.
    let res = ldap
        .with_search_options(SearchOptions::new().sizelimit(4))
        .search(
            BASE,
            Scope::Subtree,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 4);
    assert_eq!(res.0.len(), 4);

    // No such base.
    let res = ldap
        .search(
            &format!("ou=nowhere,{BASE}"),
            Scope::Subtree,
            "(objectClass=*)",
            vec!["1.1"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 32);
    assert_eq!(res.1.matched, BASE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_size_limit_applies_to_plain_searches_and_caps_pages() {
    let h = Harness::start_with(|c| c.size_limit = 5).await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    let res = ldap
        .search(
            BASE,
            Scope::Subtree,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 4);
    assert_eq!(res.0.len(), 5);
    // A paged search larger than the limit still walks everything, 5 per page at most.
    let all = paged_uids(&mut ldap, 50).await;
    assert_eq!(all.len(), 2 + FILLERS);
}

async fn paged_uids(ldap: &mut Ldap, page: i32) -> Vec<String> {
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(page)),
    ];
    let mut search = ldap
        .streaming_search_with(
            adapters,
            BASE,
            Scope::Subtree,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    let mut uids = Vec::new();
    while let Some(entry) = search.next().await.unwrap() {
        let entry = SearchEntry::construct(entry);
        uids.push(entry.attrs["uid"][0].clone());
    }
    let res = search.finish().await;
    assert_eq!(res.rc, 0, "{res:?}");
    uids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_results_return_every_entry_once() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    let uids = paged_uids(&mut ldap, 7).await;
    let unique: HashSet<&String> = uids.iter().collect();
    assert_eq!(uids.len(), 2 + FILLERS);
    assert_eq!(unique.len(), uids.len());
    assert!(unique.contains(&"alice".to_string()));

    // The first page by hand: 7 entries and a cookie to continue with.
    let (entries, res) = ldap
        .with_controls(ctrl::PagedResults {
            size: 7,
            cookie: Vec::new(),
        })
        .search(
            BASE,
            Scope::Subtree,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 7);
    let paged = res
        .ctrls
        .iter()
        .find(|c| matches!(c.0, Some(ctrl::ControlType::PagedResults)))
        .map(|c| c.1.parse::<ctrl::PagedResults>())
        .expect("paged results response control");
    assert!(!paged.cookie.is_empty());
    assert_eq!(paged.size as usize, 2 + FILLERS);

    // A cookie this connection never issued is refused.
    let res = ldap
        .with_controls(ctrl::PagedResults {
            size: 5,
            cookie: b"forged-cookie-16".to_vec(),
        })
        .search(
            BASE,
            Scope::Subtree,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 53);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_critical_control_is_refused() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    let critical = RawControl {
        ctype: "1.2.3.4.5.6.7".to_string(),
        crit: true,
        val: None,
    };
    let res = ldap
        .with_controls(critical)
        .search(BASE, Scope::Subtree, "(uid=alice)", vec!["uid"])
        .await
        .unwrap();
    assert_eq!(res.1.rc, 12);
    let lenient = RawControl {
        ctype: "1.2.3.4.5.6.7".to_string(),
        crit: false,
        val: None,
    };
    let res = ldap
        .with_controls(lenient)
        .search(BASE, Scope::Subtree, "(uid=alice)", vec!["uid"])
        .await
        .unwrap();
    assert_eq!(res.1.rc, 0);
    assert_eq!(res.0.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_writes() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    assert!(
        ldap.compare(&alice_dn(), "uid", "alice")
            .await
            .unwrap()
            .equal()
            .unwrap()
    );
    assert!(
        !ldap
            .compare(&alice_dn(), "uid", "bob")
            .await
            .unwrap()
            .equal()
            .unwrap()
    );
    let res = ldap
        .add(
            &format!("uid=mallory,ou=people,{BASE}"),
            vec![("objectClass", HashSet::from(["inetOrgPerson"]))],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 53);
    assert!(res.text.contains("Entra"), "{}", res.text);
    assert_eq!(ldap.delete(&alice_dn()).await.unwrap().rc, 53);
    // The connection is still usable.
    assert_eq!(search_dns(&mut ldap, BASE, "(uid=alice)").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_then_bind() {
    let h = Harness::start().await;
    let mut ldap = h.starttls_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    assert_eq!(whoami(&mut ldap).await, format!("dn:{}", alice_dn()));
    assert_eq!(search_dns(&mut ldap, BASE, "(uid=bob)").await.len(), 1);
    // A second StartTLS on the protected connection is refused.
    let res = ldap.extended(start_tls_exop()).await.unwrap();
    assert_eq!(res.1.rc, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_refused_with_pipelined_requests() {
    let h = Harness::start().await;
    let mut raw = h.raw().await;
    let starttls = LdapOp::ExtendedRequest(LdapExtendedRequest {
        name: OID_START_TLS.to_string(),
        value: None,
    });
    let whoami = LdapOp::ExtendedRequest(LdapExtendedRequest {
        name: "1.3.6.1.4.1.4203.1.11.3".to_string(),
        value: None,
    });
    // Both in one write: the StartTLS request has bytes queued behind it.
    raw.feed(LdapMsg::new(1, starttls)).await.unwrap();
    raw.feed(LdapMsg::new(2, whoami)).await.unwrap();
    raw.flush().await.unwrap();
    let first = raw.next().await.unwrap().unwrap();
    assert_eq!(first.msgid, 1);
    match first.op {
        LdapOp::ExtendedResponse(r) => assert_eq!(r.res.code, LdapResultCode::OperationsError),
        other => panic!("unexpected {other:?}"),
    }
    let second = raw.next().await.unwrap().unwrap();
    assert_eq!(second.msgid, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_bind_and_whoami() {
    let h = Harness::start().await;
    let mut ldap = h.ldaps_client().await;
    bind_ok(&mut ldap, &alice_dn(), ALICE_PW).await;
    assert_eq!(whoami(&mut ldap).await, format!("dn:{}", alice_dn()));
    let res = ldap.extended(start_tls_exop()).await.unwrap();
    assert_eq!(res.1.rc, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_modify_changes_own_password() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    // Anonymous may not.
    let res = ldap
        .extended(PasswordModify {
            user_id: None,
            old_pass: Some(BOB_PW),
            new_pass: Some(BOB_NEW_PW),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 53);

    bind_ok(&mut ldap, "bob", BOB_PW).await;
    // Someone else's password.
    let alice = alice_dn();
    let res = ldap
        .extended(PasswordModify {
            user_id: Some(&alice),
            old_pass: Some(BOB_PW),
            new_pass: Some(BOB_NEW_PW),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 50);
    // Wrong old password.
    let res = ldap
        .extended(PasswordModify {
            user_id: None,
            old_pass: Some("not-bobs"),
            new_pass: Some(BOB_NEW_PW),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 49);
    // Missing old password.
    let res = ldap
        .extended(PasswordModify {
            user_id: None,
            old_pass: None,
            new_pass: Some(BOB_NEW_PW),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 53);
    // Too short for the password policy.
    let res = ldap
        .extended(PasswordModify {
            user_id: None,
            old_pass: Some(BOB_PW),
            new_pass: Some("x"),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 19, "{:?}", res.1);
    assert!(res.1.text.contains("at least"), "{}", res.1.text);
    // Right.
    let bob = format!("uid=bob,ou=people,{BASE}");
    let res = ldap
        .extended(PasswordModify {
            user_id: Some(&bob),
            old_pass: Some(BOB_PW),
            new_pass: Some(BOB_NEW_PW),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 0, "{:?}", res.1);
    assert_eq!(ldap.simple_bind("bob", BOB_PW).await.unwrap().rc, 49);
    bind_ok(&mut ldap, "bob", BOB_NEW_PW).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binder_cannot_change_user_passwords() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, &format!("cn=app,{BASE}"), BINDER_PW).await;
    let alice = alice_dn();
    let res = ldap
        .extended(PasswordModify {
            user_id: Some(&alice),
            old_pass: Some(ALICE_PW),
            new_pass: Some("Alice-Secret-2"),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 53);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_extended_operation_is_a_protocol_error() {
    let h = Harness::start().await;
    let mut raw = h.raw().await;
    let op = LdapOp::ExtendedRequest(LdapExtendedRequest {
        name: "1.2.3.4.99".to_string(),
        value: None,
    });
    raw.send(LdapMsg::new(5, op)).await.unwrap();
    let reply = raw.next().await.unwrap().unwrap();
    match reply.op {
        LdapOp::ExtendedResponse(r) => {
            assert_eq!(r.res.code, LdapResultCode::ProtocolError);
            assert!(r.res.message.contains("1.2.3.4.99"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_user_loses_access_on_next_operation() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    assert_eq!(search_dns(&mut ldap, BASE, "(uid=bob)").await.len(), 1);
    h.directory.publish(&directory_data(inactive()));
    assert_eq!(search_rc(&mut ldap, BASE, "(uid=bob)").await, 50);
    assert_eq!(whoami(&mut ldap).await, "");
    assert_eq!(ldap.simple_bind("alice", ALICE_PW).await.unwrap().rc, 49);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_closes_only_that_connection() {
    let h = Harness::start().await;
    let mut good = h.plain_client().await;
    bind_ok(&mut good, "alice", ALICE_PW).await;

    // A well-formed BER sequence that is not an LDAPMessage.
    let mut bad = TcpStream::connect(h.plain).await.unwrap();
    bad.write_all(&[0x30, 0x03, 0x02, 0x01, 0x01])
        .await
        .unwrap();
    assert!(closed_by_server(&mut bad, Duration::from_secs(5)).await);

    // Pure garbage.
    let mut bad = TcpStream::connect(h.plain).await.unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    bad.write_all(&[0xff; 300]).await.unwrap();
    assert!(closed_by_server(&mut bad, Duration::from_secs(5)).await);

    // An oversized PDU: announces 10 MB, then keeps sending.
    let mut big = TcpStream::connect(h.plain).await.unwrap();
    let _ = big.write_all(&[0x30, 0x84, 0x00, 0xa0, 0x00, 0x00]).await;
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..32 {
        if big.write_all(&chunk).await.is_err() {
            break;
        }
    }
    assert!(closed_by_server(&mut big, Duration::from_secs(5)).await);

    assert_eq!(search_dns(&mut good, BASE, "(uid=alice)").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_filter_does_not_hurt_the_server() {
    let h = Harness::start().await;
    let mut good = h.plain_client().await;
    bind_ok(&mut good, "alice", ALICE_PW).await;
    let pdu = deeply_nested_search(10_000);
    let mut bad = TcpStream::connect(h.plain).await.unwrap();
    let _ = bad.write_all(&pdu).await;
    assert!(closed_by_server(&mut bad, Duration::from_secs(5)).await);
    assert_eq!(search_dns(&mut good, BASE, "(uid=alice)").await.len(), 1);
    // A modest nesting is answered normally.
    let mut ok = TcpStream::connect(h.plain).await.unwrap();
    ok.write_all(&deeply_nested_search(4)).await.unwrap();
    let mut framed = Framed::new(ok, LdapCodec::default());
    let reply = framed.next().await.unwrap().unwrap();
    assert_eq!(reply.msgid, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_gets_notice_and_is_closed() {
    let h = Harness::start_with(|c| c.idle_timeout_secs = 1).await;
    let mut raw = h.raw().await;
    let started = std::time::Instant::now();
    let notice = tokio::time::timeout(Duration::from_secs(5), raw.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(notice.msgid, 0);
    match notice.op {
        LdapOp::ExtendedResponse(r) => assert_eq!(r.name.as_deref(), Some(OID_NOTICE)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(raw.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_refuses_extra_connections() {
    let h = Harness::start_with(|c| c.max_connections = 2).await;
    let mut first = h.plain_client().await;
    let mut second = h.plain_client().await;
    assert_eq!(whoami(&mut first).await, "");
    assert_eq!(whoami(&mut second).await, "");
    let mut third = TcpStream::connect(h.plain).await.unwrap();
    assert!(closed_by_server(&mut third, Duration::from_secs(5)).await);
    first.unbind().await.unwrap();
    drop(first);
    // Give the server a moment to reap the closed connection.
    let mut admitted = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut raw = h.raw().await;
        let op = LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: "1.3.6.1.4.1.4203.1.11.3".to_string(),
            value: None,
        });
        if raw.send(LdapMsg::new(1, op)).await.is_ok()
            && matches!(raw.next().await, Some(Ok(m)) if m.msgid == 1)
        {
            admitted = true;
            break;
        }
    }
    assert!(admitted);
    assert_eq!(whoami(&mut second).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_and_returns() {
    let h = Harness::start().await;
    let mut raw = h.raw().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    h.shutdown.cancel();
    let notice = tokio::time::timeout(Duration::from_secs(5), raw.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(notice.msgid, 0);
    let done = tokio::time::timeout(Duration::from_secs(8), h.server).await;
    assert!(matches!(done, Ok(Ok(Ok(())))));
    assert!(TcpStream::connect(h.plain).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_pdus_from_a_client_close_the_connection() {
    let h = Harness::start().await;
    let mut raw = h.raw().await;
    let bogus = LdapOp::SearchResultDone(ldap3_proto::proto::LdapResult {
        code: LdapResultCode::Success,
        matcheddn: String::new(),
        message: String::new(),
        referral: Vec::new(),
    });
    raw.send(LdapMsg::new(3, bogus)).await.unwrap();
    let notice = raw.next().await.unwrap().unwrap();
    match notice.op {
        LdapOp::ExtendedResponse(r) => assert_eq!(r.res.code, LdapResultCode::ProtocolError),
        other => panic!("unexpected {other:?}"),
    }
    assert!(raw.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandon_and_unbind_get_no_reply() {
    let h = Harness::start().await;
    let mut raw = h.raw().await;
    raw.send(LdapMsg::new(1, LdapOp::AbandonRequest(42)))
        .await
        .unwrap();
    let whoami = LdapOp::ExtendedRequest(LdapExtendedRequest {
        name: "1.3.6.1.4.1.4203.1.11.3".to_string(),
        value: None,
    });
    raw.send(LdapMsg::new(2, whoami)).await.unwrap();
    // The first reply is for the WhoAmI: the abandon got none.
    assert_eq!(raw.next().await.unwrap().unwrap().msgid, 2);
    raw.send(LdapMsg::new(3, LdapOp::UnbindRequest))
        .await
        .unwrap();
    assert!(raw.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_ldaps_client_is_dropped_after_the_handshake_timeout() {
    let h = Harness::start_with(|c| c.tls_handshake_timeout_secs = 1).await;
    let mut silent = TcpStream::connect(h.ldaps).await.unwrap();
    let started = std::time::Instant::now();
    assert!(closed_by_server(&mut silent, Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Others are served meanwhile and afterwards.
    let mut ldap = h.ldaps_client().await;
    assert_eq!(whoami(&mut ldap).await, "");
}

/// Runs an OpenLDAP command-line client (always `Some`; panics when it cannot run).
async fn openldap(tool: &str, args: &[&str]) -> Option<std::process::Output> {
    let output = tokio::process::Command::new(tool)
        .args(args)
        // Not LDAPNOINIT: it would also ignore the LDAPTLS_* variables.
        .env("LDAPCONF", "/dev/null")
        .env("LDAPTLS_REQCERT", "never")
        .output()
        .await;
    match output {
        Ok(output) => Some(output),
        // A missing client is a failure, not a skip: scripts/install-test-deps installs it.
        Err(err) => panic!("running {tool} (scripts/install-test-deps installs ldap-utils): {err}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openldap_clients_interoperate() {
    let h = Harness::start().await;
    let plain = format!("ldap://{}", h.plain);
    let ldaps = format!("ldaps://{}", h.ldaps);
    let alice = alice_dn();
    let bob = format!("uid=bob,ou=people,{BASE}");

    // StartTLS (-ZZ: fail unless it succeeds) and paged results.
    let Some(out) = openldap(
        "ldapsearch",
        &[
            "-x",
            "-H",
            &plain,
            "-ZZ",
            "-D",
            &alice,
            "-w",
            ALICE_PW,
            "-b",
            BASE,
            "-LLL",
            "-E",
            "pr=5/noprompt",
            "(objectClass=posixAccount)",
            "uid",
        ],
    )
    .await
    else {
        eprintln!("ldap-utils not installed; skipping");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dns: Vec<&str> = stdout.lines().filter(|l| l.starts_with("dn: ")).collect();
    assert_eq!(dns.len(), 2 + FILLERS, "{stdout}");
    assert_eq!(dns.iter().collect::<HashSet<_>>().len(), dns.len());

    let out = openldap(
        "ldapwhoami",
        &["-x", "-H", &ldaps, "-D", &alice, "-w", ALICE_PW],
    )
    .await
    .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("dn:{alice}")
    );

    let out = openldap(
        "ldapwhoami",
        &["-x", "-H", &ldaps, "-D", &alice, "-w", "wrong"],
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(49));

    let out = openldap(
        "ldapcompare",
        &[
            "-x",
            "-H",
            &ldaps,
            "-D",
            &alice,
            "-w",
            ALICE_PW,
            &alice,
            "uid:alice",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = openldap(
        "ldappasswd",
        &[
            "-x",
            "-H",
            &ldaps,
            "-D",
            &bob,
            "-w",
            BOB_PW,
            "-a",
            BOB_PW,
            "-s",
            "Harbour-Lights-43",
        ],
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = openldap(
        "ldapwhoami",
        &["-x", "-H", &ldaps, "-D", &bob, "-w", "Harbour-Lights-43"],
    )
    .await
    .unwrap();
    assert!(out.status.success());
}

/// One paged request by hand: the entries, the result code and the returned cookie.
async fn page(
    ldap: &mut Ldap,
    size: i32,
    sizelimit: i32,
    cookie: Vec<u8>,
) -> (usize, u32, Vec<u8>) {
    let res = ldap
        .with_search_options(SearchOptions::new().sizelimit(sizelimit))
        .with_controls(ctrl::PagedResults { size, cookie })
        .search(
            BASE,
            Scope::Subtree,
            "(objectClass=posixAccount)",
            vec!["uid"],
        )
        .await
        .unwrap();
    let cookie = res
        .1
        .ctrls
        .iter()
        .find(|c| matches!(c.0, Some(ctrl::ControlType::PagedResults)))
        .map(|c| c.1.parse::<ctrl::PagedResults>().cookie)
        .unwrap_or_default();
    (res.0.len(), res.1.rc, cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_size_limit_caps_a_paged_search_and_size_zero_abandons() {
    let h = Harness::start().await;
    let mut ldap = h.plain_client().await;
    bind_ok(&mut ldap, "alice", ALICE_PW).await;
    let (n, rc, cookie) = page(&mut ldap, 10, 15, Vec::new()).await;
    assert_eq!((n, rc), (10, 0));
    assert!(!cookie.is_empty());
    let (n, rc, cookie) = page(&mut ldap, 10, 15, cookie).await;
    assert_eq!((n, rc), (5, 4));
    assert!(cookie.is_empty());

    // Size 0 with a cookie abandons; the cookie is then dead.
    let (_, _, cookie) = page(&mut ldap, 10, 0, Vec::new()).await;
    let (n, rc, end) = page(&mut ldap, 0, 0, cookie.clone()).await;
    assert_eq!((n, rc), (0, 0));
    assert!(end.is_empty());
    let (_, rc, _) = page(&mut ldap, 10, 0, cookie).await;
    assert_eq!(rc, 53);
}
