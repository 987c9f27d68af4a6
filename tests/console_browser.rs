//! The web console in a real browser (headless chromium through chromedriver): an admin
//! signs in with the token, starts a sync and sees it finish, finds alice and her LDAP DN,
//! sets her password (then `ldapwhoami` binds with it), creates a binder (then binds with
//! the secret shown once) and finds that bind in the LDAP log. Signing in with Microsoft:
//! an admin authorizes the sync account, changes an option and syncs; an employee sets
//! their LDAP password and adds an SSH key on their own page and is refused the console; a form without its
//! CSRF token is refused. With `CONSOLE_SCREENSHOTS`
//! set, each page is saved as a PNG there (docs/console.md uses them).

mod common;

use common::TestServer;
use common::admin::{Api, admin_token};
use common::browser::Browser;
use fantoccini::Locator;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_walks_through_the_console_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let api = Api::of(&server);
    let base = format!("http://{}", server.app.admin_addr);

    // Sign in: the console sends us to the sign-in form first.
    browser.goto(&format!("{base}/")).await;
    browser.find("#token").await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/sign-in")
    );
    browser.screenshot("01-sign-in").await;
    browser.fill("#token", &admin_token(&server)).await;
    browser.click("#sign-in").await;
    assert_eq!(browser.text("h1").await, "Sync with Microsoft Entra ID");

    // Sync now: the flash message, then the run in the table until it has succeeded.
    browser.click("#sync-now").await;
    assert_eq!(browser.text("#flash").await, "Sync initiated successfully");
    let (_, runs) = api.get("/api/v1/sync/runs?limit=1").await;
    let run_id = runs["runs"][0]["id"].as_u64().expect("latest run");
    assert_eq!(runs["runs"][0]["trigger"], "manual");
    let finished = format!("tr[data-run='{run_id}'][data-outcome='succeeded']");
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&finished))
        .await
        .unwrap_or_else(|e| panic!("run {run_id} never shown as succeeded: {e}"));

    // Sync options: toggle "groups without email" and save; the settings API shows it and
    // a run applies it.
    let option = "[name='opt.groups_without_email']";
    let (_, before) = api.get("/api/v1/sync/settings").await;
    let was = before["options"]["groups_without_email"]["value"]
        .as_bool()
        .expect("option shown by the API");
    let checkbox = browser.find(option).await;
    let checked = checkbox.prop("checked").await.unwrap();
    assert_eq!(checked.as_deref(), Some(if was { "true" } else { "false" }));
    checkbox.click().await.expect("toggle");
    browser.click("#save-options").await;
    let flash = browser.text("#flash").await;
    assert!(
        flash.starts_with("Options saved (groups_without_email)"),
        "{flash}"
    );
    let (_, after) = api.get("/api/v1/sync/settings").await;
    assert_eq!(after["options"]["groups_without_email"]["value"], !was);
    assert_eq!(after["options"]["groups_without_email"]["source"], "admin");
    assert_eq!(
        after["options"]["users"], before["options"]["users"],
        "others untouched"
    );
    assert_eq!(after["options"]["interval"], before["options"]["interval"]);
    let (_, latest) = api.get("/api/v1/sync/runs?limit=1").await;
    assert_eq!(latest["runs"][0]["trigger"], "settings_changed");
    let applied = latest["runs"][0]["id"].as_u64().expect("run id");
    let done = format!("tr[data-run='{applied}'][data-outcome='succeeded']");
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&done))
        .await
        .unwrap_or_else(|e| panic!("run {applied} never shown as succeeded: {e}"));
    browser.screenshot("02-sync").await;
    browser
        .screenshot_of("#sync-options", "02b-sync-options")
        .await;

    // Users: search finds alice; her page shows the DN the directory serves.
    browser.goto(&format!("{base}/console/users")).await;
    browser.screenshot("03-users").await;
    browser.fill("#search", "alice").await;
    browser.click("#filter").await;
    let table = browser.text("#users").await;
    assert!(table.contains("alice"), "{table}");
    assert!(!table.contains("bob"), "search narrows the list: {table}");
    browser
        .client
        .find(Locator::LinkText("alice"))
        .await
        .expect("link to alice")
        .click()
        .await
        .expect("open alice");
    let alice_dn = server.user_dn("alice");
    assert_eq!(
        browser.text("#dn").await.to_lowercase(),
        alice_dn.to_lowercase()
    );
    let attributes = browser.text("#attributes").await;
    assert!(attributes.contains("uidNumber"), "{attributes}");
    assert!(
        !attributes.to_lowercase().contains("userpassword"),
        "no verifier shown"
    );

    // Set her LDAP password in the console; ldapwhoami binds with it.
    browser.fill("#password", "set-in-the-console-1").await;
    browser.click("#set-password").await;
    assert_eq!(browser.text("#flash").await, "LDAP password of alice set");
    browser.screenshot("04-user-detail").await;
    assert_eq!(server.whoami(&alice_dn, "set-in-the-console-1").await, 0);
    assert_eq!(
        server.whoami(&alice_dn, common::DEMO_USER_PASSWORD).await,
        49
    );

    // Groups: kinds and member counts.
    browser.goto(&format!("{base}/console/groups")).await;
    let groups = browser.text("#groups").await;
    assert!(groups.contains("Microsoft 365"), "{groups}");
    browser.screenshot("05-groups").await;

    // Binders: create one, bind with the secret shown once.
    browser.goto(&format!("{base}/console/binders")).await;
    browser.fill("#name", "grafana").await;
    browser.fill("#description", "Dashboards").await;
    browser.click("#create-binder").await;
    let secret = browser.text("#binder-secret").await;
    let binder_dn = browser.text("#binder-dn").await;
    assert_eq!(secret.len(), 43, "a fresh 256-bit secret");
    assert_eq!(server.whoami(&binder_dn, &secret).await, 0);
    browser.goto(&format!("{base}/console/binders")).await;
    let list = browser.text("#binders").await;
    assert!(
        list.contains("grafana") && list.contains("whole directory"),
        "{list}"
    );
    assert!(
        !browser.body().await.contains(&secret),
        "secret shown only once"
    );
    browser.screenshot("06-binders").await;

    // Logs: the binder's bind, filtered by operation and text.
    browser
        .goto(&format!("{base}/console/logs?op=bind&q=grafana"))
        .await;
    let log = browser.text("#ldap-log").await;
    assert!(
        log.to_lowercase().contains(&binder_dn.to_lowercase()),
        "{log}"
    );
    assert!(!log.contains("search"), "filtered to binds: {log}");
    browser.screenshot("07-logs").await;
    browser.goto(&format!("{base}/console/logs/audit")).await;
    let audit = browser.text("#audit-log").await;
    for action in [
        "sync.trigger",
        "user.set_password",
        "binder.add",
        "console.sign_in",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    browser.screenshot("08-audit").await;

    browser.close().await;
    server.stop().await;
}

/// A server whose last "Sync now" was held by the deletion guard (30 of 200 users disabled
/// in the tenant, over the default 10 %), and a browser signed in on its Sync page showing
/// the held run with Approve and Discard. Returns the held run's id.
async fn held_run_on_the_sync_page(browser: &Browser) -> (TestServer, Api, u64) {
    let server = TestServer::start_generated(200, 0).await;
    server.sim.with_tenant(|t| {
        for i in 0..30 {
            assert!(t.set_enabled(&format!("user{i:04}@example.com"), false));
        }
    });
    let api = Api::of(&server);
    let held = api.sync_now().await;
    assert_eq!(held["outcome"], "held", "{held}");
    let id = held["id"].as_u64().expect("run id");

    let base = format!("http://{}", server.app.admin_addr);
    browser.goto(&format!("{base}/console/sign-in")).await;
    browser.fill("#token", &admin_token(&server)).await;
    browser.click("#sign-in").await;
    let card = browser.text("#held").await;
    assert!(
        card.contains(&format!("Run {id} is held for approval"))
            && card.contains("deactivate or remove 30 of 200 active users"),
        "{card}"
    );
    browser.find("#held #approve").await;
    browser.find("#held #discard").await;
    (server, api, id)
}

/// Exit code of `ldapwhoami` as generated user `i` with its password (0 binds, 49 refused).
async fn generated_user_binds(server: &TestServer, i: usize) -> i32 {
    let dn = server.user_dn(&format!("user{i:04}"));
    server.whoami(&dn, &format!("Secret-{i:04}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_approves_a_held_run_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (server, api, id) = held_run_on_the_sync_page(&browser).await;
    browser.screenshot("09-held-run").await;
    assert_eq!(
        generated_user_binds(&server, 0).await,
        0,
        "held: nothing committed yet"
    );

    browser.click("#held #approve").await;
    assert_eq!(
        browser.text("#flash").await,
        format!("Held run {id} approved; committing it")
    );
    let run = api.wait_run(id).await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["changes"]["users_deactivated"], 30, "{run}");
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!(
            "tr[data-run='{id}'][data-outcome='succeeded']"
        )))
        .await
        .unwrap_or_else(|e| panic!("run {id} never shown as succeeded: {e}"));
    assert!(
        browser.client.find(Locator::Css("#held")).await.is_err(),
        "no held run any more"
    );
    assert_eq!(
        generated_user_binds(&server, 0).await,
        49,
        "approved: disabled user is out"
    );
    assert_eq!(
        generated_user_binds(&server, 30).await,
        0,
        "others unaffected"
    );
    browser.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_discards_a_held_run_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (server, api, id) = held_run_on_the_sync_page(&browser).await;

    browser.click("#held #discard").await;
    assert_eq!(
        browser.text("#flash").await,
        format!("Held run {id} discarded")
    );
    let (status, run) = api.get(&format!("/api/v1/sync/runs/{id}")).await;
    assert_eq!(
        (status, &run["outcome"]),
        (200, &serde_json::json!("discarded")),
        "{run}"
    );
    browser
        .find(&format!("tr[data-run='{id}'][data-outcome='discarded']"))
        .await;
    assert!(
        browser.client.find(Locator::Css("#held")).await.is_err(),
        "no held run any more"
    );
    assert_eq!(
        generated_user_binds(&server, 0).await,
        0,
        "discarded: nothing committed"
    );
    let (_, status) = api.get("/api/v1/sync/status").await;
    assert!(status["held"].is_null(), "{status}");
    browser.close().await;
    server.stop().await;
}

/// Signs in with Microsoft in the browser: the console's button, the simulated tenant's
/// form as `username`; returns once the browser is back on our side.
async fn sign_in_with_microsoft(browser: &Browser, base: &str, username: &str) {
    browser.goto(&format!("{base}/console/sign-in")).await;
    browser.click("#sign-in-microsoft").await;
    microsoft_form(browser, username).await;
}

/// Fills and submits the simulated tenant's sign-in form.
async fn microsoft_form(browser: &Browser, username: &str) {
    browser.fill("#i0116", username).await;
    browser
        .fill("#i0118", entra_ldap::simulator::DEFAULT_SIGN_IN_PASSWORD)
        .await;
    browser.click("#idSIButton9").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_with_microsoft_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let api = Api::of(&server);
    let base = format!("http://{}", server.app.admin_addr);

    // The admin signs in through the tenant's form and lands on the console.
    browser.goto(&format!("{base}/console/sign-in")).await;
    browser.click("#sign-in-microsoft").await;
    browser.find("#i0116").await;
    browser.screenshot("09-microsoft-sign-in").await;
    microsoft_form(&browser, "alice@example.com").await;
    assert_eq!(browser.text("h1").await, "Sync with Microsoft Entra ID");
    assert_eq!(browser.text(".who").await, "microsoft:alice@example.com");

    // Authorize Account for User Sync: the tenant's form again, then back to the Sync page
    // with the green check.
    browser.click("#authorize-users").await;
    microsoft_form(&browser, "alice@example.com").await;
    let authorized = browser.text("#authorized").await;
    assert!(authorized.contains("alice@example.com"), "{authorized}");
    browser.click("#back").await;
    let credentials = browser.text("#credentials").await;
    assert!(
        credentials.contains("alice@example.com") && credentials.contains("validated"),
        "{credentials}"
    );
    let (_, listed) = api.get("/api/v1/sync/credentials").await;
    assert!(
        listed["credentials"]
            .as_array()
            .expect("credentials")
            .iter()
            .any(|c| c["kind"] == "delegated" && c["who"] == "alice@example.com"),
        "{listed}"
    );

    // Sync now: the run appears and finishes, using the authorized account for users.
    browser.click("#sync-now").await;
    assert_eq!(browser.text("#flash").await, "Sync initiated successfully");
    let (_, runs) = api.get("/api/v1/sync/runs?limit=1").await;
    let run_id = runs["runs"][0]["id"].as_u64().expect("latest run");
    let finished = format!("tr[data-run='{run_id}'][data-outcome='succeeded']");
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&finished))
        .await
        .unwrap_or_else(|e| panic!("run {run_id} never shown as succeeded: {e}"));
    let run = api.wait_run(run_id).await;
    assert!(
        run["credential"]
            .as_str()
            .unwrap_or_default()
            .contains("alice@example.com"),
        "the delegated credential was used: {run}"
    );
    // Toggle "groups without emails" and save.
    let option = "[name='opt.groups_without_email']";
    let (_, before) = api.get("/api/v1/sync/settings").await;
    let was = before["options"]["groups_without_email"]["value"]
        .as_bool()
        .expect("option shown by the API");
    browser.find(option).await.click().await.expect("toggle");
    browser.click("#save-options").await;
    assert!(
        browser
            .text("#flash")
            .await
            .starts_with("Options saved (groups_without_email)")
    );
    let (_, after) = api.get("/api/v1/sync/settings").await;
    assert_eq!(after["options"]["groups_without_email"]["value"], !was);

    // The audit trail names the person.
    let (_, audit) = api.get("/api/v1/logs/audit?limit=20").await;
    let trigger = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "sync.trigger")
        .expect("Sync now audited");
    assert_eq!(trigger["actor"], "microsoft:alice@example.com");
    browser.click(".signout button").await;
    browser.find("#sign-in-microsoft").await;

    // An employee signs in, lands on their page and sets an LDAP password.
    sign_in_with_microsoft(&browser, &base, "bob@example.com").await;
    assert_eq!(browser.text("#uid").await, "bob");
    let bob_dn = server.user_dn("bob");
    assert_eq!(
        browser.text("#my-dn").await.to_lowercase(),
        bob_dn.to_lowercase()
    );
    browser.fill("#password", "kettle-meadow-sunrise-9").await;
    browser.fill("#confirm", "kettle-meadow-sunrise-9").await;
    browser.click("#set-password").await;
    assert_eq!(browser.text("#flash").await, "Your LDAP password is set.");
    assert_eq!(server.whoami(&bob_dn, "kettle-meadow-sunrise-9").await, 0);
    // … and adds an SSH public key, which the page lists and the audit trail records.
    browser
        .fill("#ssh-key", include_str!("fixtures/ssh/ed25519.pub").trim())
        .await;
    browser.click("#add-ssh-key").await;
    let fingerprint = "SHA256:wzPsJBtc+3Ar7dLwR7lbfguafxaQ1lb9x8EsyUgXUDc";
    assert_eq!(
        browser.text("#flash").await,
        format!("SSH key {fingerprint} added.")
    );
    let table = browser.text("#ssh-keys").await;
    assert!(table.contains(fingerprint), "{table}");
    browser.screenshot("10-self-service").await;
    browser
        .screenshot_of("#ssh-key-section", "10b-self-service-ssh-keys")
        .await;

    // A form posted without its CSRF token is refused (the field removed in the page).
    browser
        .client
        .execute(
            "document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())",
            vec![],
        )
        .await
        .expect("remove the token");
    browser.fill("#password", "csrf-less-password-1").await;
    browser.fill("#confirm", "csrf-less-password-1").await;
    browser.click("#set-password").await;
    assert!(
        browser.text("#error").await.contains("security token"),
        "refused without the token"
    );
    assert_eq!(server.whoami(&bob_dn, "csrf-less-password-1").await, 49);

    // The employee is refused the console.
    browser.goto(&format!("{base}/console/sync")).await;
    let refusal = browser.text("#error").await;
    assert!(refusal.contains("for admins"), "{refusal}");
    browser.screenshot("11-not-an-admin").await;

    browser.close().await;
    server.stop().await;
}
