//! Where everything lives: key names, and which logical shard an item or a cart belongs to.
//!
//! A *shard* is a hash tag, `{ns:s}`: every key of shard `s` hashes to the same Redis Cluster
//! slot, so a script may touch any of them atomically. There are many more shards than
//! masters (default 16), so shards spread over the cluster and move with its slots.
//!
//! - Item `i` lives on shard `i mod shards`: `{ns:s}:item:<i>`, a hash of `available`, `held`,
//!   `sold`, `received`.
//! - Each shard keeps the parts of reservations taken from its items, `{ns:s}:parts`, and
//!   their deadline hints, `{ns:s}:due`.
//! - Cart `c` is homed on shard `mix(c) mod shards`: its live reservation `{ns:h}:cart:<c>`,
//!   and the home shard's memory of finished reservations and of attempts.
//! - `{ns:g}:items` counts item ids handed out, `{ns:g}:skus` maps SKUs to them;
//!   `{ns:g}:clients` numbers client instances.

use atomic_stock::{CartId, ItemId};

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

    /// The five keys every home-shard script takes (see `home.lua`), in order.
    pub(crate) fn home(&self, cart: CartId) -> [String; 5] {
        let tag = self.tag(self.home_of_cart(cart));
        [
            format!("{tag}:cart:{}", cart.get()),
            format!("{tag}:outcomes"),
            format!("{tag}:attempts"),
            format!("{tag}:forget"),
            format!("{tag}:live"),
        ]
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
