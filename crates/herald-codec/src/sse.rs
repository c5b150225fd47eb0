//! Server-Sent Events (the `text/event-stream` format of the HTML standard).
//!
//! The server side encodes events, comments and the `retry:` hint; the client side
//! ([`Decoder`]) parses a stream the way a browser's `EventSource` does, for Herald's CLI and tests.

use bytes::{BufMut, BytesMut};

/// Appends one event: optional `id:` and `event:` lines, then one `data:` line per line of `data`.
pub fn encode_event(id: Option<&str>, event: Option<&str>, data: &[u8], out: &mut BytesMut) {
    out.reserve(data.len() + 32);
    if let Some(id) = id {
        field(out, b"id: ", id.as_bytes());
    }
    if let Some(event) = event {
        field(out, b"event: ", event.as_bytes());
    }
    // A raw line break inside data would end the field early, so each line gets its own `data:`.
    for line in split_lines(data) {
        field(out, b"data: ", line);
    }
    out.put_u8(b'\n');
}

/// Appends a comment line (`: text`), which clients ignore; used as a keep-alive.
pub fn encode_comment(text: &str, out: &mut BytesMut) {
    for line in split_lines(text.as_bytes()) {
        field(out, b": ", line);
    }
    out.put_u8(b'\n');
}

/// Appends the `retry:` hint: how many milliseconds a client waits before reconnecting.
pub fn encode_retry(millis: u64, out: &mut BytesMut) {
    field(out, b"retry: ", millis.to_string().as_bytes());
    out.put_u8(b'\n');
}

fn field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(value);
    out.put_u8(b'\n');
}

/// Splits on `\r\n`, `\n` or `\r`, the three line ends the format knows.
fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let data = rest?;
        match data.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                rest = None;
                Some(data)
            }
            Some(i) => {
                let skip = if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = Some(&data[i + skip..]);
                Some(&data[..i])
            }
        }
    })
}

/// One event as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The last `id:` seen on the stream so far (it persists across events, as in browsers).
    pub last_event_id: String,
    /// The `event:` field, or `"message"` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// What the decoder found besides events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A complete event.
    Event(Event),
    /// A comment line (keep-alive), without the leading colon.
    Comment(String),
    /// A `retry:` hint in milliseconds.
    Retry(u64),
}

/// Parses an event stream incrementally, following the HTML standard's processing model.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    started: bool,
    last_event_id: String,
    event: String,
    data: String,
    has_data: bool,
    /// A `\r` ended the previous chunk, so a `\n` starting the next one belongs to it.
    pending_cr: bool,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as they arrive.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete item, or `None` until more bytes arrive.
    pub fn next_item(&mut self) -> Option<Item> {
        loop {
            if self.pending_cr && !self.buf.is_empty() {
                self.pending_cr = false;
                if self.buf[0] == b'\n' {
                    let _ = self.buf.split_to(1);
                }
            }
            if !self.started {
                if self.buf.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buf) {
                    return None;
                }
                if self.buf.starts_with(b"\xEF\xBB\xBF") {
                    let _ = self.buf.split_to(3);
                }
                self.started = true;
            }
            let end = self.buf.iter().position(|&b| b == b'\n' || b == b'\r')?;
            let line = self.buf.split_to(end + 1);
            if line[end] == b'\r' {
                if self.buf.first() == Some(&b'\n') {
                    let _ = self.buf.split_to(1);
                } else if self.buf.is_empty() {
                    self.pending_cr = true;
                }
            }
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if let Some(item) = self.line(&line) {
                return Some(item);
            }
        }
    }

    fn line(&mut self, line: &str) -> Option<Item> {
        if line.is_empty() {
            return self.dispatch();
        }
        if let Some(comment) = line.strip_prefix(':') {
            return Some(Item::Comment(
                comment.strip_prefix(' ').unwrap_or(comment).to_owned(),
            ));
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match name {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_owned(),
            "id" if !value.contains('\0') => self.last_event_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                return value.parse().ok().map(Item::Retry);
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Item> {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(Item::Event(Event {
            last_event_id: self.last_event_id.clone(),
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data: std::mem::take(&mut self.data),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Item> {
        let mut d = Decoder::new();
        let mut items = Vec::new();
        for chunk in chunks {
            d.push(chunk);
            while let Some(item) = d.next_item() {
                items.push(item);
            }
        }
        items
    }

    fn event(id: &str, data: &str) -> Item {
        Item::Event(Event {
            last_event_id: id.into(),
            event: "message".into(),
            data: data.into(),
        })
    }

    #[test]
    fn encodes_id_and_single_line_data() {
        let mut out = BytesMut::new();
        encode_event(Some("17"), None, br#"{"a":1}"#, &mut out);
        assert_eq!(&out[..], b"id: 17\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn multi_line_data_gets_one_field_per_line() {
        let mut out = BytesMut::new();
        encode_event(None, Some("x"), b"one\r\ntwo\nthree\rfour", &mut out);
        assert_eq!(
            &out[..],
            b"event: x\ndata: one\ndata: two\ndata: three\ndata: four\n\n"
        );
        assert_eq!(
            decode_all(&[&out]),
            vec![Item::Event(Event {
                last_event_id: String::new(),
                event: "x".into(),
                data: "one\ntwo\nthree\nfour".into()
            })]
        );
    }

    #[test]
    fn comments_and_retry_round_trip() {
        let mut out = BytesMut::new();
        encode_retry(2000, &mut out);
        encode_comment("keep-alive", &mut out);
        assert_eq!(&out[..], b"retry: 2000\n\n: keep-alive\n\n");
        assert_eq!(
            decode_all(&[&out]),
            vec![Item::Retry(2000), Item::Comment("keep-alive".into())]
        );
    }

    #[test]
    fn decodes_across_arbitrary_chunk_boundaries_and_line_ends() {
        let stream = b"\xEF\xBB\xBFid: 1\r\ndata: a\r\n\r\nid: 2\rdata: b\r\rdata: c\n\n";
        let whole = decode_all(&[stream]);
        assert_eq!(
            whole,
            vec![event("1", "a"), event("2", "b"), event("2", "c")]
        );
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(decode_all(&[a, b]), whole, "split at {split}");
        }
    }

    #[test]
    fn ignores_events_without_data_and_unknown_fields() {
        assert_eq!(
            decode_all(&[b"id: 5\nfoo: bar\n\ndata\n\n"]),
            vec![event("5", "")]
        );
    }

    #[test]
    fn invalid_retry_is_ignored() {
        assert_eq!(decode_all(&[b"retry: 12a\n\n"]), vec![]);
    }
}
