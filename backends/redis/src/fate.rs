//! Confirm, release, extend and partial release: one decision on the cart's home shard
//! (`decide.lua`, where exactly one of confirm, release and expiry wins), then the parts follow
//! it on their own shards (`settle.lua`: sold or given back, once; `touch.lua`: the deadline
//! hint moves; `trim.lua`: a partial release's units go back).
//!
//! If the caller dies between the decision and the parts, nothing is lost: each part is still
//! in its shard's deadline index, and the sweeper asks the home shard what was decided and
//! settles it the same way (see `sweep.rs`); a part a partial release cut is also indexed on the
//! home shard by the tentative lease, and the sweeper trims it then. Until then the item counts
//! show the units as held.

use crate::backend::Engine;
use crate::durability::Durability;
use crate::error::RedisError;
use crate::part::{format_lines, parse_parts, Part};
use crate::reply::Reply;
use atomic_stock::{
    CartId, Confirmation, Failure, ItemId, Line, Receipt, ReservationError, ReservationId,
    ReservationState,
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
    /// (Sweeper) finished earlier, confirmed; the lines the part holds since a line update
    /// trimmed it (`None` if none did).
    Sold(Option<Vec<Line>>),
    /// No such reservation.
    Unknown,
    /// (Sweeper) still live, with this deadline; the lines the part holds since a line update
    /// trimmed it (`None` if none did).
    Live(u64, Option<Vec<Line>>),
    /// (Sweeper) the attempt was never committed, and now never will be.
    Aborted,
    /// (Status) held, its deadline not passed.
    Held,
    /// (By cart) the cart has no live reservation.
    NoReservation,
    /// (Read) the cart's live reservation: its seq and its lines as the record has them.
    Current { seq: u64, lines: String },
    /// (Partial release) the reservation holds fewer units of `item` than asked.
    NotHeld {
        item: ItemId,
        requested: i64,
        held: i64,
    },
    /// (Partial release) given back from these parts, which hold the lines given now.
    Trimmed(Vec<Part>),
}

/// The lines of a part's record as the home shard remembers them after a trim ("" if none).
fn trimmed_lines(text: &str) -> Result<Option<Vec<Line>>, RedisError> {
    if text.is_empty() {
        return Ok(None);
    }
    let part = parse_parts(&format!("0/0/{text}"))?;
    Ok(part.into_iter().next().map(|p| p.lines))
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
        self.decide_with(cart, verb, id, now, new_deadline, "")
            .await
    }

    /// [`decide`](Self::decide) with the verb's extra argument: for "expire" the shard of the
    /// part found due, for "lines" the lines to give back.
    pub(crate) async fn decide_with(
        &self,
        cart: CartId,
        verb: &str,
        id: Option<u64>,
        now: u64,
        new_deadline: u64,
        extra: &str,
    ) -> Result<Decision, RedisError> {
        let args = [
            verb.to_owned(),
            id.map_or_else(String::new, |id| id.to_string()),
            now.to_string(),
            new_deadline.to_string(),
            self.outcome_memory_ms.to_string(),
            self.attempt_memory_ms().to_string(),
            extra.to_owned(),
            self.lease_ms().to_string(),
        ];
        let reply: Reply = self
            .run(&self.scripts.decide, &self.keys.home(cart), &args)
            .await?;
        Ok(match reply.code()? {
            0 => Decision::Decided(parse_parts(&reply.text(1)?)?, reply.int(2)? as u64),
            1 => Decision::Expired(parse_parts(&reply.text(1)?)?),
            2 => match reply.int(1)? {
                1 if verb == "expire" => Decision::Sold(trimmed_lines(&reply.text(2)?)?),
                1 => Decision::WasConfirmed,
                2 => Decision::Finished(ReservationError::Released),
                _ => Decision::Finished(ReservationError::Expired),
            },
            3 => Decision::Unknown,
            4 => Decision::Live(reply.int(1)? as u64, trimmed_lines(&reply.text(2)?)?),
            5 => Decision::Aborted,
            6 => Decision::Held,
            7 => Decision::NoReservation,
            8 => Decision::Current {
                seq: reply
                    .text(1)?
                    .parse()
                    .map_err(|_| RedisError::Protocol("decide: bad seq".into()))?,
                lines: reply.text(2)?,
            },
            9 => Decision::NotHeld {
                item: ItemId::new(reply.int(1)? as u32),
                requested: reply.int(2)?,
                held: reply.int(3)?,
            },
            10 => Decision::Trimmed(parse_parts(&reply.text(1)?)?),
            other => return Err(RedisError::Protocol(format!("decide answered {other}"))),
        })
    }

    /// Gives back what a line update cut from `parts` (each with the lines it holds now), on
    /// their shards, all at once (`trim.lua`).
    pub(crate) async fn trim_parts(&self, parts: &[Part]) -> Result<(), RedisError> {
        let trims = parts.iter().map(|part| {
            let keys = self.keys.part(part.shard, &part.lines);
            let mut args = vec![part.attempt.to_string()];
            args.extend(part.lines.iter().map(|l| l.quantity.to_string()));
            async move { self.run(&self.scripts.trim, &keys, &args).await }
        });
        futures_util::future::try_join_all(trims).await?;
        Ok(())
    }

    /// Settles `parts` on their shards, all at once: sold (each part's lines as given, which a
    /// line update may have made fewer than the part took: the rest goes back), or given back.
    pub(crate) async fn settle_parts(&self, parts: &[Part], sold: bool) -> Result<(), RedisError> {
        let outcome = if sold { "sold" } else { "return" };
        let settles = parts.iter().map(|part| {
            let keys = self.keys.part(part.shard, &part.lines);
            let mut args = vec![part.attempt.to_string(), outcome.to_owned()];
            if sold {
                args.extend(part.lines.iter().map(|l| l.quantity.to_string()));
            }
            async move { self.run(&self.scripts.settle, &keys, &args).await }
        });
        futures_util::future::try_join_all(settles).await?;
        Ok(())
    }

    /// Moves the deadline hints of `parts` (none to be given back for a shortfall) to `deadline`,
    /// and firms those taken tentatively (see `touch.lua`). Acknowledged as the backend's
    /// [`Durability`](crate::Durability) asks.
    pub(crate) async fn touch_parts(
        &self,
        parts: &[Part],
        deadline: u64,
    ) -> Result<(), RedisError> {
        self.touch_parts_as(parts, deadline, self.durability).await
    }

    /// [`touch_parts`](Self::touch_parts) for the tentative parts of an attempt whose every
    /// shard is taken, beside its commit: never waited for. A firm lost in a failover leaves
    /// the part tentative, which costs a waiting taker time, never a wrong answer: the sweeper
    /// firms it when its lease passes. Waiting would hold the master's connection for a `WAIT`
    /// on every cross-shard reserve.
    pub(crate) async fn firm_parts(&self, parts: &[Part], deadline: u64) -> Result<(), RedisError> {
        self.touch_parts_as(parts, deadline, Durability::Async)
            .await
    }

    async fn touch_parts_as(
        &self,
        parts: &[Part],
        deadline: u64,
        durability: Durability,
    ) -> Result<(), RedisError> {
        let touches = parts.iter().map(|part| {
            let keys = self.keys.part(part.shard, &part.lines);
            let args = [part.attempt.to_string(), deadline.to_string()];
            async move {
                self.invoke(&self.scripts.touch, &keys, &args, durability)
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

    /// Gives back `lines` of reservation `id` (all of them: a release).
    pub(crate) async fn release_some(
        &self,
        id: ReservationId,
        lines: &[Line],
    ) -> Result<(), Failure<ReservationError, RedisError>> {
        let lines = self.canonical(lines).await.map_err(|f| match f {
            Failure::Refused(e) => Failure::Refused(ReservationError::Lines(e)),
            Failure::Backend(b) => Failure::Backend(b),
        })?;
        if id.tag() != self.tag {
            return Err(Failure::Refused(ReservationError::Unknown));
        }
        let now = self.now_ms();
        let text = format_lines(&lines, ',');
        let decision = self
            .decide_with(id.cart(), "lines", Some(id.seq()), now, 0, &text)
            .await
            .map_err(Failure::Backend)?;
        match decision {
            Decision::Decided(parts, _) => self
                .settle_parts(&parts, false)
                .await
                .map_err(Failure::Backend),
            Decision::Trimmed(parts) => self.trim_parts(&parts).await.map_err(Failure::Backend),
            Decision::NotHeld {
                item,
                requested,
                held,
            } => Err(Failure::Refused(ReservationError::NotHeld {
                item,
                requested,
                held,
            })),
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
            Decision::Decided(..)
            | Decision::Live(..)
            | Decision::Sold(_)
            | Decision::Aborted
            | Decision::Held
            | Decision::Current { .. }
            | Decision::NotHeld { .. }
            | Decision::Trimmed(_) => Failure::Backend(RedisError::Protocol(
                "decide answered another verb's answer".into(),
            )),
        }
    }
}

impl crate::RedisCluster {
    /// Test hook: a partial release (`release_lines`) decided on the home shard that stops
    /// there, as a caller that dies before trimming the parts it cut (the sweeper must).
    #[doc(hidden)]
    pub async fn crash_after_release_lines_decision(
        &self,
        id: ReservationId,
        lines: &[Line],
    ) -> Result<(), RedisError> {
        let engine = &self.engine;
        let text = format_lines(lines, ',');
        match engine
            .decide_with(
                id.cart(),
                "lines",
                Some(id.seq()),
                engine.now_ms(),
                0,
                &text,
            )
            .await?
        {
            Decision::Trimmed(_) => Ok(()),
            _ => Err(RedisError::Protocol("not cut".into())),
        }
    }

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
