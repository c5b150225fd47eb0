//! Incremental frame parsing: bytes in, [`Parsed`] items out, no I/O.

use std::ops::Range;

use bytes::{Buf, BytesMut};

use super::error::excerpt;
use super::escape::{Escaping, unescape};
use super::{Command, Error, Frame, Parsed, Version};

/// The header whose first occurrence fixes the body length.
const CONTENT_LENGTH: &str = "content-length";

/// Bounds on what a peer may send, so that a hostile one cannot make us buffer without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole frame in bytes, from the command to the closing NUL.
    pub max_frame_size: usize,
    /// Most header lines in one frame.
    pub max_headers: usize,
    /// Longest header line in bytes, not counting its EOL.
    pub max_header_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame_size: 8 * 1024 * 1024,
            max_headers: 100,
            max_header_line: 8 * 1024,
        }
    }
}

/// Reads items off the front of one connection's buffer; it remembers how far it has looked,
/// so a frame that trickles in a byte at a time still costs linear time.
///
/// Between calls that return `Ok(None)` the buffer must only grow at its end. After an error the
/// stream is out of step and should be closed with an ERROR frame.
#[derive(Debug, Clone)]
pub struct Decoder {
    version: Version,
    limits: Limits,
    partial: Partial,
}

/// What is known of the frame at the front of the buffer; offsets count from the buffer's start.
#[derive(Debug, Clone, Default)]
struct Partial {
    command: Option<Command>,
    headers: Vec<(String, String)>,
    content_length: Option<usize>,
    /// Start of the line being read, or of the body once `in_body`.
    start: usize,
    /// Everything before this offset has been searched for the next LF (or NUL) in vain.
    scanned: usize,
    in_body: bool,
}

/// Reads one item with a fresh [`Decoder`]: fine for a buffer known to hold whole frames (a
/// WebSocket message); a stream should keep a `Decoder`, which does not rescan partial frames.
pub fn parse(
    buf: &mut BytesMut,
    version: Version,
    limits: Limits,
) -> Result<Option<Parsed>, Error> {
    Decoder::new(version, limits).decode(buf)
}

impl Decoder {
    /// A decoder for `version`; before CONNECT any will do, since CONNECT is never escaped.
    pub fn new(version: Version, limits: Limits) -> Decoder {
        Decoder {
            version,
            limits,
            partial: Partial::default(),
        }
    }

    /// The version whose escaping rules apply.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Switches version once CONNECT is answered; call it before decoding the next frame.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The limits being enforced.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes the next item off the front of `buf`; `Ok(None)` means wait for more bytes, and
    /// nothing is consumed until a whole frame or heart-beat is there.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Parsed>, Error> {
        if self.partial.scanned > buf.len() {
            // The caller broke the contract by shrinking the buffer; start over rather than panic.
            self.partial = Partial::default();
        }
        let result = self.step(buf);
        if result.is_err() {
            self.partial = Partial::default();
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Parsed>, Error> {
        if self.partial.scanned == 0 {
            match buf.as_ref() {
                [] | [b'\r'] => return Ok(None),
                [b'\n', ..] => return Ok(Some(heart_beat(buf, 1))),
                [b'\r', b'\n', ..] => return Ok(Some(heart_beat(buf, 2))),
                _ => {}
            }
        }
        while !self.partial.in_body {
            let Some(line) = self.next_line(buf)? else {
                return Ok(None);
            };
            self.take_line(&buf[line])?;
        }
        self.take_body(buf)
    }

    /// Finds the line at `start`, without its EOL; or, if it is not all there yet, checks what
    /// is there against the limits.
    fn next_line(&mut self, buf: &[u8]) -> Result<Option<Range<usize>>, Error> {
        let p = &mut self.partial;
        let Some(found) = buf[p.scanned..].iter().position(|&b| b == b'\n') else {
            p.scanned = buf.len();
            let line = &buf[p.start..];
            self.check_line(line.strip_suffix(b"\r").unwrap_or(line))?;
            // The frame will need at least one more byte, its NUL.
            return self.check_frame_size(buf.len() + 1).map(|()| None);
        };
        let lf = p.scanned + found;
        let end = if lf > p.start && buf[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        let line = p.start..end;
        p.start = lf + 1;
        p.scanned = lf + 1;
        self.check_frame_size(lf + 2)?;
        Ok(Some(line))
    }

    /// Refuses a line, whole or partial, that is already past the limits.
    fn check_line(&self, line: &[u8]) -> Result<(), Error> {
        let p = &self.partial;
        if p.command.is_none() {
            if line.len() > Command::MAX_LEN {
                return Err(Error::UnknownCommand(excerpt(line)));
            }
            return Ok(());
        }
        if line.len() > self.limits.max_header_line {
            return Err(Error::HeaderLineTooLong(self.limits.max_header_line));
        }
        if !line.is_empty() && p.headers.len() >= self.limits.max_headers {
            return Err(Error::TooManyHeaders(self.limits.max_headers));
        }
        Ok(())
    }

    /// Refuses a frame that will be at least `size` bytes long if that is past the limit.
    fn check_frame_size(&self, size: usize) -> Result<(), Error> {
        if size > self.limits.max_frame_size {
            return Err(Error::FrameTooLarge(self.limits.max_frame_size));
        }
        Ok(())
    }

    /// Reads a whole line as the command, a header, or the blank line before the body.
    fn take_line(&mut self, line: &[u8]) -> Result<(), Error> {
        self.check_line(line)?;
        let Some(command) = self.partial.command else {
            let command =
                Command::from_bytes(line).ok_or_else(|| Error::UnknownCommand(excerpt(line)))?;
            self.partial.command = Some(command);
            return Ok(());
        };
        if line.is_empty() {
            return self.start_body(command);
        }
        let (name, value) = parse_header(line, Escaping::of(self.version, command))?;
        if name == CONTENT_LENGTH && self.partial.content_length.is_none() {
            self.partial.content_length = Some(parse_content_length(&value)?);
        }
        self.partial.headers.push((name, value));
        Ok(())
    }

    /// Checks what the headers promise about the body before any of it is buffered.
    fn start_body(&mut self, command: Command) -> Result<(), Error> {
        let p = &mut self.partial;
        p.in_body = true;
        let Some(len) = p.content_length else {
            return Ok(());
        };
        if len > 0 && !command.may_have_body() {
            return Err(Error::UnexpectedBody(command));
        }
        match p.start.checked_add(len).and_then(|end| end.checked_add(1)) {
            Some(size) => self.check_frame_size(size),
            None => Err(Error::FrameTooLarge(self.limits.max_frame_size)),
        }
    }

    /// Cuts the frame off the buffer once its NUL is there.
    fn take_body(&mut self, buf: &mut BytesMut) -> Result<Option<Parsed>, Error> {
        let p = &mut self.partial;
        let command = p.command.expect("the body is read only after the command");
        let start = p.start;
        let end = match p.content_length {
            Some(len) => {
                // `start_body` made sure this cannot overflow.
                let end = start + len;
                match buf.get(end) {
                    None => return Ok(None),
                    Some(0) => end,
                    Some(_) => return Err(Error::MissingNul(len)),
                }
            }
            None => {
                if !command.may_have_body() && buf.get(start).is_some_and(|&b| b != 0) {
                    return Err(Error::UnexpectedBody(command));
                }
                let Some(found) = buf[p.scanned..].iter().position(|&b| b == 0) else {
                    p.scanned = buf.len();
                    return self.check_frame_size(buf.len() + 1).map(|()| None);
                };
                p.scanned + found
            }
        };
        self.check_frame_size(end + 1)?;
        let partial = std::mem::take(&mut self.partial);
        let mut body = buf.split_to(end + 1);
        body.truncate(end);
        body.advance(start);
        Ok(Some(Parsed::Frame(Frame {
            command,
            headers: partial.headers,
            body: body.freeze(),
        })))
    }
}

/// Consumes the EOL of a heart-beat.
fn heart_beat(buf: &mut BytesMut, len: usize) -> Parsed {
    buf.advance(len);
    Parsed::HeartBeat
}

/// Splits a header line at its first colon; later colons belong to the value, as 1.0 peers
/// send them unescaped.
fn parse_header(line: &[u8], mode: Escaping) -> Result<(String, String), Error> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| Error::MissingColon(excerpt(line)))?;
    if colon == 0 {
        return Err(Error::EmptyHeaderName);
    }
    let text = |raw: &[u8]| {
        String::from_utf8(unescape(raw, mode)?.into_owned()).map_err(|_| Error::InvalidUtf8)
    };
    Ok((text(&line[..colon])?, text(&line[colon + 1..])?))
}

/// Reads a byte count; signs, spaces and numbers past `usize` are refused.
fn parse_content_length(value: &str) -> Result<usize, Error> {
    let invalid = || Error::InvalidContentLength(excerpt(value.as_bytes()));
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse().map_err(|_| invalid())
}
