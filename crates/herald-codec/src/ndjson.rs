//! Newline-delimited JSON: one JSON document per line, blank lines as keep-alives.

use bytes::{BufMut, Bytes, BytesMut};

/// Appends one document and its line end. `json` must be compact (no raw line breaks).
pub fn encode_line(json: &[u8], out: &mut BytesMut) {
    debug_assert!(
        !json.contains(&b'\n'),
        "NDJSON documents must be single-line"
    );
    out.reserve(json.len() + 1);
    out.put_slice(json);
    out.put_u8(b'\n');
}

/// The keep-alive: an empty line, which readers skip.
pub const KEEP_ALIVE: &[u8] = b"\n";

/// A line longer than the decoder's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit that was exceeded, in bytes.
    pub limit: usize,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NDJSON line exceeds {} bytes", self.limit)
    }
}

impl std::error::Error for LineTooLong {}

/// Splits a byte stream into non-empty lines (without their `\n` or `\r\n`).
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max_line: usize,
}

impl Decoder {
    /// A decoder that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_line,
        }
    }

    /// Feeds bytes as they arrive.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next non-empty line, `Ok(None)` until more bytes arrive.
    pub fn next_line(&mut self) -> Result<Option<Bytes>, LineTooLong> {
        loop {
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > self.max_line {
                    return Err(LineTooLong {
                        limit: self.max_line,
                    });
                }
                return Ok(None);
            };
            if end > self.max_line {
                return Err(LineTooLong {
                    limit: self.max_line,
                });
            }
            let mut line = self.buf.split_to(end + 1).freeze();
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if !line.is_empty() {
                return Ok(Some(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_one_line_per_document() {
        let mut out = BytesMut::new();
        encode_line(b"{\"a\":1}", &mut out);
        encode_line(b"[2]", &mut out);
        assert_eq!(&out[..], b"{\"a\":1}\n[2]\n");
    }

    #[test]
    fn decodes_split_lines_and_skips_keep_alives() {
        let mut d = Decoder::new(100);
        d.push(b"\n{\"a\"");
        assert_eq!(d.next_line(), Ok(None));
        d.push(b":1}\r\n\n\n[2]\n");
        assert_eq!(d.next_line().unwrap().as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(d.next_line().unwrap().as_deref(), Some(&b"[2]"[..]));
        assert_eq!(d.next_line(), Ok(None));
    }

    #[test]
    fn refuses_a_line_over_the_limit_before_it_ends() {
        let mut d = Decoder::new(4);
        d.push(b"12345");
        assert_eq!(d.next_line(), Err(LineTooLong { limit: 4 }));
    }
}
