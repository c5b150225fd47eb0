//! What can be wrong with the bytes a peer sent.

use super::Command;

/// Why bytes are not valid STOMP; the message is fit to send back verbatim in an ERROR frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The command line names no STOMP command.
    #[error("unknown command {0}")]
    UnknownCommand(String),
    /// A header line is longer than the limit allows.
    #[error("header line exceeds {0} bytes")]
    HeaderLineTooLong(usize),
    /// The frame has more header lines than the limit allows.
    #[error("frame has more than {0} headers")]
    TooManyHeaders(usize),
    /// The whole frame is larger than the limit allows.
    #[error("frame exceeds {0} bytes")]
    FrameTooLarge(usize),
    /// A header line has no `:` between name and value.
    #[error("header line without a colon: {0}")]
    MissingColon(String),
    /// A header line starts with `:`.
    #[error("header line with an empty name")]
    EmptyHeaderName,
    /// A header holds a backslash sequence this protocol version does not define.
    #[error("undefined escape sequence {0} in header")]
    UndefinedEscape(String),
    /// A header ends in a backslash with nothing after it.
    #[error("header ends with an unfinished escape sequence")]
    UnfinishedEscape,
    /// A header name or value is not UTF-8, which the spec requires.
    #[error("header is not valid UTF-8")]
    InvalidUtf8,
    /// The `content-length` header is not a byte count.
    #[error("invalid content-length {0}: expected a number of bytes")]
    InvalidContentLength(String),
    /// The byte after a `content-length` body is not the NUL that ends the frame.
    #[error("expected NUL after the {0}-byte body given by content-length")]
    MissingNul(usize),
    /// A frame the spec forbids a body (anything but SEND, MESSAGE, ERROR) has one.
    #[error("{0} frame must not have a body")]
    UnexpectedBody(Command),
    /// A `heart-beat` header is not two comma-separated millisecond counts.
    #[error("invalid heart-beat {0}: expected two comma-separated milliseconds, like 10000,10000")]
    InvalidHeartBeat(String),
}

/// Quotes at most 64 bytes of peer input, escaped, so an error stays short and printable.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    let mut out = shown.escape_debug().to_string();
    if bytes.len() > MAX {
        out.push_str("...");
    }
    out
}
