//! Interop with STOMP clients Herald did not write: stomp.py over TCP and over WebSocket, and
//! @stomp/stompjs over WebSocket, each running its script in `tests/interop/` against a real
//! server; Herald's own browser client, `web/herald.js`, run in Node the same way; and the chat
//! demo in headless Chromium.
//!
//! `scripts/test` installs them all and sets `HERALD_INTEROP_PYTHON` (a Python with stomp.py)
//! and `HERALD_INTEROP=required`. A plain `cargo test` without them skips these tests, saying so.

mod common;

use std::time::Duration;

use common::TestServer;
use common::interop::{available, interop_dir, python, run, screenshot_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_py_over_tcp() {
    let Some(python) = python() else { return };
    let server = TestServer::start(|_| {}).await;
    let (host, port) = (
        server.stomp.ip().to_string(),
        server.stomp.port().to_string(),
    );
    run(&python, &["stomp_py.py".into(), "tcp".into(), host, port]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_py_over_websocket() {
    let Some(python) = python() else { return };
    let server = TestServer::start(|_| {}).await;
    let addr: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    run(&python, &["stomp_py.py".into(), "ws".into(), host, port]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stompjs_over_websocket() {
    if !available(&["tests/interop/node_modules/@stomp/stompjs"]) {
        return;
    }
    let server = TestServer::start(|_| {}).await;
    let url = format!("{}/v1/ws", server.url.replacen("http://", "ws://", 1));
    run("node", &["stompjs.mjs".into(), url]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_js_reconnects_and_resumes() {
    if !available(&["tests/interop/node_modules/ws"]) {
        return;
    }
    let server = TestServer::start(|_| {}).await;
    let url = format!("{}/v1/ws", server.url.replacen("http://", "ws://", 1));
    run("node", &["herald_js.mjs".into(), url]).await;
    server.stop().await;
}

/// The admin key of the servers that need credentials in the Chromium tests.
const ADMIN: &str = "admin-key-for-the-chat-test-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_demo_in_chromium() {
    if !available(&[
        "/usr/bin/chromium",
        "tests/interop/node_modules/playwright-core",
    ]) {
        return;
    }
    let dev = TestServer::start(|_| {}).await;
    let secure = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
    })
    .await;
    let (_, key) =
        common::create_key(&secure.url, ADMIN, &["publish:chat.*", "subscribe:chat.>"]).await;
    let screenshot = screenshot_path("chat.png");
    run(
        "node",
        &[
            "chat_browser.mjs".into(),
            dev.url.clone(),
            secure.url.clone(),
            key,
            screenshot.display().to_string(),
        ],
    )
    .await;
    let png = std::fs::read(&screenshot).expect("the script saved a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is a PNG"
    );
    secure.stop().await;
    dev.stop().await;
}

/// The feed demo in headless Chromium across a restart of the real binary: the page's
/// EventSource reconnects to the same address and resumes with `Last-Event-ID`, showing every
/// event exactly once, in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_demo_in_chromium_survives_a_restart() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    if !available(&[
        "/usr/bin/chromium",
        "tests/interop/node_modules/playwright-core",
    ]) {
        return;
    }
    let secure = TestServer::start(|c| {
        c.dev = false;
        c.admin_key = Some(ADMIN.into());
    })
    .await;
    let (_, key) = common::create_key(
        &secure.url,
        ADMIN,
        &["publish:scores.*", "subscribe:scores.>"],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let listen = common::free_port();
    let server = common::Process::serve_on(&listen, dir.path());
    let screenshot = screenshot_path("feed.png");
    let mut node = tokio::process::Command::new("node")
        .args(["feed_browser.mjs", &server.url])
        .arg(&screenshot)
        .args([&secure.url, &key])
        .current_dir(interop_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut server = Some(server);
    let mut printed = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "restart" {
                let status = server.take().unwrap().signal("-TERM");
                assert!(status.success(), "SIGTERM is a clean exit, got {status}");
                server = Some(common::Process::serve_on(&listen, dir.path()));
                stdin.write_all(b"back\n").await.unwrap();
            }
            printed.push(line);
        }
        node.wait().await.unwrap()
    })
    .await
    .expect("feed_browser.mjs finished in 90 s");
    assert!(
        finished.success(),
        "feed_browser.mjs failed ({finished}); it printed {printed:?}"
    );
    assert!(printed.iter().any(|l| l == "restart"), "{printed:?}");
    let png = std::fs::read(&screenshot).expect("the script saved a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is a PNG"
    );
    secure.stop().await;
}
