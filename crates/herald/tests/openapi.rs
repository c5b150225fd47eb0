//! `/openapi.json`: the document is generated from the router, and the server keeps to it —
//! schemathesis (PyPI; installed by `scripts/test`) generates requests for every operation and
//! checks every answer against the document.

mod common;

use std::time::Duration;

use common::TestServer;
use common::interop::{interop_dir, python};

#[tokio::test]
async fn document_describes_every_route() {
    let server = TestServer::start(|_| {}).await;
    let (status, _, doc) = common::get(&server.url, "/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/topics/{topic}/events",
        "/v1/events",
        "/v1/sse",
        "/v1/stream",
        "/v1/ws",
        "/v1/topics",
        "/v1/topics/{topic}",
        "/v1/subscriptions",
        "/v1/subscriptions/{id}",
        "/v1/subscriptions/{id}/rotate-secret",
        "/v1/subscriptions/{id}/replay",
        "/v1/subscriptions/{id}/deliveries",
        "/v1/deliveries/{id}",
        "/v1/deliveries/{id}/retry",
        "/v1/keys",
        "/v1/keys/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/ui/",
    ] {
        assert!(paths.contains_key(path), "{path} is not in the document");
    }
    // Every operation says what it answers, and the API ones name their errors.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            if path.starts_with("/v1/") {
                assert!(
                    responses.keys().any(|k| k.starts_with('4')),
                    "{method} {path} documents no 4xx answer"
                );
            }
        }
    }
    let event = &doc["components"]["schemas"]["EventDoc"];
    assert_eq!(event["properties"]["seq"]["type"], "integer", "{event}");
    // The document served is the one the code generates.
    let generated = serde_json::to_value(herald::api::document()).unwrap();
    assert_eq!(doc, generated);
    server.stop().await;
}

/// schemathesis against a live server: no 5xx, and every status code, content type, header and
/// body as the document says. The never-ending streams are left out (they have their own tests
/// in streams.rs and stomp_*.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_violation() {
    let Some(python) = python() else { return };
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    if !schemathesis.exists() {
        assert!(
            !common::interop::required(),
            "{} is missing; run ./scripts/test",
            schemathesis.display()
        );
        eprintln!("skipped: schemathesis is not installed (./scripts/test installs it)");
        return;
    }
    let server = TestServer::start(|c| {
        c.webhooks.allow_networks = vec!["127.0.0.0/8".into()];
    })
    .await;
    common::publish(&server.url, "orders.1", r#"{"data":{"n":1}}"#).await;
    let run = tokio::process::Command::new(&schemathesis)
        .arg("run")
        .arg(format!("{}/openapi.json", server.url))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--exclude-path",
            "/v1/sse",
            "--exclude-path",
            "/v1/stream",
            "--exclude-path",
            "/v1/ws",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", interop_dir())
        .current_dir(interop_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("schemathesis finished in 10 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{stdout}");
    server.stop().await;
}
