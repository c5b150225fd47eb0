//! Webhook delivery: each subscription has its own queue and worker; events are recorded as
//! deliveries before they are sent, signed per Standard Webhooks, and retried on a schedule.

pub mod dispatcher;
pub mod model;
pub mod retry;
pub mod sender;
pub mod signature;
pub mod ssrf;
pub mod worker;
