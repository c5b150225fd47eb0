//! The frame type both directions share, and builders for the frames a server sends.

use bytes::Bytes;

use super::{Command, Version};

/// One STOMP frame: a command, its headers in wire order, and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame asks for or reports.
    pub command: Command,
    /// Headers in wire order, unescaped; repeats are kept because the spec says the first counts.
    pub headers: Vec<(String, String)>,
    /// The body, which may hold NUL bytes when the frame has a `content-length`.
    pub body: Bytes,
}

/// One item read from a STOMP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole frame.
    Frame(Frame),
    /// An EOL between frames, which a peer sends to show it is alive.
    HeartBeat,
}

impl Frame {
    /// A frame with no headers and no body.
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Appends a header; it does not replace an earlier one of the same name.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Frame {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Frame {
        self.body = body.into();
        self
    }

    /// The value of the first header called `name`, which is the one the spec says counts.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// CONNECTED with the agreed version and the server's `heart-beat` (sx,sy in milliseconds).
    pub fn connected(version: Version, heart_beat: (u64, u64)) -> Frame {
        Frame::new(Command::Connected)
            .with_header("version", version.as_str())
            .with_header("heart-beat", format!("{},{}", heart_beat.0, heart_beat.1))
    }

    /// MESSAGE with the three headers the spec requires.
    pub fn message(
        destination: &str,
        message_id: &str,
        subscription: &str,
        body: impl Into<Bytes>,
    ) -> Frame {
        Frame::new(Command::Message)
            .with_header("destination", destination)
            .with_header("message-id", message_id)
            .with_header("subscription", subscription)
            .with_body(body)
    }

    /// RECEIPT answering a frame's `receipt` header.
    pub fn receipt(receipt_id: &str) -> Frame {
        Frame::new(Command::Receipt).with_header("receipt-id", receipt_id)
    }

    /// ERROR with a short `message` header and, if given, a plain-text body with the details.
    pub fn error(message: &str, details: &str) -> Frame {
        let frame = Frame::new(Command::Error).with_header("message", message);
        if details.is_empty() {
            return frame;
        }
        frame
            .with_header("content-type", "text/plain")
            .with_body(Bytes::copy_from_slice(details.as_bytes()))
    }
}
