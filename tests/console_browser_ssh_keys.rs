//! The user page's SSH keys and password policy in a real browser (headless chromium through
//! chromedriver): an admin adds a key to alice, sees it listed with ssh-keygen's fingerprint
//! and served over LDAP, removes it again, and reads the password policy under the form.

mod common;

use common::browser::Browser;
use common::{TestServer, admin::admin_token, values};

const ED25519: &str = include_str!("fixtures/ssh/ed25519.pub");
const ED25519_FINGERPRINT: &str = "SHA256:wzPsJBtc+3Ar7dLwR7lbfguafxaQ1lb9x8EsyUgXUDc";

/// alice's sshPublicKey values as the demo binder reads them.
async fn alice_keys(server: &TestServer) -> Vec<String> {
    let url = server.ldap_url();
    let (code, out, err) = server
        .search_as_binder(&url, &["(uid=alice)", "sshPublicKey"])
        .await;
    assert_eq!(code, 0, "{err}");
    values(&out, "sshPublicKey")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_adds_and_removes_an_ssh_key_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let base = format!("http://{}", server.app.admin_addr);
    browser.goto(&format!("{base}/console/sign-in")).await;
    browser.fill("#token", &admin_token(&server)).await;
    browser.click("#sign-in").await;
    browser.find("#sync-now").await;

    browser.goto(&format!("{base}/console/users/alice")).await;
    let policy = browser.text("#password-policy").await;
    assert!(policy.contains("At least 12 characters"), "{policy}");
    assert!(policy.contains("login name"), "{policy}");
    assert_eq!(browser.text("#no-ssh-keys").await, "No SSH public keys.");

    browser.fill("#ssh-key", ED25519.trim()).await;
    browser.click("#add-ssh-key").await;
    let flash = browser.text("#flash").await;
    assert!(flash.contains(ED25519_FINGERPRINT), "{flash}");
    let table = browser.text("#ssh-keys").await;
    assert!(table.contains(ED25519_FINGERPRINT), "{table}");
    assert!(table.contains("alice@laptop"), "{table}");
    browser
        .screenshot_of("#ssh-key-section", "04b-user-ssh-keys")
        .await;
    assert_eq!(alice_keys(&server).await, [ED25519.trim()]);

    browser.click("#ssh-keys .remove-ssh-key").await;
    let flash = browser.text("#flash").await;
    assert!(flash.contains("removed from alice"), "{flash}");
    browser.find("#no-ssh-keys").await;
    assert!(alice_keys(&server).await.is_empty());

    browser.close().await;
    server.stop().await;
}
