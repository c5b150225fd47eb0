//! Configuration: defaults, then `herald.toml` (or `--config FILE`), then `HERALD_*` environment
//! variables (`a.b` is `HERALD_A__B`), then command-line flags; validated once at start-up.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::bail;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::store::sqlite::SyncMode;

/// Everything `herald serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// STOMP over plain TCP listen address.
    pub stomp_listen: SocketAddr,
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    /// The store's backend: `sqlite` (embedded in `data_dir`, the default) or a PostgreSQL URL
    /// (`postgres://user@host:5432/db`), which nodes of a cluster share.
    pub store: String,
    /// The live fan-out's backend: `local` (in-process, the default) or a NATS URL
    /// (`nats://host:4222`), through which the nodes of a cluster see each other's events.
    pub bus: String,
    /// Prefix of the NATS subjects, so several clusters can share one NATS.
    pub bus_prefix: String,
    pub storage: StorageConfig,
    pub retention: RetentionConfig,
    pub limits: LimitsConfig,
    pub streams: StreamsConfig,
    pub webhooks: WebhooksConfig,
    /// An admin API key accepted besides stored keys (`HERALD_ADMIN_KEY`).
    pub admin_key: Option<String>,
    /// Anonymous access from loopback, for local development only.
    pub dev: bool,
    pub auth: AuthConfig,
    pub stomp: StompConfig,
    pub http: HttpConfig,
    pub tls: TlsConfig,
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Time a client has to send a request's headers (and to finish a TLS handshake).
    pub header_timeout: Duration,
    /// Open HTTP connections at most; more wait in the kernel's backlog.
    pub max_connections: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 20_000,
        }
    }
}

/// TLS on the HTTP and STOMP listeners (both files PEM; both or neither).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// STOMP sessions (over WebSocket and TCP).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StompConfig {
    /// Largest frame a client may send, in bytes.
    pub max_frame: usize,
    /// Most headers in one frame.
    pub max_headers: usize,
    /// Longest header line, in bytes.
    pub max_header_line: usize,
    /// Most subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// Frames waiting to be written to one connection; a subscription whose frames do not fit
    /// waits (and its follower falls back to the log), never the publisher or other connections.
    pub outbound_queue: usize,
    /// Time a new connection has to send CONNECT.
    pub connect_timeout: Duration,
}

/// Durability of the embedded store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `full` (fsync every group commit; default), `normal` (survives a process crash, not a
    /// power cut), `off`.
    pub sync: SyncMode,
}

/// What the log keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Events older than this are removed.
    pub max_age: Duration,
    /// A topic keeps at most this many newest events; 0 means no count limit.
    pub max_events_per_topic: u64,
    /// How often retention runs.
    pub interval: Duration,
}

/// Input limits, in bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body.
    pub max_body: usize,
    /// Largest event payload (`data`).
    pub max_event: usize,
    /// Events per second one key or token may publish (over HTTP and STOMP); 0: no limit.
    pub publish_rate: u32,
    /// Events a key may publish at once above its rate (the bucket's size).
    pub publish_burst: u32,
    /// Long-lived connections (streams, long-polls, WebSocket, STOMP) from one IP; 0: no limit.
    pub connections_per_ip: u32,
    /// Long-lived connections one key or token may hold; 0: no limit.
    pub connections_per_key: u32,
}

/// Long-lived streams (SSE, NDJSON, long-poll).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamsConfig {
    /// Idle time after which a keep-alive is written.
    pub keepalive: Duration,
    /// Events the live ring holds; a reader further behind catches up from the log.
    pub buffer: usize,
}

/// Client tokens (JWT) for browsers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing secret shared with your token issuer (at least 32 characters).
    pub jwt_secret: Option<String>,
    /// RS256 or EdDSA public key: PEM text, or the path of a PEM file.
    pub jwt_public_key: Option<String>,
}

/// Webhook delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Address ranges webhooks may reach besides public addresses, e.g. `127.0.0.0/8`
    /// (a list, or one comma-separated string as environment variables give it).
    #[serde(deserialize_with = "list_or_csv")]
    pub allow_networks: Vec<String>,
    /// A subscription failing without a single success for this long is disabled.
    pub disable_after: Duration,
    /// Request timeout for subscriptions that set none.
    pub timeout: Duration,
    /// Concurrent requests per subscription for subscriptions that set none.
    pub max_in_flight: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_networks: Vec::new(),
            disable_after: Duration::from_secs(3 * 86_400),
            timeout: Duration::from_secs(15),
            max_in_flight: 8,
        }
    }
}

impl WebhooksConfig {
    /// The allow-list as networks.
    pub fn networks(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.allow_networks
            .iter()
            .map(|n| {
                n.parse::<ipnet::IpNet>()
                    .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| anyhow::anyhow!("webhooks.allow_networks: `{n}` is not an address range like 127.0.0.0/8 or ::1/128"))
            })
            .collect()
    }
}

fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("./herald-data"),
            store: "sqlite".into(),
            bus: "local".into(),
            bus_prefix: "herald".into(),
            storage: StorageConfig::default(),
            retention: RetentionConfig::default(),
            limits: LimitsConfig::default(),
            streams: StreamsConfig::default(),
            webhooks: WebhooksConfig::default(),
            admin_key: None,
            dev: false,
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            tls: TlsConfig::default(),
            stomp_listen: "127.0.0.1:61613".parse().expect("valid address"),
            stomp: StompConfig::default(),
        }
    }
}

impl Default for StompConfig {
    fn default() -> Self {
        Self {
            max_frame: 8 << 20,
            max_headers: 100,
            max_header_line: 8 << 10,
            max_subscriptions: 1000,
            outbound_queue: 1024,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            sync: SyncMode::Full,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(7 * 86_400),
            max_events_per_topic: 0,
            interval: Duration::from_secs(60),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body: 8 << 20,
            max_event: 1 << 20,
            publish_rate: 10_000,
            publish_burst: 20_000,
            connections_per_ip: 4_096,
            connections_per_key: 1_024,
        }
    }
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(15),
            buffer: 4096,
        }
    }
}

/// Values given on the command line, applied last.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stomp_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<bool>,
}

impl Config {
    /// Loads and validates the layered configuration.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => bail!("config file {} does not exist", path.display()),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("herald.toml").exists() => {
                figment = figment.merge(Toml::file_exact("herald.toml"))
            }
            None => {}
        }
        let config: Config = figment
            .merge(
                Env::prefixed("HERALD_")
                    .split("__")
                    .filter(|key| is_config_key(key.as_str())),
            )
            .merge(Serialized::globals(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("{}", describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.store_backend()?;
        if self.bus != "local" && !self.bus.starts_with("nats://") {
            bail!(
                "bus = {:?} is not a known bus: use \"local\" (in-process, the default) or a NATS URL such as \"nats://127.0.0.1:4222\"",
                without_credentials(&self.bus)
            );
        }
        if self.cluster() && self.store_backend()? == StoreBackend::Sqlite {
            bail!(
                "bus = {:?} joins a cluster, whose nodes must share one store: set store to a PostgreSQL URL (\"postgres://...\")",
                without_credentials(&self.bus)
            );
        }
        if self.bus_prefix.is_empty()
            || !self
                .bus_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!(
                "bus_prefix = {:?} must be one NATS subject token: letters, digits, `_` and `-`",
                self.bus_prefix
            );
        }
        let limits = &self.limits;
        if limits.max_body == 0 || limits.max_event == 0 {
            bail!("limits.max_body and limits.max_event must be greater than 0");
        }
        if limits.max_event > limits.max_body {
            bail!(
                "limits.max_event ({}) must not exceed limits.max_body ({})",
                limits.max_event,
                limits.max_body
            );
        }
        self.webhooks.networks()?;
        if self.webhooks.max_in_flight == 0 {
            bail!("webhooks.max_in_flight must be at least 1");
        }
        if self.admin_key.as_deref().is_some_and(|k| k.len() < 16) {
            bail!(
                "admin_key must be at least 16 characters; generate one with `openssl rand -base64 32`"
            );
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            bail!("tls.cert and tls.key go together: set both (PEM files) or neither");
        }
        if self.http.max_connections == 0 {
            bail!("http.max_connections must be at least 1");
        }
        if self.streams.buffer < 16 {
            bail!(
                "streams.buffer must be at least 16 events, got {}",
                self.streams.buffer
            );
        }
        let stomp = &self.stomp;
        for (name, n) in [
            ("stomp.max_frame", stomp.max_frame),
            ("stomp.max_headers", stomp.max_headers),
            ("stomp.max_header_line", stomp.max_header_line),
            ("stomp.max_subscriptions", stomp.max_subscriptions),
            ("stomp.outbound_queue", stomp.outbound_queue),
        ] {
            if n == 0 {
                bail!("{name} must be greater than 0");
            }
        }
        for (name, d) in [
            ("stomp.connect_timeout", self.stomp.connect_timeout),
            ("streams.keepalive", self.streams.keepalive),
            ("retention.max_age", self.retention.max_age),
            ("retention.interval", self.retention.interval),
            ("webhooks.timeout", self.webhooks.timeout),
            ("http.header_timeout", self.http.header_timeout),
            ("webhooks.disable_after", self.webhooks.disable_after),
        ] {
            if d.0.is_zero() {
                bail!("{name} must be longer than 0");
            }
        }
        Ok(())
    }
}

/// A URL as it may be shown in messages: without `user:password@`.
pub fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Config {
    /// Whether this node is one of a cluster (its bus is NATS).
    pub fn cluster(&self) -> bool {
        self.bus.starts_with("nats://")
    }
}

/// The backend that `store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// SQLite in `data_dir`.
    Sqlite,
    /// PostgreSQL at this URL.
    Postgres(String),
}

impl Config {
    /// Which store `store` names, with the URL checked (not connected to).
    pub fn store_backend(&self) -> anyhow::Result<StoreBackend> {
        let store = self.store.as_str();
        if store == "sqlite" {
            return Ok(StoreBackend::Sqlite);
        }
        if store.starts_with("postgres://") || store.starts_with("postgresql://") {
            crate::store::postgres::parse_url(store).map_err(|e| anyhow::anyhow!("store: {e}"))?;
            return Ok(StoreBackend::Postgres(store.to_owned()));
        }
        // Anything after a scheme may be a password: show only the scheme.
        let shown = match store.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://..."),
            None => store.to_owned(),
        };
        bail!(
            "store = {shown:?} is not a known store: use \"sqlite\" (embedded in data_dir, the default) \
             or a PostgreSQL URL such as \"postgres://herald@127.0.0.1:5432/herald\""
        )
    }
}

/// Top-level keys, so unrelated `HERALD_*` variables (such as the CLI's `HERALD_KEY`) are not
/// mistaken for configuration.
fn is_config_key(key: &str) -> bool {
    const KEYS: &[&str] = &[
        "listen",
        "stomp_listen",
        "stomp",
        "data_dir",
        "store",
        "bus",
        "bus_prefix",
        "storage",
        "retention",
        "limits",
        "streams",
        "webhooks",
        "admin_key",
        "auth",
        "http",
        "tls",
        "dev",
    ];
    let top = key.split('.').next().unwrap_or(key).to_ascii_lowercase();
    KEYS.contains(&top.as_str())
}

fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("invalid configuration{source}: {}", e.kind)
            } else {
                format!("invalid configuration key `{key}`{source}: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A duration written with a unit: `250ms`, `5s`, `2m`, `1h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// A whole number of seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let n: u64 = number.parse().map_err(|_| {
            format!(
                "`{s}` is not a duration; write a number and a unit, like 250ms, 5s, 2m, 1h or 1d"
            )
        })?;
        let millis = match unit {
            "ms" => Some(n),
            "s" => n.checked_mul(1_000),
            "m" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            "d" => n.checked_mul(86_400_000),
            _ => return Err(format!("`{s}` has no known unit; use ms, s, m, h or d")),
        };
        millis
            .map(|ms| Self(std::time::Duration::from_millis(ms)))
            .ok_or_else(|| format!("`{s}` is too long"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let (n, unit) = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ]
        .into_iter()
        .find(|(size, _)| ms.is_multiple_of(*size) && ms > 0)
        .map_or((ms, "ms"), |(size, unit)| (ms / size, unit));
        write!(f, "{n}{unit}")
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's signature, not ours
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("250ms".parse::<Duration>().unwrap().0.as_millis(), 250);
        assert_eq!("2m".parse::<Duration>().unwrap().0.as_secs(), 120);
        assert_eq!("1d".parse::<Duration>().unwrap().0.as_secs(), 86_400);
        assert!("5".parse::<Duration>().unwrap_err().contains("unit"));
        assert!(
            "fast"
                .parse::<Duration>()
                .unwrap_err()
                .contains("not a duration")
        );
        assert_eq!(Duration::from_secs(7 * 86_400).to_string(), "7d");
        assert_eq!("1500ms".parse::<Duration>().unwrap().to_string(), "1500ms");
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn bus_is_local_or_nats_with_a_shared_store() {
        let with = |store: &str, bus: &str| Config {
            store: store.into(),
            bus: bus.into(),
            ..Config::default()
        };
        with("sqlite", "local").validate().unwrap();
        with("postgres://h@db/x", "nats://n:4222")
            .validate()
            .unwrap();
        let err = with("sqlite", "nats://u:hunter2@n:4222")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("must share one store"), "{err}");
        assert!(!err.contains("hunter2"), "the password leaked: {err}");
        let err = with("postgres://h@db/x", "redis://u:hunter2@r")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a known bus"), "{err}");
        assert!(!err.contains("hunter2"), "the password leaked: {err}");
    }

    #[test]
    fn store_names_sqlite_or_a_postgres_url() {
        let with = |store: &str| Config {
            store: store.into(),
            ..Config::default()
        };
        assert_eq!(
            with("sqlite").store_backend().unwrap(),
            StoreBackend::Sqlite
        );
        let url = "postgres://herald@127.0.0.1:5432/herald";
        assert_eq!(
            with(url).store_backend().unwrap(),
            StoreBackend::Postgres(url.into())
        );
        with("postgresql://h:pw@db/herald").validate().unwrap();
        let err = with("mysql://root:hunter2@db/x")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a known store"), "{err}");
        assert!(!err.contains("hunter2"), "the password leaked: {err}");
        let err = with("postgres://h@db:notaport/x")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid PostgreSQL URL"), "{err}");
    }

    #[test]
    fn layers_apply_in_order_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                "listen = \"127.0.0.1:9000\"\n[retention]\nmax_age = \"1h\"\n",
            )?;
            jail.set_env("HERALD_RETENTION__MAX_AGE", "2h");
            jail.set_env("HERALD_KEY", "not-config");
            jail.set_env("HERALD_WEBHOOKS__ALLOW_NETWORKS", "127.0.0.0/8, ::1/128");
            let c = Config::load(None, Overrides::default()).unwrap();
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.retention.max_age.0.as_secs(), 7200);
            assert_eq!(c.webhooks.networks().unwrap().len(), 2);
            let c = Config::load(
                None,
                Overrides {
                    listen: Some("127.0.0.1:9001".into()),
                    ..Overrides::default()
                },
            )
            .unwrap();
            assert_eq!(c.listen.port(), 9001);
            jail.set_env("HERALD_LIMITS__MAX_BODY", "lots");
            let err = Config::load(None, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("limits.max_body"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn stomp_keys_come_from_file_env_and_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("herald.toml", "[stomp]\nmax_headers = 20\n")?;
            jail.set_env("HERALD_STOMP_LISTEN", "127.0.0.1:7000");
            jail.set_env("HERALD_STOMP__MAX_FRAME", "4096");
            let c = Config::load(None, Overrides::default()).unwrap();
            assert_eq!(c.stomp_listen.port(), 7000);
            assert_eq!(c.stomp.max_frame, 4096);
            assert_eq!(c.stomp.max_headers, 20);
            let c = Config::load(
                None,
                Overrides {
                    stomp_listen: Some("127.0.0.1:7001".into()),
                    ..Overrides::default()
                },
            )
            .unwrap();
            assert_eq!(c.stomp_listen.port(), 7001);
            jail.set_env("HERALD_STOMP__MAX_FRAME", "0");
            let err = Config::load(None, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("stomp.max_frame"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("herald.toml", "[limits]\nmax_bdy = 5\n")?;
            let err = Config::load(None, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_bdy"), "{err}");
            Ok(())
        });
    }
}
