//! Signing in with Microsoft over plain HTTP, step by step as a browser does: the console
//! sends us to the simulated tenant (and sets the flow cookie), we post its sign-in form,
//! it sends us back to the console's callback with a code, the callback answers.

use super::TestServer;
use super::console::{Console, Page};

/// A sign-in on its way: the flow cookie the console set, and where it sent us.
pub struct Flow {
    pub flow_cookie: String,
    pub authorize_url: url::Url,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// `GET /console/sign-in/microsoft`: asserts it redirects to the tenant's authorize URL.
pub async fn start(server: &TestServer) -> Flow {
    let page = Console::of(server).get("/console/sign-in/microsoft").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.expect("redirect to Microsoft");
    let authorize_url = url::Url::parse(&location).expect("absolute authorize URL");
    assert!(
        authorize_url.path().ends_with("/oauth2/v2.0/authorize"),
        "{authorize_url}"
    );
    let flow_cookie = page
        .set_cookie
        .iter()
        .find(|c| c.starts_with("entra_ldap_sign_in="))
        .and_then(|c| c.split(';').next())
        .expect("flow cookie")
        .to_string();
    Flow {
        flow_cookie,
        authorize_url,
    }
}

/// Posts the simulated tenant's sign-in form for `flow` as `username`: the status, the
/// `Location` (the console's callback, when signed in or refused) and the body.
pub async fn submit_form(
    flow: &Flow,
    username: &str,
    password: &str,
) -> (u16, Option<String>, String) {
    let mut target = flow.authorize_url.clone();
    let mut fields: Vec<(String, String)> = target.query_pairs().into_owned().collect();
    fields.push(("loginfmt".into(), username.into()));
    fields.push(("passwd".into(), password.into()));
    target.set_query(None);
    let response = http()
        .post(target)
        .form(&fields)
        .send()
        .await
        .expect("simulated tenant reachable");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, location, response.text().await.unwrap_or_default())
}

/// Follows the tenant's redirect to the console's callback, carrying `cookie` (the flow
/// cookie, or whatever the test wants to present). The returned console holds the session
/// cookie when one was set.
pub async fn callback(
    server: &TestServer,
    location: &str,
    cookie: Option<&str>,
) -> (Console, Page) {
    let url = url::Url::parse(location).expect("callback URL");
    let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    let mut console = Console::of(server);
    console.cookie = cookie.map(str::to_string);
    let page = console.get(&path).await;
    console.cookie = page
        .set_cookie
        .iter()
        .find(|c| c.starts_with("entra_ldap_console=") && !c.contains("Max-Age=0"))
        .and_then(|c| c.split(';').next())
        .map(str::to_string);
    (console, page)
}

/// The whole sign-in as `username`; the console (with a session cookie when it worked)
/// and the callback's page.
pub async fn sign_in(server: &TestServer, username: &str, password: &str) -> (Console, Page) {
    let flow = start(server).await;
    let (status, location, body) = submit_form(&flow, username, password).await;
    assert_eq!(status, 302, "the tenant sends the browser back: {body}");
    let location = location.expect("Location");
    callback(server, &location, Some(&flow.flow_cookie)).await
}
