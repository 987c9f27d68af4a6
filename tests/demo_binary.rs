//! The `entra-ldap demo` binary as a newcomer meets it: the commands it prints must work when
//! pasted into a shell, and SIGTERM must stop it cleanly and remove its temporary data.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs one printed command line through `sh -c`, as a pasted command would run.
async fn shell(line: &str) -> (i32, String, String) {
    let output = tokio::process::Command::new("sh")
        .args(["-c", line])
        .env("LDAPCONF", "/dev/null")
        .output()
        .await
        .expect("sh runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_commands_work_and_sigterm_stops_cleanly() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_entra-ldap"))
        .args([
            "demo",
            "--ldap",
            "127.0.0.1:0",
            "--ldaps",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("entra-ldap binary");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    let read_all = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            let done = line.contains("Press Ctrl-C");
            printed.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_all)
        .await
        .expect("demo becomes ready within a minute");
    let command = |prefix: &str| {
        printed
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {printed:#?}"))
            .to_string()
    };
    let data_dir = printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("data directory: "))
        .expect("data directory printed")
        .to_string();

    let (code, out, err) = shell(&command("ldapsearch -x -H ldap://")).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("dn: uid=alice,ou=people,dc=example,dc=com"),
        "{out}"
    );
    let (code, out, err) = shell(&command("ldapwhoami -x -H ldap://127.0.0.1")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("dn:uid=alice"), "{out}");
    let (code, out, err) = shell(&command("LDAPTLS_CACERT=")).await;
    assert_eq!(code, 0, "LDAPS command: {err}");
    assert!(out.contains("cn: Engineering"), "{out}");
    let disabled = printed
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains("-D carol"))
        .expect("disabled-user example printed")
        .to_string();
    let (code, _, err) = shell(&disabled).await;
    assert_eq!(code, 49, "{err}");

    let pid = child.id().expect("pid").to_string();
    let (code, _, _) = shell(&format!("kill -TERM {pid}")).await;
    assert_eq!(code, 0);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("stops within 15 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
    assert!(
        !std::path::Path::new(&data_dir).exists(),
        "temporary data directory {data_dir} removed on exit"
    );
}
