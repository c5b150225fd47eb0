//! The pages and scripts Herald serves itself, embedded in the binary (no build step).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const CHAT: &str = include_str!("../../../../web/chat.html");
const FEED: &str = include_str!("../../../../web/feed.html");
const HERALD_JS: &str = include_str!("../../../../web/herald.js");

/// `GET /demo/chat`: the chat demo, over STOMP on `/v1/ws`.
pub async fn chat() -> Response {
    with_type(CHAT, "text/html; charset=utf-8")
}

/// `GET /demo/feed`: the live feed demo, over Server-Sent Events on `/v1/sse`.
pub async fn feed() -> Response {
    with_type(FEED, "text/html; charset=utf-8")
}

/// `GET /herald.js`: the STOMP-over-WebSocket client the demos use.
pub async fn herald_js() -> Response {
    with_type(HERALD_JS, "text/javascript; charset=utf-8")
}

fn with_type(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
