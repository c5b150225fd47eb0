//! The `herald` command: `serve` runs the server; the other subcommands are its clients.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use herald::Herald;
use herald::cli::{keys, listen, publish, subscriptions, tail};
use herald::config::{Config, Overrides, StoreBackend};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Event-driven API server: publish once, deliver everywhere"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Bring the configured store's schema up to date, then exit (run before rolling out a
    /// new version to a cluster; `serve` also migrates at start-up).
    Migrate(MigrateArgs),
    /// Publish one event.
    Publish(publish::PublishArgs),
    /// Follow events matching patterns and print them.
    Tail(tail::TailArgs),
    /// Forward events to a local URL as signed webhooks (for apps behind a firewall).
    Listen(listen::ListenArgs),
    /// Manage API keys.
    Keys(keys::KeysArgs),
    /// Manage webhook subscriptions and their deliveries.
    Subscriptions(subscriptions::SubscriptionsArgs),
    /// Print a shell completion script, e.g. `herald completions bash > /etc/bash_completion.d/herald`.
    Completions { shell: clap_complete::Shell },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Config file (default: ./herald.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// HTTP listen address (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// STOMP over TCP listen address (default 127.0.0.1:61613).
    #[arg(long)]
    stomp_listen: Option<String>,
    /// Data directory (default ./herald-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Allow anonymous access from loopback (local development only).
    #[arg(long)]
    dev: bool,
    /// Write logs as JSON lines (default: human-readable); `RUST_LOG` sets the level.
    #[arg(long)]
    log_json: bool,
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// Config file (default: ./herald.toml when it exists); `store` names the database.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory of the embedded store (default ./herald-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("herald: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Migrate(args) => migrate(args).await,
            Command::Publish(args) => publish::run(args).await,
            Command::Tail(args) => tail::run(args).await,
            Command::Listen(args) => listen::run(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Subscriptions(args) => subscriptions::run(args).await,
            Command::Completions { shell } => {
                use clap::CommandFactory;
                clap_complete::generate(
                    shell,
                    &mut Cli::command(),
                    "herald",
                    &mut std::io::stdout(),
                );
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Human-readable by default; one JSON object per line for log pipelines.
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let overrides = Overrides {
        listen: args.listen,
        stomp_listen: args.stomp_listen,
        data_dir: args.data_dir,
        dev: args.dev.then_some(true),
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    let herald = Herald::open(config.clone()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (choose another with --listen)",
                config.listen
            )
        })?;
    let stomp = tokio::net::TcpListener::bind(config.stomp_listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen for STOMP on {}: {e} (choose another with --stomp-listen)",
                config.stomp_listen
            )
        })?;
    let addr = listener.local_addr()?;
    if config.dev {
        tracing::warn!(
            "DEV MODE: anyone connecting from this machine (loopback) may use every API without a key"
        );
    } else if let Some(key) = herald.auth().first_admin_key().await? {
        // Shown once: only its hash is stored.
        println!("herald: created an admin API key (it will not be shown again): {key}");
        println!("herald: use it as `Authorization: Bearer {key}` or `export HERALD_KEY={key}`");
    }
    // Printed on stdout in a fixed form, so scripts and tests can find the ports; the HTTP line
    // comes first.
    let (scheme, tls) = if config.tls.cert.is_some() {
        ("https", " (TLS)")
    } else {
        ("http", "")
    };
    let data = match config.store_backend()? {
        StoreBackend::Sqlite => format!("data in {}", config.data_dir.display()),
        StoreBackend::Postgres(_) => "data in PostgreSQL".to_owned(),
    };
    println!("herald: listening on {scheme}://{addr} ({data})");
    println!(
        "herald: stomp listening on tcp://{}{tls}",
        stomp.local_addr()?
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    herald
        .serve_with_stomp(listener, Some(stomp), shutdown)
        .await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.data_dir,
        ..Overrides::default()
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    let done = herald::migrate(&config).await?;
    println!("herald: {done}");
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
}
