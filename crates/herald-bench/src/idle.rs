//! `--scenario idle`: how many idle connections Herald holds, and its memory per connection.
//!
//! Opens `--connections` connections, each an idle subscriber: a STOMP session over WebSocket
//! (`--transport ws`: upgrade at `/v1/ws`, CONNECT without heart-beats, SUBSCRIBE with a
//! receipt) or an SSE stream (`--transport sse`). They come from `--sources` loopback addresses
//! (127.0.0.1, 127.0.0.2, ...), each socket bound to its address before connecting, so the
//! ~28,000 ephemeral ports of one address do not cap the count. Herald's resident memory
//! (`VmRSS` of `--server-pid`) is read before and after; the difference divided by the
//! connections held is its memory per connection (kernel socket buffers are not in it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

use crate::{Args, Transport, cpu, http};

/// Connection attempts in progress at once (so the server's accept backlog never overflows).
const OPENING_AT_ONCE: usize = 256;
/// How long one connection may take to open: a server out of file descriptors leaves new
/// connections waiting in its accept backlog, unanswered.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let addr = args.addrs[0];
    let topic = format!("bench.idle.{}", std::process::id());
    let transport = args.transport;
    if !matches!(transport, Transport::StompWs | Transport::Sse) {
        bail!("the idle scenario takes --transport ws or --transport sse");
    }
    let rss_before = args.server_pid().and_then(rss);
    let cpu_before = (
        cpu::used(None),
        args.server_pid().map(|p| cpu::used(Some(p))),
    );
    let open_since = Instant::now();

    // Open them all, a few hundred at a time; each open one gets a task that reads (and
    // discards) whatever the server sends until it closes.
    let closed = Arc::new(AtomicU64::new(0));
    let mut opening = JoinSet::new();
    let mut opened = 0u64;
    let mut failed = 0u64;
    let mut first_error = None;
    for i in 0..args.connections {
        if opening.len() >= OPENING_AT_ONCE {
            tally(
                opening.join_next().await,
                &closed,
                &mut opened,
                &mut failed,
                &mut first_error,
            );
        }
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + (i % args.sources.clamp(1, 254)) as u8,
        ));
        let topic = topic.clone();
        opening.spawn(async move {
            tokio::time::timeout(OPEN_TIMEOUT, open(source, addr, transport, &topic))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {OPEN_TIMEOUT:?}")))
        });
    }
    while let Some(done) = opening.join_next().await {
        tally(
            Some(done),
            &closed,
            &mut opened,
            &mut failed,
            &mut first_error,
        );
    }
    let open_time = open_since.elapsed();
    let generator_cores = cpu::cores(cpu_before.0, cpu::used(None), open_time);
    let server_cores = args
        .server_pid()
        .zip(cpu_before.1)
        .map(|(pid, before)| cpu::cores(before, cpu::used(Some(pid)), open_time));

    // Hold them, then count what is still open and measure.
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let held = opened - closed.load(Ordering::Relaxed);
    let rss_after = args.server_pid().and_then(rss);
    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) if held > 0 => {
            format!("{:.0}", after.saturating_sub(before) as f64 / held as f64)
        }
        _ => "null".to_owned(),
    };
    let kib = |rss: Option<u64>| rss.map_or_else(|| "null".to_owned(), |b| (b / 1024).to_string());
    let server = server_cores.map_or_else(|| "null".to_owned(), |c| format!("{c:.2}"));
    let transport = if transport == Transport::Sse {
        "sse"
    } else {
        "ws"
    };
    let error = first_error.unwrap_or_default();
    if args.json {
        println!(
            r#"{{"scenario":"idle","transport":"{transport}","attempted":{},"opened":{opened},"failed":{failed},"held":{held},"sources":{},"open_seconds":{:.1},"rss_before_kib":{},"rss_after_kib":{},"bytes_per_connection":{per_connection},"generator_cores":{generator_cores:.2},"server_cores":{server},"first_error":{:?}}}"#,
            args.connections,
            args.sources,
            open_time.as_secs_f64(),
            kib(rss_before),
            kib(rss_after),
            error,
        );
    } else {
        println!(
            "idle {transport}: {held} connections held after {} s ({opened} opened of {} attempted, {failed} failed, from {} source addresses, opened in {:.1} s); server RSS {} KiB before, {} KiB after: {per_connection} bytes per connection; while opening, generator CPU {generator_cores:.2} cores, server CPU {server} cores{}",
            args.seconds,
            args.connections,
            args.sources,
            open_time.as_secs_f64(),
            kib(rss_before),
            kib(rss_after),
            if error.is_empty() {
                String::new()
            } else {
                format!("; first error: {error}")
            },
        );
    }
    Ok(())
}

/// Counts one finished attempt; an open connection gets its reader task.
fn tally(
    done: Option<Result<anyhow::Result<TcpStream>, tokio::task::JoinError>>,
    closed: &Arc<AtomicU64>,
    opened: &mut u64,
    failed: &mut u64,
    first_error: &mut Option<String>,
) {
    match done {
        Some(Ok(Ok(stream))) => {
            *opened += 1;
            tokio::spawn(hold(stream, closed.clone()));
        }
        Some(Ok(Err(error))) => {
            *failed += 1;
            first_error.get_or_insert_with(|| format!("{error:#}"));
        }
        Some(Err(error)) => {
            *failed += 1;
            first_error.get_or_insert_with(|| error.to_string());
        }
        None => {}
    }
}

/// Reads until the server closes the connection, then counts it as closed.
async fn hold(mut stream: TcpStream, closed: Arc<AtomicU64>) {
    let mut buf = [0u8; 256];
    while stream.read(&mut buf).await.unwrap_or(0) > 0 {}
    closed.fetch_add(1, Ordering::Relaxed);
}

/// Opens one idle subscriber from `source`.
async fn open(
    source: IpAddr,
    addr: SocketAddr,
    transport: Transport,
    topic: &str,
) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(source, 0))
        .with_context(|| format!("cannot bind to {source}"))?;
    let mut stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("cannot connect from {source} to {addr}"))?;
    if transport == Transport::Sse {
        let request = format!("GET /v1/sse?topic={topic} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        expect(&mut stream, b"\r\n\r\n", "HTTP/1.1 200").await?;
        return Ok(stream);
    }
    let upgrade = format!(
        "GET /v1/ws HTTP/1.1\r\nhost: {addr}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-key: aGVyYWxkLWJlbmNoLWtleQ==\r\nsec-websocket-version: 13\r\n\
         sec-websocket-protocol: v12.stomp\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await?;
    expect(&mut stream, b"\r\n\r\n", "HTTP/1.1 101").await?;
    let connect = b"CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0";
    let subscribe = format!("SUBSCRIBE\nid:1\ndestination:/topic/{topic}\nreceipt:sub\n\n\0");
    let mut frames = http::ws_frame(connect);
    frames.extend(http::ws_frame(subscribe.as_bytes()));
    stream.write_all(&frames).await?;
    expect(&mut stream, b"RECEIPT", "").await?;
    Ok(stream)
}

/// Reads until `end` has arrived; fails if the server closes first, sends a STOMP ERROR, or
/// what arrived does not start with `start`.
async fn expect(stream: &mut TcpStream, end: &[u8], start: &str) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while memchr::memmem::find(&seen, end).is_none() {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        seen.extend_from_slice(&buf[..n]);
        if memchr::memmem::find(&seen, b"ERROR").is_some() || seen.len() > 64 * 1024 {
            break;
        }
    }
    if let Some(at) = memchr::memmem::find(&seen, b"ERROR") {
        let error = String::from_utf8_lossy(&seen[at..]);
        bail!("STOMP ERROR: {}", error.replace('\n', " "));
    }
    let text = String::from_utf8_lossy(&seen);
    if !text.starts_with(start) || memchr::memmem::find(&seen, end).is_none() {
        bail!("refused: {}", text.lines().next().unwrap_or(""));
    }
    Ok(())
}

/// Resident memory of process `pid` in bytes (`VmRSS` in `/proc/<pid>/status`).
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
