//! Webhook delivery against a real receiver on a local port, over real HTTP.

mod common;

use std::time::Duration;

use common::receiver::Receiver;
use common::{eventually, get, publish, send_json, subscribe, webhook_server};
use serde_json::{Value, json};

fn verify(secret: &str, hit: &common::receiver::Hit) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&hit.body, &hit.headers)
        .is_ok()
}

async fn deliveries(url: &str, sub: &Value) -> Vec<Value> {
    let (_, _, list) = get(
        url,
        &format!(
            "/v1/subscriptions/{}/deliveries",
            sub["id"].as_str().unwrap()
        ),
    )
    .await;
    list["deliveries"].as_array().unwrap().clone()
}

/// Waits (bounded) until the subscription's newest delivery has `status`, and returns it.
async fn first_delivery_with_status(url: &str, sub: &Value, status: &str) -> Value {
    eventually(|| async {
        let list = deliveries(url, sub).await;
        (list.first()?["status"] == status).then(|| list[0].clone())
    })
    .await
}

#[tokio::test]
async fn deliveries_are_signed_verifiably_by_the_reference_library() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    let sub = subscribe(
        &server.url,
        json!({"url": format!("{}/hook", rx.url), "topics": ["orders.*"]}),
    )
    .await;
    let secret = sub["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(sub["state"], "enabled");
    let (_, event) = publish(
        &server.url,
        "orders.42",
        r#"{"type":"order.shipped","data":{"n":1}}"#,
    )
    .await;
    publish(&server.url, "users.1", r#"{"data":0}"#).await;
    let hit = &rx.wait_for("/hook", 1).await[0];
    assert!(
        verify(secret, hit),
        "standardwebhooks verifies Herald's signature"
    );
    assert!(!verify(&common_secret(), hit), "and refuses another secret");
    assert_eq!(hit.header("webhook-id"), event["id"].as_str().unwrap());
    assert_eq!(hit.header("content-type"), "application/json");
    assert_eq!(hit.json(), event, "the body is the stored event");
    let list = deliveries(&server.url, &sub).await;
    assert_eq!(list.len(), 1, "only the matching event was delivered");
    let delivery = first_delivery_with_status(&server.url, &sub, "succeeded").await;
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    server.stop().await;
}

fn common_secret() -> String {
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_and_every_attempt_is_recorded() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    rx.script("/flaky", &[500, 503]);
    let sub = subscribe(
        &server.url,
        json!({"url": format!("{}/flaky", rx.url), "topics": ["t"], "retry_schedule": ["20ms", "20ms", "20ms"]}),
    )
    .await;
    publish(&server.url, "t", r#"{"data":1}"#).await;
    let hits = rx.wait_for("/flaky", 3).await;
    let ids: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "the webhook-id is stable across retries"
    );
    let d = first_delivery_with_status(&server.url, &sub, "succeeded").await;
    let codes: Vec<u64> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [500, 503, 200]);
    assert_eq!(d["attempts"][0]["error"], "endpoint answered 500");
    server.stop().await;
}

#[tokio::test]
async fn after_the_last_attempt_a_delivery_is_dead_announced_and_can_be_retried() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    rx.always("/down", 500);
    let sub = subscribe(
        &server.url,
        json!({"url": format!("{}/down", rx.url), "topics": ["t"], "retry_schedule": ["10ms"]}),
    )
    .await;
    publish(&server.url, "t", r#"{"data":1}"#).await;
    let dead = first_delivery_with_status(&server.url, &sub, "dead").await;
    assert_eq!(
        dead["attempts"].as_array().unwrap().len(),
        2,
        "one retry means two attempts"
    );
    let (_, _, notices) = get(&server.url, "/v1/events?topic=herald.delivery.dead").await;
    let notice = &notices["events"][0]["data"];
    assert_eq!(notice["delivery_id"], dead["id"]);
    assert_eq!(notice["subscription_id"], sub["id"]);
    assert_eq!(notice["attempts"], 2);
    assert_eq!(notice["last_error"], "endpoint answered 500");

    rx.always("/down", 200);
    let (status, retried) = send_json(
        "POST",
        &format!(
            "{}/v1/deliveries/{}/retry",
            server.url,
            dead["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 202, "{retried}");
    first_delivery_with_status(&server.url, &sub, "succeeded").await;
    let (status, _) = send_json(
        "POST",
        &format!("{}/v1/deliveries/dlv_nope/retry", server.url),
        None,
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn gone_disables_the_subscription_until_an_operator_enables_it() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    rx.script("/gone", &[410]);
    let sub = subscribe(
        &server.url,
        json!({"url": format!("{}/gone", rx.url), "topics": ["t"]}),
    )
    .await;
    let id = sub["id"].as_str().unwrap();
    publish(&server.url, "t", r#"{"data":1}"#).await;
    let disabled = eventually(|| async {
        let (_, _, s) = get(&server.url, &format!("/v1/subscriptions/{id}")).await;
        (s["state"] == "disabled").then_some(s)
    })
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    let (_, _, notices) = get(&server.url, "/v1/events?topic=herald.subscription.disabled").await;
    assert_eq!(notices["events"][0]["data"]["subscription_id"], id);
    publish(&server.url, "t", r#"{"data":2}"#).await;

    let (status, enabled) = send_json(
        "PATCH",
        &format!("{}/v1/subscriptions/{id}", server.url),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!((status, enabled["state"].as_str()), (200, Some("enabled")));
    assert_eq!(enabled["disabled_reason"], Value::Null);
    // Both the event that met the 410 and the one published while disabled arrive.
    let hits = rx.wait_for("/gone", 3).await;
    // Unordered subscriptions send them concurrently, so compare without order.
    let mut datas: Vec<u64> = hits[1..]
        .iter()
        .map(|h| h.json()["data"].as_u64().unwrap())
        .collect();
    datas.sort();
    assert_eq!(datas, [1, 2]);
    server.stop().await;
}

#[tokio::test]
async fn a_hung_and_a_failing_endpoint_do_not_delay_a_healthy_one() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    rx.always("/hang", 0);
    rx.always("/fail", 500);
    let hung = subscribe(
        &server.url,
        json!({"url": format!("{}/hang", rx.url), "topics": ["t"], "timeout": "30s"}),
    )
    .await;
    subscribe(&server.url, json!({"url": format!("{}/fail", rx.url), "topics": ["t"], "retry_schedule": ["10ms", "10ms", "10ms"]})).await;
    subscribe(
        &server.url,
        json!({"url": format!("{}/ok", rx.url), "topics": ["t"]}),
    )
    .await;
    for i in 0..20 {
        publish(&server.url, "t", &format!(r#"{{"data":{i}}}"#)).await;
    }
    let hits = rx.wait_for("/ok", 20).await;
    let mut got: Vec<u64> = hits
        .iter()
        .map(|h| h.json()["data"].as_u64().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    // The healthy endpoint got everything while the hung one's first requests are still open
    // (its timeout is 30 s): the bound is causal, not a stopwatch.
    let hung_attempts: usize = deliveries(&server.url, &hung)
        .await
        .iter()
        .map(|d| d["attempts"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        hung_attempts, 0,
        "no attempt to the hung endpoint has even finished"
    );
    server.stop().await;
}

#[tokio::test]
async fn batches_carry_arrays_of_events() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    let sub = subscribe(
        &server.url,
        json!({"url": format!("{}/batch", rx.url), "topics": ["b"], "batch": {"max_events": 5, "max_wait_ms": 100}}),
    )
    .await;
    let events: Vec<String> = (0..12).map(|i| format!(r#"{{"data":{i}}}"#)).collect();
    publish(&server.url, "b", &format!("[{}]", events.join(","))).await;
    let mut hits = rx.wait_for("/batch", 3).await;
    // Unordered subscriptions send batches concurrently; order them by their first event.
    hits.sort_by_key(|h| h.json()[0]["seq"].as_u64());
    let sizes: Vec<usize> = hits
        .iter()
        .map(|h| h.json().as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [5, 5, 2]);
    let seqs: Vec<u64> = hits.iter().flat_map(|h| common::seqs(&h.json())).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
    assert!(
        hits[0].header("webhook-id").starts_with("dlv_"),
        "a batch's webhook-id is its delivery id"
    );
    assert!(verify(sub["secret"].as_str().unwrap(), &hits[2]));
    server.stop().await;
}

#[tokio::test]
async fn ordered_subscriptions_hold_later_events_until_the_earlier_one_succeeds() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    rx.script("/ordered", &[500, 500]);
    subscribe(
        &server.url,
        json!({"url": format!("{}/ordered", rx.url), "topics": ["o"], "ordered": true, "retry_schedule": ["20ms", "20ms", "20ms"]}),
    )
    .await;
    for i in 1..=5 {
        publish(&server.url, "o", &format!(r#"{{"data":{i}}}"#)).await;
    }
    let hits = rx.wait_for("/ordered", 7).await;
    let order: Vec<u64> = hits
        .iter()
        .map(|h| h.json()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [1, 1, 1, 2, 3, 4, 5]);
    server.stop().await;
}

#[tokio::test]
async fn max_in_flight_bounds_concurrent_requests() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    rx.delay(Duration::from_millis(30));
    subscribe(
        &server.url,
        json!({"url": format!("{}/slow", rx.url), "topics": ["c"], "max_in_flight": 2}),
    )
    .await;
    let events: Vec<String> = (0..10).map(|i| format!(r#"{{"data":{i}}}"#)).collect();
    publish(&server.url, "c", &format!("[{}]", events.join(","))).await;
    rx.wait_for("/slow", 10).await;
    assert_eq!(rx.max_active(), 2, "two at a time, never more");
    server.stop().await;
}

#[tokio::test]
async fn type_filters_replays_and_secret_rotation() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    let sub = subscribe(
        &server.url,
        json!({"url": format!("{}/typed", rx.url), "topics": ["x.>"], "types": ["keep"]}),
    )
    .await;
    let id = sub["id"].as_str().unwrap();
    publish(&server.url, "x.1", r#"{"type":"drop","data":0}"#).await;
    let (_, kept) = publish(&server.url, "x.2", r#"{"type":"keep","data":1}"#).await;
    let first = rx.wait_for("/typed", 1).await;
    assert_eq!(first[0].json()["seq"], kept["seq"]);

    let (status, rotated) = send_json(
        "POST",
        &format!("{}/v1/subscriptions/{id}/rotate-secret", server.url),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, sub["secret"].as_str().unwrap());

    let (status, _) = send_json(
        "POST",
        &format!("{}/v1/subscriptions/{id}/replay", server.url),
        Some(json!({"after": 0})),
    )
    .await;
    assert_eq!(status, 202);
    let hits = rx.wait_for("/typed", 2).await;
    assert_eq!(
        hits.len(),
        2,
        "the replay delivers the one matching event again, and only it"
    );
    let again = &hits[1];
    assert_eq!(again.header("webhook-id"), kept["id"].as_str().unwrap());
    assert_eq!(
        again.header("webhook-signature").split(' ').count(),
        2,
        "both secrets sign during rotation"
    );
    assert!(verify(new_secret, again) && verify(sub["secret"].as_str().unwrap(), again));

    let (status, _) = send_json(
        "POST",
        &format!("{}/v1/subscriptions/{id}/replay", server.url),
        Some(json!({"since": "2000-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, 202);
    rx.wait_for("/typed", 3).await;
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_can_be_listed_patched_and_deleted() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    let sub = subscribe(
        &server.url,
        json!({"url": format!("{}/m", rx.url), "topics": ["a"], "description": "mine"}),
    )
    .await;
    let id = sub["id"].as_str().unwrap();
    assert_eq!(sub["retry_schedule"][0], "5s", "the default schedule");
    let (_, _, list) = get(&server.url, "/v1/subscriptions").await;
    assert_eq!(list["subscriptions"][0]["id"], id);
    let (status, patched) = send_json(
        "PATCH",
        &format!("{}/v1/subscriptions/{id}", server.url),
        Some(json!({"topics": ["b"], "rate_limit": 5.0, "description": null, "headers": {"x-team": "core"}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["topics"].clone(), patched["rate_limit"].clone()),
        (json!(["b"]), json!(5.0))
    );
    assert_eq!(patched["description"], Value::Null);
    publish(&server.url, "a", r#"{"data":"old topic"}"#).await;
    publish(&server.url, "b", r#"{"data":"new topic"}"#).await;
    let hits = rx.wait_for("/m", 1).await;
    assert_eq!(hits[0].json()["data"], "new topic");
    assert_eq!(hits[0].header("x-team"), "core");

    let (status, _) = send_json(
        "DELETE",
        &format!("{}/v1/subscriptions/{id}", server.url),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = get(&server.url, &format!("/v1/subscriptions/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(
        "DELETE",
        &format!("{}/v1/subscriptions/{id}", server.url),
        None,
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_the_reason() {
    let server = webhook_server().await;
    let cases = [
        (json!({"topics": ["a"]}), "`url` and `topics`"),
        (
            json!({"url": "ftp://example.com/x", "topics": ["a"]}),
            "http or https",
        ),
        (json!({"url": "not a url", "topics": ["a"]}), "not a URL"),
        (
            json!({"url": "https://example.com/", "topics": ["a..b"]}),
            "empty token",
        ),
        (
            json!({"url": "https://example.com/", "topics": []}),
            "1 to 100",
        ),
        (
            json!({"url": "https://example.com/", "topics": ["a"], "retry_schedule": ["soon"]}),
            "retry_schedule",
        ),
        (
            json!({"url": "https://example.com/", "topics": ["a"], "max_in_flight": 0}),
            "max_in_flight",
        ),
        (
            json!({"url": "https://example.com/", "topics": ["a"], "headers": {"webhook-id": "x"}}),
            "set by Herald",
        ),
        (
            json!({"url": "https://example.com/", "topics": ["a"], "colour": "red"}),
            "unknown field",
        ),
        (
            json!({"url": "https://example.com/", "topics": ["a"], "batch": {"max_events": 0, "max_wait_ms": 1}}),
            "batch",
        ),
    ];
    for (body, mention) in cases {
        let (status, problem) = send_json(
            "POST",
            &format!("{}/v1/subscriptions", server.url),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            problem["detail"].as_str().unwrap().contains(mention),
            "{body}: {problem}"
        );
    }
    let (status, _, problem) = get(&server.url, "/v1/subscriptions/sub_missing").await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (404, Some("urn:herald:problem:subscription-not-found"))
    );
    let (status, _, _) = get(&server.url, "/v1/subscriptions/sub_missing/deliveries").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_addresses_without_an_allow_list() {
    let server = common::TestServer::start(|_| {}).await;
    let (status, problem) = send_json(
        "POST",
        &format!("{}/v1/subscriptions", server.url),
        Some(json!({"url": "http://127.0.0.1:9/x", "topics": ["a"]})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not a public address"),
        "{problem}"
    );
    for url in [
        "http://[::ffff:127.0.0.1]/x",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/",
    ] {
        let (status, _) = send_json(
            "POST",
            &format!("{}/v1/subscriptions", server.url),
            Some(json!({"url": url, "topics": ["a"]})),
        )
        .await;
        assert_eq!(status, 400, "{url}");
    }
    // A hostname is checked where it resolves: localhost is refused at delivery time.
    let rx = Receiver::start().await;
    let port = rx.url.rsplit(':').next().unwrap();
    let sub = subscribe(
        &server.url,
        json!({"url": format!("http://localhost:{port}/x"), "topics": ["a"], "retry_schedule": []}),
    )
    .await;
    publish(&server.url, "a", r#"{"data":1}"#).await;
    let dead = first_delivery_with_status(&server.url, &sub, "dead").await;
    let error = dead["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("non-public"), "{error}");
    assert!(rx.hits("/x").is_empty(), "nothing reached the receiver");
    server.stop().await;
}

#[tokio::test]
async fn kill_9_with_deliveries_pending_and_retrying_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("HERALD_WEBHOOKS__ALLOW_NETWORKS", "127.0.0.0/8")];
    let server = common::Process::serve(dir.path(), &env);
    let rx = Receiver::start().await;
    rx.delay(Duration::from_millis(20));
    rx.script("/flaky", &[500; 15]);
    subscribe(
        &server.url,
        json!({"url": format!("{}/steady", rx.url), "topics": ["k"], "max_in_flight": 1}),
    )
    .await;
    subscribe(&server.url, json!({"url": format!("{}/flaky", rx.url), "topics": ["k"], "retry_schedule": ["50ms", "50ms", "50ms", "50ms"]})).await;
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..40 {
        let (_, event) = publish(&server.url, "k", &format!(r#"{{"data":{i}}}"#)).await;
        ids.insert(event["id"].as_str().unwrap().to_owned());
    }
    rx.wait_for("/steady", 5).await;
    assert!(
        rx.hits("/steady").len() < 40,
        "still delivering when killed"
    );
    server.signal("-9");

    let server = common::Process::serve(dir.path(), &env);
    for path in ["/steady", "/flaky"] {
        let received = eventually(|| async {
            let hits = rx.hits(path);
            let got: std::collections::BTreeSet<String> = hits
                .iter()
                .filter(|h| !h.header("webhook-id").is_empty())
                .map(|h| h.json()["id"].as_str().unwrap().to_owned())
                .collect();
            (got == ids).then_some(hits)
        })
        .await;
        for hit in &received {
            assert_eq!(
                hit.header("webhook-id"),
                hit.json()["id"].as_str().unwrap(),
                "a duplicate carries the same webhook-id"
            );
        }
    }
    drop(server);
}

#[tokio::test]
async fn herald_listen_forwards_signed_requests_to_a_local_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Process::serve(dir.path(), &[]);
    let rx = Receiver::start().await;
    rx.script("/local", &[500]);
    publish(&server.url, "app.1", r#"{"type":"created","data":1}"#).await;
    publish(&server.url, "other", r#"{"data":0}"#).await;
    publish(&server.url, "app.2", r#"{"data":2}"#).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "listen",
            "--server",
            &server.url,
            "--topic",
            "app.*",
            "--after",
            "0",
            "--count",
            "2",
            "--secret",
            secret,
        ])
        .args(["--forward-to", &format!("{}/local", rx.url)])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("#1 app.1 created -> 500"), "{stdout}");
    assert!(
        lines[1].starts_with("#3 app.2 app.2 -> 200") && lines[1].ends_with(" ms"),
        "{stdout}"
    );
    let hits = rx.hits("/local");
    assert_eq!(hits.len(), 2);
    for hit in &hits {
        assert!(
            verify(secret, hit),
            "signed the same way as Herald's webhooks"
        );
        assert_eq!(hit.header("webhook-id"), hit.json()["id"].as_str().unwrap());
    }
}

#[tokio::test]
async fn retry_after_on_429_sets_the_next_attempt() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    rx.script("/throttled", &[429]);
    let sub = subscribe(&server.url, json!({"url": format!("{}/throttled", rx.url), "topics": ["t"], "retry_schedule": ["10ms"]})).await;
    publish(&server.url, "t", r#"{"data":1}"#).await;
    let waiting = first_delivery_with_status(&server.url, &sub, "retrying").await;
    let at = |s: &Value| {
        time::OffsetDateTime::parse(
            s.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let gap = at(&waiting["next_attempt_at"]) - at(&waiting["attempts"][0]["at"]);
    assert!(
        gap >= time::Duration::seconds(1),
        "Retry-After: 1 replaced the 10ms schedule: {gap}"
    );
    assert!(gap < time::Duration::seconds(2));
    rx.wait_for("/throttled", 2).await;
    server.stop().await;
}

#[tokio::test]
async fn a_subscription_failing_for_too_long_is_disabled_and_announced() {
    let server = common::TestServer::start(|c| {
        c.webhooks.allow_networks = vec!["127.0.0.0/8".into()];
        c.webhooks.disable_after = "100ms".parse().unwrap();
    })
    .await;
    let rx = Receiver::start().await;
    rx.always("/broken", 500);
    let sub = subscribe(&server.url, json!({"url": format!("{}/broken", rx.url), "topics": ["t"], "retry_schedule": vec!["30ms"; 20]})).await;
    let id = sub["id"].as_str().unwrap();
    publish(&server.url, "t", r#"{"data":1}"#).await;
    let disabled = eventually(|| async {
        let (_, _, s) = get(&server.url, &format!("/v1/subscriptions/{id}")).await;
        (s["state"] == "disabled").then_some(s)
    })
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("every attempt failed since")
    );
    let (_, _, notices) = get(&server.url, "/v1/events?topic=herald.subscription.disabled").await;
    assert_eq!(notices["events"][0]["data"]["subscription_id"], id);
    // Disabled means no more attempts.
    let before = rx.hits("/broken").len();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(rx.hits("/broken").len(), before);
    server.stop().await;
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let server = webhook_server().await;
    let rx = Receiver::start().await;
    subscribe(
        &server.url,
        json!({"url": format!("{}/limited", rx.url), "topics": ["r"], "rate_limit": 20.0}),
    )
    .await;
    let events: Vec<String> = (0..6).map(|i| format!(r#"{{"data":{i}}}"#)).collect();
    let started = std::time::Instant::now();
    publish(&server.url, "r", &format!("[{}]", events.join(","))).await;
    rx.wait_for("/limited", 6).await;
    // 20 per second: six requests take at least five gaps of 50 ms (a lower bound the limiter
    // guarantees, whatever the machine's speed).
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn the_cli_manages_subscriptions_and_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Process::serve(
        dir.path(),
        &[("HERALD_WEBHOOKS__ALLOW_NETWORKS", "127.0.0.0/8")],
    );
    let rx = Receiver::start().await;
    let herald = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["subscriptions", "--server", &server.url])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let hook = format!("{}/cli", rx.url);
    let created = herald(&[
        "create",
        "--url",
        &hook,
        "--topic",
        "cli.*",
        "--retry",
        "10ms",
        "--description",
        "from the CLI",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["retry_schedule"], json!(["10ms"]));
    assert_eq!(herald(&["list"])["subscriptions"][0]["id"], id.as_str());
    assert_eq!(herald(&["show", &id])["description"], "from the CLI");

    publish(&server.url, "cli.1", r#"{"data":1}"#).await;
    rx.wait_for("/cli", 1).await;
    let delivered = eventually(|| async {
        let list = herald(&["deliveries", &id, "--status", "succeeded"]);
        list["deliveries"]
            .as_array()
            .filter(|d| !d.is_empty())
            .map(|d| d[0].clone())
    })
    .await;
    herald(&["retry", delivered["id"].as_str().unwrap()]);
    rx.wait_for("/cli", 2).await;
    assert_eq!(herald(&["replay", &id, "--after", "0"])["after"], 0);
    rx.wait_for("/cli", 3).await;
}
