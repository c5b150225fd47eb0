//! The pages Herald serves itself: the chat and feed demos and the `herald.js` client.

mod common;

use common::{TestServer, client};

/// GETs `path`, checks it is served with `content_type`, and returns the body.
async fn fetch(url: &str, path: &str, content_type: &str) -> String {
    let response = client().get(format!("{url}{path}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let served = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(served.starts_with(content_type), "{path} is {served}");
    response.text().await.unwrap()
}

/// Every `data-testid` hook is on the page.
fn assert_hooks(html: &str, hooks: &[&str]) {
    for hook in hooks {
        assert!(
            html.contains(&format!("data-testid=\"{hook}\"")),
            "missing {hook}"
        );
    }
}

#[tokio::test]
async fn chat_demo_and_client_script_are_served() {
    let server = TestServer::start(|_| {}).await;
    let html = fetch(&server.url, "/demo/chat", "text/html").await;
    assert_hooks(
        &html,
        &[
            "chat-room",
            "chat-nick",
            "chat-input",
            "chat-send",
            "chat-messages",
        ],
    );
    assert!(html.contains(r#"value="lobby""#), "joins lobby by default");
    assert!(html.contains(r#"src="/herald.js""#));
    let js = fetch(&server.url, "/herald.js", "text/javascript").await;
    assert!(js.contains("class Client"));
    server.stop().await;
}

#[tokio::test]
async fn feed_demo_is_served() {
    let server = TestServer::start(|_| {}).await;
    let html = fetch(&server.url, "/demo/feed", "text/html").await;
    assert_hooks(
        &html,
        &[
            "feed-status",
            "feed-input",
            "feed-send",
            "api-key",
            "api-key-save",
        ],
    );
    assert!(html.contains("new EventSource(\"/v1/sse?\""));
    assert!(
        html.contains(r#"|| "scores.>""#),
        "follows scores.> by default"
    );
    server.stop().await;
}
