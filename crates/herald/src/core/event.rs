//! Events: what a producer sends ([`NewEvent`]) and what the log holds ([`Event`]).
//!
//! An [`Event`] is encoded to JSON once, when it is built; every transport shares those bytes.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use herald_codec::stomp::{MessageTemplate, Version};

use super::topic::Topic;

/// Longest producer-given id.
pub const MAX_ID_LEN: usize = 128;
/// Longest event type.
pub const MAX_TYPE_LEN: usize = 255;

/// An event's payload as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Compact JSON text (no whitespace outside strings), sent as `data`.
    Json(String),
    /// UTF-8 text with its content type, sent as a JSON string in `data`.
    Text { content_type: String, text: String },
    /// Other bytes with their content type, sent base64-encoded in `data_base64`.
    Binary {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl Payload {
    /// Size of the payload in bytes, as limits count it.
    pub fn len(&self) -> usize {
        match self {
            Payload::Json(s) => s.len(),
            Payload::Text { text, .. } => text.len(),
            Payload::Binary { bytes, .. } => bytes.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An event on its way into the log.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub topic: Topic,
    /// Producer-given id; generated (ULID) when absent.
    pub id: Option<String>,
    /// Defaults to the topic name.
    pub event_type: Option<String>,
    pub payload: Payload,
    /// Application headers that travel with the event to STOMP consumers (from a STOMP SEND);
    /// empty for HTTP publishes. Not part of the event's JSON.
    pub headers: Vec<(String, String)>,
}

/// Checks a producer-given id: 1–128 characters of `[A-Za-z0-9._:-]`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "event id must be 1 to {MAX_ID_LEN} characters, got {}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._:-".contains(*c)))
    {
        return Err(format!(
            "event id `{id}` contains {c:?}; ids may contain only A-Z, a-z, 0-9, `.`, `_`, `:` and `-`"
        ));
    }
    Ok(())
}

/// Checks an event type: 1–255 printable characters.
pub fn validate_type(event_type: &str) -> Result<(), String> {
    if event_type.is_empty() || event_type.len() > MAX_TYPE_LEN {
        return Err(format!(
            "event type must be 1 to {MAX_TYPE_LEN} bytes, got {}",
            event_type.len()
        ));
    }
    if event_type.chars().any(char::is_control) {
        return Err("event type must not contain control characters".into());
    }
    Ok(())
}

/// A new ULID, the id of events published without one.
pub fn generate_id() -> String {
    ulid::Ulid::new().to_string()
}

/// An event in the log, with its encodings.
#[derive(Debug)]
pub struct Event {
    pub seq: u64,
    pub id: String,
    pub topic: String,
    pub event_type: String,
    /// Milliseconds since the Unix epoch, assigned at append.
    pub time_ms: i64,
    pub payload: Payload,
    /// Application headers from a STOMP SEND, in the order sent; not part of the JSON.
    pub headers: Vec<(String, String)>,
    /// The event's JSON followed by `\n`: the NDJSON line, and (without the `\n`) the JSON.
    line: Bytes,
    sse: OnceLock<Bytes>,
    /// The STOMP MESSAGE without its per-subscriber headers, by version (1.0, 1.1, 1.2).
    stomp: [OnceLock<MessageTemplate>; 3],
}

impl Event {
    /// Builds an event and encodes its JSON.
    pub fn new(
        seq: u64,
        id: String,
        topic: String,
        event_type: String,
        time_ms: i64,
        payload: Payload,
    ) -> Arc<Self> {
        Self::with_headers(seq, id, topic, event_type, time_ms, payload, Vec::new())
    }

    /// Builds an event that carries application headers (see [`Event::headers`]).
    pub fn with_headers(
        seq: u64,
        id: String,
        topic: String,
        event_type: String,
        time_ms: i64,
        payload: Payload,
        headers: Vec<(String, String)>,
    ) -> Arc<Self> {
        let line = encode(seq, &id, &topic, &event_type, time_ms, &payload);
        Arc::new(Self {
            seq,
            id,
            topic,
            event_type,
            time_ms,
            payload,
            headers,
            line,
            sse: OnceLock::new(),
            stomp: Default::default(),
        })
    }

    /// The event as compact JSON.
    pub fn json(&self) -> Bytes {
        self.line.slice(..self.line.len() - 1)
    }

    /// The event as one NDJSON line.
    pub fn ndjson_line(&self) -> Bytes {
        self.line.clone()
    }

    /// The event as one Server-Sent Events frame (`id:` = seq), encoded on first use and shared.
    pub fn sse_frame(&self) -> Bytes {
        self.sse
            .get_or_init(|| {
                let mut out = BytesMut::with_capacity(self.line.len() + 32);
                let seq = self.seq.to_string();
                herald_codec::sse::encode_event(Some(&seq), None, &self.json(), &mut out);
                out.freeze()
            })
            .clone()
    }

    /// The event's STOMP MESSAGE in `version`, built by `build` on first use and shared by every
    /// subscriber (who each add only their `subscription` and `ack` headers).
    pub fn stomp_template(
        &self,
        version: Version,
        build: impl FnOnce() -> MessageTemplate,
    ) -> &MessageTemplate {
        let at = match version {
            Version::V1_0 => 0,
            Version::V1_1 => 1,
            Version::V1_2 => 2,
        };
        self.stomp[at].get_or_init(build)
    }

    /// The time as RFC 3339 with milliseconds, e.g. `2026-11-27T10:00:00.123Z`.
    pub fn time_rfc3339(&self) -> String {
        format_time(self.time_ms)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A JSON array of events, from their shared encodings.
pub fn json_array(events: &[Arc<Event>]) -> Bytes {
    let mut out = BytesMut::with_capacity(events.iter().map(|e| e.line.len()).sum::<usize>() + 2);
    out.put_u8(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&event.line[..event.line.len() - 1]);
    }
    out.put_u8(b']');
    out.freeze()
}

/// Formats Unix milliseconds as RFC 3339 UTC with exactly three fractional digits.
pub fn format_time(time_ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

fn encode(
    seq: u64,
    id: &str,
    topic: &str,
    event_type: &str,
    time_ms: i64,
    payload: &Payload,
) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + id.len() + topic.len() * 2 + 96);
    out.put_slice(b"{\"id\":");
    put_json_str(&mut out, id);
    out.put_slice(b",\"topic\":");
    put_json_str(&mut out, topic);
    out.put_slice(b",\"type\":");
    put_json_str(&mut out, event_type);
    out.put_slice(b",\"time\":\"");
    out.put_slice(format_time(time_ms).as_bytes());
    out.put_slice(b"\",\"seq\":");
    out.put_slice(seq.to_string().as_bytes());
    match payload {
        Payload::Json(json) => {
            out.put_slice(b",\"data\":");
            out.put_slice(json.as_bytes());
        }
        Payload::Text { content_type, text } => {
            out.put_slice(b",\"datacontenttype\":");
            put_json_str(&mut out, content_type);
            out.put_slice(b",\"data\":");
            put_json_str(&mut out, text);
        }
        Payload::Binary {
            content_type,
            bytes,
        } => {
            out.put_slice(b",\"datacontenttype\":");
            put_json_str(&mut out, content_type);
            out.put_slice(b",\"data_base64\":\"");
            out.put_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.put_u8(b'"');
        }
    }
    out.put_slice(b"}\n");
    out.freeze()
}

fn put_json_str(out: &mut BytesMut, s: &str) {
    // serde_json escapes exactly as JSON requires (and never emits a raw line break).
    let quoted = serde_json::to_string(s).expect("strings always serialise");
    out.put_slice(quoted.as_bytes());
}

/// Removes insignificant whitespace from valid JSON text, keeping every value byte for byte
/// (numbers keep their precision, which a parse and re-serialise would not promise).
pub fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_shape() {
        let e = Event::new(
            17,
            "01JD".into(),
            "orders.42".into(),
            "order.shipped".into(),
            1_795_773_600_123,
            Payload::Json(r#"{"status":"shipped"}"#.into()),
        );
        assert_eq!(
            &e.json()[..],
            br#"{"id":"01JD","topic":"orders.42","type":"order.shipped","time":"2026-11-27T10:00:00.123Z","seq":17,"data":{"status":"shipped"}}"#
        );
        assert!(e.ndjson_line().ends_with(b"}\n"));
        assert_eq!(&e.sse_frame()[..12], b"id: 17\ndata:");
    }

    #[test]
    fn text_and_binary_payloads() {
        let text = Payload::Text {
            content_type: "text/plain".into(),
            text: "hi\n\"x\"".into(),
        };
        let e = Event::new(1, "a".into(), "t".into(), "t".into(), 0, text);
        let v: serde_json::Value = serde_json::from_slice(&e.json()).unwrap();
        assert_eq!(v["datacontenttype"], "text/plain");
        assert_eq!(v["data"], "hi\n\"x\"");
        let bin = Payload::Binary {
            content_type: "application/octet-stream".into(),
            bytes: vec![0, 255],
        };
        let e = Event::new(2, "b".into(), "t".into(), "t".into(), 0, bin);
        let v: serde_json::Value = serde_json::from_slice(&e.json()).unwrap();
        assert_eq!(v["data_base64"], "AP8=");
    }

    #[test]
    fn compacting_keeps_strings_and_numbers() {
        let raw = "{ \"a b\" : [1 , 2.50000000000000000001,\n\t\"x \\\" y\" ],\r\n \"c\":null }";
        assert_eq!(
            compact_json(raw),
            r#"{"a b":[1,2.50000000000000000001,"x \" y"],"c":null}"#
        );
    }

    #[test]
    fn ids_and_types() {
        assert!(validate_id("01JD-x:y.z_1").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("a/b").unwrap_err().contains("'/'"));
        assert!(validate_id(&"a".repeat(129)).is_err());
        assert!(validate_type("order.shipped").is_ok());
        assert!(validate_type("a\nb").is_err());
        assert_eq!(generate_id().len(), 26);
    }
}
