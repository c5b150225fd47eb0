//! Herald: an event-driven API server. A producer publishes an event once; consumers receive it
//! over webhooks, STOMP, Server-Sent Events, NDJSON or long-polling, all from one durable log.
//!
//! [`Herald::open`] builds the server from a [`config::Config`]; [`Herald::serve`] runs it on a
//! listener until a shutdown token fires. `main.rs` only parses the command line.

pub mod api;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod core;
pub mod metrics;
pub mod serve;
pub mod store;
pub mod transport;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;
use crate::auth::tokens::TokenVerifier;
use crate::bus::Bus;
use crate::bus::local::LocalBus;
use crate::bus::nats::NatsBus;
use crate::config::{Config, StoreBackend};
use crate::core::log::Log;
use crate::core::queue::Queues;
use crate::store::keys::KeyStore;
use crate::store::postgres::PostgresStore;
use crate::store::queue::QueueStore;
use crate::store::sqlite::SqliteStore;
use crate::store::webhooks::WebhookStore;
use crate::store::{RetentionPolicy, Store};
use crate::webhook::dispatcher::Dispatcher;
use crate::webhook::sender::Sender;
use crate::webhook::ssrf::Guard;
use crate::webhook::worker::Settings;

/// How long shutdown waits for in-flight requests before closing anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A Herald server with its store open, ready to serve.
pub struct Herald {
    config: Config,
    log: Arc<Log>,
    webhook_store: Arc<dyn WebhookStore>,
    auth: Arc<Authenticator>,
    /// TLS for the listeners, when `tls.cert` and `tls.key` are set.
    tls: Option<tokio_rustls::TlsAcceptor>,
    metrics: Arc<metrics::Metrics>,
    queues: Arc<Queues>,
    /// In cluster mode: this node's part, and the store whose lock elects the webhook leader.
    cluster: Option<(Arc<cluster::Cluster>, Arc<PostgresStore>)>,
}

impl Herald {
    /// Opens the store named by the configuration.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        install_crypto();
        let (bus, nats): (Arc<dyn Bus>, _) = if config.cluster() {
            let nats = NatsBus::connect(&config.bus, &config.bus_prefix, config.streams.buffer)
                .await
                .context("cannot join the cluster's bus (config `bus`)")?;
            (nats.clone(), Some(nats))
        } else {
            (Arc::new(LocalBus::new(config.streams.buffer)), None)
        };
        let stores = open_stores(&config, bus.clone()).await?;
        let cluster = match (&nats, &stores.postgres) {
            (Some(nats), Some(postgres)) => {
                // From the store's head on, every node's commits reach this node's readers.
                nats.start(stores.log.clone());
                let cluster = cluster::Cluster::new(
                    nats.client().clone(),
                    &config.bus_prefix,
                    config.limits.max_body,
                );
                Some((cluster, postgres.clone()))
            }
            _ => None,
        };
        let queues = match (&nats, &stores.postgres) {
            (Some(nats), Some(postgres)) => {
                cluster::shared_queues(nats.client().clone(), &config.bus_prefix, postgres.clone())
                    .await
                    .context("cannot share the queues with the cluster")?
            }
            _ => Queues::open(stores.queues)
                .await
                .context("cannot load the queues")?,
        };
        let log = Arc::new(Log::new(stores.log, bus));
        let tokens = TokenVerifier::from_config(
            config.auth.jwt_secret.as_deref(),
            config.auth.jwt_public_key.as_deref(),
        )?;
        let auth = Arc::new(
            Authenticator::new(stores.keys, config.admin_key.as_deref(), config.dev)
                .with_tokens(tokens),
        );
        let tls = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => Some(serve::tls_acceptor(cert, key)?),
            _ => None,
        };
        Ok(Self {
            cluster,
            metrics: Arc::new(metrics::Metrics::new()),
            tls,
            config,
            log,
            webhook_store: stores.webhooks,
            auth,
            queues,
        })
    }

    /// Who may do what.
    pub fn auth(&self) -> &Arc<Authenticator> {
        &self.auth
    }

    /// The log, for embedding and tests.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Serves HTTP (with STOMP over WebSocket) on `listener` until `shutdown` is cancelled; see
    /// [`Herald::serve_with_stomp`].
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.serve_with_stomp(listener, None, shutdown).await
    }

    /// Serves HTTP on `listener` and, when given, STOMP over TCP on `stomp`, until `shutdown` is
    /// cancelled, then drains: new connections are refused, streams and STOMP sessions end
    /// cleanly, in-flight publishes finish, and the store is closed.
    pub async fn serve_with_stomp(
        self,
        listener: TcpListener,
        stomp: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let tasks = TaskTracker::new();
        tasks.spawn(retention(
            self.log.clone(),
            self.config.clone(),
            shutdown.clone(),
        ));
        let webhooks = &self.config.webhooks;
        let sender = Sender::new(Guard::new(webhooks.networks()?))
            .context("cannot build the webhook client")?;
        let settings = Settings {
            disable_after: webhooks.disable_after.0,
            metrics: self.metrics.clone(),
        };
        let dispatcher = Dispatcher::new(
            self.log.clone(),
            self.webhook_store.clone(),
            sender,
            settings,
            shutdown.clone(),
        );
        if self.cluster.is_none() {
            // In a cluster the elected leader activates its dispatcher (below).
            dispatcher
                .activate()
                .await
                .context("cannot start webhook delivery")?;
            self.metrics.webhook_leader.set(1);
        }
        let admission = Arc::new(crate::auth::limits::Admission::new(&self.config.limits));
        let stomp_context = Arc::new(transport::stomp::Context {
            log: self.log.clone(),
            queues: self.queues.clone(),
            auth: self.auth.clone(),
            admission: admission.clone(),
            tls: self.tls.clone(),
            metrics: self.metrics.clone(),
            config: self.config.stomp.clone(),
            max_event: self.config.limits.max_event,
            max_transaction: self.config.limits.max_body,
            shutdown: shutdown.clone(),
        });
        if let Some(stomp) = stomp {
            tasks.spawn(transport::stomp::tcp::serve(
                stomp_context.clone(),
                stomp,
                tasks.clone(),
            ));
        }
        let state = api::AppState {
            log: self.log.clone(),
            limits: self.config.limits.clone(),
            streams: self.config.streams.clone(),
            webhooks: dispatcher.clone(),
            auth: self.auth.clone(),
            admission,
            metrics: self.metrics.clone(),
            webhook_defaults: webhooks.clone(),
            shutdown: shutdown.clone(),
            stomp: stomp_context,
        };
        let options = serve::Options {
            header_timeout: self.config.http.header_timeout.0,
            max_connections: self.config.http.max_connections as usize,
            tls: self.tls.clone(),
            drain: DRAIN_TIMEOUT,
        };
        let mut app = api::router(state);
        if let Some((cluster, postgres)) = &self.cluster {
            app = app.layer(axum::middleware::from_fn_with_state(
                cluster.clone(),
                cluster::forward,
            ));
            tasks.spawn(cluster.clone().run(
                postgres.clone(),
                dispatcher.clone(),
                app.clone(),
                self.metrics.clone(),
                shutdown.clone(),
            ));
        }
        serve::serve(listener, app, options, shutdown.clone()).await;
        tasks.close();
        tasks.wait().await;
        dispatcher.wait().await;
        self.queues.close().await;
        self.log.store().close().await;
        Ok(())
    }
}

/// The stores Herald runs on, all views of one backend.
struct Stores {
    log: Arc<dyn Store>,
    webhooks: Arc<dyn WebhookStore>,
    keys: Arc<dyn KeyStore>,
    queues: Arc<dyn QueueStore>,
    /// The same store when it is PostgreSQL (its lock elects a cluster's webhook leader).
    postgres: Option<Arc<PostgresStore>>,
}

impl Stores {
    fn of<S: Store + WebhookStore + KeyStore + QueueStore>(store: Arc<S>) -> Self {
        Self {
            log: store.clone(),
            webhooks: store.clone(),
            keys: store.clone(),
            queues: store,
            postgres: None,
        }
    }
}

/// Opens the backend that `store` names: the only place that picks one.
async fn open_stores(config: &Config, bus: Arc<dyn Bus>) -> anyhow::Result<Stores> {
    Ok(match config.store_backend()? {
        StoreBackend::Sqlite => Stores::of(Arc::new(
            SqliteStore::open(&config.data_dir, config.storage.sync, bus).with_context(|| {
                format!("cannot open the store in {}", config.data_dir.display())
            })?,
        )),
        StoreBackend::Postgres(url) => {
            let store = Arc::new(
                PostgresStore::open(&url, bus)
                    .await
                    .context("cannot open the PostgreSQL store (config `store`)")?,
            );
            Stores {
                postgres: Some(store.clone()),
                ..Stores::of(store)
            }
        }
    })
}

/// Brings the configured store's schema up to date and closes it (`herald migrate`); says
/// what it did.
pub async fn migrate(config: &Config) -> anyhow::Result<String> {
    match config.store_backend()? {
        StoreBackend::Sqlite => {
            // The embedded store creates and upgrades its tables whenever it opens.
            let bus = Arc::new(LocalBus::new(config.streams.buffer));
            let store = SqliteStore::open(&config.data_dir, config.storage.sync, bus)
                .with_context(|| {
                    format!("cannot open the store in {}", config.data_dir.display())
                })?;
            store.close().await;
            Ok(format!(
                "the SQLite store in {} is up to date",
                config.data_dir.display()
            ))
        }
        StoreBackend::Postgres(url) => {
            let applied = PostgresStore::migrate(&url)
                .await
                .context("cannot migrate the PostgreSQL store (config `store`)")?;
            Ok(format!(
                "applied {applied} migration(s); the PostgreSQL schema is up to date"
            ))
        }
    }
}

/// Picks ring as rustls' crypto for outbound HTTPS (webhooks, the CLI); idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Removes expired events now and then, until shutdown.
async fn retention(log: Arc<Log>, config: Config, shutdown: CancellationToken) {
    let policy = RetentionPolicy {
        max_age_ms: i64::try_from(config.retention.max_age.0.as_millis()).unwrap_or(i64::MAX),
        max_events_per_topic: (config.retention.max_events_per_topic > 0)
            .then_some(config.retention.max_events_per_topic),
    };
    loop {
        match log.store().enforce_retention(policy).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "retention removed old events"),
            Err(e) => tracing::warn!(error = %e, "retention failed; will retry"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.retention.interval.0) => {}
        }
    }
}
