//! Expiry: a sweeper over each shard's deadline index. Key TTLs cannot give stock back, so
//! nothing here relies on them: a part is indexed by its deadline hint when it is taken, and
//! `expire_due` reads every shard's due parts (`sweep.lua`), asks each part's home shard what
//! became of it (`decide.lua`, verb `expire`), and settles it accordingly:
//!
//! - the reservation is past its deadline: the home shard expires it (this call counts it),
//!   and every part of it is given back;
//! - it was confirmed, released or expired before, but this part was never settled (its caller
//!   died half-way): the part follows the decision;
//! - it is live with a later deadline (extended): the hint moves;
//! - the attempt was never committed (its caller died before the commit): the home shard marks
//!   it aborted, so that a late commit fails, and the part is given back.
//!
//! The same healing runs at once, on a spawned task, for the parts of a reserve whose future
//! was dropped half-way (see `reserve.rs`).

use crate::backend::{Engine, SWEEP_BATCH};
use crate::error::RedisError;
use crate::fate::Decision;
use crate::part::{parse_record, Part};
use atomic_stock::{CartId, Line};

/// Most sweep rounds per shard in one `expire_due` (each reads up to `SWEEP_BATCH` parts).
const MAX_SWEEP_ROUNDS: usize = 1_024;

impl Engine {
    /// Expires every reservation past its deadline, on every shard; returns how many this call
    /// expired.
    pub(crate) async fn sweep_all(&self) -> Result<usize, RedisError> {
        let now = self.now_ms();
        let shards = (0..self.keys.shards()).map(|shard| self.sweep_shard(shard, now));
        let counts = futures_util::future::try_join_all(shards).await?;
        Ok(counts.into_iter().sum())
    }

    async fn sweep_shard(&self, shard: u32, now: u64) -> Result<usize, RedisError> {
        let keys = [self.keys.parts(shard), self.keys.due(shard)];
        let args = [now.to_string(), SWEEP_BATCH.to_string()];
        let mut expired = 0;
        for _ in 0..MAX_SWEEP_ROUNDS {
            let reply = self.run_read(&self.scripts.sweep, &keys, &args).await?;
            let due = reply.int(0)?;
            for k in (1..reply.len()).step_by(2) {
                let attempt: u64 = reply
                    .text(k)?
                    .parse()
                    .map_err(|_| RedisError::Protocol("sweep: bad attempt".into()))?;
                let (cart, lines) = parse_record(&reply.text(k + 1)?)?;
                expired += self
                    .heal_at(shard, attempt, CartId::new(cart), &lines, now)
                    .await?;
            }
            if due < i64::from(SWEEP_BATCH) {
                break;
            }
        }
        Ok(expired)
    }

    /// Heals one part now (see the module docs); returns 1 if this expired its reservation.
    pub(crate) async fn heal(
        &self,
        shard: u32,
        attempt: u64,
        cart: CartId,
        lines: &[Line],
    ) -> Result<usize, RedisError> {
        self.heal_at(shard, attempt, cart, lines, self.now_ms())
            .await
    }

    async fn heal_at(
        &self,
        shard: u32,
        attempt: u64,
        cart: CartId,
        lines: &[Line],
        now: u64,
    ) -> Result<usize, RedisError> {
        let part = [Part {
            shard,
            attempt,
            lines: lines.to_vec(),
        }];
        match self.decide(cart, "expire", Some(attempt), now, 0).await? {
            Decision::Expired(parts) => {
                self.settle_parts(&parts, false).await?;
                return Ok(1);
            }
            Decision::Live(deadline) => self.touch_parts(&part, deadline).await?,
            Decision::WasConfirmed => self.settle_parts(&part, true).await?,
            // Released, expired, never committed, or finished so long ago that the outcome is
            // forgotten (a part left unsettled past the outcome memory is given back).
            Decision::Finished(_) | Decision::Aborted | Decision::Unknown => {
                self.settle_parts(&part, false).await?
            }
            Decision::Decided(..) | Decision::Held | Decision::NoReservation => {
                return Err(RedisError::Protocol(
                    "decide answered a verb's answer to the sweeper".into(),
                ))
            }
        }
        Ok(0)
    }
}
