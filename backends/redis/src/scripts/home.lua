-- home.lua: the cart record and the memory of finished reservations, kept on the cart's home
-- shard. Prepended to commit.lua and decide.lua, the two scripts that change a reservation's
-- fate; every decision about a reservation is made here, by one script, so it is made once.
--
-- KEYS[1]  {ns:h}:cart:<c>  hash, the cart's live reservation:
--                           seq, deadline (ms), lines "i=q,i=q" (merged, ascending item),
--                           parts "P/a/i=q;i=q,P/a/..." (shard, attempt, lines of each part)
-- KEYS[2]  {ns:h}:outcomes  hash: "seq/cart" -> 1 confirmed | 2 released | 3 expired
-- KEYS[3]  {ns:h}:attempts  hash: attempt -> seq it was committed to, or "x" (aborted: a
--                           sweeper found its part due before any commit; never committable)
-- KEYS[4]  {ns:h}:forget    sorted set: "o<seq>" / "a<attempt>", scored by when to forget it
-- KEYS[5]  {ns:h}:live      number of live reservations homed here (bounded)
local CONFIRMED, RELEASED, EXPIRED = 1, 2, 3
-- The cart's number, from its key: finished outcomes are remembered under "seq/cart", so an id
-- naming the right seq with the wrong cart is unknown, as in the in-process engine.
local CART = string.match(KEYS[1], ':cart:(%d+)$')

-- Forgets a bounded number of outcomes and attempt marks whose time has come (amortized: each
-- finish adds at most one outcome and one mark per part, and trims up to 16).
local function trim(now)
    local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 16)
    for _, member in ipairs(old) do
        local id = string.sub(member, 2)
        if string.sub(member, 1, 1) == 'o' then
            redis.call('HDEL', KEYS[2], id)
        else
            redis.call('HDEL', KEYS[3], id)
        end
        redis.call('ZREM', KEYS[4], member)
    end
end

-- Finishes the cart's live reservation as `state` and returns its parts, for the caller to
-- settle on their shards (settle.lua).
local function finish(state, now, outcome_memory, attempt_memory)
    local seq = redis.call('HGET', KEYS[1], 'seq')
    local parts = redis.call('HGET', KEYS[1], 'parts')
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[2], seq .. '/' .. CART, state)
    redis.call('ZADD', KEYS[4], now + outcome_memory, 'o' .. seq .. '/' .. CART)
    for attempt in string.gmatch(parts, '%d+/(%d+)/') do
        redis.call('ZADD', KEYS[4], now + attempt_memory, 'a' .. attempt)
    end
    redis.call('DECR', KEYS[5])
    trim(now)
    return parts
end
