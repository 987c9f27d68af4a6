//! One test per validation rule: each checks the key named in the error.

use super::*;

const MINIMAL: &str = r#"
data_dir = "/var/lib/entra-ldap"
[entra]
tenant_id = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "s3cret"
[admin]
token = "0123456789abcdef0123"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

/// MINIMAL with `line` added to `section` ("" = top level).
fn with(section: &str, line: &str) -> String {
    if section.is_empty() {
        format!("{line}\n{MINIMAL}")
    } else if MINIMAL.contains(&format!("[{section}]")) {
        MINIMAL.replace(&format!("[{section}]\n"), &format!("[{section}]\n{line}\n"))
    } else {
        format!("{MINIMAL}\n[{section}]\n{line}\n")
    }
}

/// The key an `Invalid` error names (panics on other errors, which is a test failure).
fn invalid_key(text: &str) -> String {
    match parse(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn minimal_file_gets_documented_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/entra-ldap"));
    assert_eq!(c.base_dn, None);
    assert_eq!(c.ldap.listen, Some("0.0.0.0:389".parse().unwrap()));
    assert_eq!(c.ldap.ldaps_listen, Some("0.0.0.0:636".parse().unwrap()));
    assert_eq!(c.ldap.max_connections, 4096);
    assert_eq!(c.ldap.idle_timeout_secs, 600);
    assert_eq!(c.ldap.tls_handshake_timeout_secs, 10);
    assert_eq!(c.ldap.max_pdu_bytes, 256 * 1024);
    assert_eq!((c.ldap.size_limit, c.ldap.time_limit_secs), (0, 60));
    assert!(!c.ldap.allow_plaintext_bind);
    assert!(c.ldap.bind_by_uid && c.ldap.bind_by_mail && c.ldap.bind_by_upn);
    assert_eq!(
        c.entra.authority_url.as_str(),
        "https://login.microsoftonline.com/"
    );
    assert_eq!(c.entra.graph_url.as_str(), "https://graph.microsoft.com/");
    // `sync.interval`'s default (the `[entra]` key is now a deprecated alias of it).
    assert_eq!(c.entra.sync_interval_secs, 60);
    assert_eq!(c.sync, crate::sync::settings::SyncOptions::default());
    assert_eq!((c.entra.page_size, c.entra.request_timeout_secs), (999, 30));
    assert_eq!(c.entra.client_secret.expose(), "s3cret");
    assert_eq!(c.admin.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.directory.login_source, LoginSource::Upn);
    assert_eq!(
        (c.directory.uid_number_min, c.directory.uid_number_max),
        (100_000, 199_999)
    );
    assert_eq!(
        (c.directory.gid_number_min, c.directory.gid_number_max),
        (200_000, 299_999)
    );
    assert_eq!(c.directory.home_directory, "/home/{uid}");
    assert_eq!(c.directory.login_shell, "/bin/bash");
    assert!(!c.directory.show_inactive_users);
    assert_eq!(
        (
            c.auth.argon2_memory_kib,
            c.auth.argon2_iterations,
            c.auth.argon2_parallelism
        ),
        (19_456, 2, 1)
    );
    assert!(c.auth.max_concurrent_hashes >= 1);
    assert_eq!(c.auth.verified_cache_secs, 300);
    // The Default impls agree with the file defaults.
    assert_eq!(
        format!("{:?}", LdapConfig::default()),
        format!("{:?}", c.ldap)
    );
    assert_eq!(
        format!("{:?}", DirectoryConfig::default()),
        format!("{:?}", c.directory)
    );
    assert_eq!(
        format!("{:?}", AuthConfig::default()),
        format!("{:?}", c.auth)
    );
}

#[test]
fn full_example_in_docs_parses() {
    let doc = include_str!("../../docs/configuration.md");
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let example = &doc[start..end];
    // The example reads its secrets from files and the environment; supply them.
    let dir = tempfile::tempdir().unwrap();
    let example = example.replace(
        "/etc/entra-ldap/client-secret",
        &dir.path().join("cs").display().to_string(),
    );
    std::fs::write(dir.path().join("cs"), "from-file\n").unwrap();
    // The environment cannot be set here (`set_var` is unsafe), so inline the token.
    assert!(example.contains("token_env = \"ENTRA_LDAP_ADMIN_TOKEN\""));
    let example = example.replace(
        "token_env = \"ENTRA_LDAP_ADMIN_TOKEN\"",
        "token = \"doc-token-0123456789\"",
    );
    let c = parse(&example).unwrap();
    assert_eq!(c.entra.client_secret.expose(), "from-file");
    assert_eq!(c.admin.token.expose(), "doc-token-0123456789");
    assert_eq!(c.base_dn.as_deref(), Some("dc=example,dc=com"));
}

#[test]
fn hardened_deployment_config_parses() {
    let dir = tempfile::tempdir().unwrap();
    let creds = "/run/credentials/entra-ldap.service";
    let text = include_str!("../../docs/deploy/config.toml")
        .replace(creds, &dir.path().display().to_string());
    std::fs::write(dir.path().join("client-secret"), "s3cret").unwrap();
    std::fs::write(dir.path().join("admin-token"), "admin-token-0123456789\n").unwrap();
    let c = parse(&text).unwrap();
    assert!(!c.ldap.allow_plaintext_bind);
    assert!(c.admin.listen.ip().is_loopback(), "admin API on loopback");
    assert_eq!(c.entra.client_secret.expose(), "s3cret");
    assert_eq!(c.admin.token.expose(), "admin-token-0123456789");
    assert_eq!(c.auth.argon2_memory_kib, 19456);
    // The unit file hands these paths to the service.
    let unit = include_str!("../../docs/deploy/entra-ldap.service");
    assert!(
        unit.contains("LoadCredential=client-secret:")
            && unit.contains("LoadCredential=admin-token:")
    );
    assert!(unit.contains("--config /etc/entra-ldap/config.toml"));
}

#[test]
fn unknown_keys_and_typos_are_named() {
    for (text, word) in [
        (with("ldap", "lisen = \"0.0.0.0:389\""), "lisen"),
        (with("", "data_dri = \"/x\""), "data_dri"),
        (with("entra", "graph = \"https://x\""), "graph"),
        (format!("{MINIMAL}\n[sink]\nx = 1\n"), "sink"),
    ] {
        match parse(&text) {
            Err(ConfigError::Parse { message, .. }) => {
                assert!(message.contains(word), "{word} not in {message}")
            }
            other => panic!("expected a parse error for {word}, got {other:?}"),
        }
    }
}

#[test]
fn wrong_types_and_syntax_errors_are_named() {
    match parse(&with("ldap", "max_connections = \"many\"")) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(message.contains("max_connections"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match parse(&with("directory", "login_source = \"email\"")) {
        Err(ConfigError::Parse { message, .. }) => assert!(message.contains("email"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse("data_dir = "),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn required_keys() {
    assert_eq!(
        invalid_key(&MINIMAL.replace("\"/var/lib/entra-ldap\"", "\"\"")),
        "data_dir"
    );
    assert_eq!(
        invalid_key(&MINIMAL.replace("data_dir = \"/var/lib/entra-ldap\"", "")),
        "data_dir"
    );
    assert_eq!(
        invalid_key(&MINIMAL.replace("tenant_id = \"contoso.onmicrosoft.com\"", "")),
        "entra.tenant_id"
    );
    assert_eq!(
        invalid_key(&MINIMAL.replace(
            "client_id = \"11111111-2222-3333-4444-555555555555\"",
            "client_id = \" \""
        )),
        "entra.client_id"
    );
    assert_eq!(
        invalid_key("data_dir = \"/x\"\n[admin]\ntoken = \"0123456789abcdef\""),
        "entra"
    );
    assert_eq!(
        invalid_key(&MINIMAL.replace("token = \"0123456789abcdef0123\"", "")),
        "admin.token"
    );
}

#[test]
fn tenant_id_must_be_url_safe() {
    let text = MINIMAL.replace("contoso.onmicrosoft.com", "contoso/../x");
    assert_eq!(invalid_key(&text), "entra.tenant_id");
}

#[test]
fn base_dn_is_validated() {
    let ok = parse(&with("", "base_dn = \"dc=example, dc=com\"")).unwrap();
    assert_eq!(ok.base_dn.as_deref(), Some("dc=example, dc=com"));
    assert!(parse(&with("", r#"base_dn = "o=Acme\\, Inc,c=US""#)).is_ok());
    for bad in [
        "\"example.com\"",
        "\"dc=example,\"",
        "\"dc=,dc=com\"",
        "\"1x=a\"",
        "\"\"",
    ] {
        assert_eq!(
            invalid_key(&with("", &format!("base_dn = {bad}"))),
            "base_dn",
            "{bad}"
        );
    }
}

#[test]
fn listeners_parse_and_can_be_turned_off() {
    let c = parse(&with(
        "ldap",
        "listen = \"off\"\nldaps_listen = \"[::1]:1636\"",
    ))
    .unwrap();
    assert_eq!(c.ldap.listen, None);
    assert_eq!(c.ldap.ldaps_listen, Some("[::1]:1636".parse().unwrap()));
    assert_eq!(
        invalid_key(&with("ldap", "listen = \"localhost:389\"")),
        "ldap.listen"
    );
    assert_eq!(
        invalid_key(&with("ldap", "ldaps_listen = \"0.0.0.0\"")),
        "ldap.ldaps_listen"
    );
    assert_eq!(
        invalid_key(&with("ldap", "listen = \"\"\nldaps_listen = \"off\"")),
        "ldap.listen"
    );
    assert_eq!(
        invalid_key(&with(
            "ldap",
            "listen = \"0.0.0.0:1\"\nldaps_listen = \"0.0.0.0:1\""
        )),
        "ldap.ldaps_listen"
    );
    assert_eq!(
        invalid_key(&with("admin", "listen = \"nowhere\"")),
        "admin.listen"
    );
}

#[test]
fn tls_cert_and_key_come_together() {
    assert_eq!(
        invalid_key(&with("ldap", "tls_cert = \"/c.pem\"")),
        "ldap.tls_key"
    );
    assert_eq!(
        invalid_key(&with("ldap", "tls_key = \"/k.pem\"")),
        "ldap.tls_cert"
    );
    let c = parse(&with("ldap", "tls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"")).unwrap();
    assert_eq!(c.ldap.tls_cert, Some(PathBuf::from("/c.pem")));
}

#[test]
fn ldap_numbers_have_bounds() {
    assert_eq!(
        invalid_key(&with("ldap", "max_connections = 0")),
        "ldap.max_connections"
    );
    assert_eq!(
        invalid_key(&with("ldap", "idle_timeout_secs = 0")),
        "ldap.idle_timeout_secs"
    );
    assert_eq!(
        invalid_key(&with("ldap", "tls_handshake_timeout_secs = 0")),
        "ldap.tls_handshake_timeout_secs"
    );
    assert_eq!(
        invalid_key(&with("ldap", "max_pdu_bytes = 10")),
        "ldap.max_pdu_bytes"
    );
    assert_eq!(
        invalid_key(&with("ldap", "max_pdu_bytes = 1000000000")),
        "ldap.max_pdu_bytes"
    );
}

#[test]
fn http_urls_only_for_loopback() {
    for host in [
        "127.0.0.1:9000",
        "127.8.0.1",
        "[::1]:80",
        "localhost:8000",
        "LOCALHOST",
    ] {
        let c = parse(&with("entra", &format!("graph_url = \"http://{host}\""))).unwrap();
        assert_eq!(c.entra.graph_url.scheme(), "http");
    }
    for (key, line) in [
        (
            "entra.graph_url",
            "graph_url = \"http://graph.example.com\"",
        ),
        ("entra.graph_url", "graph_url = \"http://10.0.0.1\""),
        (
            "entra.authority_url",
            "authority_url = \"http://login.example.com\"",
        ),
        ("entra.authority_url", "authority_url = \"ftp://127.0.0.1\""),
        ("entra.authority_url", "authority_url = \"not a url\""),
        (
            "entra.graph_url",
            "graph_url = \"https://g.example.com/?x=1\"",
        ),
    ] {
        assert_eq!(invalid_key(&with("entra", line)), key, "{line}");
    }
    let c = parse(&with(
        "entra",
        "authority_url = \"https://login.example.us\"",
    ))
    .unwrap();
    assert_eq!(c.entra.authority_url.host_str(), Some("login.example.us"));
}

#[test]
fn entra_numbers_have_bounds() {
    assert_eq!(
        invalid_key(&with("entra", "page_size = 0")),
        "entra.page_size"
    );
    assert_eq!(
        invalid_key(&with("entra", "page_size = 1000")),
        "entra.page_size"
    );
    assert_eq!(
        invalid_key(&with("entra", "sync_interval_secs = 5")),
        "entra.sync_interval_secs"
    );
    assert_eq!(
        invalid_key(&with("entra", "request_timeout_secs = 0")),
        "entra.request_timeout_secs"
    );
    let c = parse(&with("entra", "sync_interval = 600\npage_size = 5")).unwrap();
    assert_eq!((c.entra.sync_interval_secs, c.entra.page_size), (600, 5));
    assert_eq!(
        c.entra.keep_mirror_min_objects,
        crate::config::DEFAULT_KEEP_MIRROR_MIN_OBJECTS
    );
    let c = parse(&with("entra", "keep_mirror_min_objects = 0")).unwrap();
    assert_eq!(c.entra.keep_mirror_min_objects, 0);
    let negative = parse(&with("entra", "keep_mirror_min_objects = -1")).unwrap_err();
    assert!(
        negative.to_string().contains("keep_mirror_min_objects"),
        "{negative}"
    );
}

#[test]
fn secrets_need_exactly_one_source() {
    let no_secret = MINIMAL.replace("client_secret = \"s3cret\"", "");
    assert_eq!(invalid_key(&no_secret), "entra.client_secret");
    let two = with("entra", "client_secret_env = \"X\"");
    assert_eq!(invalid_key(&two), "entra.client_secret");
    let two_tokens = with("admin", "token_file = \"/t\"");
    assert_eq!(invalid_key(&two_tokens), "admin.token");
    let empty = MINIMAL.replace("\"s3cret\"", "\"  \"");
    assert_eq!(invalid_key(&empty), "entra.client_secret");
}

#[test]
fn secrets_from_files_drop_one_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "line-secret\r\n").unwrap();
    let text = MINIMAL.replace(
        "client_secret = \"s3cret\"",
        &format!("client_secret_file = {:?}", path.display().to_string()),
    );
    assert_eq!(
        parse(&text).unwrap().entra.client_secret.expose(),
        "line-secret"
    );
    std::fs::write(&path, "tok-0123456789abcdef\n").unwrap();
    let text = MINIMAL.replace(
        "token = \"0123456789abcdef0123\"",
        &format!("token_file = {:?}", path.display().to_string()),
    );
    assert_eq!(
        parse(&text).unwrap().admin.token.expose(),
        "tok-0123456789abcdef"
    );
    let missing = MINIMAL.replace(
        "client_secret = \"s3cret\"",
        "client_secret_file = \"/nonexistent/x\"",
    );
    assert_eq!(invalid_key(&missing), "entra.client_secret_file");
}

#[test]
fn secrets_from_the_environment() {
    // PATH is always set; a variable that surely is not set is the failure case.
    let path_value = std::env::var("PATH").unwrap();
    let text = MINIMAL.replace("client_secret = \"s3cret\"", "client_secret_env = \"PATH\"");
    assert_eq!(
        parse(&text).unwrap().entra.client_secret.expose(),
        path_value
    );
    let text = MINIMAL.replace(
        "client_secret = \"s3cret\"",
        "client_secret_env = \"ENTRA_LDAP_SURELY_UNSET_VAR\"",
    );
    assert_eq!(invalid_key(&text), "entra.client_secret_env");
}

#[test]
fn admin_token_has_a_minimum_length() {
    let text = MINIMAL.replace("0123456789abcdef0123", "short");
    assert_eq!(invalid_key(&text), "admin.token");
}

#[test]
fn secrets_are_never_printed() {
    let c = parse(MINIMAL).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cret") && !debug.contains("0123456789abcdef0123"));
}

#[test]
fn directory_rules() {
    let c = parse(&with(
        "directory",
        "login_source = \"on_premises_sam_account_name\"\nshow_inactive_users = true",
    ))
    .unwrap();
    assert_eq!(
        c.directory.login_source,
        LoginSource::OnPremisesSamAccountName
    );
    assert!(c.directory.show_inactive_users);
    for (key, lines) in [
        ("directory.uid_number_min", "uid_number_min = 0"),
        ("directory.uid_number_min", "uid_number_min = 999"),
        (
            "directory.uid_number_max",
            "uid_number_min = 150000\nuid_number_max = 140000",
        ),
        ("directory.uid_number_max", "uid_number_max = 3000000000"),
        (
            "directory.gid_number_max",
            "gid_number_min = 250000\ngid_number_max = 240000",
        ),
        (
            "directory.gid_number_min",
            "gid_number_min = 150000\ngid_number_max = 160000",
        ),
        (
            "directory.home_directory",
            "home_directory = \"home/{uid}\"",
        ),
        ("directory.login_shell", "login_shell = \"bash\""),
    ] {
        assert_eq!(invalid_key(&with("directory", lines)), key, "{lines}");
    }
}

#[test]
fn auth_rules() {
    let c = parse(&with("auth", "argon2_memory_kib = 64\nargon2_iterations = 1\nmax_concurrent_hashes = 3\nverified_cache_secs = 0")).unwrap();
    assert_eq!(
        (
            c.auth.argon2_memory_kib,
            c.auth.max_concurrent_hashes,
            c.auth.verified_cache_secs
        ),
        (64, 3, 0)
    );
    for (key, lines) in [
        ("auth.argon2_parallelism", "argon2_parallelism = 0"),
        ("auth.argon2_iterations", "argon2_iterations = 0"),
        (
            "auth.argon2_memory_kib",
            "argon2_memory_kib = 8\nargon2_parallelism = 2",
        ),
        ("auth.max_concurrent_hashes", "max_concurrent_hashes = 0"),
        ("auth.min_password_length", "min_password_length = 7"),
        ("auth.min_password_length", "min_password_length = 129"),
    ] {
        assert_eq!(invalid_key(&with("auth", lines)), key, "{lines}");
    }
}

#[test]
fn min_password_length_defaults_to_12_and_is_configurable() {
    assert_eq!(AuthConfig::default().min_password_length, 12);
    let c = parse(&with("auth", "min_password_length = 16")).unwrap();
    assert_eq!(c.auth.min_password_length, 16);
}

#[test]
fn demo_config_is_loopback_and_writes_a_private_token() {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::parse("http://127.0.0.1:4567/").unwrap();
    let c = Config::demo(dir.path().to_path_buf(), url.clone());
    assert_eq!(c.ldap.listen, Some("127.0.0.1:1389".parse().unwrap()));
    assert_eq!(c.ldap.ldaps_listen, Some("127.0.0.1:1636".parse().unwrap()));
    assert_eq!(c.admin.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(
        (c.entra.authority_url.clone(), c.entra.graph_url.clone()),
        (url.clone(), url.clone())
    );
    assert_eq!(c.entra.tenant_id, DEMO_TENANT_ID);
    assert_eq!(c.entra.client_secret.expose(), DEMO_CLIENT_SECRET);
    assert_eq!(c.entra.sync_interval_secs, 30);
    let token_path = dir.path().join(DEMO_TOKEN_FILE);
    let saved = std::fs::read_to_string(&token_path).unwrap();
    assert_eq!(saved.trim(), c.admin.token.expose());
    assert!(c.admin.token.expose().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second start reuses the token so CLI clients keep working.
    let again = Config::demo(dir.path().to_path_buf(), url);
    assert_eq!(again.admin.token, c.admin.token);
}

#[test]
fn sync_options_are_read_from_the_sync_table() {
    let c = parse(&with(
        "sync",
        r#"users = true
groups = false
groups_without_email = true
group_prefixes = ["eng-", "ops-"]
allowed_groups = ["VPN Users", "0d8a3c2e-0000-4000-8000-000000000001"]
denied_groups = ["Service Accounts"]
subdomains = ["eu.example.com"]
all_subdomains = false
inactive_users = "show"
deletion_threshold = { count = 50 }
interval = 120
full_interval = 3600"#,
    ))
    .unwrap();
    let s = crate::sync::settings::SyncSettings::from_options(&c.sync);
    assert!(!s.groups && s.groups_without_email);
    assert_eq!(s.group_prefixes, ["eng-", "ops-"]);
    assert_eq!(s.allowed_groups.len(), 2);
    assert_eq!(s.deletion_threshold.count, Some(50));
    assert_eq!(s.deletion_threshold.percent, None);
    assert_eq!((s.interval_secs, s.full_interval_secs), (120, 3600));
    assert_eq!(c.entra.sync_interval_secs, 120);
    assert!(c.directory.show_inactive_users, "inactive_users = show");
    // Only what the file sets is file-managed.
    let c = parse(&with("sync", "interval = 0")).unwrap();
    assert!(c.sync.is_set("interval") && !c.sync.is_set("users"));
}

#[test]
fn sync_errors_name_the_key() {
    for (line, key) in [
        ("usres = true", "sync.usres"),
        ("users = \"yes\"", "sync.users"),
        (
            "group_prefixes = [\"a\", \"b\", \"\"]",
            "sync.group_prefixes[2]",
        ),
        ("allowed_groups = \"VPN Users\"", "sync.allowed_groups"),
        ("subdomains = [\"not a domain\"]", "sync.subdomains[0]"),
        ("inactive_users = \"maybe\"", "sync.inactive_users"),
        ("deletion_threshold = {}", "sync.deletion_threshold"),
        (
            "deletion_threshold = { percent = 120 }",
            "sync.deletion_threshold.percent",
        ),
        (
            "deletion_threshold = { cuont = 1 }",
            "sync.deletion_threshold",
        ),
        ("interval = 5", "sync.interval"),
        ("interval = -1", "sync.interval"),
        ("interval = 600\nfull_interval = 300", "sync.full_interval"),
    ] {
        assert_eq!(invalid_key(&with("sync", line)), key, "{line}");
    }
    let text = format!("{}", parse(&with("sync", "usres = true")).unwrap_err());
    assert!(text.contains("unknown option"), "{text}");
}

#[test]
fn deprecated_keys_still_work_and_clash_with_their_replacements() {
    let c = parse(&with("entra", "sync_interval_secs = 900")).unwrap();
    assert_eq!(c.sync.interval, Some(900));
    assert_eq!(c.entra.sync_interval_secs, 900);
    let c = parse(&with("directory", "show_inactive_users = true")).unwrap();
    assert_eq!(
        c.sync.inactive_users,
        Some(crate::sync::settings::InactiveUsers::Show)
    );
    let both = format!(
        "{}\n[sync]\ninterval = 120\n",
        with("entra", "sync_interval = 600")
    );
    match parse(&both) {
        Err(ConfigError::Invalid { key, reason }) => {
            assert_eq!(key, "sync.interval");
            assert!(reason.contains("entra.sync_interval_secs"), "{reason}");
        }
        other => panic!("expected a clash, got {other:?}"),
    }
    let both = format!(
        "{}\n[sync]\ninactive_users = \"hide\"\n",
        with("directory", "show_inactive_users = true")
    );
    match parse(&both) {
        Err(ConfigError::Invalid { key, reason }) => {
            assert_eq!(key, "sync.inactive_users");
            assert!(reason.contains("directory.show_inactive_users"), "{reason}");
        }
        other => panic!("expected a clash, got {other:?}"),
    }
}

#[test]
fn demo_config_imports_mail_less_groups() {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::parse("http://127.0.0.1:4567/").unwrap();
    let c = Config::demo(dir.path().to_path_buf(), url);
    // Nothing file-managed: the demo's options are saved as an admin's, so they stay editable.
    assert_eq!(c.sync, crate::sync::settings::SyncOptions::default());
    let seeded = super::demo_sync_options();
    assert_eq!(seeded.groups_without_email, Some(true));
    assert_eq!(seeded.interval, Some(c.entra.sync_interval_secs));
}

/// `[entra]` with the certificate lines instead of the client secret.
fn with_certificate(cert: &str, key_line: &str) -> String {
    MINIMAL.replace(
        "client_secret = \"s3cret\"",
        &format!("client_certificate = \"{cert}\"\n{key_line}"),
    )
}

fn test_cert_path(name: &str) -> String {
    format!("{}/certs/test/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn certificate_credential_replaces_the_secret() {
    let key = test_cert_path("app.key");
    let c = parse(&with_certificate(
        &test_cert_path("app.crt"),
        &format!("client_key_file = \"{key}\""),
    ))
    .unwrap();
    let cert = c.entra.client_certificate.unwrap();
    assert!(!cert.cert_der.is_empty());
    assert!(cert.key_pem.expose().contains("BEGIN PRIVATE KEY"));
    assert_eq!(c.entra.client_secret.expose(), "");
    assert!(
        !format!("{cert:?}").contains("PRIVATE KEY"),
        "the key is redacted"
    );
}

#[test]
fn certificate_and_secret_rules_name_the_key() {
    let cert = test_cert_path("app.crt");
    let key_file = format!("client_key_file = \"{}\"", test_cert_path("app.key"));
    // Both a secret and a certificate.
    assert_eq!(
        invalid_key(&with(
            "entra",
            &format!("client_certificate = \"{cert}\"\n{key_file}")
        )),
        "entra.client_certificate"
    );
    // Neither.
    assert_eq!(
        invalid_key(&MINIMAL.replace("client_secret = \"s3cret\"", "")),
        "entra.client_secret"
    );
    // A certificate without its key, and a key without a certificate.
    assert_eq!(
        invalid_key(&with_certificate(&cert, "")),
        "entra.client_key"
    );
    assert_eq!(invalid_key(&with("entra", &key_file)), "entra.client_key");
    // Unreadable certificate; a "key" that is a certificate.
    assert_eq!(
        invalid_key(&with_certificate("/nonexistent.crt", &key_file)),
        "entra.client_certificate"
    );
    assert_eq!(
        invalid_key(&with_certificate(
            &cert,
            &format!("client_key_file = \"{cert}\"")
        )),
        "entra.client_key"
    );
}

#[test]
fn backup_app_is_validated_like_the_primary() {
    let c = parse(&format!(
        "{MINIMAL}\n[entra.backup]\nclient_id = \"b\"\nclient_secret = \"bs\"\n"
    ))
    .unwrap();
    let backup = c.entra.backup.unwrap();
    assert_eq!(
        (backup.client_id.as_str(), backup.client_secret.expose()),
        ("b", "bs")
    );
    assert_eq!(
        invalid_key(&format!(
            "{MINIMAL}\n[entra.backup]\nclient_secret = \"bs\"\n"
        )),
        "entra.backup.client_id"
    );
    assert_eq!(
        invalid_key(&format!("{MINIMAL}\n[entra.backup]\nclient_id = \"b\"\n")),
        "entra.backup.client_secret"
    );
    let cert = test_cert_path("other.crt");
    assert_eq!(
        invalid_key(&format!(
            "{MINIMAL}\n[entra.backup]\nclient_id = \"b\"\nclient_secret = \"bs\"\nclient_certificate = \"{cert}\"\n"
        )),
        "entra.backup.client_certificate"
    );
}

#[test]
fn admin_public_url_and_secrets_key_file() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.admin.public_url, None);
    assert_eq!(
        c.secret_key_path(),
        PathBuf::from("/var/lib/entra-ldap/secret.key")
    );
    let c = parse(&with("admin", "public_url = \"https://ldap.example.com\"")).unwrap();
    assert_eq!(
        c.admin.public_url.unwrap().as_str(),
        "https://ldap.example.com/"
    );
    for bad in ["https://ldap.example.com/x", "http://10.0.0.1", "not a url"] {
        assert_eq!(
            invalid_key(&with("admin", &format!("public_url = \"{bad}\""))),
            "admin.public_url",
            "{bad}"
        );
    }
    let c = parse(&format!(
        "{MINIMAL}\n[secrets]\nkey_file = \"/etc/entra-ldap/secret.key\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.secret_key_path(),
        PathBuf::from("/etc/entra-ldap/secret.key")
    );
}

#[test]
fn admin_group_and_admins_say_who_gets_the_console() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.admin.access, AdminAccess::default(), "nobody by default");
    let c = parse(&with(
        "admin",
        "admin_group = \" IT Admins \"\nadmins = [\"alice@example.com\", \"0c5e8b1a-0000-4000-8000-000000000001\"]",
    ))
    .unwrap();
    assert_eq!(c.admin.access.admin_group.as_deref(), Some("IT Admins"));
    assert_eq!(c.admin.access.admins.len(), 2);
    assert_eq!(
        invalid_key(&with("admin", "admin_group = \" \"")),
        "admin.admin_group"
    );
    assert_eq!(
        invalid_key(&with("admin", "admins = [\"\"]")),
        "admin.admins"
    );
}
