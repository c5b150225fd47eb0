//! `herald publish <topic> [json]`: publish one event (JSON from the argument or stdin), or
//! `--ndjson FILE` to import many, in batches, with progress on stderr.

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
    /// Import events from an NDJSON file (`-` for stdin): one `{"data", "type"?, "id"?}` per
    /// line, published in batches; give ids to make a re-run after a failure safe.
    #[arg(long, conflicts_with_all = ["data", "event_type", "id"])]
    pub ndjson: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Publishes and prints the stored event.
pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    if let Some(source) = &args.ndjson {
        return import(&args, source).await;
    }
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

/// Lines per request when importing.
const BATCH_LINES: usize = 500;
/// Bytes per request when importing, well under the server's default body limit.
const BATCH_BYTES: usize = 4 << 20;

/// Publishes every line of an NDJSON source in batches, waiting out rate limits.
async fn import(args: &PublishArgs, source: &str) -> anyhow::Result<()> {
    use std::io::BufRead;
    let reader: Box<dyn BufRead> = if source == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(source).with_context(|| format!("cannot open {source}"))?;
        Box::new(std::io::BufReader::new(file))
    };
    let http = client()?;
    let started = std::time::Instant::now();
    let (mut published, mut first_seq, mut last_seq) = (0u64, None, None);
    let mut batch: Vec<String> = Vec::new();
    let mut bytes = 0;
    let mut lines = reader.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let line = line.with_context(|| format!("cannot read line {} of {source}", n + 1))?;
        if !line.trim().is_empty() {
            serde_json::from_str::<&serde_json::value::RawValue>(&line)
                .with_context(|| format!("line {} is not JSON", n + 1))?;
            bytes += line.len() + 1;
            batch.push(line);
        }
        let full = batch.len() >= BATCH_LINES || bytes >= BATCH_BYTES || lines.peek().is_none();
        if full && !batch.is_empty() {
            let body = format!("[{}]", batch.join(","));
            let events = send_batch(&http, args, body).await?;
            published += events.len() as u64;
            first_seq = first_seq.or_else(|| events.first().and_then(|e| e["seq"].as_u64()));
            last_seq = events.last().and_then(|e| e["seq"].as_u64()).or(last_seq);
            let rate = published as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!("\rherald publish: {published} events ({rate:.0}/s)");
            batch.clear();
            bytes = 0;
        }
    }
    eprintln!();
    println!(
        "{}",
        json!({ "published": published, "first_seq": first_seq, "last_seq": last_seq })
    );
    Ok(())
}

/// Posts one batch, retrying after `Retry-After` when the key is over its rate.
async fn send_batch(
    http: &reqwest::Client,
    args: &PublishArgs,
    body: String,
) -> anyhow::Result<Vec<Value>> {
    let path = format!("/v1/topics/{}/events", args.topic);
    loop {
        let response = args
            .client
            .request(http, reqwest::Method::POST, &path)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .map_err(connect_error(&args.client.server))?;
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            continue;
        }
        let answer: Value = serde_json::from_slice(&check(response).await?.bytes().await?)?;
        return Ok(answer.as_array().cloned().unwrap_or_default());
    }
}
