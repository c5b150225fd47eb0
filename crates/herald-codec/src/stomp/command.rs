//! The command line that opens every STOMP frame.

use std::fmt;

/// A STOMP frame's command, client and server frames alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Client: opens a session.
    Connect,
    /// Client: opens a session; the 1.1+ name, which cannot be mistaken for HTTP.
    Stomp,
    /// Server: the session is open.
    Connected,
    /// Client: publishes a message to a destination.
    Send,
    /// Client: starts receiving messages from a destination.
    Subscribe,
    /// Client: stops a subscription.
    Unsubscribe,
    /// Client: acknowledges a message.
    Ack,
    /// Client: rejects a message so it is redelivered.
    Nack,
    /// Client: starts a transaction.
    Begin,
    /// Client: commits a transaction.
    Commit,
    /// Client: rolls a transaction back.
    Abort,
    /// Client: closes the session gracefully.
    Disconnect,
    /// Server: a message for a subscription.
    Message,
    /// Server: confirms a frame that asked for a receipt.
    Receipt,
    /// Server: reports a failure, after which the connection closes.
    Error,
}

impl Command {
    /// Every command, client frames first.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Connected,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// Length of the longest command name, so a runaway command line is refused early.
    pub(crate) const MAX_LEN: usize = "UNSUBSCRIBE".len();

    /// The command's name as written on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Connected => "CONNECTED",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Looks a command up by its exact wire name; the spec's names are case-sensitive.
    pub fn from_bytes(name: &[u8]) -> Option<Command> {
        Command::ALL
            .into_iter()
            .find(|command| command.as_str().as_bytes() == name)
    }

    /// Whether the spec lets this frame carry a body: only SEND, MESSAGE and ERROR may.
    pub const fn may_have_body(self) -> bool {
        matches!(self, Command::Send | Command::Message | Command::Error)
    }

    /// Whether header names and values are escaped; the connect handshake never is, so that
    /// 1.0 peers can read it before any version has been agreed.
    pub const fn escapes_headers(self) -> bool {
        !matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }

    /// Whether clients send this frame; the others are server frames.
    pub const fn is_client(self) -> bool {
        !matches!(
            self,
            Command::Connected | Command::Message | Command::Receipt | Command::Error
        )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
