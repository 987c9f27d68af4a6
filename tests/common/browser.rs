//! A real browser for console tests: Debian's chromium, headless, driven through
//! chromedriver (WebDriver) with fantoccini.
//!
//! Each test starts its own chromedriver on a free loopback port. When chromium or
//! chromedriver is missing, [`Browser::start`] returns `None` with a loud message so a
//! developer without them can still run the rest, except under `CI`, where a missing
//! browser fails the test (scripts/install-test-deps installs both).

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The chromium flags that work in this environment (no sandbox, no GPU, no updates).
const CHROMIUM_FLAGS: [&str; 7] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1280,900",
];

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    candidates.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A headless chromium session, plus where screenshots go.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    screenshots: Option<PathBuf>,
}

impl Browser {
    /// Starts chromedriver and a chromium session, or `None` (with a loud message) when
    /// they are not installed and `CI` is unset.
    pub async fn start() -> Option<Browser> {
        let chromium = find_program(&["chromium", "chromium-browser"]);
        let driver = find_program(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let message = "chromium and chromedriver are needed for the console browser tests \
                           (scripts/install-test-deps installs them)";
            if std::env::var_os("CI").is_some() {
                panic!("{message}");
            }
            eprintln!("\n!!!!! SKIPPING BROWSER TEST: {message} !!!!!\n");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_string(),
            serde_json::json!({ "binary": chromium, "args": CHROMIUM_FLAGS }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            // chromedriver speaks plain HTTP on loopback: no TLS connector needed.
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    let screenshots = std::env::var_os("CONSOLE_SCREENSHOTS").map(PathBuf::from);
                    if let Some(dir) = &screenshots {
                        std::fs::create_dir_all(dir).expect("screenshot directory");
                    }
                    return Some(Browser {
                        client,
                        driver,
                        screenshots,
                    });
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot start a chromium session through chromedriver: {last_error}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The element with this CSS selector, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("element {css} not found: {e}"))
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// The text of `css`, found afresh if the page replaced it meanwhile (the Sync page
    /// swaps its live part while a run progresses).
    pub async fn text(&self, css: &str) -> String {
        let mut last_error = None;
        for _ in 0..20 {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot read the text of {css}: {last_error:?}");
    }

    /// The page's visible text.
    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// Polls until the page's text (reloaded each time by `reload`) satisfies `ok`.
    pub async fn wait_for_text(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        for _ in 0..100 {
            let text = self.body().await;
            if ok(&text) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("page never showed {what}: {}", self.body().await);
    }

    /// Saves a PNG of the window as `<CONSOLE_SCREENSHOTS>/<name>.png`, when set.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = &self.screenshots else { return };
        let png = self.client.screenshot().await.expect("screenshot");
        let path: &Path = dir.as_ref();
        std::fs::write(path.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Saves a PNG of just the element `css` (e.g. a form below the fold), when set.
    pub async fn screenshot_of(&self, css: &str, name: &str) {
        let Some(dir) = &self.screenshots else { return };
        let png = self.find(css).await.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Ends the browser session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}
