//! Account and transfer ids. Accounts of one inventory share its 64-bit namespace in the high
//! half; transfer ids are derived from the reservation, so retries and repeats hit the same ids.

/// The ledger every account and transfer of this crate uses.
pub(crate) const LEDGER: u32 = 7_001;

/// Transfer codes (TigerBeetle's `code`: the reason of a transfer).
pub(crate) const CODE_RESTOCK: u16 = 1;
pub(crate) const CODE_HOLD: u16 = 2;
pub(crate) const CODE_POST: u16 = 3;
pub(crate) const CODE_VOID: u16 = 4;
/// Account code of items, and of the operator and customers accounts.
pub(crate) const CODE_ITEM: u16 = 10;
pub(crate) const CODE_OPERATOR: u16 = 11;

/// What a transfer does to a reservation's line.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Hold = 1,
    Post = 2,
    Void = 3,
}

pub(crate) fn operator(namespace: u64) -> u128 {
    (u128::from(namespace) << 64) | 1
}

pub(crate) fn customers(namespace: u64) -> u128 {
    (u128::from(namespace) << 64) | 2
}

pub(crate) fn item(namespace: u64, item: u32) -> u128 {
    (u128::from(namespace) << 64) | (1 << 32) | u128::from(item)
}

/// The transfer of `kind` for line `line` of generation `generation` of reservation `seq`.
pub(crate) fn transfer(seq: u64, generation: u32, kind: Kind, line: u16) -> u128 {
    (u128::from(seq) << 64)
        | (u128::from(generation) << 32)
        | ((kind as u128) << 16)
        | u128::from(line)
}
