//! The pages Herald serves itself: the chat and feed demos and the `herald.js` client.

mod common;

use common::{TestServer, client};

#[tokio::test]
async fn chat_demo_and_client_script_are_served() {
    let server = TestServer::start(|_| {}).await;
    let page = client()
        .get(format!("{}/demo/chat", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    for hook in [
        "chat-room",
        "chat-nick",
        "chat-input",
        "chat-send",
        "chat-messages",
    ] {
        assert!(
            html.contains(&format!("data-testid=\"{hook}\"")),
            "missing {hook}"
        );
    }
    assert!(html.contains(r#"value="lobby""#), "joins lobby by default");
    assert!(html.contains(r#"src="/herald.js""#));
    let js = client()
        .get(format!("{}/herald.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().await.unwrap().contains("class Client"));
    server.stop().await;
}

#[tokio::test]
async fn feed_demo_is_served() {
    let server = TestServer::start(|_| {}).await;
    let page = client()
        .get(format!("{}/demo/feed", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    for hook in [
        "feed-status",
        "feed-input",
        "feed-send",
        "api-key",
        "api-key-save",
    ] {
        assert!(
            html.contains(&format!("data-testid=\"{hook}\"")),
            "missing {hook}"
        );
    }
    assert!(html.contains("new EventSource(\"/v1/sse?\""));
    assert!(
        html.contains(r#"|| "scores.>""#),
        "follows scores.> by default"
    );
    server.stop().await;
}
