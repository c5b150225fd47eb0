//! The client commands (`herald publish`, `herald tail`), talking to a server over HTTP.

pub mod keys;
pub mod listen;
pub mod publish;
pub mod subscriptions;
pub mod tail;

use anyhow::{Context, bail};

/// Where the server is and how to authenticate.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Herald server URL.
    #[arg(
        long,
        global = true,
        env = "HERALD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API key or client token, sent as `Authorization: Bearer`.
    #[arg(long, global = true, env = "HERALD_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

impl ClientArgs {
    /// A request to `path` on the server, with the key attached.
    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}{}", self.server.trim_end_matches('/'), path);
        let request = client.request(method, url);
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }
}

/// Turns an error response into a message that says what went wrong (the problem's `detail`).
async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or(body);
    bail!("the server answered {status}: {detail}")
}

fn connect_error(server: &str) -> impl FnOnce(reqwest::Error) -> anyhow::Error + '_ {
    move |e| {
        anyhow::Error::new(e).context(format!("cannot reach Herald at {server}; is `herald serve` running? (set --server or HERALD_SERVER)"))
    }
}

/// The HTTP client (http and https).
fn client() -> anyhow::Result<reqwest::Client> {
    crate::install_crypto();
    reqwest::Client::builder()
        .build()
        .context("cannot build the HTTP client")
}
