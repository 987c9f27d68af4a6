//! docs/openapi.json against the admin router: every route the router serves is documented
//! (with each of its methods), and every documented operation is served. The document is
//! also what `GET /api/v1/openapi.json` answers.
//!
//! How routes are found: the `.route(PATH, get(…).post(…))` calls in src/admin/ and
//! src/console/ are read (a path constant such as `CALLBACK_PATH` is resolved, method
//! routers like `get`, `post`, `axum::routing::delete` are recognised). The running server
//! then confirms over HTTP that every documented path is routed (not the fallback's
//! `404 "no such endpoint"`), without credentials so nothing changes.

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

/// The text of `text` from `from` up to (not including) the `)` that closes the call whose
/// arguments start there, with string literals blanked so their parentheses do not count.
fn call_arguments(text: &str, from: usize) -> String {
    let mut depth = 0i32;
    let mut in_string = false;
    let mut out = String::new();
    let mut previous = ' ';
    for c in text[from..].chars() {
        if in_string {
            if c == '"' && previous != '\\' {
                in_string = false;
            }
            out.push(' ');
        } else {
            match c {
                '"' => in_string = true,
                '(' => depth += 1,
                ')' if depth == 0 => return out,
                ')' => depth -= 1,
                _ => {}
            }
            out.push(if c == '"' { ' ' } else { c });
        }
        previous = c;
    }
    panic!("unbalanced .route( call");
}

/// The method routers called at the top level of a `.route(` call's second argument:
/// `get(list).post(create)` gives `get` and `post`.
fn methods_of(handler: &str) -> Vec<String> {
    let mut methods = Vec::new();
    let mut depth = 0;
    let mut word = String::new();
    for c in handler.chars() {
        match c {
            '(' => {
                let name = word.rsplit("::").next().unwrap_or("").to_string();
                if depth == 0 && METHODS.contains(&name.as_str()) {
                    methods.push(name);
                }
                depth += 1;
                word.clear();
            }
            ')' => {
                depth -= 1;
                word.clear();
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == ':' => word.push(c),
            _ => word.clear(),
        }
    }
    methods
}

/// (path, method) of every `.route(` call of the admin and console sources.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<String> = ["admin", "console"]
        .iter()
        .flat_map(|dir| sources(&src.join(dir)))
        .collect();
    let mut routes = BTreeSet::new();
    for text in &files {
        for (at, _) in text.match_indices(".route(") {
            let args_at = at + ".route(".len();
            let arg = text[args_at..].trim_start();
            let path = if let Some(literal) = arg.strip_prefix('"') {
                literal[..literal.find('"').unwrap()].to_string()
            } else {
                let ident: String = arg
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                resolve_const(ident.rsplit("::").next().unwrap(), &files)
            };
            let args = call_arguments(text, args_at);
            let handler = &args[args.find(',').expect("route has a handler") + 1..];
            let methods = methods_of(handler);
            assert!(
                !methods.is_empty(),
                "no method router found for {path}: {handler}"
            );
            for method in methods {
                routes.insert((path.clone(), method));
            }
        }
    }
    assert!(routes.len() > 20, "route scan found too little: {routes:?}");
    routes
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

    let routed = routes_in_source();
    // Each documented path is really served (not the fallback), asked without credentials.
    for (path, method) in &documented {
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
        assert!(
            !(status == 404 && body.contains("no such endpoint")) && status != 405,
            "{method} {path} is documented but the server does not route it ({status} {body})"
        );
    }

    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "docs/openapi.json is out of date.\n  routed but not documented: {undocumented:?}\n  documented but not routed: {unserved:?}"
    );
    server.stop().await;
}

/// The route scanner itself: method chains, closures with calls and strings inside, and
/// qualified method routers are read right.
#[test]
fn the_route_scanner_reads_method_chains() {
    let text = r#"Router::new()
        .route("/a", get(list).post(create))
        .route("/b", get(|q| export(q, "csv (x")))
        .route(
            "/c/{id}",
            axum::routing::delete(remove),
        )"#;
    let found: Vec<(String, Vec<String>)> = text
        .match_indices(".route(")
        .map(|(at, _)| {
            let args = call_arguments(text, at + ".route(".len());
            let comma = args.find(',').unwrap();
            (
                args[..comma].trim().to_string(),
                methods_of(&args[comma + 1..]),
            )
        })
        .collect();
    let methods: Vec<Vec<String>> = found.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(methods, [vec!["get", "post"], vec!["get"], vec!["delete"]]);
}
