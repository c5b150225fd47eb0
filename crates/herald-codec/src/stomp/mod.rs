//! STOMP 1.0, 1.1 and 1.2 frames, sans-IO: a [`Decoder`] turns bytes into [`Parsed`] items and
//! [`encode`] turns a [`Frame`] back into bytes.
//!
//! The session that owns the socket negotiates the version with [`negotiate`] from the CONNECT
//! frame, then tells its decoder and encoder which version to speak.

mod command;
mod decode;
mod encode;
mod error;
mod escape;
mod frame;
mod negotiate;

pub use command::Command;
pub use decode::{Decoder, Limits, parse};
pub use encode::{MessageTemplate, encode};
pub use error::Error;
pub use frame::{Frame, Parsed};
pub use negotiate::{Version, negotiate, parse_heart_beat};
