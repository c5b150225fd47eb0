//! API keys and scopes: every route and transport lets in only the right credential.

mod common;

use common::{Process, Stream, TestServer, client};
use serde_json::{Value, json};

const ADMIN: &str = "admin-key-for-tests-0123456789";

async fn create_key(url: &str, scopes: &[&str]) -> (String, String) {
    common::create_key(url, ADMIN, scopes).await
}

/// The status a request gets with `credential` (as a bearer header, or `?token=` for streams).
async fn status(
    url: &str,
    method: &str,
    path: &str,
    credential: Option<&str>,
    via_query: bool,
) -> u16 {
    let mut full = format!("{url}{path}");
    let mut request = client().request(method.parse().unwrap(), &full);
    if let Some(c) = credential {
        if via_query {
            full.push_str(&format!("&token={c}"));
            request = client().request(method.parse().unwrap(), &full);
        } else {
            request = request.bearer_auth(c);
        }
    }
    if method == "POST" {
        request = request
            .header("content-type", "application/json")
            .body(r#"{"data":1}"#);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status >= 400 {
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    status
}

#[tokio::test]
async fn each_route_lets_in_only_the_right_credential() {
    let server = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
        c.auth.jwt_secret = Some(JWT_SECRET.into());
    })
    .await;
    // An expired token that would otherwise carry every scope a route below needs.
    let expired = hs256(-60, &["orders.*"], &["orders.>"]);
    let url = &server.url;
    let (_, publisher) = create_key(url, &["publish:orders.*"]).await;
    let (_, reader) = create_key(url, &["subscribe:orders.>"]).await;
    let (revoked_id, revoked) = create_key(url, &["admin"]).await;
    let response = client()
        .delete(format!("{url}/v1/keys/{revoked_id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "revocation takes effect at once");
    assert_eq!(
        status(url, "GET", "/v1/keys", Some(&revoked), false).await,
        401
    );

    // route, method, the credential that should get in, whether `?token=` is accepted.
    let routes: &[(&str, &str, &str, bool)] = &[
        ("POST", "/v1/topics/orders.1/events", &publisher, false),
        ("GET", "/v1/events?topic=orders.*", &reader, true),
        ("GET", "/v1/sse?topic=orders.*", &reader, true),
        ("GET", "/v1/stream?topic=orders.1", &reader, true),
        ("GET", "/v1/topics/orders.1", &reader, false),
        ("GET", "/v1/subscriptions", ADMIN, false),
        ("GET", "/v1/keys", ADMIN, false),
    ];
    publish_as_admin(url).await;
    for (method, path, right, query_ok) in routes {
        let what = format!("{method} {path}");
        assert_eq!(
            status(url, method, path, None, false).await,
            401,
            "{what}: no credential"
        );
        assert_eq!(
            status(url, method, path, Some("hk_bogus_key"), false).await,
            401,
            "{what}: bad key"
        );
        assert_eq!(
            status(url, method, path, Some("not-even-shaped"), false).await,
            401,
            "{what}: bad key"
        );
        assert_eq!(
            status(url, method, path, Some(&revoked), false).await,
            401,
            "{what}: revoked key"
        );
        assert_eq!(
            status(url, method, path, Some(&expired), false).await,
            401,
            "{what}: expired token"
        );
        let wrong = if *right == publisher.as_str() {
            reader.as_str()
        } else {
            publisher.as_str()
        };
        assert_eq!(
            status(url, method, path, Some(wrong), false).await,
            403,
            "{what}: wrong scope"
        );
        let ok = status(url, method, path, Some(right), false).await;
        assert!((200..300).contains(&ok), "{what}: right scope got {ok}");
        if *query_ok {
            let ok = status(url, method, path, Some(right), true).await;
            assert!((200..300).contains(&ok), "{what}: ?token= got {ok}");
        }
    }

    // Scopes are checked per topic and per pattern, not just per route.
    assert_eq!(
        status(
            url,
            "POST",
            "/v1/topics/users.1/events",
            Some(&publisher),
            false
        )
        .await,
        403
    );
    assert_eq!(
        status(url, "GET", "/v1/sse?topic=%3E", Some(&reader), false).await,
        403,
        "> is wider than orders.>"
    );
    assert_eq!(
        status(
            url,
            "GET",
            "/v1/events?topic=orders.1&topic=users.1",
            Some(&reader),
            false
        )
        .await,
        403
    );
    // The topic list shows only what the key may read.
    let topics: Value = serde_json::from_slice(
        &client()
            .get(format!("{url}/v1/topics"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders.1"]);
    // Health checks need no key.
    assert_eq!(status(url, "GET", "/healthz", None, false).await, 200);
    // An SSE stream opened with ?token= (as EventSource must) delivers.
    let mut sse = Stream::open(
        url,
        &format!("/v1/sse?topic=orders.*&after=0&token={reader}"),
        &[],
    )
    .await;
    assert_eq!(sse.next_event().await.unwrap()["topic"], "orders.1");
    server.stop().await;
}

async fn publish_as_admin(url: &str) {
    for topic in ["orders.1", "users.1"] {
        let response = client()
            .post(format!("{url}/v1/topics/{topic}/events"))
            .bearer_auth(ADMIN)
            .body(r#"{"data":0}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

#[tokio::test]
async fn keys_are_validated_and_listed_without_secrets() {
    let server = TestServer::start(|c| c.admin_key = Some(ADMIN.into())).await;
    for scopes in [json!([]), json!(["read:x"]), json!(["publish:a..b"])] {
        let response = client()
            .post(format!("{}/v1/keys", server.url))
            .bearer_auth(ADMIN)
            .body(json!({ "scopes": scopes }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{scopes}");
    }
    let (id, key) = create_key(&server.url, &["subscribe:>"]).await;
    let list: Value = serde_json::from_slice(
        &client()
            .get(format!("{}/v1/keys", server.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(list["keys"][0]["id"], id.as_str());
    assert!(
        !list.to_string().contains(&key),
        "the secret is never listed"
    );
    assert!(
        !std::fs::read(server.dir.path().join("herald.db"))
            .unwrap()
            .windows(key.len())
            .any(|w| w == key.as_bytes()),
        "nor stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn first_start_creates_an_admin_key_shown_once_and_the_cli_manages_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (server, printed) = Process::serve_with(dir.path(), &[], &[]);
    let line = printed
        .iter()
        .find(|l| l.contains("created an admin API key"))
        .expect("the key is printed");
    let admin = line.split_whitespace().last().unwrap().to_owned();
    assert_eq!(
        status(&server.url, "GET", "/v1/keys", None, false).await,
        401,
        "secure by default"
    );
    assert_eq!(
        status(&server.url, "GET", "/v1/keys", Some(&admin), false).await,
        200
    );

    let herald = env!("CARGO_BIN_EXE_herald");
    let out = std::process::Command::new(herald)
        .args([
            "keys",
            "create",
            "--scope",
            "publish:cli.*",
            "--server",
            &server.url,
            "--key",
            &admin,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["key"].as_str().unwrap();
    let (status_code, _) = publish_with(&server.url, "cli.x", key).await;
    assert_eq!(status_code, 201);
    let out = std::process::Command::new(herald)
        .args([
            "keys",
            "revoke",
            created["id"].as_str().unwrap(),
            "--server",
            &server.url,
        ])
        .env("HERALD_KEY", &admin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(publish_with(&server.url, "cli.x", key).await.0, 401);
    let out = std::process::Command::new(herald)
        .args(["keys", "list", "--server", &server.url])
        .output()
        .unwrap();
    assert!(!out.status.success(), "no key, no list");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Authorization"),
        "the error says what to send"
    );

    // A restart does not mint another key.
    drop(server);
    let (_, printed) = Process::serve_with(dir.path(), &[], &[]);
    assert!(!printed.iter().any(|l| l.contains("admin API key")));
}

async fn publish_with(url: &str, topic: &str, key: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{url}/v1/topics/{topic}/events"))
        .bearer_auth(key)
        .body(r#"{"data":1}"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null),
    )
}

const JWT_SECRET: &str = "a-shared-secret-of-at-least-32-characters!";

fn token(
    key: &jsonwebtoken::EncodingKey,
    algorithm: jsonwebtoken::Algorithm,
    exp_in_secs: i64,
    publish: &[&str],
    subscribe: &[&str],
) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({ "sub": "browser-7", "exp": now + exp_in_secs, "publish": publish, "subscribe": subscribe });
    jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), &claims, key).unwrap()
}

fn hs256(exp_in_secs: i64, publish: &[&str], subscribe: &[&str]) -> String {
    token(
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
        exp_in_secs,
        publish,
        subscribe,
    )
}

async fn problem_detail(url: &str, path: &str, credential: &str) -> (u16, String) {
    let response = client()
        .get(format!("{url}{path}"))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (
        status,
        body["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn client_tokens_grant_their_patterns_until_they_expire() {
    let server = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
        c.auth.jwt_secret = Some(JWT_SECRET.into());
    })
    .await;
    let url = &server.url;
    let browser = hs256(60, &["chat.*"], &["chat.>"]);
    assert_eq!(publish_with(url, "chat.lobby", &browser).await.0, 201);
    assert_eq!(
        publish_with(url, "orders.1", &browser).await.0,
        403,
        "outside its publish patterns"
    );
    assert_eq!(
        status(url, "GET", "/v1/events?topic=chat.*", Some(&browser), true).await,
        200
    );
    assert_eq!(
        status(url, "GET", "/v1/events?topic=%3E", Some(&browser), false).await,
        403
    );
    assert_eq!(
        status(url, "GET", "/v1/keys", Some(&browser), false).await,
        403,
        "tokens never carry admin"
    );

    let (code, detail) = problem_detail(
        url,
        "/v1/events?topic=chat.*",
        &hs256(-60, &[], &["chat.>"]),
    )
    .await;
    assert_eq!(code, 401);
    assert!(detail.contains("expired"), "{detail}");
    let forged = token(
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-another-secret-another"),
        jsonwebtoken::Algorithm::HS256,
        60,
        &[],
        &["chat.>"],
    );
    assert_eq!(
        problem_detail(url, "/v1/events?topic=chat.*", &forged)
            .await
            .0,
        401
    );

    // A stream opened with a token ends when the token expires, saying why.
    let short = hs256(2, &[], &["chat.>"]);
    let mut sse = Stream::open(url, &format!("/v1/sse?topic=chat.*&token={short}"), &[]).await;
    assert_eq!(sse.status, 200);
    let mut farewell = None;
    while let Some(item) = sse.next_item().await {
        if let common::Item::KeepAlive(text) = item {
            farewell = Some(text);
        }
    }
    assert!(farewell.unwrap_or_default().contains("token expired"));
    server.stop().await;
}

#[tokio::test]
async fn rs256_and_eddsa_tokens_verify_with_the_configured_public_key() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    for (public, private, algorithm) in [
        (
            "rsa_public.pem",
            "rsa_private.pem",
            jsonwebtoken::Algorithm::RS256,
        ),
        (
            "ed25519_public.pem",
            "ed25519_private.pem",
            jsonwebtoken::Algorithm::EdDSA,
        ),
    ] {
        let server = TestServer::start(|c| {
            c.dev = false;
            c.auth.jwt_public_key = Some(format!("{fixtures}/{public}"));
        })
        .await;
        let pem = std::fs::read(format!("{fixtures}/{private}")).unwrap();
        let key = match algorithm {
            jsonwebtoken::Algorithm::RS256 => {
                jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()
            }
            _ => jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap(),
        };
        let good = token(&key, algorithm, 60, &[], &["feed.>"]);
        assert_eq!(
            status(
                &server.url,
                "GET",
                "/v1/events?topic=feed.*",
                Some(&good),
                false
            )
            .await,
            200,
            "{public}"
        );
        assert_eq!(
            status(
                &server.url,
                "GET",
                "/v1/events?topic=feed.*",
                Some(&hs256(60, &[], &["feed.>"])),
                false
            )
            .await,
            401,
            "{public}: HS256 is not accepted when only a public key is configured"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn stomp_checks_the_passcode_and_every_destination() {
    use common::stomp::Client;
    use herald_codec::stomp::{Command, Frame};
    let server = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
        c.auth.jwt_secret = Some(JWT_SECRET.into());
    })
    .await;
    let (_, key) = create_key(&server.url, &["publish:chat.*", "subscribe:chat.>"]).await;
    let connect = |passcode: Option<&str>| {
        let frame = Frame::new(Command::Connect)
            .with_header("accept-version", "1.2")
            .with_header("host", "h");
        match passcode {
            Some(p) => frame
                .with_header("login", "ignored")
                .with_header("passcode", p),
            None => frame,
        }
    };

    for passcode in [
        None,
        Some("hk_bogus_key"),
        Some(hs256(-60, &[], &["chat.>"]).as_str()),
    ] {
        let mut c = Client::tcp(server.stomp).await;
        c.send(connect(passcode)).await;
        let error = c.expect_error_and_close().await;
        assert_eq!(
            error.header("message"),
            Some("authentication failed"),
            "{passcode:?}"
        );
    }

    let mut c = Client::tcp(server.stomp).await;
    c.connect_with(connect(Some(&key))).await;
    c.subscribe("1", "/topic/chat.>", &[]).await;
    c.publish("/topic/chat.lobby", r#"{"text":"hi"}"#, &[])
        .await;
    assert_eq!(
        c.message().await.header("destination"),
        Some("/topic/chat.lobby")
    );
    c.send(common::stomp::send("/topic/orders.1", "{}")).await;
    let error = c.expect_error_and_close().await;
    assert_eq!(error.header("message"), Some("forbidden"));

    let mut c = Client::tcp(server.stomp).await;
    c.connect_with(connect(Some(&key))).await;
    c.send(
        Frame::new(Command::Subscribe)
            .with_header("id", "1")
            .with_header("destination", "/topic/>"),
    )
    .await;
    assert_eq!(
        c.expect_error_and_close().await.header("message"),
        Some("forbidden")
    );

    // WebSocket: credentials on the upgrade are checked before it; CONNECT may then omit them.
    assert_eq!(
        Client::ws_with(&server.url, "?token=hk_bogus_key", &[])
            .await
            .err(),
        Some(401)
    );
    let mut ws = Client::ws_with(
        &server.url,
        "",
        &[("authorization", &format!("Bearer {key}"))],
    )
    .await
    .unwrap();
    ws.connect_with(connect(None)).await;
    ws.subscribe("1", "/topic/chat.*", &[]).await;

    // A token ends its STOMP connection when it expires.
    let mut c = Client::tcp(server.stomp).await;
    c.connect_with(connect(Some(&hs256(2, &[], &["chat.>"]))))
        .await;
    let error = c.expect_error_and_close().await;
    assert_eq!(error.header("message"), Some("token expired"));
    server.stop().await;
}
