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
//! A part taken *tentatively* (one a later shortfall of its attempt would give back, see
//! `take.lua`) is also listed once its lease has passed, long before its deadline: takers short
//! of its units wait for it, so a caller that died between its takes must not keep them waiting
//! until the deadline. It heals the same way: aborted and given back if never committed, firmed
//! (`touch.lua`) if committed and live.
//!
//! A part a line update cut (`set_cart`, `release_lines`) is trimmed on its shard by the caller
//! (`trim.lua`); the cut is also indexed on the home shard, due one tentative lease later, and
//! the sweeper of that shard trims it then (again: a trim is idempotent), so a caller that died
//! after the cut leaves its units held for at most that long. A part found due answers, with
//! its fate, the lines it holds since a cut: a confirmed part is sold as cut, a live one is
//! trimmed.
//!
//! The same healing runs at once, on a spawned task, for the parts of a reserve whose future
//! was dropped half-way (see `reserve.rs`).

use crate::backend::{Engine, SWEEP_BATCH};
use crate::error::RedisError;
use crate::fate::Decision;
use crate::part::{parse_parts, parse_record, Part};
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

    /// Heals the parts of one shard that are due, or tentative past their lease; returns how
    /// many reservations this call expired.
    pub(crate) async fn sweep_shard(&self, shard: u32, now: u64) -> Result<usize, RedisError> {
        let keys = [
            self.keys.parts(shard),
            self.keys.due(shard),
            self.keys.tentative(shard),
            self.keys.pending(shard),
            self.keys.attempts(shard),
        ];
        let args = [now.to_string(), SWEEP_BATCH.to_string()];
        let mut expired = 0;
        for _ in 0..MAX_SWEEP_ROUNDS {
            let reply = self.run_read(&self.scripts.sweep, &keys, &args).await?;
            let due = reply.int(0)?;
            let listed = 2 + 2 * usize::try_from(reply.int(1)?)
                .map_err(|_| RedisError::Protocol("sweep: bad count".into()))?;
            for k in (2..listed).step_by(2) {
                let attempt: u64 = reply
                    .text(k)?
                    .parse()
                    .map_err(|_| RedisError::Protocol("sweep: bad attempt".into()))?;
                let (cart, lines) = parse_record(&reply.text(k + 1)?)?;
                expired += self
                    .heal_at(shard, attempt, CartId::new(cart), &lines, now)
                    .await?;
            }
            // Cuts whose caller may have died before trimming them: "a/P" and the lines held.
            let mut cut = Vec::new();
            for k in (listed..reply.len()).step_by(2) {
                let lines = reply.text(k + 1)?;
                if lines.is_empty() {
                    // Forgotten: the reservation finished long ago and its parts settled.
                    continue;
                }
                let (attempt, part_shard) = reply
                    .text(k)?
                    .split_once('/')
                    .map(|(a, p)| (a.to_owned(), p.to_owned()))
                    .ok_or_else(|| RedisError::Protocol("sweep: bad pending trim".into()))?;
                cut.extend(parse_parts(&format!("{part_shard}/{attempt}/{lines}"))?);
            }
            self.trim_parts(&cut).await?;
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
        let decision = self
            .decide_with(cart, "expire", Some(attempt), now, 0, &shard.to_string())
            .await?;
        match decision {
            Decision::Expired(parts) => {
                self.settle_parts(&parts, false).await?;
                return Ok(1);
            }
            // Committed and live: a cut part is trimmed, the hint moves, and a tentative part is
            // firmed.
            Decision::Live(deadline, cut) => {
                if let Some(lines) = cut {
                    let cut = [Part {
                        lines,
                        ..part[0].clone()
                    }];
                    self.trim_parts(&cut).await?;
                }
                self.touch_parts(&part, deadline).await?
            }
            // Sold as the reservation holds it: a part cut by a line update, as cut.
            Decision::Sold(cut) => {
                let sold = [Part {
                    lines: cut.unwrap_or_else(|| lines.to_vec()),
                    ..part[0].clone()
                }];
                self.settle_parts(&sold, true).await?
            }
            // Released, expired, never committed, or finished so long ago that the outcome is
            // forgotten (a part left unsettled past the outcome memory is given back).
            Decision::Finished(_) | Decision::Aborted | Decision::Unknown => {
                self.settle_parts(&part, false).await?
            }
            Decision::Decided(..)
            | Decision::WasConfirmed
            | Decision::Held
            | Decision::NoReservation
            | Decision::Current { .. }
            | Decision::NotHeld { .. }
            | Decision::Trimmed(_) => {
                return Err(RedisError::Protocol(
                    "decide answered a verb's answer to the sweeper".into(),
                ))
            }
        }
        Ok(0)
    }
}
