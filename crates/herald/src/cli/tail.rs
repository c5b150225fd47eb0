//! `herald tail <pattern>...`: follow a stream and print each event; reconnects and resumes from
//! the last `seq` it printed if the connection drops.

use std::time::Duration;

use anyhow::bail;
use bytes::Bytes;
use futures_util::StreamExt;
use herald_codec::ndjson;
use serde_json::Value;

use super::{ClientArgs, check, client, connect_error};

/// Arguments of `herald tail`.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Topic patterns to follow (`orders.*`, `chat.>`, `>` for everything).
    #[arg(required = true)]
    pub patterns: Vec<String>,
    /// Replay events after this seq first (0 = from the oldest retained); default: new events only.
    #[arg(long)]
    pub after: Option<u64>,
    /// Print each event's JSON as received, one per line (for scripts).
    #[arg(long)]
    pub json: bool,
    /// Exit after this many events.
    #[arg(long)]
    pub count: Option<u64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Follows until interrupted (or `--count` events).
pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let mut printed = 0u64;
    follow(
        &args.client,
        &args.patterns,
        args.after,
        "tail",
        async |event, line| {
            print_event(&event, &line, args.json);
            printed += 1;
            Ok(args.count.is_none_or(|n| printed < n))
        },
    )
    .await
}

/// Follows an NDJSON stream of `patterns`, handing each event (parsed, and as received) to
/// `handle` until it returns `false`. Reconnects after a drop and resumes after the last
/// `seq` handled. Without `after`, starts after the server's current head.
pub(crate) async fn follow(
    args: &ClientArgs,
    patterns: &[String],
    after: Option<u64>,
    name: &str,
    mut handle: impl AsyncFnMut(Value, Bytes) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let http = client()?;
    // Starting "live" means starting after the current head, so that a reconnect resumes
    // exactly where the first connection began instead of skipping or replaying.
    let mut after = match after {
        Some(after) => after,
        None => head(&http, args).await?,
    };
    let mut connected_once = false;
    loop {
        let mut query: Vec<(&str, String)> =
            patterns.iter().map(|p| ("topic", p.clone())).collect();
        query.push(("after", after.to_string()));
        let query = query.iter().map(|(k, v)| {
            format!(
                "{k}={}",
                form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        });
        let path = format!("/v1/stream?{}", query.collect::<Vec<_>>().join("&"));
        let response = match args
            .request(&http, reqwest::Method::GET, &path)
            .send()
            .await
        {
            Ok(r) => check(r).await?,
            Err(e) if connected_once => {
                eprintln!("herald {name}: connection lost ({e}); retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(connect_error(&args.server)(e)),
        };
        connected_once = true;
        let mut decoder = ndjson::Decoder::new(16 << 20);
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            decoder.push(&chunk);
            while let Some(line) = decoder.next_line()? {
                let event: Value = serde_json::from_slice(&line)?;
                let Some(seq) = event.get("seq").and_then(Value::as_u64) else {
                    bail!("the server sent an event without seq")
                };
                after = seq;
                if !handle(event, line).await? {
                    return Ok(());
                }
            }
        }
        eprintln!("herald {name}: stream ended; resuming after seq {after}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The highest seq on the server now.
async fn head(http: &reqwest::Client, args: &ClientArgs) -> anyhow::Result<u64> {
    let response = args
        .request(http, reqwest::Method::GET, "/v1/topics")
        .send()
        .await
        .map_err(connect_error(&args.server))?;
    let topics: Value = serde_json::from_slice(&check(response).await?.bytes().await?)?;
    let last = topics["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["last_seq"].as_u64());
    Ok(last.max().unwrap_or(0))
}

fn print_event(event: &Value, raw: &[u8], json: bool) {
    use std::io::IsTerminal;
    if json {
        println!("{}", String::from_utf8_lossy(raw));
        return;
    }
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("");
    let data = event.get("data").map(Value::to_string).unwrap_or_default();
    // Colour only for a person at a terminal: dim seq and time, cyan topic, yellow type.
    let (dim, cyan, yellow, reset) = if std::io::stdout().is_terminal() {
        ("\x1b[2m", "\x1b[36m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    println!(
        "{dim}#{} {}{reset} {cyan}{}{reset} {yellow}{}{reset} {}",
        event["seq"],
        field("time"),
        field("topic"),
        field("type"),
        data
    );
}
