//! How the Redis backend itself fails: the server or the connection ([`RedisError::Redis`]), a
//! step its replicas did not acknowledge in time ([`RedisError::NotReplicated`], only under
//! [`Durability::Replicas`](crate::Durability::Replicas)), or an answer this crate's scripts
//! never give ([`RedisError::Protocol`], a bug or a foreign writer in the namespace).

use std::fmt;

/// A failure of the Redis Cluster backend (as opposed to a refusal of the operation).
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisError {
    /// The client or a server failed (connection, timeout, cluster reconfiguration, `BUSY`).
    /// The operation may or may not have taken effect; see the crate docs for what heals.
    Redis(redis::RedisError),
    /// Under [`Durability::Replicas`](crate::Durability::Replicas): a step of the call was
    /// applied on its master, but `WAIT` counted only `replicas` of the `wanted` replicas
    /// within the timeout. The write may not survive a failover, so the call is not
    /// acknowledged: its outcome is unknown. Confirm and release are safe to retry by id (a
    /// retry answers what was decided, once the master's state is replicated). A reserve that
    /// fails so may still hold its units until its deadline (its id was never returned, so
    /// the sweeper expires it); retrying it for the same cart adds to that reservation.
    NotReplicated {
        /// Replicas that acknowledged the step (and everything before it on the connection).
        replicas: u32,
        /// Replicas asked for.
        wanted: u32,
    },
    /// A script answered something this crate does not expect (or a cart update found its
    /// cart changed by other calls on it under every one of its attempts).
    Protocol(String),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Redis(e) => write!(f, "redis: {e}"),
            RedisError::NotReplicated { replicas, wanted } => write!(
                f,
                "not acknowledged: the write reached {replicas} of {wanted} replicas in time, \
                 so it may not survive a failover (outcome unknown)"
            ),
            RedisError::Protocol(what) => write!(f, "unexpected answer from a script: {what}"),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Redis(e) => Some(e),
            RedisError::NotReplicated { .. } | RedisError::Protocol(_) => None,
        }
    }
}

impl From<redis::RedisError> for RedisError {
    fn from(e: redis::RedisError) -> Self {
        RedisError::Redis(e)
    }
}
