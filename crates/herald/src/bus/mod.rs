//! The `Bus` wakes live readers when the log grows, carrying the committed events themselves.
//!
//! The embedded default is in-process ([`local::LocalBus`]); a multi-node bus feeds the same
//! kind of channel from the network. Readers that fall behind are told they lagged and catch up
//! from the `Store`, so the bus may drop events for a slow reader but never blocks a publisher.

pub mod local;
pub mod nats;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::core::event::Event;

/// Fan-out of committed events, in `seq` order, to every live reader on this node.
pub trait Bus: Send + Sync + 'static {
    /// Announces committed events; called by the store in commit (and so `seq`) order.
    fn publish(&self, events: &[Arc<Event>]);

    /// A receiver of every event published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
}
