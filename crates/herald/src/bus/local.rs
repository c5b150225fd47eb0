//! In-process bus: one broadcast ring shared by every reader.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::Bus;
use crate::core::event::Event;

/// The single-node bus.
pub struct LocalBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl LocalBus {
    /// A bus whose ring holds `capacity` events; a reader further behind than that lags.
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, events: &[Arc<Event>]) {
        for event in events {
            // An error only means nobody is listening right now, which is fine.
            let _ = self.sender.send(event.clone());
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }
}
