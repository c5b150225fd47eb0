//! The pages and scripts Herald serves itself, embedded in the binary (no build step): the
//! dashboard (`/ui/`), the two demo apps and the `herald.js` client.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

const CHAT: &str = include_str!("../../../../web/chat.html");
const FEED: &str = include_str!("../../../../web/feed.html");
const HERALD_JS: &str = include_str!("../../../../web/herald.js");
const UI: &str = include_str!("../../../../web/ui.html");
const UI_JS: &str = include_str!("../../../../web/ui.js");

/// `GET /ui/`: the dashboard. It asks for an API key and calls the API with it.
#[utoipa::path(get, path = "/ui/", tag = "pages", security(()),
    responses((status = 200, description = "The dashboard", content_type = "text/html")))]
pub async fn ui() -> Response {
    with_type(UI, "text/html; charset=utf-8")
}

/// `GET /ui`: to `/ui/`, so the page's relative links work.
#[utoipa::path(get, path = "/ui", tag = "pages", security(()),
    responses((status = 308, description = "To `/ui/`")))]
pub async fn ui_redirect() -> Redirect {
    Redirect::permanent("/ui/")
}

/// `GET /ui/app.js`: the dashboard's script.
#[utoipa::path(get, path = "/ui/app.js", tag = "pages", security(()),
    responses((status = 200, description = "The dashboard's script", content_type = "text/javascript")))]
pub async fn ui_js() -> Response {
    with_type(UI_JS, "text/javascript; charset=utf-8")
}

/// `GET /demo/chat`: the chat demo, over STOMP on `/v1/ws`.
#[utoipa::path(get, path = "/demo/chat", tag = "pages", security(()),
    responses((status = 200, description = "The chat demo", content_type = "text/html")))]
pub async fn chat() -> Response {
    with_type(CHAT, "text/html; charset=utf-8")
}

/// `GET /demo/feed`: the live feed demo, over Server-Sent Events on `/v1/sse`.
#[utoipa::path(get, path = "/demo/feed", tag = "pages", security(()),
    responses((status = 200, description = "The live feed demo", content_type = "text/html")))]
pub async fn feed() -> Response {
    with_type(FEED, "text/html; charset=utf-8")
}

/// `GET /herald.js`: the STOMP-over-WebSocket client the demos use.
#[utoipa::path(get, path = "/herald.js", tag = "pages", security(()),
    responses((status = 200, description = "A STOMP-over-WebSocket client for browsers", content_type = "text/javascript")))]
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
