//! Translating between STOMP frames and events: SEND into [`NewEvent`], [`Event`] into MESSAGE.

use bytes::{Bytes, BytesMut};
use herald_codec::stomp::{Frame, MessageTemplate, Version};

use super::session::Violation;
use crate::core::event::{Event, NewEvent, Payload, compact_json, generate_id, validate_type};
use crate::core::topic::Topic;
use crate::store::queue::{NewQueueMessage, QueuedMessage};

/// Headers with a meaning to STOMP or Herald; every other SEND header is the application's and
/// travels with the event to its MESSAGEs.
const RESERVED: &[&str] = &[
    "destination",
    "content-type",
    "content-length",
    "receipt",
    "transaction",
    "event-type",
    "message-id",
    "subscription",
    "ack",
    "seq",
    "redelivered",
];

/// Reads a SEND to `/topic/<topic>` as an event; `max_event` bounds the payload.
pub(crate) fn new_event(
    frame: &Frame,
    topic: &str,
    max_event: usize,
) -> Result<NewEvent, Violation> {
    let topic =
        Topic::parse(topic).map_err(|e| Violation::new("invalid destination", e.to_string()))?;
    if topic.is_system() {
        return Err(Violation::new(
            "destination refused",
            format!("topic `{topic}` is reserved: `herald.*` topics carry Herald's own events"),
        ));
    }
    let event_type = frame.header("event-type").map(str::to_owned);
    if let Some(t) = &event_type {
        validate_type(t).map_err(|e| Violation::new("invalid event-type", e))?;
    }
    let payload = payload(frame.header("content-type"), &frame.body)?;
    if payload.len() > max_event {
        return Err(Violation::new(
            "body too large",
            format!(
                "the body is {} bytes; the limit is {max_event} (limits.max_event)",
                payload.len()
            ),
        ));
    }
    Ok(NewEvent {
        topic,
        id: None,
        event_type,
        payload,
        headers: user_headers(&frame.headers),
    })
}

/// Reads a SEND to `/queue/<name>`: the body and its content type pass through untouched.
pub(crate) fn new_queue_message(
    frame: &Frame,
    name: &str,
    max_event: usize,
) -> Result<NewQueueMessage, Violation> {
    // Queue names follow topic-name rules.
    let name = Topic::parse(name).map_err(|e| {
        Violation::new(
            "invalid destination",
            e.to_string().replace("topic", "queue"),
        )
    })?;
    if frame.body.len() > max_event {
        return Err(Violation::new(
            "body too large",
            format!(
                "the body is {} bytes; the limit is {max_event} (limits.max_event)",
                frame.body.len()
            ),
        ));
    }
    Ok(NewQueueMessage {
        queue: name.as_str().to_owned(),
        message_id: generate_id(),
        content_type: frame.header("content-type").map(str::to_owned),
        body: frame.body.clone(),
        headers: user_headers(&frame.headers),
    })
}

/// The MESSAGE for a queue message.
pub(crate) fn queue_message(
    message: &QueuedMessage,
    subscription: &str,
    ack: Option<&str>,
    version: Version,
) -> Bytes {
    let mut headers: Vec<(String, String)> = vec![
        ("destination".into(), format!("/queue/{}", message.queue)),
        ("message-id".into(), message.message_id.clone()),
        ("redelivered".into(), message.redelivered.to_string()),
    ];
    if let Some(ct) = &message.content_type {
        headers.push(("content-type".into(), ct.clone()));
    }
    headers.extend(message.headers.iter().cloned());
    let template = MessageTemplate::new(&headers, &message.body, version);
    let mut out = BytesMut::new();
    template.encode(subscription, ack, &mut out);
    out.freeze()
}

/// JSON (declared, or undeclared but parsable) becomes `data`; other text keeps its content
/// type; bytes that are not UTF-8 are kept as they are.
fn payload(content_type: Option<&str>, body: &[u8]) -> Result<Payload, Violation> {
    let parses = || serde_json::from_slice::<&serde_json::value::RawValue>(body).is_ok();
    let text = std::str::from_utf8(body).ok();
    match content_type {
        Some(ct) if is_json(ct) => match text {
            Some(text) if parses() => Ok(Payload::Json(compact_json(text))),
            _ => Err(Violation::new(
                "invalid JSON body",
                format!("content-type is {ct} but the body is not valid JSON"),
            )),
        },
        None if text.is_some() && parses() => Ok(Payload::Json(compact_json(text.unwrap_or("")))),
        ct => {
            let content_type = ct.map(str::to_owned);
            Ok(match text {
                Some(text) => Payload::Text {
                    content_type: content_type.unwrap_or_else(|| "text/plain".into()),
                    text: text.to_owned(),
                },
                None => Payload::Binary {
                    content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
                    bytes: body.to_vec(),
                },
            })
        }
    }
}

fn is_json(content_type: &str) -> bool {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    base == "application/json" || base.ends_with("+json")
}

/// The application's headers, first occurrence of each name only (the spec's rule for repeats).
fn user_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        if !RESERVED.contains(&name.as_str()) && !out.iter().any(|(n, _)| n == name) {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

/// The MESSAGE for one subscriber: the event's data as the body, its id, topic and seq in headers.
/// Everything but `subscription` and `ack` is encoded once per event and version.
pub(crate) fn message(
    event: &Event,
    subscription: &str,
    ack: Option<&str>,
    version: Version,
) -> Bytes {
    let template = event.stomp_template(version, || template(event, version));
    let mut out = BytesMut::new();
    template.encode(subscription, ack, &mut out);
    out.freeze()
}

fn template(event: &Event, version: Version) -> MessageTemplate {
    let (content_type, body): (&str, &[u8]) = match &event.payload {
        Payload::Json(json) => ("application/json", json.as_bytes()),
        Payload::Text { content_type, text } => (content_type, text.as_bytes()),
        Payload::Binary {
            content_type,
            bytes,
        } => (content_type, bytes),
    };
    let mut headers: Vec<(String, String)> = vec![
        ("destination".into(), format!("/topic/{}", event.topic)),
        ("message-id".into(), event.id.clone()),
        ("seq".into(), event.seq.to_string()),
        ("event-type".into(), event.event_type.clone()),
        ("content-type".into(), content_type.to_owned()),
    ];
    headers.extend(event.headers.iter().cloned());
    MessageTemplate::new(&headers, body, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert_eq!(
            payload(None, b"{ \"a\": 1 }").unwrap(),
            Payload::Json(r#"{"a":1}"#.into())
        );
        assert!(
            matches!(payload(None, b"hello").unwrap(), Payload::Text { content_type, .. } if content_type == "text/plain")
        );
        assert!(payload(Some("application/json"), b"nope").is_err());
        assert!(matches!(
            payload(Some("text/csv"), b"1,2").unwrap(),
            Payload::Text { content_type, text } if content_type == "text/csv" && text == "1,2"
        ));
        assert!(
            matches!(payload(None, &[0xff, 0]).unwrap(), Payload::Binary { bytes, .. } if bytes == [0xff, 0])
        );
    }

    #[test]
    fn user_headers_keep_the_first_of_each_name() {
        let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        let got = user_headers(&[
            h("destination", "/topic/a"),
            h("x", "1"),
            h("x", "2"),
            h("receipt", "r"),
        ]);
        assert_eq!(got, vec![h("x", "1")]);
    }
}
