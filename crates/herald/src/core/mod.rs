//! Herald's own logic: topics, events, and the log readers follow. No HTTP, no SQL here.

pub mod event;
pub mod follow;
pub mod log;
pub mod queue;
pub mod rates;
pub mod topic;
