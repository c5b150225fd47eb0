//! STOMP 1.0–1.2 sessions over WebSocket (`GET /v1/ws`) and plain TCP (`stomp_listen`).
//!
//! The transports only move bytes: each feeds what it reads into a channel and writes what the
//! session puts on a bounded outbound channel. [`session`] owns the protocol: the codec's
//! decoder, version and heart-beat negotiation, transactions, acknowledgements, and one
//! [`Follower`](crate::core::follow::Follower) task per `/topic` subscription, or one
//! [`Queues`] consumer per `/queue` subscription ([`subscription`]).

mod frames;
mod session;
mod subscription;
pub mod tcp;
pub mod ws;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::StompConfig;
use crate::core::log::Log;
use crate::core::queue::Queues;

/// What every STOMP session shares.
pub struct Context {
    pub log: Arc<Log>,
    pub queues: Arc<Queues>,
    /// Checks CONNECT's `passcode` (an API key or client token).
    pub auth: Arc<Authenticator>,
    /// TLS for the TCP listener, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Publish rates and connection counts per caller.
    pub admission: Arc<crate::auth::limits::Admission>,
    pub config: StompConfig,
    /// Largest event payload a SEND may carry (`limits.max_event`).
    pub max_event: usize,
    /// Largest total payload one transaction may hold (`limits.max_body`).
    pub max_transaction: usize,
    /// Cancelled at shutdown: sessions send ERROR and close.
    pub shutdown: CancellationToken,
}
