//! `herald keys create|list|revoke`: manage API keys on a running server (needs an admin key).

use serde_json::{Value, json};

use super::{ClientArgs, check, client, connect_error};

/// Arguments of `herald keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (it is shown only this once).
    Create {
        /// `admin`, `publish:<pattern>` or `subscribe:<pattern>` (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key at once.
    Revoke {
        /// The key's id (`key_...`).
        id: String,
    },
}

/// Runs one keys command and prints the server's answer.
pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let http = client()?;
    let (method, path, body) = match &args.command {
        KeysCommand::Create {
            scopes,
            description,
        } => (
            reqwest::Method::POST,
            "/v1/keys".to_owned(),
            Some(json!({ "scopes": scopes, "description": description })),
        ),
        KeysCommand::List => (reqwest::Method::GET, "/v1/keys".to_owned(), None),
        KeysCommand::Revoke { id } => (reqwest::Method::DELETE, format!("/v1/keys/{id}"), None),
    };
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
    let bytes = response.bytes().await?;
    match &args.command {
        KeysCommand::Revoke { id } => println!("revoked {id}"),
        _ => {
            let answer: Value = serde_json::from_slice(&bytes)?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
    }
    Ok(())
}
