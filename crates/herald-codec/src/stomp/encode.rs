//! Writing frames: escaped headers, an exact `content-length`, and the closing NUL.

use std::fmt::Write;

use bytes::{BufMut, Bytes, BytesMut};

use super::escape::{Escaping, escape_into};
use super::{Command, Frame, Version};

/// Appends `frame` to `dst` as `version` writes it, with a `content-length` for any non-empty
/// body; a `content-length` among the frame's headers is dropped, because one that does not
/// match the body (say, passed through from a client's SEND) would desynchronise the peer.
pub fn encode(frame: &Frame, version: Version, dst: &mut BytesMut) {
    let mode = Escaping::of(version, frame.command);
    dst.reserve(frame.command.as_str().len() + frame.body.len() + 64);
    put_command(frame.command, dst);
    for (name, value) in &frame.headers {
        if name != "content-length" {
            put_header(name, value, mode, dst);
        }
    }
    put_body(&frame.body, dst);
}

/// A MESSAGE encoded once per version and shared by every subscriber, whose copies differ only
/// in their `subscription` and `ack` headers.
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    mode: Escaping,
    tail: Bytes,
}

impl MessageTemplate {
    /// Encodes the shared headers and body; `subscription`, `ack` and `content-length` among
    /// `headers` are skipped, since each subscriber gets its own and the body sets the length.
    pub fn new(headers: &[(String, String)], body: &[u8], version: Version) -> MessageTemplate {
        let mode = Escaping::of(version, Command::Message);
        let mut tail = BytesMut::with_capacity(body.len() + 256);
        for (name, value) in headers {
            if !matches!(name.as_str(), "subscription" | "ack" | "content-length") {
                put_header(name, value, mode, &mut tail);
            }
        }
        put_body(body, &mut tail);
        MessageTemplate {
            mode,
            tail: tail.freeze(),
        }
    }

    /// The start of one subscriber's frame: the command line, `subscription` and `ack`.
    pub fn head(&self, subscription: &str, ack: Option<&str>) -> Bytes {
        let mut head = BytesMut::with_capacity(64);
        put_command(Command::Message, &mut head);
        put_header("subscription", subscription, self.mode, &mut head);
        if let Some(ack) = ack {
            put_header("ack", ack, self.mode, &mut head);
        }
        head.freeze()
    }

    /// The rest of every subscriber's frame: shared headers, body and NUL; cloning it is cheap.
    pub fn tail(&self) -> Bytes {
        self.tail.clone()
    }

    /// Appends one subscriber's whole frame to `dst` (one allocation at most).
    pub fn encode(&self, subscription: &str, ack: Option<&str>, dst: &mut BytesMut) {
        dst.reserve(self.tail.len() + subscription.len() + ack.map_or(0, str::len) + 32);
        put_command(Command::Message, dst);
        put_header("subscription", subscription, self.mode, dst);
        if let Some(ack) = ack {
            put_header("ack", ack, self.mode, dst);
        }
        dst.put_slice(&self.tail);
    }
}

fn put_command(command: Command, dst: &mut BytesMut) {
    dst.put_slice(command.as_str().as_bytes());
    dst.put_u8(b'\n');
}

fn put_header(name: &str, value: &str, mode: Escaping, dst: &mut BytesMut) {
    escape_into(name, true, mode, dst);
    dst.put_u8(b':');
    escape_into(value, false, mode, dst);
    dst.put_u8(b'\n');
}

fn put_body(body: &[u8], dst: &mut BytesMut) {
    if !body.is_empty() {
        // Writing to a BytesMut cannot fail.
        let _ = writeln!(dst, "content-length:{}", body.len());
    }
    dst.put_u8(b'\n');
    dst.put_slice(body);
    dst.put_u8(0);
}
