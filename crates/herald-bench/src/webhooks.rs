//! `--scenario webhooks`: webhook deliveries per second to a fast local receiver, across
//! `--subscriptions` subscriptions on one topic, while events are published at `--rate`.
//!
//! The receiver is a hand-written HTTP/1.1 server in this process: it answers `204` at once,
//! counts each event it receives per subscription (`/hook/<i>`), and takes its publish→receive
//! latency from the timestamp the publisher put in the event's data. With `--hung H`, the first
//! H subscriptions point at `/hung/<i>` instead, which reads the request and never answers (until
//! Herald's timeout gives up on it): the other subscriptions' figures then show how well one
//! stuck endpoint is isolated from the rest.
//!
//! Herald's SSRF guard refuses loopback by default: start it with
//! `HERALD_WEBHOOKS__ALLOW_NETWORKS=127.0.0.0/8`. The subscriptions are deleted at the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::client::Client;
use crate::latency::Samples;
use crate::{Args, cpu};

/// What the receiver has seen.
struct Received {
    /// Events received by each subscription's endpoint (`/hook/<i>`).
    per_subscription: Vec<AtomicU64>,
    /// Requests that reached a hung endpoint.
    hung_requests: AtomicU64,
    latencies: Samples,
    measuring: AtomicBool,
    /// The clock the publisher's timestamps count from.
    start: Instant,
}

impl Received {
    fn total(&self, subscriptions: std::ops::Range<usize>) -> u64 {
        subscriptions
            .map(|i| self.per_subscription[i].load(Ordering::Relaxed))
            .sum()
    }
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let addr = args.addrs[0];
    let topic = format!("bench.webhooks.{}", std::process::id());
    let hung = args.hung.min(args.subscriptions);
    let answering = hung..args.subscriptions;
    let received = Arc::new(Received {
        per_subscription: (0..args.subscriptions).map(|_| AtomicU64::new(0)).collect(),
        hung_requests: AtomicU64::new(0),
        latencies: Samples::default(),
        measuring: AtomicBool::new(false),
        start: Instant::now(),
    });
    let receiver = start_receiver(received.clone()).await?;

    let mut api = Client::connect(addr).await?;
    let mut ids = Vec::with_capacity(args.subscriptions);
    for i in 0..args.subscriptions {
        let path = if i < hung { "hung" } else { "hook" };
        let body = format!(
            r#"{{"url":"http://{receiver}/{path}/{i}","topics":["{topic}"],"description":"herald-bench"}}"#
        );
        let (status, answer) = api.json("POST", "/v1/subscriptions", &body).await?;
        if status != 201 {
            bail!(
                "creating a subscription answered {status}: {answer} (a local receiver needs HERALD_WEBHOOKS__ALLOW_NETWORKS=127.0.0.0/8 on the server)"
            );
        }
        let id = answer["id"]
            .as_str()
            .context("the subscription has no id")?;
        ids.push(id.to_owned());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let publisher = tokio::spawn(publish(
        addr,
        topic.clone(),
        args.rate,
        args.size,
        received.start,
        stop.clone(),
        published.clone(),
    ));

    // Two seconds of warm-up (workers connect to the receiver), then the measured window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<u64> = answering
        .clone()
        .map(|i| received.per_subscription[i].load(Ordering::Relaxed))
        .collect();
    let published_before = published.load(Ordering::Relaxed);
    let cpu_before = (
        cpu::used(None),
        args.server_pid().map(|p| cpu::used(Some(p))),
    );
    received.measuring.store(true, Ordering::Relaxed);
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = measured.elapsed();
    received.measuring.store(false, Ordering::Relaxed);
    let published_in_window = published.load(Ordering::Relaxed) - published_before;
    let generator_cores = cpu::cores(cpu_before.0, cpu::used(None), elapsed);
    let server_cores = args
        .server_pid()
        .zip(cpu_before.1)
        .map(|(pid, before)| cpu::cores(before, cpu::used(Some(pid)), elapsed));
    let deltas: Vec<u64> = answering
        .clone()
        .zip(&before)
        .map(|(i, b)| received.per_subscription[i].load(Ordering::Relaxed) - b)
        .collect();

    stop.store(true, Ordering::Relaxed);
    publisher.await.context("the publisher panicked")??;
    let published = published.load(Ordering::Relaxed);
    let (complete, over) = drain(&received, answering.clone(), published).await;
    // A new connection: Herald closes one that stays idle longer than its header timeout.
    let mut api = Client::connect(addr).await?;
    for id in &ids {
        let (status, answer) = api
            .json("DELETE", &format!("/v1/subscriptions/{id}"), "")
            .await?;
        if !(200..300).contains(&status) {
            eprintln!("herald-bench: deleting subscription {id} answered {status}: {answer}");
        }
    }

    let seconds = elapsed.as_secs_f64();
    let delivered: u64 = deltas.iter().sum();
    let per_second = delivered as f64 / seconds;
    let endpoints = deltas.len().max(1) as f64;
    let per_subscription = per_second / endpoints;
    let slowest = deltas.iter().min().copied().unwrap_or(0) as f64 / seconds;
    // What the publisher achieved (below --rate when Herald answers slower than the rate).
    let published_per_second = published_in_window as f64 / seconds;
    let offered = published_per_second * deltas.len() as f64;
    let latencies = received.latencies.take();
    let hung_requests = received.hung_requests.load(Ordering::Relaxed);
    let server = server_cores.map_or_else(|| "null".to_owned(), |c| format!("{c:.2}"));
    let answering_count = deltas.len();
    if args.json {
        println!(
            r#"{{"scenario":"webhooks","subscriptions":{},"hung":{hung},"rate":{},"published_per_second":{published_per_second:.0},"size":{},"deliveries_per_second":{per_second:.0},"offered_per_second":{offered:.0},"per_subscription":{per_subscription:.1},"slowest_subscription":{slowest:.1},"p50_ms":{:.2},"p99_ms":{:.2},"generator_cores":{generator_cores:.2},"server_cores":{server},"published":{published},"complete_subscriptions":{complete},"answering_subscriptions":{answering_count},"over_delivered_subscriptions":{over},"hung_requests":{hung_requests}}}"#,
            args.subscriptions,
            args.rate,
            args.size,
            latencies.ms(0.5),
            latencies.ms(0.99),
        );
    } else {
        println!(
            "webhooks: {} subscriptions ({hung} hung), {} events/s asked, {published_per_second:.0}/s published, {}B: {per_second:.0} deliveries/s to the {answering_count} answering endpoints (offered {offered:.0}), {per_subscription:.1}/s per subscription, slowest {slowest:.1}/s; publish→receive p50 {:.2} ms, p99 {:.2} ms; generator CPU {generator_cores:.2} cores, server CPU {server} cores; after publishing stopped, {complete} of {answering_count} received all {published} events ({over} received more); {hung_requests} requests reached hung endpoints",
            args.subscriptions,
            args.rate,
            args.size,
            latencies.ms(0.5),
            latencies.ms(0.99),
        );
    }
    Ok(())
}

/// Waits until every answering subscription has every published event, nothing has arrived for
/// three seconds, or ten seconds have passed (a backlog can take longer); returns how many are
/// complete and how many got more (duplicates).
async fn drain(
    received: &Received,
    answering: std::ops::Range<usize>,
    published: u64,
) -> (usize, usize) {
    let mut last = received.total(answering.clone());
    let mut quiet_since = Instant::now();
    let started = Instant::now();
    loop {
        let counts: Vec<u64> = answering
            .clone()
            .map(|i| received.per_subscription[i].load(Ordering::Relaxed))
            .collect();
        let complete = counts.iter().filter(|&&c| c >= published).count();
        let over = counts.iter().filter(|&&c| c > published).count();
        if complete == counts.len()
            || quiet_since.elapsed() > Duration::from_secs(3)
            || started.elapsed() > Duration::from_secs(10)
        {
            return (complete, over);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let total = received.total(answering.clone());
        if total != last {
            last = total;
            quiet_since = Instant::now();
        }
    }
}

/// Publishes `rate` events a second in HTTP batches (one every 10 ms, or one event per tick
/// below 100/s), each event's data carrying its send time, until told to stop.
async fn publish(
    addr: SocketAddr,
    topic: String,
    rate: u64,
    size: usize,
    start: Instant,
    stop: Arc<AtomicBool>,
    published: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let per_tick = (rate / 100).max(1);
    let ticks_per_second = (rate / per_tick).max(1);
    let padding = "x".repeat(size.saturating_sub(30));
    let path = format!("/v1/topics/{topic}/events");
    let mut client = Client::connect(addr).await?;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / ticks_per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let micros = start.elapsed().as_micros();
        let event = format!(r#"{{"data":{{"ts":{micros},"pad":"{padding}"}}}}"#);
        let body = format!("[{}]", vec![event; per_tick as usize].join(","));
        let (status, answer) = client.request("POST", &path, body.as_bytes()).await?;
        if status != 201 {
            bail!(
                "publish answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        published.fetch_add(per_tick, Ordering::Relaxed);
    }
    Ok(())
}

/// Starts the receiver on a free loopback port.
async fn start_receiver(received: Arc<Received>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(stream, received.clone()));
        }
    });
    Ok(addr)
}

/// Serves one keep-alive connection from Herald's webhook client.
async fn serve(stream: TcpStream, received: Arc<Received>) {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut length = 0;
        loop {
            line.clear();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        body.resize(length, 0);
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        if path.starts_with("/hung/") {
            // Never answer: hold the request until Herald gives up and closes the connection.
            received.hung_requests.fetch_add(1, Ordering::Relaxed);
            let mut rest = [0u8; 1024];
            while stream.read(&mut rest).await.unwrap_or(0) > 0 {}
            return;
        }
        let now = received.start.elapsed().as_micros() as u64;
        let timestamps = timestamps(&body);
        if received.measuring.load(Ordering::Relaxed) {
            for ts in &timestamps {
                let micros = now.saturating_sub(*ts).min(u64::from(u32::MAX));
                received.latencies.add_micros(micros as u32);
            }
        }
        let index: Option<usize> = path.strip_prefix("/hook/").and_then(|i| i.parse().ok());
        if let Some(count) = index.and_then(|i| received.per_subscription.get(i)) {
            count.fetch_add(timestamps.len() as u64, Ordering::Relaxed);
        }
        let answer = b"HTTP/1.1 204 No Content\r\n\r\n";
        if stream.get_mut().write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Every `"ts":<micros>` in a delivery's body (one per event; a batch carries several).
fn timestamps(body: &[u8]) -> Vec<u64> {
    memchr::memmem::find_iter(body, b"\"ts\":")
        .filter_map(|at| {
            let digits: Vec<u8> = body[at + 5..]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            std::str::from_utf8(&digits).ok()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_timestamp_in_a_batch() {
        let body =
            br#"[{"seq":1,"data":{"ts":120,"pad":"x"}},{"seq":2,"data":{"ts":7,"pad":"x"}}]"#;
        assert_eq!(timestamps(body), vec![120, 7]);
    }
}
