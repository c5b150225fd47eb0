//! Sans-IO codecs for Herald's wire formats.
//!
//! Nothing here touches a socket: encoders append to a `BytesMut`, decoders take the bytes a
//! transport read and hand back whole items, so every codec can be unit-tested and fuzzed alone.

pub mod ndjson;
pub mod sse;
pub mod stomp;
