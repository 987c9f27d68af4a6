//! docs/openapi.json against the admin router: every route the router serves is documented
//! (with each of its methods), and every documented operation is served. The document is
//! also what `GET /api/v1/openapi.json` answers.
//!
//! How routes are found: the route paths are read from the `.route(…)` calls in src/admin/
//! and src/console/ (a constant such as `CALLBACK_PATH` is resolved); which methods each
//! path has is then asked of the running server over HTTP, without credentials so nothing
//! changes: a method the route lacks answers `405`, a path no route matches answers the
//! fallback's `404 "no such endpoint"`, anything else (401, 303 to sign-in, 400…) is served.

mod common;

use common::TestServer;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The value of `const NAME: &str = "…";` in one of `files`.
fn resolve_const(name: &str, files: &[String]) -> String {
    let needle = format!("const {name}: &str = \"");
    files
        .iter()
        .find_map(|text| {
            let start = text.find(&needle)? + needle.len();
            let len = text.get(start..)?.find('"')?;
            text.get(start..start + len).map(str::to_string)
        })
        .unwrap_or_else(|| panic!("route path constant {name} not found"))
}

/// The first argument of every `.route(` call of the admin and console sources.
fn routed_paths() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<String> = ["admin", "console"]
        .iter()
        .flat_map(|dir| sources(&src.join(dir)))
        .collect();
    let mut paths = BTreeSet::new();
    for text in &files {
        for (at, _) in text.match_indices(".route(") {
            let arg = text[at + ".route(".len()..].trim_start();
            let path = if let Some(literal) = arg.strip_prefix('"') {
                literal[..literal.find('"').unwrap()].to_string()
            } else {
                let ident: String = arg
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                resolve_const(ident.rsplit("::").next().unwrap(), &files)
            };
            paths.insert(path);
        }
    }
    assert!(paths.len() > 20, "route scan found too little: {paths:?}");
    paths
}

/// `{param}` segments filled with a harmless value.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.app.admin_addr);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The served document is the one in the repository.
    let served: Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(
        served, doc,
        "GET /api/v1/openapi.json serves docs/openapi.json"
    );

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect();

    let mut routed = BTreeSet::new();
    let documented_paths: BTreeSet<String> = documented.iter().map(|(p, _)| p.clone()).collect();
    for path in routed_paths().union(&documented_paths) {
        for method in METHODS {
            let response = http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{base}{}", concrete(path)),
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            let fallback = status == 404 && body.contains("no such endpoint");
            if status != 405 && !fallback {
                routed.insert((path.clone(), method.to_string()));
            }
        }
    }

    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "docs/openapi.json is out of date.\n  routed but not documented: {undocumented:?}\n  documented but not routed: {unserved:?}"
    );
    server.stop().await;
}
