//! The server-side steps, one Lua script per step, each in a file of its own (`scripts/`) with
//! a header comment: keys, arguments, result. `commit.lua` and `decide.lua` share the cart
//! record's helpers (`home.lua`), prepended at compile time.

use redis::Script;

/// Every script, loaded once per backend (invoked by SHA, loaded on a node's first NOSCRIPT).
pub(crate) struct Scripts {
    pub(crate) take: Script,
    pub(crate) commit: Script,
    pub(crate) decide: Script,
    pub(crate) settle: Script,
    pub(crate) trim: Script,
    pub(crate) touch: Script,
    pub(crate) sweep: Script,
    pub(crate) restock: Script,
    pub(crate) shrink: Script,
    pub(crate) register: Script,
    pub(crate) sku: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Scripts {
            take: Script::new(include_str!("scripts/take.lua")),
            commit: Script::new(concat!(
                include_str!("scripts/home.lua"),
                include_str!("scripts/commit.lua")
            )),
            decide: Script::new(concat!(
                include_str!("scripts/home.lua"),
                include_str!("scripts/decide.lua")
            )),
            settle: Script::new(concat!(
                include_str!("scripts/part.lua"),
                include_str!("scripts/settle.lua")
            )),
            trim: Script::new(concat!(
                include_str!("scripts/part.lua"),
                include_str!("scripts/trim.lua")
            )),
            touch: Script::new(concat!(
                include_str!("scripts/part.lua"),
                include_str!("scripts/touch.lua")
            )),
            sweep: Script::new(include_str!("scripts/sweep.lua")),
            restock: Script::new(include_str!("scripts/restock.lua")),
            shrink: Script::new(include_str!("scripts/shrink.lua")),
            register: Script::new(include_str!("scripts/register.lua")),
            sku: Script::new(include_str!("scripts/sku.lua")),
        }
    }
}
