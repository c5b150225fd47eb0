//! `herald-bench`: fan-out throughput and publish→receive latency over SSE or NDJSON, against a
//! running Herald or against the floor: a bare Tokio server writing pre-encoded frames to the
//! same sockets, so each Herald figure can be read as a fraction of what the machine allows.
//! Peers are measured the same way: RabbitMQ Web-STOMP, and Pushpin (see `grip`).
//!
//! Everything is plain HTTP/1.1 over `TcpStream`, so the generator's own cost stays small.
//!
//! `--scenario` picks what to measure: `fanout` (the default, above and in this file), or
//! `publish`, `webhooks` and `idle`, each in its own module.

mod client;
mod cpu;
mod floor;
mod grip;
mod http;
mod idle;
mod latency;
mod publish;
mod report;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "Fan-out load generator for Herald")]
struct Args {
    /// What to measure: fan-out (below), publish throughput, webhook deliveries, or idle
    /// connections.
    #[arg(long, value_enum, default_value = "fanout")]
    scenario: Scenario,
    /// What to measure: a Herald at --addr, or the built-in floor server.
    #[arg(long, value_enum, default_value = "herald")]
    target: Target,
    /// Herald's HTTP address (ignored for the floor, which listens on a free port). Repeat it for
    /// a cluster: subscribers are spread over the nodes in turn.
    #[arg(long = "addr", default_value = "127.0.0.1:8080")]
    addrs: Vec<SocketAddr>,
    /// Where to publish (default: the first `--addr`; for Pushpin, its publish API on
    /// 127.0.0.1:5561), e.g. another node than the subscribers'.
    #[arg(long)]
    publish_addr: Option<SocketAddr>,
    /// Where the GRIP backend listens for `--target pushpin` (Pushpin's route points there).
    #[arg(long, default_value = "127.0.0.1:7998")]
    grip_listen: SocketAddr,
    /// Herald's STOMP/TCP address, for `--transport stomp`.
    #[arg(long, default_value = "127.0.0.1:61613")]
    stomp_addr: SocketAddr,
    #[arg(long, value_enum, default_value = "sse")]
    transport: Transport,
    /// The WebSocket path for `--transport stomp-ws` (RabbitMQ Web-STOMP: `/ws`).
    #[arg(long, default_value = "/v1/ws")]
    ws_path: String,
    /// STOMP `login:passcode` for CONNECT (RabbitMQ: `guest:guest`); none by default.
    #[arg(long)]
    stomp_login: Option<String>,
    /// Concurrent subscribers, all on one topic.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Events published per second.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Approximate size of each event's data, in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Publishing connections sharing the rate (each waits for its `201` before the next).
    #[arg(long, default_value_t = 8)]
    publishers: u64,
    /// Measurement time, in seconds (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The server's process id, to report its CPU use beside the generator's. Repeat it for a
    /// server of several processes (Pushpin): their CPU use is summed.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// `--scenario publish`: how events are published.
    #[arg(long, value_enum, default_value = "http")]
    via: publish::Via,
    /// `--scenario publish`: publishing connections; `--scenario idle`: connections to open.
    #[arg(long, default_value_t = 64)]
    connections: u64,
    /// `--scenario publish`: events per request (`--via batch`) or SENDs per RECEIPT
    /// (`--via stomp`).
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// `--scenario webhooks`: webhook subscriptions on the topic.
    #[arg(long, default_value_t = 100)]
    subscriptions: usize,
    /// `--scenario webhooks`: how many of them point at an endpoint that never answers.
    #[arg(long, default_value_t = 0)]
    hung: usize,
    /// `--scenario idle`: loopback source addresses to spread connections over (127.0.0.1...).
    #[arg(long, default_value_t = 16)]
    sources: u64,
}

impl Args {
    /// The (first) server process, for scenarios that watch one.
    pub(crate) fn server_pid(&self) -> Option<u32> {
        self.server_pids.first().copied()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// N subscribers on one topic: deliveries/s and publish→receive latency.
    Fanout,
    /// Publish throughput: `--via http|batch|stomp`.
    Publish,
    /// Webhook deliveries/s to a local receiver across `--subscriptions`.
    Webhooks,
    /// Idle WebSocket or SSE connections held, and server memory per connection.
    Idle,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    Herald,
    Floor,
    /// A RabbitMQ with Web-STOMP at `--addr` (`bench/peers.sh` sets one up): `--transport
    /// stomp-ws --ws-path /ws --stomp-login guest:guest`.
    Rabbitmq,
    /// A Pushpin at `--addr` (`bench/peers.sh` sets one up on 127.0.0.1:7999), with
    /// `--transport sse` or `ndjson`: the generator is its GRIP backend (`--grip-listen`) and
    /// publishes through its HTTP API (`--publish-addr`, default 127.0.0.1:5561).
    Pushpin,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    Sse,
    Ndjson,
    /// STOMP 1.2 over TCP: SUBSCRIBE to `/topic/<topic>`.
    Stomp,
    /// STOMP 1.2 over WebSocket: SUBSCRIBE to `/topic/<topic>`, and publish with SEND on the
    /// same kind of session (so any STOMP server can be measured).
    #[value(alias = "ws")]
    StompWs,
}

/// Shared by every subscriber task.
struct Counters {
    deliveries: AtomicU64,
    /// Latency samples in microseconds, taken while `measuring`.
    samples: std::sync::Mutex<Vec<u32>>,
    measuring: AtomicBool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.scenario {
        Scenario::Fanout => {}
        Scenario::Publish => return publish::run(&args).await,
        Scenario::Webhooks => return webhooks::run(&args).await,
        Scenario::Idle => return idle::run(&args).await,
    }
    let start = Instant::now();
    let topic = format!("bench.fanout.{}", std::process::id());
    let (addrs, floor) = match args.target {
        Target::Herald | Target::Rabbitmq => (args.addrs.clone(), None),
        Target::Floor => {
            let floor = floor::Floor::start(args.transport).await?;
            (vec![floor.addr], Some(floor))
        }
        Target::Pushpin => {
            grip::start_backend(args.grip_listen, &topic, args.transport).await?;
            (args.addrs.clone(), None)
        }
    };
    let publish_addr = match (args.publish_addr, args.target) {
        (Some(addr), _) => addr,
        (None, Target::Pushpin) => grip::PUBLISH_ADDR.parse()?,
        (None, _) => addrs[0],
    };
    let counters = Arc::new(Counters {
        deliveries: AtomicU64::new(0),
        samples: std::sync::Mutex::new(Vec::new()),
        measuring: AtomicBool::new(false),
    });
    let path = match args.transport {
        Transport::Sse => format!("/v1/sse?topic={topic}"),
        Transport::Ndjson => format!("/v1/stream?topic={topic}"),
        Transport::Stomp | Transport::StompWs => String::new(),
    };
    // Connect every subscriber and wait for its response head before publishing.
    let mut ready = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let stream = match (args.transport, &floor) {
            (Transport::Stomp, Some(floor)) => http::open_stomp(floor.addr, &topic).await?,
            (Transport::Stomp, None) => http::open_stomp(args.stomp_addr, &topic).await?,
            (Transport::StompWs, _) => {
                let addr = addrs[i % addrs.len()];
                let login = args.stomp_login.as_deref();
                let mut stream = http::open_stomp_ws(addr, &args.ws_path, login).await?;
                http::subscribe_ws(&mut stream, &topic).await?;
                stream
            }
            _ => http::open_stream(addrs[i % addrs.len()], &path).await?,
        };
        ready.push(stream);
    }
    if let Some(floor) = &floor {
        floor.wait_for(args.subscribers).await;
    }
    for stream in ready {
        tokio::spawn(subscribe(stream, counters.clone(), start));
    }

    let n = args.publishers.max(1);
    let publishers: Vec<_> = (0..n)
        // Share the rate exactly: the first `rate % n` publishers take one more event a second.
        .map(|i| args.rate / n + u64::from(i < args.rate % n))
        .filter(|&rate| rate > 0)
        .map(|rate| {
            let via = match (args.target, args.transport) {
                (Target::Pushpin, transport) => {
                    Via::Pushpin(grip::Publisher::new(publish_addr, &topic, transport))
                }
                (_, Transport::StompWs) => Via::StompWs {
                    path: args.ws_path.clone(),
                    login: args.stomp_login.clone(),
                },
                _ => Via::Http,
            };
            tokio::spawn(publish(
                publish_addr,
                via,
                floor.clone(),
                topic.clone(),
                rate,
                args.size,
                start,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    counters.measuring.store(true, Ordering::Relaxed);
    let before = counters.deliveries.load(Ordering::Relaxed);
    let measured = Instant::now();
    let server_used = || -> Duration { args.server_pids.iter().map(|&p| cpu::used(Some(p))).sum() };
    let cpu_before = (cpu::used(None), server_used());
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let delivered = counters.deliveries.load(Ordering::Relaxed) - before;
    let elapsed = measured.elapsed();
    let generator_cores = cpu::cores(cpu_before.0, cpu::used(None), elapsed);
    let server_cores =
        (!args.server_pids.is_empty()).then(|| cpu::cores(cpu_before.1, server_used(), elapsed));
    counters.measuring.store(false, Ordering::Relaxed);
    for publisher in publishers {
        if publisher.is_finished() {
            publisher.await??;
        } else {
            publisher.abort();
        }
    }
    let samples = std::mem::take(&mut *counters.samples.lock().unwrap_or_else(|e| e.into_inner()));
    let report = report::Report::new(
        match args.target {
            Target::Herald => "herald",
            Target::Floor => "floor",
            Target::Rabbitmq => "rabbitmq",
            Target::Pushpin => "pushpin",
        },
        match args.transport {
            Transport::Sse => "sse",
            Transport::Ndjson => "ndjson",
            Transport::Stomp => "stomp",
            Transport::StompWs => "stomp-ws",
        },
        args.subscribers,
        args.rate,
        args.size,
        delivered,
        elapsed,
        samples,
        generator_cores,
        server_cores,
    );
    if args.json {
        println!("{}", report.json())
    } else {
        println!("{report}")
    }
    Ok(())
}

/// How a publisher reaches the server.
enum Via {
    /// `POST /v1/topics/<topic>/events`, waiting for each `201`.
    Http,
    /// STOMP SEND on a WebSocket session.
    StompWs { path: String, login: Option<String> },
    /// Pushpin's HTTP publish API, a connection per publish.
    Pushpin(grip::Publisher),
}

/// Publishes `rate` events a second until aborted, each carrying its send time.
async fn publish(
    addr: SocketAddr,
    mut via: Via,
    floor: Option<floor::Floor>,
    topic: String,
    rate: u64,
    size: usize,
    start: Instant,
) -> anyhow::Result<()> {
    let padding = "x".repeat(size.saturating_sub(40));
    let mut conn = match (&floor, &via) {
        (None, Via::Http | Via::StompWs { .. }) => Some(TcpStream::connect(addr).await?),
        _ => None,
    };
    if let (Via::StompWs { path, login }, Some(conn)) = (&via, &mut conn) {
        *conn = http::open_stomp_ws(addr, path, login.as_deref()).await?;
    }
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        tick.tick().await;
        let micros = start.elapsed().as_micros() as u64;
        let data = format!(r#"{{"ts":{micros},"pad":"{padding}"}}"#);
        if let Via::Pushpin(publisher) = &mut via {
            publisher.send(&data).await?;
            continue;
        }
        if let (Via::StompWs { .. }, Some(conn)) = (&via, &mut conn) {
            http::send_ws(conn, &topic, &data).await?;
            continue;
        }
        match (&floor, &mut conn) {
            (Some(floor), _) => floor.broadcast(&data),
            (None, Some(conn)) => http::publish(conn, &topic, &data).await?,
            (None, None) => anyhow::bail!("a publisher needs a floor or a connection"),
        }
    }
}

/// Reads one subscriber's stream, counting events and sampling their latency.
async fn subscribe(mut stream: TcpStream, counters: Arc<Counters>, start: Instant) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = start.elapsed().as_micros() as u64;
        carry.extend_from_slice(&buf[..n]);
        // Every event carries `"ts":<micros>`; chunk framing and keep-alives never contain it.
        let mut consumed = 0;
        let mut count = 0u64;
        let finder = memchr::memmem::Finder::new(b"\"ts\":");
        while let Some(at) = finder.find(&carry[consumed..]) {
            let digits_start = consumed + at + 5;
            let digits = carry[digits_start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits_start + digits >= carry.len() {
                break; // the number may continue in the next read
            }
            let ts: u64 = std::str::from_utf8(&carry[digits_start..digits_start + digits])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(now);
            count += 1;
            if counters.measuring.load(Ordering::Relaxed) && count % 64 == 1 {
                let mut samples = counters.samples.lock().unwrap_or_else(|e| e.into_inner());
                samples.push(now.saturating_sub(ts).min(u64::from(u32::MAX)) as u32);
            }
            consumed = digits_start + digits;
        }
        carry.drain(..consumed);
        if carry.len() > 1 << 20 {
            // Only keep-alives arrived for a long while: keep the tail a number could start in.
            carry.drain(..carry.len() - 16);
        }
        counters.deliveries.fetch_add(count, Ordering::Relaxed);
    }
}
