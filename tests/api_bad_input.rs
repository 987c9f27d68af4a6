//! Bad input to every admin API endpoint (issue 4: "unknown fields, wrong types, oversized
//! bodies answered with a clear 4xx and no change"), table-driven over the endpoint list.
//!
//! Each case sends one bad request over real HTTP and checks the status, that the answer is
//! the API's JSON error naming the problem, and that the server's state (sync options, runs,
//! binders, credentials, users, the SSH keys of the users the cases name) is exactly what it
//! was. The table must cover every `/api/`
//! operation of docs/openapi.json, so a new endpoint without bad-input cases fails here.

mod common;

use common::TestServer;
use common::admin::{Api, admin_token};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// alice's key, added before the cases run (so adding it again is a conflict).
const ED25519: &str = include_str!("fixtures/ssh/ed25519.pub");
const ED25519_FINGERPRINT: &str = "SHA256:wzPsJBtc+3Ar7dLwR7lbfguafxaQ1lb9x8EsyUgXUDc";
/// A valid key nobody has.
const ECDSA_P256: &str = include_str!("fixtures/ssh/ecdsa-p256.pub");
const ECDSA_P256_FINGERPRINT: &str = "SHA256:0k/zKEtWsYNPc6Yr76l2kljLdut+FsZnYx5gQ87hDKQ";
const RSA_1024: &str = include_str!("fixtures/ssh/rsa-1024.pub");
const DSA: &str = include_str!("fixtures/ssh/dsa.pub");

/// The users whose SSH keys the cases touch (their keys are part of the state compared).
const KEY_USERS: [&str; 3] = ["alice", "bob", "carol"];

/// A path segment with `+`, `/` and `:` percent-encoded (a fingerprint in a URL).
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// What is wrong with a request.
enum Bad {
    /// This JSON body.
    Json(Value),
    /// These bytes with this content type.
    Raw(&'static str, Vec<u8>),
    /// No body at all (for an endpoint that needs one) or bad query/path only.
    Nothing,
    /// The right request with a wrong bearer token (for endpoints that take no input).
    WrongToken,
}

/// One bad request: endpoint (as documented), the concrete path sent, what is wrong, the
/// status wanted and a text the error message must contain.
struct Case {
    method: Method,
    endpoint: &'static str,
    path: String,
    bad: Bad,
    status: u16,
    mentions: &'static str,
}

fn case(
    method: Method,
    endpoint: &'static str,
    path: &str,
    bad: Bad,
    status: u16,
    mentions: &'static str,
) -> Case {
    Case {
        method,
        endpoint,
        path: path.to_string(),
        bad,
        status,
        mentions,
    }
}

/// Bad bodies every JSON endpoint must refuse: malformed, not JSON, not an object, too large.
fn body_cases(method: Method, endpoint: &'static str, path: &str) -> Vec<Case> {
    let huge = json!({ "x": "y".repeat(20 * 1024) });
    vec![
        case(
            method.clone(),
            endpoint,
            path,
            Bad::Raw("application/json", b"{\"unterminated".to_vec()),
            400,
            "EOF",
        ),
        case(
            method.clone(),
            endpoint,
            path,
            Bad::Raw("text/plain", b"password=hunter2".to_vec()),
            if endpoint == "/api/v1/sync" { 400 } else { 415 },
            if endpoint == "/api/v1/sync" {
                "invalid JSON body"
            } else {
                "application/json"
            },
        ),
        case(
            method.clone(),
            endpoint,
            path,
            Bad::Json(json!([1, 2])),
            400,
            "JSON",
        ),
        case(method, endpoint, path, Bad::Json(huge), 413, "length limit"),
    ]
}

/// Every endpoint with its bad inputs.
fn cases() -> Vec<Case> {
    use Method as M;
    let mut all = Vec::new();
    // JSON bodies: the generic cases plus unknown fields and wrong types.
    let pw = "/api/v1/users/{uid}/password";
    let alice = "/api/v1/users/alice/password";
    all.extend(body_cases(M::PUT, pw, alice));
    all.extend([
        case(
            M::PUT,
            pw,
            alice,
            Bad::Json(json!({"password": "long-enough-1", "extra": 1})),
            400,
            "extra",
        ),
        case(
            M::PUT,
            pw,
            alice,
            Bad::Json(json!({"password": 42})),
            400,
            "password",
        ),
        case(M::PUT, pw, alice, Bad::Json(json!({})), 400, "password"),
        case(
            M::PUT,
            pw,
            alice,
            Bad::Json(json!({"password": "short"})),
            400,
            "12",
        ),
        case(
            M::PUT,
            pw,
            "/api/v1/users/nosuchuser/password",
            Bad::Json(json!({"password": "long-enough-1"})),
            404,
            "nosuchuser",
        ),
        case(
            M::PUT,
            pw,
            "/api/v1/users/carol/password",
            Bad::Json(json!({"password": "long-enough-1"})),
            409,
            "inactive",
        ),
    ]);
    let binders = "/api/v1/binders";
    all.extend(body_cases(M::POST, binders, binders));
    all.extend([
        case(
            M::POST,
            binders,
            binders,
            Bad::Json(json!({"name": "grafana", "bogus": 1})),
            400,
            "bogus",
        ),
        case(
            M::POST,
            binders,
            binders,
            Bad::Json(json!({"name": 7})),
            400,
            "name",
        ),
        case(
            M::POST,
            binders,
            binders,
            Bad::Json(json!({"name": "grafana", "scope": "ou=people"})),
            400,
            "scope",
        ),
        case(
            M::POST,
            binders,
            binders,
            Bad::Json(json!({"name": "a,b"})),
            400,
            "binder name",
        ),
        case(
            M::POST,
            binders,
            binders,
            Bad::Json(json!({"name": "svc-reader"})),
            409,
            "already exists",
        ),
    ]);
    let settings = "/api/v1/sync/settings";
    all.extend(body_cases(M::PATCH, settings, settings));
    all.extend([
        case(
            M::PATCH,
            settings,
            settings,
            Bad::Json(json!({"bogus_option": true})),
            400,
            "bogus_option",
        ),
        case(
            M::PATCH,
            settings,
            settings,
            Bad::Json(json!({"interval": "soon"})),
            400,
            "interval",
        ),
        case(
            M::PATCH,
            settings,
            settings,
            Bad::Json(json!({"users": true, "group_prefixes": [""]})),
            400,
            "group_prefixes",
        ),
    ]);
    let sync = "/api/v1/sync";
    all.extend(body_cases(M::POST, sync, sync));
    all.extend([
        case(
            M::POST,
            sync,
            sync,
            Bad::Json(json!({"fast": true})),
            400,
            "fast",
        ),
        case(
            M::POST,
            sync,
            sync,
            Bad::Json(json!({"full": "yes"})),
            400,
            "full",
        ),
    ]);
    let authorizations = "/api/v1/sync/authorizations";
    all.extend(body_cases(M::POST, authorizations, authorizations));
    all.extend([
        case(
            M::POST,
            authorizations,
            authorizations,
            Bad::Json(json!({"slot": "tertiary"})),
            400,
            "slot",
        ),
        case(
            M::POST,
            authorizations,
            authorizations,
            Bad::Json(json!({"purpose": 3})),
            400,
            "purpose",
        ),
        case(
            M::POST,
            authorizations,
            authorizations,
            Bad::Json(json!({"who": "me"})),
            400,
            "who",
        ),
        case(
            M::POST,
            authorizations,
            authorizations,
            Bad::Nothing,
            415,
            "application/json",
        ),
    ]);
    all.extend(ssh_key_cases());
    // Query strings: unknown parameters, wrong types, unknown values.
    let q = |endpoint: &'static str, query: &str, mentions: &'static str| {
        case(
            M::GET,
            endpoint,
            &format!("{endpoint}?{query}"),
            Bad::Nothing,
            400,
            mentions,
        )
    };
    all.extend([
        q("/api/v1/sync/runs", "limit=many", "limit"),
        q("/api/v1/sync/runs", "bogus=1", "bogus"),
        q("/api/v1/users", "status=sleeping", "sleeping"),
        q("/api/v1/users", "limit=-1", "limit"),
        q("/api/v1/users", "colour=red", "colour"),
        q("/api/v1/logs/ldap", "result=abc", "result"),
        q("/api/v1/logs/ldap", "colour=red", "colour"),
        q("/api/v1/logs/ldap", "format=xml", "xml"),
        q("/api/v1/logs/audit", "limit=lots", "limit"),
        q("/api/v1/logs/audit", "format=xml", "xml"),
        q(
            "/api/v1/sync/callback",
            "state=never-issued&code=x",
            "state",
        ),
    ]);
    // Path segments: not a number, unknown names.
    all.extend([
        case(
            M::GET,
            "/api/v1/sync/runs/{id}",
            "/api/v1/sync/runs/abc",
            Bad::Nothing,
            400,
            "abc",
        ),
        case(
            M::GET,
            "/api/v1/sync/runs/{id}",
            "/api/v1/sync/runs/999999",
            Bad::Nothing,
            404,
            "999999",
        ),
        case(
            M::POST,
            "/api/v1/sync/runs/{id}/approve",
            "/api/v1/sync/runs/abc/approve",
            Bad::Nothing,
            400,
            "abc",
        ),
        case(
            M::POST,
            "/api/v1/sync/runs/{id}/approve",
            "/api/v1/sync/runs/999999/approve",
            Bad::Nothing,
            404,
            "999999",
        ),
        case(
            M::POST,
            "/api/v1/sync/runs/{id}/discard",
            "/api/v1/sync/runs/-1/discard",
            Bad::Nothing,
            400,
            "-1",
        ),
        case(
            M::POST,
            "/api/v1/sync/runs/{id}/discard",
            "/api/v1/sync/runs/999999/discard",
            Bad::Nothing,
            404,
            "999999",
        ),
        case(
            M::DELETE,
            "/api/v1/sync/authorizations/{slot}/{purpose}",
            "/api/v1/sync/authorizations/tertiary/all",
            Bad::Nothing,
            400,
            "tertiary",
        ),
        case(
            M::DELETE,
            "/api/v1/sync/authorizations/{slot}/{purpose}",
            "/api/v1/sync/authorizations/backup/users",
            Bad::Nothing,
            404,
            "not found",
        ),
        case(
            M::POST,
            "/api/v1/binders/{name}/reset",
            "/api/v1/binders/nobody/reset",
            Bad::Nothing,
            404,
            "nobody",
        ),
        case(
            M::DELETE,
            "/api/v1/binders/{name}",
            "/api/v1/binders/nobody",
            Bad::Nothing,
            404,
            "nobody",
        ),
    ]);
    all.extend([
        case(
            M::GET,
            "/api/v1/users/{uid}",
            "/api/v1/users/nosuchuser",
            Bad::Nothing,
            404,
            "nosuchuser",
        ),
        case(
            M::GET,
            "/api/v1/groups/{cn}",
            "/api/v1/groups/No%20Such%20Group",
            Bad::Nothing,
            404,
            "No Such Group",
        ),
    ]);
    // Endpoints that take no input: the only thing to get wrong is the credential.
    for (method, endpoint) in [
        (M::GET, "/api/v1/status"),
        (M::GET, "/api/v1/sync/status"),
        (M::GET, "/api/v1/sync/credentials"),
        (M::GET, "/api/v1/sync/settings"),
        (M::GET, "/api/v1/binders"),
        (M::GET, "/api/v1/groups"),
        (M::GET, "/api/v1/sync/runs"),
        (M::GET, "/api/v1/users"),
        (M::GET, "/api/v1/logs/ldap"),
        (M::GET, "/api/v1/logs/audit"),
        (M::GET, "/api/v1/password-policy"),
    ] {
        all.push(case(
            method,
            endpoint,
            endpoint,
            Bad::WrongToken,
            401,
            "token",
        ));
    }
    // A method the endpoint does not have.
    all.push(case(
        M::DELETE,
        "/api/v1/status",
        "/api/v1/status",
        Bad::Nothing,
        405,
        "not allowed",
    ));
    all
}

/// SSH public keys: bad bodies, malformed and weak keys, unknown users and keys, an inactive
/// user, a key alice already has, a wrong token on a real key.
fn ssh_key_cases() -> Vec<Case> {
    use Method as M;
    let keys = "/api/v1/users/{uid}/ssh-keys";
    let alice = "/api/v1/users/alice/ssh-keys";
    let add = |body: Value, status: u16, mentions: &'static str| {
        case(M::POST, keys, alice, Bad::Json(body), status, mentions)
    };
    let mut all = body_cases(M::POST, keys, alice);
    all.extend([
        add(json!({"key": ECDSA_P256, "extra": 1}), 400, "extra"),
        add(json!({"key": 42}), 400, "key"),
        add(json!({}), 400, "key"),
        add(json!({"key": "ssh-ed25519 not*base64"}), 400, "base64"),
        add(json!({"key": RSA_1024}), 400, "2048"),
        add(json!({"key": DSA}), 400, "DSA"),
        add(
            json!({"key": format!("command=\"sh\" {ECDSA_P256}")}),
            400,
            "options",
        ),
        add(json!({"key": ED25519}), 409, "already has"),
        case(
            M::POST,
            keys,
            "/api/v1/users/nosuchuser/ssh-keys",
            Bad::Json(json!({"key": ECDSA_P256})),
            404,
            "nosuchuser",
        ),
        case(
            M::POST,
            keys,
            "/api/v1/users/carol/ssh-keys",
            Bad::Json(json!({"key": ECDSA_P256})),
            409,
            "inactive",
        ),
        case(
            M::GET,
            keys,
            "/api/v1/users/nosuchuser/ssh-keys",
            Bad::Nothing,
            404,
            "nosuchuser",
        ),
        case(M::GET, keys, alice, Bad::WrongToken, 401, "token"),
    ]);
    let key = "/api/v1/users/{uid}/ssh-keys/{fingerprint}";
    let remove = |uid: &str, fingerprint: &str, bad: Bad, status: u16, mentions: &'static str| {
        let path = format!("/api/v1/users/{uid}/ssh-keys/{}", segment(fingerprint));
        case(M::DELETE, key, &path, bad, status, mentions)
    };
    all.extend([
        remove(
            "alice",
            "not-a-fingerprint",
            Bad::Nothing,
            400,
            "fingerprint",
        ),
        remove("alice", "SHA256:", Bad::Nothing, 400, "fingerprint"),
        remove(
            "alice",
            ECDSA_P256_FINGERPRINT,
            Bad::Nothing,
            404,
            "no SSH key",
        ),
        // bob does not have alice's key: naming it under bob removes nothing.
        remove("bob", ED25519_FINGERPRINT, Bad::Nothing, 404, "no SSH key"),
        remove(
            "nosuchuser",
            ED25519_FINGERPRINT,
            Bad::Nothing,
            404,
            "nosuchuser",
        ),
        remove("alice", ED25519_FINGERPRINT, Bad::WrongToken, 401, "token"),
    ]);
    all
}

/// Everything an admin request could change, read through the API.
async fn state(api: &Api) -> Value {
    let mut snapshot = serde_json::Map::new();
    for path in [
        "/api/v1/sync/settings",
        "/api/v1/sync/runs?limit=5",
        "/api/v1/binders",
        "/api/v1/sync/credentials",
        "/api/v1/users?limit=1000",
        "/api/v1/sync/status",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        snapshot.insert(path.to_string(), body);
    }
    for uid in KEY_USERS {
        let path = format!("/api/v1/users/{uid}/ssh-keys");
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        snapshot.insert(path, body);
    }
    Value::Object(snapshot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_bad_input_clearly_and_changes_nothing() {
    let server = TestServer::start().await;
    let api = Api::of(&server);
    // No scheduled run may change the state while the cases run.
    let (status, body) = api
        .send(
            Method::PATCH,
            "/api/v1/sync/settings",
            Some(json!({"interval": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    if let Some(id) = body["run_id"].as_u64() {
        api.wait_run(id).await;
    }
    // alice has a key, so that adding it again and removing keys have something to refuse.
    let (status, body) = api
        .post(
            "/api/v1/users/alice/ssh-keys",
            Some(json!({"key": ED25519})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["fingerprint"], ED25519_FINGERPRINT);
    let before = state(&api).await;
    assert_eq!(
        before["/api/v1/users/alice/ssh-keys"]["keys"][0]["fingerprint"], ED25519_FINGERPRINT,
        "the snapshot sees alice's key"
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let base = format!("http://{}", server.app.admin_addr);
    let token = admin_token(&server);

    let cases = cases();
    for c in &cases {
        let mut request = http.request(c.method.clone(), format!("{base}{}", c.path));
        request = match &c.bad {
            Bad::WrongToken => request.bearer_auth("not-the-admin-token"),
            _ => request.bearer_auth(&token),
        };
        request = match &c.bad {
            Bad::Json(value) => request.json(value),
            Bad::Raw(content_type, bytes) => request
                .header("content-type", *content_type)
                .body(bytes.clone()),
            Bad::Nothing | Bad::WrongToken => request,
        };
        let what = format!("{} {} ({})", c.method, c.path, c.endpoint);
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, c.status, "{what}: {text}");
        assert!(
            content_type.starts_with("application/json"),
            "{what}: error is not JSON ({content_type}): {text}"
        );
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error: {text}"));
        assert!(
            message.contains(c.mentions),
            "{what}: error should mention `{}`: {message}",
            c.mentions
        );
        assert_eq!(
            state(&api).await,
            before,
            "{what} changed the server's state"
        );
    }

    // The table covers every /api/ operation of the OpenAPI document except the document.
    let documented: BTreeSet<(String, String)> = {
        let doc: Value = serde_json::from_str(entra_ldap::admin::openapi::DOCUMENT).unwrap();
        let mut set = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if path.starts_with("/api/") && path != "/api/v1/openapi.json" {
                for method in item.as_object().unwrap().keys() {
                    set.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        set
    };
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.method.to_string(), c.endpoint.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "endpoints without bad-input cases: {missing:?}"
    );

    // Nothing reached the directory: alice's demo password still binds.
    assert_eq!(
        server
            .whoami(&server.user_dn("alice"), common::DEMO_USER_PASSWORD)
            .await,
        0
    );
    server.stop().await;
}
