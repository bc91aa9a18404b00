//! How the engine meets the rest of a service: the asynchronous [`Backend`](crate::Backend)
//! trait shared with remote engines, the wire form of the public types (`serde`), and the
//! counters exported through the `metrics` facade.

pub(crate) mod backend;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
#[cfg(feature = "tokio")]
pub(crate) mod reaper_task;
#[cfg(feature = "serde")]
pub(crate) mod wire;
