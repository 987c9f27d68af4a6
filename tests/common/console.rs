//! Talking to a test server's web console over plain HTTP, the way a browser would: form
//! posts, a session cookie, the CSRF token scraped from a page. No redirects are followed,
//! so tests see each 303 and its target.

use super::TestServer;
use super::admin::admin_token;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// A response, reduced to what the tests look at.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

/// A console client, optionally holding a session cookie.
pub struct Console {
    http: reqwest::Client,
    base: String,
    /// `name=value` of the session cookie, once signed in.
    pub cookie: Option<String>,
}

impl Console {
    pub fn of(server: &TestServer) -> Console {
        Console {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
                .expect("http client"),
            base: format!("http://{}", server.app.admin_addr),
            cookie: None,
        }
    }

    /// Signed in with the server's admin token (asserts it worked).
    pub async fn signed_in(server: &TestServer) -> Console {
        let mut console = Console::of(server);
        let page = console.sign_in(&admin_token(server)).await;
        assert_eq!(page.status, 303, "sign-in redirects: {}", page.body);
        console
    }

    /// Posts the sign-in form; keeps the session cookie if one is set.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let page = self.post("/console/sign-in", &[("token", token)]).await;
        if let Some(cookie) = page.set_cookie.first() {
            self.cookie = cookie.split(';').next().map(str::to_string);
        }
        page
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.expect("console reachable");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Page {
            status,
            location: headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            set_cookie: headers
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string)
                .collect(),
            body: response.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// Posts a urlencoded form exactly as given (no CSRF token added).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.http.post(format!("{}{path}", self.base)).form(form))
            .await
    }

    /// The session's CSRF token, read from the hidden field of a console page.
    pub async fn csrf(&self) -> String {
        self.csrf_of("/console/sync").await
    }

    /// The session's CSRF token, read from the hidden field of the page at `path`.
    pub async fn csrf_of(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "signed in: {path}");
        let marker = "name=\"csrf\" value=\"";
        let start = page.body.find(marker).expect("page has a CSRF field") + marker.len();
        let end = page.body[start..].find('"').expect("closing quote") + start;
        page.body[start..end].to_string()
    }

    /// Posts a form with the session's CSRF token added, as the console's pages do.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let token = self.csrf().await;
        let mut fields = form.to_vec();
        fields.push(("csrf", &token));
        self.post(path, &fields).await
    }
}
