//! Resource exhaustion: thousands of connections that never speak, oversized frames and bodies,
//! and a publish flood over the rate limit. A well-behaved client is served throughout, silent
//! connections are cut off, and the server's memory stays bounded.

mod common;

use std::time::Duration;

use common::{Process, Stream, client, get};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// How many sockets this process may open, leaving room for the rest of the test.
fn idle_budget() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024);
    soft.saturating_sub(256).min(3000)
}

/// Proves the server still answers a well-behaved client: publish, then read it back.
async fn well_behaved(url: &str, n: u64) {
    let (status, _, _) = get(url, "/healthz").await;
    assert_eq!(status, 200);
    let (status, event) = common::publish(url, "calm", &format!(r#"{{"data":{n}}}"#)).await;
    assert_eq!(status, 201, "{event}");
    let (_, _, page) = get(
        url,
        &format!(
            "/v1/events?topic=calm&after={}",
            event["seq"].as_u64().unwrap() - 1
        ),
    )
    .await;
    assert_eq!(page["events"][0]["data"], n);
}

#[tokio::test]
async fn silent_connections_oversized_input_and_floods_do_not_take_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("HERALD_HTTP__HEADER_TIMEOUT", "1s"),
        ("HERALD_STOMP__CONNECT_TIMEOUT", "1s"),
        ("HERALD_STOMP__MAX_FRAME", "65536"),
        ("HERALD_LIMITS__MAX_BODY", "65536"),
        ("HERALD_LIMITS__MAX_EVENT", "65536"),
        ("HERALD_LIMITS__PUBLISH_RATE", "20"),
        ("HERALD_LIMITS__PUBLISH_BURST", "20"),
        ("HERALD_STORAGE__SYNC", "normal"),
    ];
    let server = Process::serve(dir.path(), &env);
    let pid = server.child.id();
    let http = server.url.trim_start_matches("http://").to_owned();
    well_behaved(&server.url, 0).await;
    let baseline = rss_kib(pid);

    // Thousands of connections that open and never speak, over HTTP and STOMP.
    let budget = idle_budget();
    let mut idle = Vec::with_capacity(budget);
    for i in 0..budget {
        let addr = if i % 4 == 0 {
            server.stomp.to_string()
        } else {
            http.clone()
        };
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    well_behaved(&server.url, 1).await;
    let with_idle = rss_kib(pid);
    let per_connection = (with_idle.saturating_sub(baseline)) * 1024 / budget as u64;
    assert!(
        per_connection < 64 * 1024,
        "{per_connection} bytes per idle connection ({budget} connections)"
    );

    // Oversized input is refused with a clear error.
    let big = format!(r#"{{"data":"{}"}}"#, "x".repeat(70_000));
    let response = client()
        .post(format!("{}/v1/topics/calm/events", server.url))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let mut stomp = TcpStream::connect(server.stomp).await.unwrap();
    stomp
        .write_all(b"CONNECT\naccept-version:1.2\nhost:h\n\n\0")
        .await
        .unwrap();
    stomp
        .write_all(format!("SEND\ndestination:/topic/calm\n\n{}\0", "y".repeat(70_000)).as_bytes())
        .await
        .ok();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stomp.read_to_end(&mut reply))
        .await
        .expect("the server closes the connection");
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.contains("CONNECTED") && reply.contains("ERROR"),
        "{reply}"
    );
    well_behaved(&server.url, 2).await;

    // A flood over one key's publish rate gets 429s; another key is unaffected.
    let make_key = |scope: &'static str| {
        let url = server.url.clone();
        async move {
            let response = client()
                .post(format!("{url}/v1/keys"))
                .body(json!({"scopes": [scope]}).to_string())
                .send()
                .await
                .unwrap();
            let key: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            key["key"].as_str().unwrap().to_owned()
        }
    };
    let flooder = make_key("publish:flood").await;
    let calm = make_key("publish:calm.keyed").await;
    let mut refused = 0;
    let started = std::time::Instant::now();
    for i in 0..200 {
        let response = client()
            .post(format!("{}/v1/topics/flood/events", server.url))
            .bearer_auth(&flooder)
            .body(format!(r#"{{"data":{i}}}"#))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            refused += 1;
        }
    }
    // The limiter admits its burst plus its rate over the time the flood took, never more.
    let admitted = 200 - refused;
    let allowed = 20.0 + 20.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        refused > 0 && f64::from(admitted) <= allowed,
        "{admitted} admitted, at most {allowed:.0} allowed"
    );
    let response = client()
        .post(format!("{}/v1/topics/calm.keyed/events", server.url))
        .bearer_auth(&calm)
        .body(r#"{"data":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "another key publishes normally");

    // The silent connections are cut off by the server itself (header and CONNECT deadlines).
    for mut socket in idle {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // a 408 or a STOMP ERROR before the close
                }
            }
        })
        .await;
        assert!(read.is_ok(), "a silent connection was left open");
    }
    well_behaved(&server.url, 3).await;
    let after = rss_kib(pid);
    assert!(
        after < with_idle + 64 * 1024,
        "memory did not keep growing: {baseline} -> {with_idle} -> {after} KiB"
    );

    // A stream still works end to end.
    let mut sse = Stream::open(&server.url, "/v1/sse?topic=calm&after=0", &[]).await;
    assert_eq!(sse.next_event().await.unwrap()["data"], 0);
}

/// A STOMP session over WebSocket, connected and subscribed but quiet, costs the server little
/// memory (each one was 140 KiB when tungstenite reserved its default read buffer for each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_websocket_sessions_cost_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::serve(dir.path(), &[("HERALD_STORAGE__SYNC", "normal")]);
    let pid = server.child.id();
    // Warm up the paths a session takes, so the baseline holds their one-time allocations.
    let mut first = common::stomp::Client::ws(&server.url, &["v12.stomp"])
        .await
        .0;
    first.connect(&[]).await;
    first.subscribe("s", "/topic/quiet", &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = rss_kib(pid);

    let n = idle_budget().min(1000);
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = common::stomp::Client::ws(&server.url, &["v12.stomp"])
            .await
            .0;
        c.connect(&[]).await;
        c.subscribe("s", "/topic/quiet", &[]).await;
        sessions.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per_session = rss_kib(pid).saturating_sub(baseline) * 1024 / n as u64;
    assert!(
        per_session < 48 * 1024,
        "{per_session} bytes per idle WebSocket session ({n} sessions)"
    );
    well_behaved(&server.url, 2).await;
}
