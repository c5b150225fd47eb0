//! `herald listen --topic P --forward-to URL`: receive webhooks behind a firewall. Connects out
//! to a Herald server, and re-delivers each event to a local URL as a signed Standard Webhooks
//! request, printing one line per delivery.

use std::time::Instant;

use anyhow::Context;
use serde_json::Value;

use super::ClientArgs;
use super::tail::follow;
use crate::core::event::now_ms;
use crate::webhook::signature::{generate_secret, secret_key, signature_header};

/// Arguments of `herald listen`.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Topic patterns to receive (repeatable).
    #[arg(long = "topic", required = true)]
    pub topics: Vec<String>,
    /// Local URL each event is POSTed to, e.g. http://localhost:3000/hook.
    #[arg(long)]
    pub forward_to: String,
    /// Signing secret (`whsec_...`) your app verifies with; one is generated and printed if absent.
    #[arg(long, env = "HERALD_LISTEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Replay events after this seq first; default: new events only.
    #[arg(long)]
    pub after: Option<u64>,
    /// Exit after forwarding this many events.
    #[arg(long)]
    pub count: Option<u64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Forwards until interrupted (or `--count` events).
pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let secret = match args.secret.clone() {
        Some(secret) => {
            secret_key(&secret).map_err(|e| anyhow::anyhow!("--secret: {e}"))?;
            secret
        }
        None => {
            let secret = generate_secret();
            eprintln!(
                "herald listen: signing with {secret} (pass --secret to keep one across runs)"
            );
            secret
        }
    };
    let target: reqwest::Url = args
        .forward_to
        .parse()
        .with_context(|| format!("--forward-to `{}` is not a URL", args.forward_to))?;
    let local = super::client()?;
    eprintln!(
        "herald listen: forwarding {} to {target}",
        args.topics.join(", ")
    );
    let mut forwarded = 0u64;
    follow(
        &args.client,
        &args.topics,
        args.after,
        "listen",
        async |event: Value, line| {
            let id = event["id"].as_str().unwrap_or_default().to_owned();
            let body = line;
            let timestamp = now_ms() / 1000;
            let signature =
                signature_header(&[&secret], &id, timestamp, &body).map_err(anyhow::Error::msg)?;
            let started = Instant::now();
            let sent = local
                .post(target.clone())
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await;
            let ms = started.elapsed().as_millis();
            let what = format!(
                "#{} {} {}",
                event["seq"],
                event["topic"].as_str().unwrap_or(""),
                event["type"].as_str().unwrap_or("")
            );
            match sent {
                Ok(r) => println!("{what} -> {} in {ms} ms", r.status()),
                Err(e) => println!("{what} -> failed in {ms} ms: {e}"),
            }
            forwarded += 1;
            Ok(args.count.is_none_or(|n| forwarded < n))
        },
    )
    .await
}
