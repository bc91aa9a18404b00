//! How the Redis backend itself fails: the server or the connection ([`RedisError::Redis`]), or
//! an answer this crate's scripts never give ([`RedisError::Protocol`], a bug or a foreign
//! writer in the namespace).

use std::fmt;

/// A failure of the Redis Cluster backend (as opposed to a refusal of the operation).
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisError {
    /// The client or a server failed (connection, timeout, cluster reconfiguration, `BUSY`).
    /// The operation may or may not have taken effect; see the crate docs for what heals.
    Redis(redis::RedisError),
    /// A script answered something this crate does not expect.
    Protocol(String),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Redis(e) => write!(f, "redis: {e}"),
            RedisError::Protocol(what) => write!(f, "unexpected answer from a script: {what}"),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Redis(e) => Some(e),
            RedisError::Protocol(_) => None,
        }
    }
}

impl From<redis::RedisError> for RedisError {
    fn from(e: redis::RedisError) -> Self {
        RedisError::Redis(e)
    }
}
