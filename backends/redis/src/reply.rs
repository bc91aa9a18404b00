//! Script answers: arrays of integers and strings, read by position.

use crate::error::RedisError;
use redis::Value;

/// One script's answer.
#[derive(Debug)]
pub(crate) struct Reply(Vec<Value>);

impl Reply {
    pub(crate) fn new(value: Value) -> Result<Self, RedisError> {
        match value {
            Value::Array(items) => Ok(Reply(items)),
            other => Err(RedisError::Protocol(format!(
                "expected an array, got {other:?}"
            ))),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn int(&self, at: usize) -> Result<i64, RedisError> {
        match self.0.get(at) {
            Some(Value::Int(n)) => Ok(*n),
            Some(Value::BulkString(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| RedisError::Protocol(format!("field {at} is not a number"))),
            other => Err(RedisError::Protocol(format!(
                "field {at}: expected a number, got {other:?}"
            ))),
        }
    }

    pub(crate) fn text(&self, at: usize) -> Result<String, RedisError> {
        match self.0.get(at) {
            Some(Value::BulkString(b)) => String::from_utf8(b.clone())
                .map_err(|_| RedisError::Protocol(format!("field {at} is not text"))),
            Some(Value::Int(n)) => Ok(n.to_string()),
            other => Err(RedisError::Protocol(format!(
                "field {at}: expected text, got {other:?}"
            ))),
        }
    }

    /// The leading status code every script answers with.
    pub(crate) fn code(&self) -> Result<i64, RedisError> {
        self.int(0)
    }
}
