//! The dashboard (`/ui/`) in headless Chromium against a real server and a real webhook
//! endpoint: the live tail, topic rates, a failing subscription's attempts with the request as
//! sent, a retry that succeeds, enable/disable, secret rotation, a test event and a replay.

mod common;

use std::time::Duration;

use common::TestServer;
use common::interop::{available, interop_dir, screenshot_path};
use common::receiver::Receiver;
use serde_json::json;

const ADMIN: &str = "admin-key-for-the-dashboard-test-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    if !available(&[
        "/usr/bin/chromium",
        "tests/interop/node_modules/playwright-core",
    ]) {
        return;
    }
    let server = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
        c.webhooks.allow_networks = vec!["127.0.0.0/8".into()];
    })
    .await;
    let rx = Receiver::start().await;
    // The first request fails; every later one succeeds.
    rx.script("/hook", &[500]);
    rx.always("/hook", 200);
    let (status, sub) = common::send_json_as(
        "POST",
        &format!("{}/v1/subscriptions", server.url),
        ADMIN,
        json!({"url": format!("{}/hook", rx.url), "topics": ["orders.*"], "retry_schedule": ["1h"]}),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    let screenshot = screenshot_path("dashboard.png");
    let node = tokio::process::Command::new("node")
        .args(["dashboard_browser.mjs", &server.url])
        .arg(&screenshot)
        .args([ADMIN, sub["id"].as_str().unwrap()])
        .current_dir(interop_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), node)
        .await
        .expect("dashboard_browser.mjs finished in 90 s")
        .expect("node runs");
    assert!(
        output.status.success(),
        "dashboard_browser.mjs failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // What the endpoint saw: the failed try, the retry, the test event, two replays.
    let hits = rx.hits("/hook");
    let mut types: Vec<String> = hits
        .iter()
        .map(|h| h.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types.len(), 5, "{hits:?}");
    // The replay's two deliveries run concurrently (the subscription is unordered).
    types[3..].sort();
    assert_eq!(
        types,
        [
            "order.created",
            "order.created",
            "herald.test",
            "herald.test",
            "order.created"
        ],
        "{hits:?}"
    );
    let png = std::fs::read(&screenshot).expect("the script saved a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is a PNG"
    );
    server.stop().await;
}
