//! Bad input: each case is a 4xx problem+json whose detail names the problem, and nothing is stored.

mod common;

use common::{TestServer, client, get};

struct Case {
    method: &'static str,
    path: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    status: u16,
    problem: &'static str,
    detail_mentions: &'static str,
}

fn case(
    method: &'static str,
    path: &'static str,
    body: &str,
    status: u16,
    problem: &'static str,
    detail: &'static str,
) -> Case {
    Case {
        method,
        path,
        body: body.as_bytes().to_vec(),
        content_type: Some("application/json"),
        status,
        problem,
        detail_mentions: detail,
    }
}

#[tokio::test]
async fn bad_requests_get_problem_json_and_store_nothing() {
    let server = TestServer::start(|c| {
        c.limits.max_body = 4096;
        c.limits.max_event = 1024;
    })
    .await;
    let big_event = format!(r#"{{"data":"{}"}}"#, "x".repeat(2000));
    let big_body = format!(r#"[{{"data":1}},{{"data":"{}"}}]"#, "y".repeat(5000));
    let mut cases = vec![
        case(
            "POST",
            "/v1/topics/a..b/events",
            r#"{"data":1}"#,
            400,
            "invalid-topic",
            "empty token",
        ),
        case(
            "POST",
            "/v1/topics/orders.*/events",
            r#"{"data":1}"#,
            400,
            "invalid-topic",
            "wildcards",
        ),
        case(
            "POST",
            "/v1/topics/has%20space/events",
            r#"{"data":1}"#,
            400,
            "invalid-topic",
            "has space",
        ),
        case(
            "POST",
            "/v1/topics/herald.delivery.dead/events",
            r#"{"data":1}"#,
            403,
            "reserved-topic",
            "herald.*",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            r#"{"data":1"#,
            400,
            "invalid-json",
            "EOF",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            r#"{"dta":1}"#,
            400,
            "invalid-json",
            "unknown field `dta`",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            r#"{"type":"x"}"#,
            400,
            "invalid-json",
            "missing field `data`",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            r#""just a string""#,
            400,
            "invalid-json",
            "JSON object",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            "",
            400,
            "invalid-json",
            "JSON object",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            "[]",
            400,
            "invalid-json",
            "empty",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            r#"{"data":1,"id":"a b"}"#,
            400,
            "invalid-event",
            "event id",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            r#"[{"data":1},{"data":1,"id":""}]"#,
            400,
            "invalid-event",
            "event [1]",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            r#"{"data":1,"type":""}"#,
            400,
            "invalid-event",
            "event type",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            &big_event,
            413,
            "event-too-large",
            "limits.max_event",
        ),
        case(
            "POST",
            "/v1/topics/t/events",
            &big_body,
            413,
            "body-too-large",
            "limits.max_body",
        ),
        case("GET", "/v1/events", "", 400, "missing-parameter", "topic="),
        case(
            "GET",
            "/v1/events?topic=a.%3E.b",
            "",
            400,
            "invalid-pattern",
            "may only end",
        ),
        case(
            "GET",
            "/v1/events?topic=a&after=-5",
            "",
            400,
            "invalid-parameter",
            "`after`",
        ),
        case(
            "GET",
            "/v1/events?topic=a&after=abc",
            "",
            400,
            "invalid-parameter",
            "`after`",
        ),
        case(
            "GET",
            "/v1/events?topic=a&limit=0",
            "",
            400,
            "invalid-parameter",
            "`limit`",
        ),
        case(
            "GET",
            "/v1/events?topic=a&limit=1001",
            "",
            400,
            "invalid-parameter",
            "`limit`",
        ),
        case(
            "GET",
            "/v1/events?topic=a&wait=61",
            "",
            400,
            "invalid-parameter",
            "`wait`",
        ),
        case(
            "GET",
            "/v1/events?topic=a&after=1&after=2",
            "",
            400,
            "invalid-parameter",
            "only once",
        ),
        case(
            "GET",
            "/v1/events?topic=a&colour=red",
            "",
            400,
            "unknown-parameter",
            "`colour`",
        ),
        case(
            "GET",
            "/v1/sse?topic=a&after=x",
            "",
            400,
            "invalid-parameter",
            "`after`",
        ),
        case("GET", "/v1/sse", "", 400, "missing-parameter", "topic="),
        case(
            "GET",
            "/v1/stream?topic=a..b",
            "",
            400,
            "invalid-pattern",
            "empty token",
        ),
        case(
            "GET",
            "/v1/topics/bad..name",
            "",
            400,
            "invalid-topic",
            "empty token",
        ),
        case(
            "GET",
            "/v1/nothing-here",
            "",
            404,
            "not-found",
            "/v1/nothing-here",
        ),
        case(
            "DELETE",
            "/v1/topics/t/events",
            "",
            405,
            "method-not-allowed",
            "DELETE",
        ),
    ];
    cases.push(Case {
        content_type: Some("text/plain"),
        ..case(
            "POST",
            "/v1/topics/t/events",
            r#"{"data":1}"#,
            415,
            "unsupported-media-type",
            "application/json",
        )
    });
    cases.push(Case {
        body: vec![b'{', 0xff, b'}'],
        ..case(
            "POST",
            "/v1/topics/t/events",
            "",
            400,
            "invalid-json",
            "invalid event JSON",
        )
    });

    for c in &cases {
        let mut request = client()
            .request(
                c.method.parse().unwrap(),
                format!("{}{}", server.url, c.path),
            )
            .body(c.body.clone());
        if let Some(ct) = c.content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        let what = format!("{} {}", c.method, c.path);
        assert_eq!(response.status().as_u16(), c.status, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let problem: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(
            problem["type"],
            format!("urn:herald:problem:{}", c.problem),
            "{what}: {problem}"
        );
        assert_eq!(problem["status"], c.status, "{what}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(c.detail_mentions),
            "{what}: detail {detail:?} should mention {:?}",
            c.detail_mentions
        );
    }

    let (_, _, topics) = get(&server.url, "/v1/topics").await;
    assert_eq!(
        topics["topics"],
        serde_json::json!([]),
        "nothing was stored"
    );
    assert_eq!(server.log.store().head(), 0);
    server.stop().await;
}
