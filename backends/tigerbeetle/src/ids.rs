//! Account and transfer ids, ledger and codes.
//!
//! An inventory (a *namespace*) is a TigerBeetle ledger: its accounts carry the namespace in
//! the high half of their ids and every one of its transfers is on its ledger, so every query
//! (by reservation, by cart) filters by ledger and never sees another inventory's transfers.
//!
//! A reservation is the cart's next number (`seq`, from 1); its creation claims the number
//! with an *anchor* transfer whose id is derived from the namespace, the cart and the number,
//! so that of two reserves racing to create a cart's reservation one wins.
//!
//! A hold's id is fresh for every attempt (a hold refused for want of stock burns its id: the
//! server answers `IdAlreadyFailed` to any later transfer with that id), with its two low bits
//! clear; the post and the void of a hold are derived from it, so that a repeated confirm
//! posts the same ids and is answered `Exists`, and racing posts and voids of one hold meet on
//! the server.

use tigerbeetle as tb;

/// Transfer codes (TigerBeetle's `code`: the reason of a transfer).
pub(crate) const CODE_RESTOCK: u16 = 1;
/// The code of a reservation's pending transfers, and so of their posts and voids: the server
/// requires a post or void to repeat its pending transfer's code (or leave it zero).
pub(crate) const CODE_HOLD: u16 = 2;
/// The code of cart 0's holds: a query filter field that is 0 means "any", so cart 0 cannot be
/// found by `user_data_64` and is found by its own code instead.
pub(crate) const CODE_HOLD_CART_ZERO: u16 = 3;
/// The code of the zero-amount transfer that claims a cart's next reservation number.
pub(crate) const CODE_ANCHOR: u16 = 4;
/// The most reservations one cart can have had (its numbers fill 31 bits of an anchor's id).
pub(crate) const MAX_RESERVATIONS_PER_CART: u64 = (1 << 31) - 1;
/// The code of a shrink: units taken off an item's account into its shrinkage account.
pub(crate) const CODE_SHRINK: u16 = 5;
/// Account code of items, and of the operator and customers accounts.
pub(crate) const CODE_ITEM: u16 = 10;
pub(crate) const CODE_OPERATOR: u16 = 11;
/// Account code of an item's shrinkage account (what shrinks took off the item).
pub(crate) const CODE_SHRUNK: u16 = 12;
/// Account code of a SKU's account, which names its item in `user_data_32`.
pub(crate) const CODE_SKU: u16 = 13;

pub(crate) fn operator(namespace: u32) -> u128 {
    (u128::from(namespace) << 64) | 1
}

pub(crate) fn customers(namespace: u32) -> u128 {
    (u128::from(namespace) << 64) | 2
}

pub(crate) fn item(namespace: u32, item: u32) -> u128 {
    (u128::from(namespace) << 64) | (1 << 32) | u128::from(item)
}

/// The shrinkage account of `item`: credited by every shrink of the item, so that the item's
/// received and sold counts can leave shrinks out.
pub(crate) fn shrunk(namespace: u32, item: u32) -> u128 {
    (u128::from(namespace) << 64) | (2 << 32) | u128::from(item)
}

/// The account of `sku`: the top bit set (no item, operator or shrinkage account has it),
/// the namespace, and the first 95 bits of the SKU's SHA-256. Its id is the SKU's claim: of
/// two registrations of one SKU, the server lets one create it. Two SKUs share an account only
/// if their digests agree in 95 bits (about one chance in 10^13 among 10^8 SKUs).
pub(crate) fn sku(namespace: u32, sku: &str) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(sku.as_bytes());
    let mut high = [0u8; 16];
    high.copy_from_slice(&digest[..16]);
    let hash = u128::from_be_bytes(high) >> 33;
    (1 << 127) | (u128::from(namespace) << 95) | hash
}

/// The item an item account id stands for.
pub(crate) fn item_of(account: u128) -> u32 {
    account as u32
}

/// The code of `cart`'s holds (see [`CODE_HOLD_CART_ZERO`]).
pub(crate) fn hold_code(cart: u64) -> u16 {
    if cart == 0 {
        CODE_HOLD_CART_ZERO
    } else {
        CODE_HOLD
    }
}

/// The `user_data_128` of reservation `seq` of `cart`: a query by it finds that reservation's
/// transfers only (never 0: `seq` is not).
pub(crate) fn reservation(cart: u64, seq: u64) -> u128 {
    (u128::from(cart) << 64) | u128::from(seq)
}

/// A fresh transfer id with its two low bits clear (tb::id: time-ordered, random low bits).
fn fresh() -> u128 {
    tb::id() << 2
}

/// A fresh id for a hold.
pub(crate) fn hold() -> u128 {
    fresh()
}

/// A fresh id for a restock or a shrink (never a hold's, post's or void's).
pub(crate) fn restock() -> u128 {
    fresh() | 3
}

/// The id of the post of `hold`.
pub(crate) fn post(hold: u128) -> u128 {
    debug_assert_eq!(hold & 3, 0, "not a hold id");
    hold | 1
}

/// The id of the void of `hold`.
pub(crate) fn void(hold: u128) -> u128 {
    debug_assert_eq!(hold & 3, 0, "not a hold id");
    hold | 2
}

/// The id of the anchor of reservation `seq` (1 to [`MAX_RESERVATIONS_PER_CART`]) of `cart`:
/// the top bit set, which no fresh id has (`tb::id` carries milliseconds since 1970 in its top
/// 48 bits: shifted left by 2, bit 127 stays clear for about a thousand years), then namespace, cart and
/// number.
pub(crate) fn anchor(namespace: u32, cart: u64, seq: u64) -> u128 {
    assert!(
        (1..=MAX_RESERVATIONS_PER_CART).contains(&seq),
        "reservation number {seq} out of range"
    );
    (1 << 127) | (u128::from(namespace) << 95) | (u128::from(cart) << 31) | u128::from(seq)
}
