//! FreeRADIUS 3.2 with rlm_ldap against entra-ldap, the way Wi-Fi (WPA2-Enterprise with
//! PAP/TTLS) and VPNs use it: rlm_ldap finds the user with a service account, then verifies
//! the password by binding as the user. `radtest` must get Access-Accept for an active user
//! with the right password and Access-Reject for a wrong password or a disabled user.

mod common;

use common::{DEMO_BINDER_SECRET, DEMO_USER_PASSWORD, TestServer};
use std::path::Path;
use std::time::Duration;

/// Writes a minimal FreeRADIUS configuration pointing at `server` into `dir`.
fn write_raddb(dir: &Path, server: &TestServer, radius_port: u16) {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(dir.join("mods-enabled")).unwrap();
    std::fs::create_dir_all(dir.join("sites-enabled")).unwrap();
    std::fs::write(
        dir.join("radiusd.conf"),
        format!(
            r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
libdir = /usr/lib/freeradius
name = radiusd
run_dir = {run}
logdir = {run}
pidfile = {run}/radiusd.pid
db_dir = {run}
max_request_time = 10
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {{
    destination = stdout
    colourise = no
    auth = yes
}}
security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = no
}}
proxy_requests = no
client local {{
    ipaddr = 127.0.0.1
    proto = udp
    secret = testing123
    require_message_authenticator = no
}}
thread pool {{
    start_servers = 2
    max_servers = 4
    min_spare_servers = 1
    max_spare_servers = 2
    max_requests_per_server = 0
}}
modules {{
    $INCLUDE mods-enabled/
}}
policy {{
}}
$INCLUDE sites-enabled/
"#,
            run = run.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("mods-enabled/ldap"),
        format!(
            r#"ldap {{
    server = "ldap://127.0.0.1"
    port = {ldap_port}
    identity = "{binder}"
    password = "{secret}"
    base_dn = "{base}"
    user {{
        base_dn = "ou=people,${{..base_dn}}"
        filter = "(&(objectClass=posixAccount)(uid=%{{User-Name}}))"
        scope = 'sub'
    }}
    group {{
        base_dn = "ou=groups,${{..base_dn}}"
        filter = '(objectClass=posixGroup)'
        scope = 'sub'
        name_attribute = cn
        membership_filter = "(|(member=%{{control:LDAP-UserDn}})(memberUid=%{{User-Name}}))"
        membership_attribute = 'memberOf'
    }}
    options {{
        chase_referrals = no
        rebind = no
        res_timeout = 5
        srv_timelimit = 3
        net_timeout = 2
    }}
    pool {{
        start = 1
        min = 1
        max = 4
        spare = 1
        uses = 0
        retry_delay = 1
        lifetime = 0
        idle_timeout = 60
    }}
}}
"#,
            ldap_port = server.ldap.port(),
            binder = server.binder_dn(),
            secret = DEMO_BINDER_SECRET,
            base = server.base,
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("mods-enabled/pap"),
        "pap {\n    normalise = yes\n}\n",
    )
    .unwrap();
    // `reject` in the authorize section is the `always` module configured to reject.
    std::fs::write(
        dir.join("mods-enabled/always"),
        "always reject {\n    rcode = reject\n}\nalways ok {\n    rcode = ok\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sites-enabled/default"),
        format!(
            r#"server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {radius_port}
    }}
    authorize {{
        ldap
        if (notfound) {{
            reject
        }}
        if ((ok || updated) && User-Password && !control:Auth-Type) {{
            update control {{
                Auth-Type := ldap
            }}
        }}
    }}
    authenticate {{
        Auth-Type LDAP {{
            ldap
        }}
    }}
    post-auth {{
        if (LDAP-Group == "Engineering") {{
            update reply {{
                Reply-Message := "member of Engineering"
            }}
        }}
        Post-Auth-Type REJECT {{
            ok
        }}
    }}
}}
"#
        ),
    )
    .unwrap();
}

fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// One Access-Request through `radclient` (what `radtest` wraps), with a short timeout so a
/// dead server fails fast; returns radclient's output.
async fn radtest(user: &str, password: &str, port: u16) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("radclient")
        .args([
            "-x",
            "-t",
            "2",
            "-r",
            "1",
            &format!("127.0.0.1:{port}"),
            "auth",
            "testing123",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("radclient (freeradius-utils) is installed");
    let request = format!("User-Name = \"{user}\"\nUser-Password = \"{password}\"\n");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    drop(stdin);
    let output = child.wait_with_output().await.expect("radclient runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radtest_accepts_active_users_and_rejects_wrong_or_disabled() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    write_raddb(dir.path(), &server, port);
    let mut radiusd = tokio::process::Command::new("freeradius")
        .args(["-X", "-d"])
        .arg(dir.path())
        .args(["-n", "radiusd"])
        .stdout(std::fs::File::create(dir.path().join("radiusd.out")).unwrap())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("freeradius is installed");

    // Wait until FreeRADIUS answers (it reads its config and opens its LDAP pool first).
    let mut ready = false;
    for _ in 0..20 {
        if let Ok(Some(status)) = radiusd.try_wait() {
            panic!(
                "freeradius exited ({status}):\n{}",
                std::fs::read_to_string(dir.path().join("radiusd.out")).unwrap_or_default()
            );
        }
        let reply = radtest("alice", DEMO_USER_PASSWORD, port).await;
        if reply.contains("Access-Accept") {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = || std::fs::read_to_string(dir.path().join("radiusd.out")).unwrap_or_default();
    assert!(
        ready,
        "no Access-Accept for alice; radiusd said:\n{}",
        log()
    );

    let accept = radtest("alice", DEMO_USER_PASSWORD, port).await;
    assert!(accept.contains("Access-Accept"), "{accept}");
    assert!(
        accept.contains("member of Engineering"),
        "group check via LDAP: {accept}"
    );
    let wrong = radtest("alice", "wrong-password", port).await;
    assert!(wrong.contains("Access-Reject"), "{wrong}");
    let disabled = radtest("carol", DEMO_USER_PASSWORD, port).await;
    assert!(disabled.contains("Access-Reject"), "{disabled}");
    let unknown = radtest("mallory", DEMO_USER_PASSWORD, port).await;
    assert!(unknown.contains("Access-Reject"), "{unknown}");

    let _ = radiusd.kill().await;
    server.stop().await;
}
