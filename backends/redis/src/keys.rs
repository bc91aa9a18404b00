//! Where everything lives: key names, and which logical shard an item or a cart belongs to.
//!
//! A *shard* is a hash tag, `{ns:s}`: every key of shard `s` hashes to the same Redis Cluster
//! slot, so a script may touch any of them atomically. There are many more shards than
//! masters (default 16), so shards spread over the cluster and move with its slots.
//!
//! - Item `i` lives on shard `i mod shards`: `{ns:s}:item:<i>`, a hash of `available`, `held`,
//!   `sold`, `received`.
//! - Item `i`'s hash also counts, in `tentative`, the units of `held` taken by parts that may
//!   still be given back (see `take.lua`).
//! - Each shard keeps the parts of reservations taken from its items, `{ns:s}:parts`, their
//!   deadline hints, `{ns:s}:due`, and the leases of its tentative parts, `{ns:s}:tentative`.
//! - Cart `c` is homed on shard `mix(c) mod shards`: its live reservation `{ns:h}:cart:<c>`,
//!   and the home shard's memory of finished reservations, of attempts and of the parts line
//!   updates trimmed, and its index of trims the sweeper applies if their caller did not.
//! - `{ns:g}:items` counts item ids handed out, `{ns:g}:skus` maps SKUs to them;
//!   `{ns:g}:clients` numbers client instances.

use atomic_stock::{CartId, ItemId, Line};

/// Key names of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    namespace: String,
    shards: u32,
}

impl Keys {
    pub(crate) fn new(namespace: &str, shards: u32) -> Self {
        Keys {
            namespace: namespace.to_owned(),
            shards,
        }
    }

    pub(crate) fn shards(&self) -> u32 {
        self.shards
    }

    fn tag(&self, shard: u32) -> String {
        format!("{{{}:{shard}}}", self.namespace)
    }

    /// The shard an item's counts live on.
    pub(crate) fn shard_of_item(&self, item: ItemId) -> u32 {
        item.get() % self.shards
    }

    /// The shard where a cart's reservation is decided.
    pub(crate) fn home_of_cart(&self, cart: CartId) -> u32 {
        // splitmix64's finalizer: consecutive cart numbers spread over the shards.
        let mut z = cart.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % u64::from(self.shards)) as u32
    }

    pub(crate) fn item(&self, item: ItemId) -> String {
        format!("{}:item:{}", self.tag(self.shard_of_item(item)), item.get())
    }

    pub(crate) fn parts(&self, shard: u32) -> String {
        format!("{}:parts", self.tag(shard))
    }

    pub(crate) fn due(&self, shard: u32) -> String {
        format!("{}:due", self.tag(shard))
    }

    pub(crate) fn tentative(&self, shard: u32) -> String {
        format!("{}:tentative", self.tag(shard))
    }

    /// The keys `settle.lua` and `touch.lua` take for a part on `shard` with these lines.
    pub(crate) fn part(&self, shard: u32, lines: &[Line]) -> Vec<String> {
        let mut keys = vec![self.parts(shard), self.due(shard), self.tentative(shard)];
        keys.extend(lines.iter().map(|l| self.item(l.item)));
        keys
    }

    /// The six keys every home-shard script takes (see `home.lua`), in order.
    pub(crate) fn home(&self, cart: CartId) -> [String; 6] {
        let shard = self.home_of_cart(cart);
        let tag = self.tag(shard);
        [
            format!("{tag}:cart:{}", cart.get()),
            format!("{tag}:outcomes"),
            self.attempts(shard),
            format!("{tag}:forget"),
            format!("{tag}:live"),
            self.pending(shard),
        ]
    }

    /// Shard `shard`'s attempt marks, as the home shard of carts (see `home.lua`).
    pub(crate) fn attempts(&self, shard: u32) -> String {
        format!("{}:attempts", self.tag(shard))
    }

    /// Shard `shard`'s pending trims, as the home shard of carts (see `home.lua`).
    pub(crate) fn pending(&self, shard: u32) -> String {
        format!("{}:pending", self.tag(shard))
    }

    pub(crate) fn items_issued(&self) -> String {
        format!("{{{}:g}}:items", self.namespace)
    }

    /// SKU to item id, beside the count of ids handed out (one slot: registered together).
    pub(crate) fn skus(&self) -> String {
        format!("{{{}:g}}:skus", self.namespace)
    }

    pub(crate) fn clients(&self) -> String {
        format!("{{{}:g}}:clients", self.namespace)
    }
}
