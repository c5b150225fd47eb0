//! `herald publish <topic> [json]`: publish one event (JSON from the argument or stdin).

use std::io::Read;

use anyhow::Context;
use serde_json::{Value, json};

use super::{ClientArgs, check, client, connect_error};

/// Arguments of `herald publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Topic to publish on, e.g. `orders.42`.
    pub topic: String,
    /// The event's data as JSON; read from stdin when absent or `-`.
    pub data: Option<String>,
    /// Event type (defaults to the topic).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Event id, making the publish idempotent (generated when absent).
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Publishes and prints the stored event.
pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let text = match args.data.as_deref() {
        Some("-") | None => {
            let mut buf = String::new();
            std::io::stdin()
                .read_to_string(&mut buf)
                .context("cannot read the event from stdin")?;
            buf
        }
        Some(text) => text.to_owned(),
    };
    let data: Value = serde_json::from_str(&text).with_context(|| {
        format!("the event data is not valid JSON: {text:?} (quote strings: '\"hello\"')")
    })?;
    let mut body = json!({ "data": data });
    if let Some(t) = args.event_type {
        body["type"] = t.into();
    }
    if let Some(id) = args.id {
        body["id"] = id.into();
    }
    let path = format!("/v1/topics/{}/events", args.topic);
    let response = args
        .client
        .request(&client()?, reqwest::Method::POST, &path)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(connect_error(&args.client.server))?;
    let event = check(response).await?.text().await?;
    println!("{event}");
    Ok(())
}
