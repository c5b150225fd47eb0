//! `--scenario publish`: durable publish throughput. `--connections` connections each publish as
//! fast as Herald acknowledges, one request at a time:
//!
//! - `--via http`: one event per `POST /v1/topics/<topic>/events`, waiting for its `201`;
//! - `--via batch`: `--batch` events per POST (a JSON array, appended atomically);
//! - `--via stomp`: STOMP SENDs over TCP, `--batch` of them written at once with a `receipt` on
//!   the last (Herald handles a connection's frames in order and sends a RECEIPT only after the
//!   durable append, so the RECEIPT acknowledges the whole group; `--batch 1` = one per frame).
//!
//! Only acknowledged events are counted, and afterwards the topic's event count
//! (`GET /v1/topics/<topic>`) is compared with that count, so an error answer is never counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::client::Client;
use crate::latency::Samples;
use crate::{Args, cpu};

/// How events are published.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    /// One event per HTTP request.
    Http,
    /// `--batch` events per HTTP request.
    Batch,
    /// STOMP SEND over TCP, a RECEIPT every `--batch` frames.
    Stomp,
}

/// Shared by every publishing connection.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    measuring: AtomicBool,
    acknowledged: AtomicU64,
    requests: AtomicU64,
    latencies: Samples,
}

impl Shared {
    /// Counts `events` acknowledged by one request (or receipt) that took `latency`.
    fn acknowledged(&self, events: u64, latency: Duration) {
        self.acknowledged.fetch_add(events, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.measuring.load(Ordering::Relaxed) {
            self.latencies.add(latency);
        }
    }
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let addr = args.addrs[0];
    let topic = format!("bench.publish.{}", std::process::id());
    let per_request = match args.via {
        Via::Http => 1,
        Via::Batch | Via::Stomp => args.batch.max(1),
    };
    let data = format!(
        r#"{{"n":1,"pad":"{}"}}"#,
        "x".repeat(args.size.saturating_sub(16))
    );
    let shared = Arc::new(Shared::default());
    let mut connections = JoinSet::new();
    for _ in 0..args.connections.max(1) {
        let (shared, topic, data) = (shared.clone(), topic.clone(), data.clone());
        match args.via {
            Via::Http | Via::Batch => {
                connections.spawn(publish_http(addr, topic, data, per_request, shared))
            }
            Via::Stomp => connections.spawn(publish_stomp(
                args.stomp_addr,
                topic,
                data,
                per_request,
                shared,
            )),
        };
    }

    // One second of warm-up, then the measured window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    shared.measuring.store(true, Ordering::Relaxed);
    let events_before = shared.acknowledged.load(Ordering::Relaxed);
    let requests_before = shared.requests.load(Ordering::Relaxed);
    let cpu_before = (
        cpu::used(None),
        args.server_pid().map(|p| cpu::used(Some(p))),
    );
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = measured.elapsed();
    let events = shared.acknowledged.load(Ordering::Relaxed) - events_before;
    let requests = shared.requests.load(Ordering::Relaxed) - requests_before;
    let generator_cores = cpu::cores(cpu_before.0, cpu::used(None), elapsed);
    let server_cores = args
        .server_pid()
        .zip(cpu_before.1)
        .map(|(pid, before)| cpu::cores(before, cpu::used(Some(pid)), elapsed));
    shared.measuring.store(false, Ordering::Relaxed);

    // Let every connection finish the request it has in flight, so the count is exact.
    shared.stop.store(true, Ordering::Relaxed);
    while let Some(finished) = connections.join_next().await {
        finished.context("a publishing connection panicked")??;
    }
    let acknowledged = shared.acknowledged.load(Ordering::Relaxed);
    let stored = stored_events(addr, &topic).await?;
    if stored != acknowledged {
        eprintln!(
            "herald-bench: {topic} holds {stored} events but {acknowledged} were acknowledged"
        );
    }

    let latencies = shared.latencies.take();
    let via = match args.via {
        Via::Http => "http",
        Via::Batch => "batch",
        Via::Stomp => "stomp",
    };
    let per_second = events as f64 / elapsed.as_secs_f64();
    let requests_per_second = requests as f64 / elapsed.as_secs_f64();
    let server = server_cores.map_or_else(|| "null".to_owned(), |c| format!("{c:.2}"));
    if args.json {
        println!(
            r#"{{"scenario":"publish","via":"{via}","connections":{},"events_per_request":{per_request},"size":{},"events_per_second":{per_second:.0},"requests_per_second":{requests_per_second:.0},"p50_ms":{:.2},"p99_ms":{:.2},"generator_cores":{generator_cores:.2},"server_cores":{server},"acknowledged":{acknowledged},"stored":{stored}}}"#,
            args.connections,
            args.size,
            latencies.ms(0.5),
            latencies.ms(0.99),
        );
    } else {
        println!(
            "publish via {via}: {} connections, {per_request} events per request, {}B: {per_second:.0} events/s ({requests_per_second:.0} requests/s), request latency p50 {:.2} ms, p99 {:.2} ms; generator CPU {generator_cores:.2} cores, server CPU {server} cores; {stored} events stored of {acknowledged} acknowledged",
            args.connections,
            args.size,
            latencies.ms(0.5),
            latencies.ms(0.99),
        );
    }
    Ok(())
}

/// POSTs `per_request` events at a time (a JSON array when more than one) until told to stop.
async fn publish_http(
    addr: std::net::SocketAddr,
    topic: String,
    data: String,
    per_request: u64,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let event = format!(r#"{{"type":"bench","data":{data}}}"#);
    let body = if per_request == 1 {
        event
    } else {
        let events = vec![event; per_request as usize];
        format!("[{}]", events.join(","))
    };
    let path = format!("/v1/topics/{topic}/events");
    let mut client = Client::connect(addr).await?;
    while !shared.stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let (status, answer) = client.request("POST", &path, body.as_bytes()).await?;
        if status != 201 {
            bail!(
                "publish answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        shared.acknowledged(per_request, sent.elapsed());
    }
    Ok(())
}

/// Sends `per_receipt` SENDs at a time, the last asking for a RECEIPT, until told to stop.
async fn publish_stomp(
    addr: std::net::SocketAddr,
    topic: String,
    data: String,
    per_receipt: u64,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to STOMP at {addr}"))?;
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    stream
        .get_mut()
        .write_all(b"CONNECT\naccept-version:1.2\nhost:bench\n\n\0")
        .await?;
    let connected = read_frame(&mut stream).await?;
    if !connected.starts_with("CONNECTED") {
        bail!("STOMP CONNECT was refused: {connected}");
    }
    let send = |receipt: &str| {
        format!(
            "SEND\ndestination:/topic/{topic}\ncontent-type:application/json\ncontent-length:{}\n{receipt}\n{data}\0",
            data.len()
        )
    };
    let group = send("").repeat(per_receipt as usize - 1) + &send("receipt:r\n");
    while !shared.stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        stream.get_mut().write_all(group.as_bytes()).await?;
        let answer = read_frame(&mut stream).await?;
        if !answer.starts_with("RECEIPT") {
            bail!("STOMP SEND failed: {answer}");
        }
        shared.acknowledged(per_receipt, sent.elapsed());
    }
    Ok(())
}

/// Reads one STOMP frame up to its NUL, without the heart-beat line ends before it.
async fn read_frame(stream: &mut BufReader<TcpStream>) -> anyhow::Result<String> {
    let mut frame = Vec::new();
    if stream.read_until(0, &mut frame).await? == 0 {
        bail!("the STOMP server closed the connection");
    }
    let text = String::from_utf8_lossy(&frame);
    Ok(text.trim_start_matches(['\n', '\r']).to_owned())
}

/// The topic's event count, from `GET /v1/topics/<topic>`.
async fn stored_events(addr: std::net::SocketAddr, topic: &str) -> anyhow::Result<u64> {
    let mut client = Client::connect(addr).await?;
    let (status, topic_entry) = client
        .json("GET", &format!("/v1/topics/{topic}"), "")
        .await?;
    if status != 200 {
        bail!("GET /v1/topics/{topic} answered {status}: {topic_entry}");
    }
    topic_entry["events"]
        .as_u64()
        .context("the topic entry has no event count")
}
