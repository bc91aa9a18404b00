//! When a state change is acknowledged: as soon as its master applied it ([`Durability::Async`],
//! Redis's own behaviour), or only once replicas have it too ([`Durability::Replicas`], Redis's
//! `WAIT`). This module owns the setting and what it promises; `backend.rs` sends the commands.

use std::time::Duration;

/// When a state change is acknowledged to the caller. Set with
/// [`RedisClusterBuilder::durability`](crate::RedisClusterBuilder::durability); the default is
/// [`Durability::Async`].
///
/// # How a write is waited for
///
/// Every script that changes state (and the item hash written by `register_item`) is sent to
/// its shard's master in one pipeline on the client's connection to that master:
///
/// ```text
/// EVALSHA <script> ...        the step itself
/// INCR {ns:s}:fence           a write that always reaches the replication stream
/// WAIT <count> <timeout ms>   blocks this connection until <count> replicas acknowledged it
/// ```
///
/// `WAIT` counts replicas that acknowledged "all the previous write commands sent in the
/// context of the current connection" (redis.io, `WAIT`). Redis remembers per connection the
/// replication offset of its last command *that was propagated*; a script that finds its work
/// already done (a retried take, a decision answering "already confirmed") propagates nothing,
/// and the state it read may have been written by another connection and not be on any
/// replica yet. The fence is a write after the script, so its offset is past everything the
/// script read or wrote: when `WAIT` counts a replica, that replica holds the state the answer
/// was based on. The fence key is one integer per shard.
///
/// If `WAIT` answers fewer replicas than asked, the call fails with
/// [`RedisError::NotReplicated`](crate::RedisError::NotReplicated): the step *was* applied on
/// the master (Redis never rolls a write back) but may not survive a failover, so the caller is
/// told the outcome is unknown instead of being told it succeeded.
///
/// # What `WAIT` buys, and what it does not
///
/// Redis's documentation (`WAIT`, "Consistency and WAIT"): "WAIT does not make Redis a strongly
/// consistent store ... However in the context of Sentinel or Redis Cluster failover, WAIT
/// improves the real world data safety"; a write transferred to replicas makes it "more likely
/// (but not guaranteed)" that the replica promoted at a failover has it, and "it is possible to
/// still lose a write synchronously replicated to multiple slaves". Precisely, with
/// `Replicas { count, .. }` an acknowledged call promises:
///
/// - at the moment it returned, every step it took was in the memory of its master **and** of
///   at least `count` replicas of that master;
///
/// and it does not promise:
///
/// - that the replica promoted at a failover is one of those (Redis Cluster prefers the replica
///   with the largest replication offset, but a replica that acknowledged can itself be down,
///   partitioned or too stale by `cluster-replica-validity-factor` when its master fails);
/// - anything on disk: a replica acknowledges what it received, not what it wrote to its AOF,
///   so losing the master and those replicas together (a power cut of one rack) loses the write
///   (`WAITAOF`, Redis 7.2+, waits for the AOF fsync; Debian's Redis 7.0 has no `WAITAOF`, and
///   this crate does not offer it);
/// - that reads see only durable state: a call answers from the master's memory, which may hold
///   a neighbour's step that is still waiting for its own `WAIT` (and may fail it);
/// - that a failed call changed nothing: `NotReplicated`, a timeout or a lost connection leave
///   the step applied on the master, and it may survive or be lost.
///
/// # What it costs
///
/// A replica round trip inside every step (the master asks its replicas for their offset and
/// answers when they report it), an extra write per step for the fence, and queueing: `WAIT`
/// blocks the *connection* it is sent on, and the cluster client carries every task's commands
/// to one master over one multiplexed connection, so commands behind a waiting step wait with
/// it. Measured on loopback (crate README): about a quarter of the checkouts per second of the
/// same cluster without it, and about four times the median latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Acknowledged once the master applied it (Redis's default). A failover can lose
    /// acknowledged confirms and take-backs of stock: units sold twice.
    #[default]
    Async,
    /// Acknowledged only after `WAIT count timeout` confirms that at least `count` replicas of
    /// the step's master received it (in memory). Fewer within `timeout` fails the call with
    /// [`RedisError::NotReplicated`](crate::RedisError::NotReplicated): the step was applied
    /// on the master and its outcome is unknown.
    ///
    /// Narrows the loss at a failover to the cases where the promoted replica is not one of
    /// those that acknowledged (or all of them die with the master); does not close it. A
    /// master with fewer than `count` reachable replicas refuses to acknowledge anything:
    /// every call touching it fails after `timeout`.
    Replicas {
        /// Replicas that must acknowledge (at least 1).
        count: u32,
        /// Longest wait (rounded up to whole milliseconds, at least 1 ms: Redis reads 0 as
        /// "forever"). The wait blocks the connection to that master, so keep it short, and
        /// well under the client's response timeout (5 s), past which the call fails as a
        /// timeout instead (an error too, never a success).
        timeout: Duration,
    },
}

impl Durability {
    /// The `WAIT` arguments, if any: replicas and timeout in milliseconds.
    pub(crate) fn wait(self) -> Option<(u32, u64)> {
        match self {
            Durability::Async => None,
            Durability::Replicas { count, timeout } => {
                let ms = u64::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
                Some((count.max(1), ms.max(1)))
            }
        }
    }
}

/// The fence key of the shard a key belongs to: the key's hash tag (`{ns:s}`) and `:fence`.
pub(crate) fn fence_of(key: &str) -> String {
    match key.find('}') {
        Some(end) => format!("{}:fence", &key[..=end]),
        None => format!("{key}:fence"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_arguments() {
        assert_eq!(Durability::Async.wait(), None);
        let d = |count, timeout| Durability::Replicas { count, timeout };
        assert_eq!(d(1, Duration::from_millis(250)).wait(), Some((1, 250)));
        assert_eq!(d(0, Duration::ZERO).wait(), Some((1, 1)));
        assert_eq!(d(2, Duration::from_micros(1_500)).wait(), Some((2, 2)));
    }

    #[test]
    fn fence_shares_the_hash_tag() {
        assert_eq!(fence_of("{shop:7}:item:42"), "{shop:7}:fence");
        assert_eq!(fence_of("{shop:g}:items"), "{shop:g}:fence");
    }
}
