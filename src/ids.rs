//! Plain-data identifiers and the line type every API takes.

use std::fmt;

/// Dense identifier of an item, handed out by registration in order: 0, 1, 2, ...
///
/// An `ItemId` indexes the item's stock slot directly; it is only meaningful for the
/// [`Stock`](crate::Stock) or [`Inventory`](crate::Inventory) that issued it. An id that was
/// never issued there is refused with an `UnknownItem` error, never a panic.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct ItemId(u32);

impl ItemId {
    /// Wraps a raw index. Any value is accepted; unknown ones are refused where they are used.
    #[must_use]
    pub const fn new(raw: u32) -> Self {
        ItemId(raw)
    }

    /// The raw dense index.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<u32> for ItemId {
    fn from(raw: u32) -> Self {
        ItemId(raw)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item #{}", self.0)
    }
}

/// One line of a take or reservation: an item and how many units of it.
///
/// The quantity is signed so that a zero or negative quantity arriving from outside (a JSON
/// body, a message) is refused with a typed error rather than wrapped or truncated on the way
/// in. Valid quantities are `1..=`[`MAX_LINE_QUANTITY`](crate::limits::MAX_LINE_QUANTITY).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Line {
    /// The item.
    pub item: ItemId,
    /// Units of the item.
    pub quantity: i64,
}

impl Line {
    /// A line of `quantity` units of `item`.
    #[must_use]
    pub const fn new(item: ItemId, quantity: i64) -> Self {
        Line { item, quantity }
    }
}

impl From<(ItemId, i64)> for Line {
    fn from((item, quantity): (ItemId, i64)) -> Self {
        Line { item, quantity }
    }
}
