//! The real binary: durability across `kill -9`, graceful shutdown on SIGTERM, the CLI, and
//! configuration errors at start-up.

mod common;

use std::process::Command;

use common::{Process, Stream, get, publish};
use serde_json::Value;

#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::serve(dir.path(), &[]);
    // Concurrent publishers, singles and batches, so group commit is exercised.
    let mut tasks = Vec::new();
    for p in 0..4 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..25 {
                let body = if i % 5 == 0 {
                    format!(
                        r#"[{{"data":{i},"id":"p{p}-{i}-a"}},{{"data":{i},"id":"p{p}-{i}-b"}}]"#
                    )
                } else {
                    format!(r#"{{"data":{i}}}"#)
                };
                let (status, answer) = publish(&url, &format!("durable.{p}"), &body).await;
                assert_eq!(status, 201);
                let events = if answer.is_array() {
                    answer.as_array().unwrap().clone()
                } else {
                    vec![answer]
                };
                acked.extend(events);
            }
            acked
        }));
    }
    let mut acked: Vec<Value> = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort_by_key(|e| e["seq"].as_u64());
    let status = server.signal("-9");
    assert!(!status.success(), "killed, not exited");

    let server = Process::serve(dir.path(), &[]);
    let (status, _, page) = get(&server.url, "/v1/events?topic=durable.*&limit=1000").await;
    assert_eq!(status, 200);
    assert_eq!(
        page["events"].as_array().unwrap(),
        &acked,
        "exactly the acknowledged events, same ids and seqs"
    );
    // The log goes on from where it was.
    let (_, next) = publish(&server.url, "durable.0", r#"{"data":"after restart"}"#).await;
    assert_eq!(
        next["seq"].as_u64().unwrap(),
        acked.last().unwrap()["seq"].as_u64().unwrap() + 1
    );
}

#[tokio::test]
async fn sigterm_drains_in_flight_work_and_ends_streams_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::serve(dir.path(), &[]);
    let mut sse = Stream::open(&server.url, "/v1/sse?topic=t&after=0", &[]).await;
    let url = server.url.clone();
    let publisher = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..1000 {
            let sent = common::client()
                .post(format!("{url}/v1/topics/t/events"))
                .body(format!(r#"{{"data":{i}}}"#))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 201 => {
                    let event: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                    acked.push(event["seq"].as_u64().unwrap());
                }
                Ok(r) => panic!("a publish during shutdown got {}", r.status()),
                // Refused once the listener closed: fine, it was never accepted.
                Err(_) => break,
            }
        }
        acked
    });
    // Let some publishes through, then ask the server to stop while they are still coming.
    let first = sse.take_seqs(20).await;
    assert_eq!(first, (1..=20).collect::<Vec<_>>());
    let status = server.signal("-TERM");
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    let acked = publisher.await.unwrap();
    // The stream ended with a goodbye comment rather than a reset.
    let mut seen = first;
    let mut farewell = None;
    while let Some(item) = sse.next_item().await {
        match item {
            common::Item::Event(e) => seen.push(e["seq"].as_u64().unwrap()),
            common::Item::KeepAlive(c) => farewell = Some(c),
            common::Item::Retry(_) => {}
        }
    }
    assert!(farewell.unwrap_or_default().contains("shutting down"));
    assert!(
        seen.windows(2).all(|w| w[0] + 1 == w[1]),
        "no gap in what the stream delivered"
    );

    // Every acknowledged publish is in the log after a restart.
    let server = Process::serve(dir.path(), &[]);
    let (_, _, page) = get(&server.url, "/v1/events?topic=t&limit=1000").await;
    let stored = common::seqs(&page["events"]);
    for seq in &acked {
        assert!(stored.contains(seq), "acknowledged seq {seq} is stored");
    }
}

#[tokio::test]
async fn cli_publish_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::serve(dir.path(), &[]);
    let herald = env!("CARGO_BIN_EXE_herald");
    let out = Command::new(herald)
        .args([
            "publish",
            "--server",
            &server.url,
            "--type",
            "greeting",
            "--id",
            "g-1",
            "hello.world",
            r#"{"hi":1}"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            event["seq"].as_u64(),
            event["type"].as_str(),
            event["id"].as_str()
        ),
        (Some(1), Some("greeting"), Some("g-1"))
    );

    let out = Command::new(herald)
        .args([
            "publish",
            "--server",
            &server.url,
            "hello.again",
            "not json",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));

    let out = Command::new(herald)
        .args(["publish", "--server", &server.url, "herald.x", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reserved"),
        "the server's detail is shown"
    );

    publish(&server.url, "hello.again", r#"{"data":2}"#).await;
    let out = Command::new(herald)
        .args([
            "tail",
            "--server",
            &server.url,
            "--after",
            "0",
            "--count",
            "2",
            "--json",
            "hello.>",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(common::seqs(&Value::Array(lines)), vec![1, 2]);

    // Without --after, tail prints only what is published after it starts.
    let mut tail = tokio::process::Command::new(herald)
        .args(["tail", "--server", &server.url, "--count", "1", "hello.*"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Publish until tail has had time to connect; it exits after its first event.
    let mut published = 0;
    let output = loop {
        publish(&server.url, "hello.live", r#"{"data":"live"}"#).await;
        published += 1;
        if let Ok(Some(_)) = tail.try_wait() {
            break tail.wait_with_output().await.unwrap();
        }
        assert!(published < 200, "tail never printed an event");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("hello.live") && text.contains("\"live\""),
        "{text}"
    );
    assert!(
        !text.contains("#1 ") && !text.contains("#2 "),
        "old events are not replayed: {text}"
    );
}

#[test]
fn bad_configuration_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    // Under `timeout`, so a configuration wrongly accepted fails the test instead of serving forever.
    let herald = || {
        let mut c = Command::new("timeout");
        c.args(["20", env!("CARGO_BIN_EXE_herald")]);
        c
    };
    let out = herald()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("HERALD_LIMITS__MAX_BODY", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("limits.max_body"), "{stderr}");

    let config = dir.path().join("herald.toml");
    std::fs::write(&config, "[retention]\nmax_age = \"forever\"\n").unwrap();
    let out = herald()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("retention.max_age") && stderr.contains("forever"),
        "{stderr}"
    );

    let out = herald()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            "/nonexistent/herald.toml",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[tokio::test]
async fn every_request_has_an_id_in_its_answer_and_its_json_log_lines() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "serve",
            "--dev",
            "--log-json",
            "--listen",
            "127.0.0.1:0",
            "--stomp-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "herald=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on http://") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0);
    }
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();

    let response = common::client()
        .get(format!("{url}/v1/topics"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"],
        "trace-me-42",
        "a caller's id is kept"
    );
    let response = common::client()
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 26, "otherwise a ULID is made");

    child.kill().unwrap();
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    child.wait().unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !lines.is_empty() && lines.len() == logs.lines().count(),
        "every log line is JSON:\n{logs}"
    );
    let answered = lines
        .iter()
        .find(|l| l["fields"]["message"] == "answered" && l["span"]["id"] == "trace-me-42")
        .unwrap_or_else(|| panic!("no log line carries the request id:\n{logs}"));
    assert_eq!(answered["span"]["path"], "/v1/topics");
    assert_eq!(answered["fields"]["status"], 200);
}

#[tokio::test]
async fn cli_imports_ndjson_in_batches_idempotently_and_prints_completions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Process::serve(dir.path(), &[]);
    let file = dir.path().join("import.ndjson");
    let lines: Vec<String> = (0..1200)
        .map(|i| format!(r#"{{"id":"imp-{i}","type":"imported","data":{{"n":{i}}}}}"#))
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n\n").unwrap();
    let herald = env!("CARGO_BIN_EXE_herald");
    for round in 0..2 {
        let out = Command::new(herald)
            .args(["publish", "import.t", "--server", &server.url, "--ndjson"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["published"], 1200, "round {round}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("1200 events"),
            "progress is shown"
        );
    }
    let (_, _, topic) = get(&server.url, "/v1/topics/import.t").await;
    assert_eq!(
        topic["events"], 1200,
        "the second run stored nothing new (ids make it idempotent)"
    );
    let (_, _, page) = get(&server.url, "/v1/events?topic=import.t&limit=2").await;
    assert_eq!(page["events"][1]["data"]["n"], 1);

    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"data\":1}\nnot json\n").unwrap();
    let out = Command::new(herald)
        .args(["publish", "import.t", "--server", &server.url, "--ndjson"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2 is not JSON"));

    let out = Command::new(herald)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("herald"));
}
