//! What a CONNECT and its CONNECTED agree on: the protocol version and heart-beat intervals.

use std::fmt;

use super::Error;
use super::error::excerpt;

/// A STOMP protocol version; ordered, so the highest shared one is the `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no header escaping, no heart-beats, no NACK.
    V1_0,
    /// STOMP 1.1: escapes `\n`, `\c` and `\\` in headers.
    V1_1,
    /// STOMP 1.2: also escapes `\r`; CR LF line endings.
    V1_2,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as written in `accept-version` and `version` headers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// Reads a version as written in `accept-version` and `version` headers.
    pub fn from_name(name: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == name)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Picks the highest version a CONNECT's `accept-version` offers (absent: 1.0); `None` if none.
pub fn negotiate(accept_version: Option<&str>) -> Option<Version> {
    let Some(offered) = accept_version else {
        return Some(Version::V1_0);
    };
    offered
        .split(',')
        .filter_map(|name| Version::from_name(name.trim()))
        .max()
}

/// Reads a `heart-beat:cx,cy` header into its two intervals in milliseconds (0 means none).
pub fn parse_heart_beat(value: &str) -> Result<(u64, u64), Error> {
    let invalid = || Error::InvalidHeartBeat(excerpt(value.as_bytes()));
    let millis = |part: &str| {
        let part = part.trim();
        // `u64::from_str` would also take a leading `+`, which the spec's grammar does not.
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        part.parse().map_err(|_| invalid())
    };
    let (cx, cy) = value.split_once(',').ok_or_else(invalid)?;
    Ok((millis(cx)?, millis(cy)?))
}
