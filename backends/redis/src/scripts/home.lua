-- home.lua: the cart record and the memory of finished reservations, kept on the cart's home
-- shard. Prepended to commit.lua and decide.lua, the two scripts that change a reservation's
-- fate; every decision about a reservation is made here, by one script, so it is made once.
--
-- KEYS[1]  {ns:h}:cart:<c>  hash, the cart's live reservation:
--                           seq, deadline (ms), lines "i=q,i=q" (merged, ascending item),
--                           parts "P/a/i=q;i=q,P/a/..." (shard, attempt, lines of each part:
--                           the units the part holds now, which a line update may have made
--                           fewer than it took; a quantity may be 0),
--                           trims "a/P,a/P" (only once a line update gave units back: the
--                           parts it trimmed, whose lines KEYS[3] remembers under "a/P")
-- KEYS[2]  {ns:h}:outcomes  hash: "seq/cart" -> 1 confirmed | 2 released | 3 expired
-- KEYS[3]  {ns:h}:attempts  hash: attempt -> seq it was committed to, or "x" (aborted: a
--                           sweeper found its part due before any commit; never committable);
--                           and "a/P" -> "i=q;i=q": the lines part (P, a) holds since a line
--                           update trimmed it (kept until the reservation's attempts are
--                           forgotten, so that a part settled late is sold as trimmed)
-- KEYS[4]  {ns:h}:forget    sorted set: "o<seq>" / "a<attempt>" / "a<attempt>/<P>", scored by
--                           when to forget it
-- KEYS[5]  {ns:h}:live      number of live reservations homed here (bounded)
-- KEYS[6]  {ns:h}:pending   sorted set: "a/P" of a part trimmed here, scored by when the
--                           sweeper applies the trim on shard P if its caller did not (died)
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
    local record = redis.call('HMGET', KEYS[1], 'seq', 'parts', 'trims')
    local seq, parts, trims = record[1], record[2], record[3]
    if trims then
        -- Parts a line update trimmed: their remembered lines, and the marks of attempts whose
        -- every part was trimmed to nothing (no longer listed in `parts`).
        for name in string.gmatch(trims, '[^,]+') do
            redis.call('ZADD', KEYS[4], now + attempt_memory, 'a' .. name)
            redis.call('ZADD', KEYS[4], now + attempt_memory, 'a' .. string.match(name, '^(%d+)/'))
        end
    end
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

-- A reservation's parts, parsed: {shard, attempt, items = {...}, quantities = {...}}.
local function parse_parts(text)
    local parts = {}
    for shard, attempt, lines in string.gmatch(text, '(%d+)/(%d+)/([^,]*)') do
        local part = {shard = shard, attempt = attempt, items = {}, quantities = {}}
        for item, quantity in string.gmatch(lines, '(%d+)=(%d+)') do
            part.items[#part.items + 1] = item
            part.quantities[#part.quantities + 1] = tonumber(quantity)
        end
        parts[#parts + 1] = part
    end
    return parts
end

local function part_lines(part)
    local text = {}
    for k, item in ipairs(part.items) do
        text[k] = item .. '=' .. part.quantities[k]
    end
    return table.concat(text, ';')
end

local function format_part(part)
    return part.shard .. '/' .. part.attempt .. '/' .. part_lines(part)
end

-- Plans giving back `reduce` (item -> units) from the live reservation's parts, newest part
-- first. Changes nothing; returns the parts with their new quantities (trimmed ones flagged)
-- and how many still hold a unit, or nil if the parts do not hold that many units.
local function plan_cut(reduce)
    local parts = parse_parts(redis.call('HGET', KEYS[1], 'parts'))
    local left = {}
    for item, units in pairs(reduce) do
        left[item] = units
    end
    for k = #parts, 1, -1 do
        local part = parts[k]
        for j, item in ipairs(part.items) do
            local r = left[item] or 0
            if r > 0 and part.quantities[j] > 0 then
                local t = math.min(r, part.quantities[j])
                part.quantities[j] = part.quantities[j] - t
                left[item] = r - t
                part.trimmed = true
            end
        end
    end
    for _, r in pairs(left) do
        if r > 0 then
            return nil
        end
    end
    local holding = 0
    for _, part in ipairs(parts) do
        for _, q in ipairs(part.quantities) do
            if q > 0 then
                holding = holding + 1
                break
            end
        end
    end
    return parts, holding
end

-- Applies a plan of plan_cut to the cart record: the parts still holding units stay listed, a
-- part trimmed to nothing is dropped; each trimmed part's lines are remembered (KEYS[3] "a/P",
-- the record's `trims`) and indexed for the sweeper at now + lease (KEYS[6]), in case its
-- caller dies before trimming it on its shard (trim.lua). Returns the parts still listed and
-- the trimmed parts with their new lines, for the caller to trim.
local function apply_cut(parts, now, lease)
    local kept, cut = {}, {}
    local trims = redis.call('HGET', KEYS[1], 'trims') or ''
    for _, part in ipairs(parts) do
        local holds = false
        for _, q in ipairs(part.quantities) do
            if q > 0 then
                holds = true
            end
        end
        if holds then
            kept[#kept + 1] = format_part(part)
        end
        if part.trimmed then
            cut[#cut + 1] = format_part(part)
            local name = part.attempt .. '/' .. part.shard
            redis.call('HSET', KEYS[3], name, part_lines(part))
            redis.call('ZADD', KEYS[6], now + lease, name)
            if not string.find(',' .. trims .. ',', ',' .. name .. ',', 1, true) then
                if trims == '' then
                    trims = name
                else
                    trims = trims .. ',' .. name
                end
            end
        end
    end
    redis.call('HSET', KEYS[1], 'parts', table.concat(kept, ','), 'trims', trims)
    return table.concat(kept, ','), table.concat(cut, ',')
end
