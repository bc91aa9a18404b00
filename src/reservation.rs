//! The reservation vocabulary an order service sees: cart and reservation ids, receipts,
//! states, and the errors of the lifecycle.

use crate::error::TakeError;
use crate::ids::{ItemId, Line};
use std::fmt;
use std::time::{Duration, Instant};

/// A shopper's cart, as the order service names it. A cart holds at most one live reservation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct CartId(u64);

impl CartId {
    /// Wraps a raw id.
    #[must_use]
    pub const fn new(raw: u64) -> Self {
        CartId(raw)
    }

    /// The raw id.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for CartId {
    fn from(raw: u64) -> Self {
        CartId(raw)
    }
}

impl fmt::Display for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cart #{}", self.0)
    }
}

/// Identifies one reservation of one inventory, for good: ids are never reused, so a late
/// confirm or release with an old id can never act on a newer reservation of the same cart
/// (it gets the old reservation's outcome, or [`ReservationError::Unknown`]).
///
/// It names the cart, a sequence number unique within the inventory, and a random tag of the
/// inventory that issued it, so an id from another inventory (or another process) is refused
/// as unknown rather than matched by accident.
///
/// Ordered by cart, then sequence number, then tag, so ids can key ordered maps; the order
/// means nothing beyond that.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ReservationId {
    pub(crate) cart: CartId,
    pub(crate) seq: u64,
    pub(crate) instance: u32,
}

impl ReservationId {
    /// An id from its parts, for [`Backend`](crate::Backend) implementations outside this
    /// crate: `seq` must never repeat within the backend, and `tag` names the backend instance
    /// (so that ids from another one are refused as unknown). An [`Inventory`](crate::Inventory)
    /// accepts only ids it issued itself.
    #[must_use]
    pub const fn new(cart: CartId, seq: u64, tag: u32) -> Self {
        ReservationId {
            cart,
            seq,
            instance: tag,
        }
    }

    /// The reservation's sequence number (unique within the engine that issued it).
    #[must_use]
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// The tag of the engine instance that issued it.
    #[must_use]
    pub const fn tag(&self) -> u32 {
        self.instance
    }

    /// The cart the reservation belongs to.
    #[must_use]
    pub const fn cart(&self) -> CartId {
        self.cart
    }

    /// The id as 20 bytes, for storing in an order record.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut bytes = [0; 20];
        bytes[..8].copy_from_slice(&self.cart.0.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.seq.to_le_bytes());
        bytes[16..].copy_from_slice(&self.instance.to_le_bytes());
        bytes
    }

    /// An id read back from [`to_bytes`](ReservationId::to_bytes). Any bytes are accepted;
    /// an id that no inventory issued is refused as unknown where it is used.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        let word = |range: std::ops::Range<usize>| {
            let mut b = [0; 8];
            b.copy_from_slice(&bytes[range]);
            u64::from_le_bytes(b)
        };
        let mut instance = [0; 4];
        instance.copy_from_slice(&bytes[16..]);
        ReservationId {
            cart: CartId(word(0..8)),
            seq: word(8..16),
            instance: u32::from_le_bytes(instance),
        }
    }
}

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}-{}-{}", self.instance, self.cart.0, self.seq)
    }
}

/// What a successful reserve, cart update or extend returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Receipt {
    /// The cart's reservation.
    pub id: ReservationId,
    /// When the reservation expires unless confirmed, released or extended first.
    pub deadline: Instant,
}

/// The outcome of a successful confirm.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Confirmation {
    /// This call confirmed the reservation: its stock is now sold.
    Confirmed,
    /// The reservation had already been confirmed (by an earlier call); nothing changed.
    AlreadyConfirmed,
}

/// Where a reservation is in its lifecycle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReservationState {
    /// Stock is held until the deadline.
    Held,
    /// Final: the stock was sold.
    Confirmed,
    /// Final: the stock was returned by release or cancel.
    Released,
    /// Final: the stock was returned because the deadline passed.
    Expired,
}

/// A live reservation, as [`Inventory::reservation`](crate::Inventory::reservation) shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReservationInfo {
    /// Its id.
    pub id: ReservationId,
    /// Its state (always [`ReservationState::Held`] unless it finished while being read).
    pub state: ReservationState,
    /// Its deadline.
    pub deadline: Instant,
    /// The stock it holds, one line per item in ascending item order.
    pub lines: Vec<Line>,
}

/// Why a reserve or cart update was refused. Nothing changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ReserveError {
    /// Bad lines, or not enough stock (see [`TakeError`]). For a reservation added to a cart
    /// that already holds one, the line limits apply to the merged reservation.
    Stock(TakeError),
    /// The time to live was zero or longer than the inventory's maximum.
    InvalidTtl {
        /// The time to live given.
        ttl: Duration,
    },
    /// The inventory holds as many live reservations as it was configured for.
    TooManyReservations {
        /// The limit.
        max: u64,
    },
    /// The change took effect in memory but the journal stopped after an I/O error, so it
    /// may be missing after a restart (see [`JournalFailure`](crate::journal::JournalFailure)).
    /// The only variant that does not mean "nothing changed".
    Journal(crate::journal::JournalFailure),
    /// A waiting reserve's deadline passed before every line could be had (see
    /// `Inventory::reserve_waiting_until`, feature `tokio`); nothing was taken.
    WaitTimedOut,
}

impl From<TakeError> for ReserveError {
    fn from(e: TakeError) -> Self {
        ReserveError::Stock(e)
    }
}

impl ReserveError {
    /// The shortfall's detail if the refusal was for stock, so a caller matches it in one step
    /// (see [`TakeError::shortfall`]).
    #[must_use]
    pub fn shortfall(&self) -> Option<crate::error::Shortage> {
        match self {
            ReserveError::Stock(e) => e.shortfall(),
            _ => None,
        }
    }
}

impl From<crate::journal::JournalFailure> for ReserveError {
    fn from(failure: crate::journal::JournalFailure) -> Self {
        ReserveError::Journal(failure)
    }
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReserveError::Stock(e) => e.fmt(f),
            ReserveError::InvalidTtl { ttl } => write!(f, "invalid time to live {ttl:?}"),
            ReserveError::TooManyReservations { max } => {
                write!(f, "too many live reservations (limit {max})")
            }
            ReserveError::Journal(failure) => failure.fmt(f),
            ReserveError::WaitTimedOut => {
                write!(f, "the wait for stock ended at its deadline; nothing taken")
            }
        }
    }
}

impl std::error::Error for ReserveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReserveError::Stock(e) => Some(e),
            _ => None,
        }
    }
}

/// Why an operation on an existing reservation (confirm, release, extend, partial release) was
/// refused. Nothing changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ReservationError {
    /// No such reservation: never issued by this inventory, issued by another one, or finished
    /// so long ago that its outcome is no longer remembered (see
    /// [`InventoryBuilder::finished_memory`](crate::InventoryBuilder::finished_memory)).
    Unknown,
    /// The cart holds no live reservation.
    NoReservation {
        /// The cart.
        cart: CartId,
    },
    /// The reservation was confirmed; its stock is sold.
    Confirmed,
    /// The reservation was released.
    Released,
    /// The reservation's deadline has passed (whether or not the expiry has run yet); its stock
    /// is available again.
    Expired,
    /// The time to live was zero or longer than the inventory's maximum.
    InvalidTtl {
        /// The time to live given.
        ttl: Duration,
    },
    /// A partial release asked to give back more of an item than the reservation holds.
    NotHeld {
        /// The item.
        item: ItemId,
        /// Units asked to give back.
        requested: i64,
        /// Units the reservation holds.
        held: i64,
    },
    /// The lines of a partial release were invalid.
    Lines(TakeError),
    /// The change took effect in memory but the journal stopped after an I/O error, so it
    /// may be missing after a restart (see [`JournalFailure`](crate::journal::JournalFailure)).
    /// The only variant that does not mean "nothing changed".
    Journal(crate::journal::JournalFailure),
}

impl From<crate::journal::JournalFailure> for ReservationError {
    fn from(failure: crate::journal::JournalFailure) -> Self {
        ReservationError::Journal(failure)
    }
}

impl fmt::Display for ReservationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReservationError::Unknown => f.write_str("unknown reservation"),
            ReservationError::NoReservation { cart } => {
                write!(f, "{cart} holds no reservation")
            }
            ReservationError::Confirmed => f.write_str("the reservation was confirmed"),
            ReservationError::Released => f.write_str("the reservation was released"),
            ReservationError::Expired => f.write_str("the reservation expired"),
            ReservationError::InvalidTtl { ttl } => write!(f, "invalid time to live {ttl:?}"),
            ReservationError::NotHeld {
                item,
                requested,
                held,
            } => write!(
                f,
                "cannot give back {requested} units of {item}: the reservation holds {held}"
            ),
            ReservationError::Lines(e) => e.fmt(f),
            ReservationError::Journal(failure) => failure.fmt(f),
        }
    }
}

impl std::error::Error for ReservationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReservationError::Lines(e) => Some(e),
            _ => None,
        }
    }
}

/// A random tag for a new engine (the lock-free inventory or a baseline), so its reservation
/// ids differ from any other's.
pub(crate) fn instance_tag() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.finish() as u32
}

/// Which reservation an operation acts on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Id(ReservationId),
    Cart(CartId),
}

impl Target {
    #[cfg(feature = "baselines")]
    pub(crate) fn cart(self) -> CartId {
        match self {
            Target::Id(id) => id.cart,
            Target::Cart(cart) => cart,
        }
    }
}
