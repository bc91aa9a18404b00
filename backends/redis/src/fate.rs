//! Confirm, release and extend: one decision on the cart's home shard (`decide.lua`, where
//! exactly one of confirm, release and expiry wins), then the parts follow it on their own
//! shards (`settle.lua`: sold or given back, once; `touch.lua`: the deadline hint moves).
//!
//! If the caller dies between the decision and the parts, nothing is lost: each part is still
//! in its shard's deadline index, and the sweeper asks the home shard what was decided and
//! settles it the same way (see `sweep.rs`). Until then the item counts show the units as held.

use crate::backend::Engine;
use crate::error::RedisError;
use crate::part::{parse_parts, Part};
use crate::reply::Reply;
use atomic_stock::{
    CartId, Confirmation, Failure, Receipt, ReservationError, ReservationId, ReservationState,
};
use std::time::Duration;

/// What a verb acts on: a reservation by id, or a cart's live reservation.
#[derive(Clone, Copy)]
pub(crate) enum On {
    Id(ReservationId),
    Cart(CartId),
}

impl On {
    fn cart(self) -> CartId {
        match self {
            On::Id(id) => id.cart(),
            On::Cart(cart) => cart,
        }
    }
}

/// What the home shard decided (see `decide.lua`'s result).
pub(crate) enum Decision {
    /// This call decided: confirmed, released or extended; the reservation's parts and seq.
    Decided(Vec<Part>, u64),
    /// This call found the deadline passed and expired it; the parts to give back.
    Expired(Vec<Part>),
    /// Finished earlier.
    Finished(ReservationError),
    /// Finished earlier, confirmed.
    WasConfirmed,
    /// No such reservation.
    Unknown,
    /// (Sweeper) still live, with this deadline.
    Live(u64),
    /// (Sweeper) the attempt was never committed, and now never will be.
    Aborted,
    /// (Status) held, its deadline not passed.
    Held,
    /// (By cart) the cart has no live reservation.
    NoReservation,
}

impl Engine {
    /// Runs `decide.lua` for `verb` on the home shard of `cart`, on reservation (or, for
    /// "expire", attempt) `id`, or on the cart's live reservation if `id` is `None`.
    pub(crate) async fn decide(
        &self,
        cart: CartId,
        verb: &str,
        id: Option<u64>,
        now: u64,
        new_deadline: u64,
    ) -> Result<Decision, RedisError> {
        let args = [
            verb.to_owned(),
            id.map_or_else(String::new, |id| id.to_string()),
            now.to_string(),
            new_deadline.to_string(),
            self.outcome_memory_ms.to_string(),
            self.attempt_memory_ms().to_string(),
        ];
        let reply: Reply = self
            .run(&self.scripts.decide, &self.keys.home(cart), &args)
            .await?;
        Ok(match reply.code()? {
            0 => Decision::Decided(parse_parts(&reply.text(1)?)?, reply.int(2)? as u64),
            1 => Decision::Expired(parse_parts(&reply.text(1)?)?),
            2 => match reply.int(1)? {
                1 => Decision::WasConfirmed,
                2 => Decision::Finished(ReservationError::Released),
                _ => Decision::Finished(ReservationError::Expired),
            },
            3 => Decision::Unknown,
            4 => Decision::Live(reply.int(1)? as u64),
            5 => Decision::Aborted,
            6 => Decision::Held,
            7 => Decision::NoReservation,
            other => return Err(RedisError::Protocol(format!("decide answered {other}"))),
        })
    }

    /// Settles `parts` on their shards, all at once: sold, or given back.
    pub(crate) async fn settle_parts(&self, parts: &[Part], sold: bool) -> Result<(), RedisError> {
        let outcome = if sold { "sold" } else { "return" };
        let settles = parts.iter().map(|part| {
            let mut keys = vec![self.keys.parts(part.shard), self.keys.due(part.shard)];
            keys.extend(part.lines.iter().map(|l| self.keys.item(l.item)));
            let args = [part.attempt.to_string(), outcome.to_owned()];
            async move { self.run(&self.scripts.settle, &keys, &args).await }
        });
        futures_util::future::try_join_all(settles).await?;
        Ok(())
    }

    /// Moves the deadline hints of `parts` to `deadline`.
    pub(crate) async fn touch_parts(
        &self,
        parts: &[Part],
        deadline: u64,
    ) -> Result<(), RedisError> {
        let touches = parts.iter().map(|part| {
            let keys = [self.keys.due(part.shard)];
            let args = [part.attempt.to_string(), deadline.to_string()];
            async move {
                self.invoke(&self.scripts.touch, &keys, &args, self.durability)
                    .await
                    .map(drop)
            }
        });
        futures_util::future::try_join_all(touches).await?;
        Ok(())
    }

    /// The decision for `id`, or `Unknown` for an id of another namespace.
    async fn decide_id(
        &self,
        id: ReservationId,
        verb: &str,
        now: u64,
        new_deadline: u64,
    ) -> Result<Decision, RedisError> {
        if id.tag() != self.tag {
            return Ok(Decision::Unknown);
        }
        self.decide(id.cart(), verb, Some(id.seq()), now, new_deadline)
            .await
    }

    /// The decision for reservation `id`, or for `cart`'s live reservation.
    async fn decide_on(
        &self,
        on: On,
        verb: &str,
        now: u64,
        new_deadline: u64,
    ) -> Result<Decision, Failure<ReservationError, RedisError>> {
        let decision = match on {
            On::Id(id) => self.decide_id(id, verb, now, new_deadline).await,
            On::Cart(cart) => self.decide(cart, verb, None, now, new_deadline).await,
        };
        match decision.map_err(Failure::Backend)? {
            Decision::NoReservation => match on {
                On::Cart(cart) => Err(Failure::Refused(ReservationError::NoReservation { cart })),
                On::Id(_) => Err(Failure::Backend(RedisError::Protocol(
                    "decide answered a by-cart answer to a verb by id".into(),
                ))),
            },
            decision => Ok(decision),
        }
    }

    pub(crate) async fn confirm_reservation(
        &self,
        on: On,
    ) -> Result<Confirmation, Failure<ReservationError, RedisError>> {
        let now = self.now_ms();
        match self.decide_on(on, "confirm", now, 0).await? {
            Decision::Decided(parts, _) => {
                self.settle_parts(&parts, true)
                    .await
                    .map_err(Failure::Backend)?;
                Ok(Confirmation::Confirmed)
            }
            Decision::WasConfirmed => Ok(Confirmation::AlreadyConfirmed),
            other => Err(self.refusal(other).await),
        }
    }

    pub(crate) async fn release_reservation(
        &self,
        on: On,
    ) -> Result<(), Failure<ReservationError, RedisError>> {
        let now = self.now_ms();
        match self.decide_on(on, "release", now, 0).await? {
            Decision::Decided(parts, _) => self
                .settle_parts(&parts, false)
                .await
                .map_err(Failure::Backend),
            other => Err(self.refusal(other).await),
        }
    }

    pub(crate) async fn extend_reservation(
        &self,
        on: On,
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReservationError, RedisError>> {
        let ttl_ms = self
            .ttl_ms(ttl)
            .ok_or(Failure::Refused(ReservationError::InvalidTtl { ttl }))?;
        let now = self.now_ms();
        let deadline = now + ttl_ms;
        match self.decide_on(on, "extend", now, deadline).await? {
            Decision::Decided(parts, seq) => {
                self.touch_parts(&parts, deadline)
                    .await
                    .map_err(Failure::Backend)?;
                Ok(Receipt {
                    id: self.id(on.cart(), seq),
                    deadline: self.instant(deadline),
                })
            }
            other => Err(self.refusal(other).await),
        }
    }

    /// Where reservation `id` stands; a reservation found past its deadline is expired here,
    /// as by any verb.
    pub(crate) async fn status_of(
        &self,
        id: ReservationId,
    ) -> Result<ReservationState, Failure<ReservationError, RedisError>> {
        let now = self.now_ms();
        match self.decide_on(On::Id(id), "status", now, 0).await? {
            Decision::Held => Ok(ReservationState::Held),
            Decision::WasConfirmed => Ok(ReservationState::Confirmed),
            Decision::Finished(ReservationError::Released) => Ok(ReservationState::Released),
            other => match self.refusal(other).await {
                Failure::Refused(ReservationError::Expired) => Ok(ReservationState::Expired),
                failure => Err(failure),
            },
        }
    }

    /// The refusal a decision other than `Decided` means; a reservation expired by this call
    /// gets its stock back first.
    async fn refusal(&self, decision: Decision) -> Failure<ReservationError, RedisError> {
        match decision {
            Decision::Expired(parts) => match self.settle_parts(&parts, false).await {
                Ok(()) => Failure::Refused(ReservationError::Expired),
                Err(e) => Failure::Backend(e),
            },
            Decision::WasConfirmed => Failure::Refused(ReservationError::Confirmed),
            Decision::Finished(e) => Failure::Refused(e),
            Decision::Unknown => Failure::Refused(ReservationError::Unknown),
            Decision::NoReservation => Failure::Backend(RedisError::Protocol(
                "decide answered a by-cart answer to a verb by id".into(),
            )),
            Decision::Decided(..) | Decision::Live(_) | Decision::Aborted | Decision::Held => {
                Failure::Backend(RedisError::Protocol(
                    "decide answered another verb's answer".into(),
                ))
            }
        }
    }
}

impl crate::RedisCluster {
    /// Test hook: decides a confirm on the home shard and stops there, as a caller that dies
    /// before settling the parts (the sweeper must settle them as sold).
    #[doc(hidden)]
    pub async fn crash_after_confirm_decision(&self, id: ReservationId) -> Result<(), RedisError> {
        let engine = &self.engine;
        match engine.decide_id(id, "confirm", engine.now_ms(), 0).await? {
            Decision::Decided(..) => Ok(()),
            _ => Err(RedisError::Protocol("not decided".into())),
        }
    }
}
