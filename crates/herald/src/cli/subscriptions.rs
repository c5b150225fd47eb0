//! `herald subscriptions ...`: manage webhook subscriptions and their deliveries on a running
//! server (needs an admin key). Answers are printed as JSON.

use serde_json::{Value, json};

use super::{ClientArgs, check, client, connect_error};

/// Arguments of `herald subscriptions`.
#[derive(Debug, clap::Args)]
pub struct SubscriptionsArgs {
    #[command(subcommand)]
    pub command: SubscriptionsCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum SubscriptionsCommand {
    /// Create a subscription; prints it with its signing secret.
    Create {
        /// Endpoint URL (http or https).
        #[arg(long)]
        url: String,
        /// Topic pattern to deliver (repeatable).
        #[arg(long = "topic", required = true)]
        topics: Vec<String>,
        /// Only these event types (repeatable; default all).
        #[arg(long = "type")]
        types: Vec<String>,
        /// Delays before each retry, e.g. `--retry 5s --retry 1m` (default: the standard schedule).
        #[arg(long = "retry")]
        retry_schedule: Vec<String>,
        /// Deliver one at a time, in order.
        #[arg(long)]
        ordered: bool,
        #[arg(long)]
        description: Option<String>,
    },
    /// List subscriptions.
    List,
    /// Show one subscription.
    Show { id: String },
    /// A subscription's recent deliveries with their attempts.
    Deliveries {
        id: String,
        /// pending, retrying, succeeded or dead.
        #[arg(long)]
        status: Option<String>,
    },
    /// Try a delivery again now.
    Retry { delivery_id: String },
    /// Deliver again everything after a seq, or since a time.
    Replay {
        id: String,
        #[arg(long, conflicts_with = "since", required_unless_present = "since")]
        after: Option<u64>,
        /// RFC 3339 time, e.g. 2026-11-27T10:00:00Z.
        #[arg(long)]
        since: Option<String>,
    },
}

/// Runs one subscriptions command.
pub async fn run(args: SubscriptionsArgs) -> anyhow::Result<()> {
    use SubscriptionsCommand as C;
    use reqwest::Method;
    let (method, path, body) = match &args.command {
        C::Create {
            url,
            topics,
            types,
            retry_schedule,
            ordered,
            description,
        } => {
            let mut body =
                json!({ "url": url, "topics": topics, "types": types, "ordered": ordered });
            if !retry_schedule.is_empty() {
                body["retry_schedule"] = json!(retry_schedule);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            (Method::POST, "/v1/subscriptions".to_owned(), Some(body))
        }
        C::List => (Method::GET, "/v1/subscriptions".to_owned(), None),
        C::Show { id } => (Method::GET, format!("/v1/subscriptions/{id}"), None),
        C::Deliveries { id, status } => {
            let query = status
                .as_ref()
                .map(|s| format!("?status={s}"))
                .unwrap_or_default();
            (
                Method::GET,
                format!("/v1/subscriptions/{id}/deliveries{query}"),
                None,
            )
        }
        C::Retry { delivery_id } => (
            Method::POST,
            format!("/v1/deliveries/{delivery_id}/retry"),
            None,
        ),
        C::Replay { id, after, since } => {
            let body = match (after, since) {
                (Some(after), _) => json!({ "after": after }),
                (None, since) => json!({ "since": since }),
            };
            (
                Method::POST,
                format!("/v1/subscriptions/{id}/replay"),
                Some(body),
            )
        }
    };
    let http = client()?;
    let mut request = args.client.request(&http, method, &path);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = check(
        request
            .send()
            .await
            .map_err(connect_error(&args.client.server))?,
    )
    .await?;
    let answer: Value = serde_json::from_slice(&response.bytes().await?)?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
