//! Header escaping, which differs between versions and is skipped for the connect handshake.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::{Command, Error, Version};

/// How header text is written for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escaping {
    /// STOMP 1.0 and CONNECT/STOMP/CONNECTED: bytes as they are.
    Raw,
    /// STOMP 1.1: `\n`, `\c`, `\\`.
    V1_1,
    /// STOMP 1.2: `\r`, `\n`, `\c`, `\\`.
    V1_2,
}

impl Escaping {
    /// The escaping `command` frames use under `version`.
    pub(crate) fn of(version: Version, command: Command) -> Escaping {
        match version {
            _ if !command.escapes_headers() => Escaping::Raw,
            Version::V1_0 => Escaping::Raw,
            Version::V1_1 => Escaping::V1_1,
            Version::V1_2 => Escaping::V1_2,
        }
    }
}

/// Appends `text` escaped for `mode`; a byte the mode cannot carry becomes a space, since
/// writing a raw CR, LF or (in a name) colon would let header text forge frame structure.
pub(crate) fn escape_into(text: &str, is_name: bool, mode: Escaping, dst: &mut BytesMut) {
    let special = |b: u8| matches!(b, b'\r' | b'\n' | b':' | b'\\');
    if !text.bytes().any(special) {
        dst.put_slice(text.as_bytes());
        return;
    }
    for b in text.bytes() {
        match (mode, b) {
            (Escaping::V1_2, b'\r') => dst.put_slice(b"\\r"),
            (Escaping::V1_1 | Escaping::Raw, b'\r') => dst.put_u8(b' '),
            (Escaping::V1_1 | Escaping::V1_2, b'\n') => dst.put_slice(b"\\n"),
            (Escaping::Raw, b'\n') => dst.put_u8(b' '),
            (Escaping::V1_1 | Escaping::V1_2, b':') => dst.put_slice(b"\\c"),
            (Escaping::Raw, b':') if is_name => dst.put_u8(b' '),
            (Escaping::V1_1 | Escaping::V1_2, b'\\') => dst.put_slice(b"\\\\"),
            _ => dst.put_u8(b),
        }
    }
}

/// Undoes `escape_into`; a backslash sequence the version does not define is an error.
pub(crate) fn unescape(raw: &[u8], mode: Escaping) -> Result<Cow<'_, [u8]>, Error> {
    if mode == Escaping::Raw || !raw.contains(&b'\\') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let decoded = match (mode, bytes.next()) {
            (_, Some(b'n')) => b'\n',
            (_, Some(b'c')) => b':',
            (_, Some(b'\\')) => b'\\',
            (Escaping::V1_2, Some(b'r')) => b'\r',
            (_, Some(other)) if other.is_ascii_graphic() => {
                return Err(Error::UndefinedEscape(format!("\\{}", char::from(other))));
            }
            (_, Some(other)) => return Err(Error::UndefinedEscape(format!("\\x{other:02x}"))),
            (_, None) => return Err(Error::UnfinishedEscape),
        };
        out.push(decoded);
    }
    Ok(Cow::Owned(out))
}
