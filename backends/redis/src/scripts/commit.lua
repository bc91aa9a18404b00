-- commit.lua: commits an attempt whose parts are all taken. A reserve ("add"): it becomes the
-- cart's new reservation, or is added to the cart's live one (whose deadline moves to the
-- attempt's). A cart update (set_cart) that found no live reservation ("new"): it becomes the
-- cart's new reservation, unless one was made meanwhile. A cart update of a live reservation
-- ("set"): the attempt's parts hold what the update adds; if the reservation is still the one
-- the caller read, with the same lines, its lines become the wanted ones, the units dropped
-- are cut from its parts (home.lua's plan_cut, newest part first), and its deadline moves.
-- A cart record past its deadline is expired first. Runs after home.lua.
--
-- KEYS[1..6]  as in home.lua
-- ARGV[1]     attempt id (the new reservation's seq if it becomes one)
-- ARGV[2]     now (ms)
-- ARGV[3]     deadline (ms)
-- ARGV[4]     the attempt's lines "i=q,i=q" (merged, ascending item; "" if a cart update
--             adds nothing)
-- ARGV[5]     the attempt's parts "P/a/i=q;i=q,..." ("" likewise)
-- ARGV[6]     most live reservations homed on one shard
-- ARGV[7]     MAX_LINES;  ARGV[8] MAX_LINE_QUANTITY;  ARGV[9] most parts per reservation
-- ARGV[10]    outcome memory (ms);  ARGV[11] attempt memory (ms)
-- ARGV[12]    "add" | "new" | "set"
-- ARGV[13]    ("set") the seq of the reservation the caller read
-- ARGV[14]    ("set") its lines as read, "i=q,i=q"
-- ARGV[15]    ("set") the wanted lines, "i=q,i=q" (merged, ascending item)
-- ARGV[16]    tentative lease (ms): when the sweeper trims a part cut here if its caller did not
--
-- Result: {0, seq, expired_parts, moved_parts}  committed as reservation seq; expired_parts
--                                   (maybe "") are the parts of the cart's previous
--                                   reservation, expired here, to give back; moved_parts (maybe
--                                   "") are the live reservation's older parts, whose deadline
--                                   hints must move to the new deadline (touch.lua)
--                                   (a retried commit answers {0, seq, '', ''} again)
--         {1}                       the attempt was aborted by a sweeper: give its parts back
--         {2, item}                 merged with the live reservation, item's units exceed
--                                   MAX_LINE_QUANTITY
--         {3, lines}                merged, the reservation would have too many lines
--         {4}                       too many live reservations on this shard
--         {5}                       merged, the reservation would have too many parts
--         {0, seq, '', kept, cut}   ("set") updated: kept (maybe "") are the reservation's
--                                   older parts still holding units, whose hints move to the
--                                   new deadline; cut are the parts to trim to the lines given
--                                   (trim.lua)
--         {6, expired_parts}        ("new", "set") stale: the cart is not as the caller read it
--                                   (a reservation was made, changed, or finished); the attempt
--                                   is aborted (its parts go back) and expired_parts (maybe "")
--                                   of the cart's reservation, expired here, are to give back
local attempt, now, deadline = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local outcome_memory, attempt_memory = tonumber(ARGV[10]), tonumber(ARGV[11])

local mode = ARGV[12] or 'add'

local mark = redis.call('HGET', KEYS[3], attempt)
if mark == 'x' then
    return {1}
end
if mark then
    -- Committed already (a retry of an applied commit, e.g. resent across a failover).
    return {0, mark, '', ''}
end

-- The cart is not as the caller read it: the attempt can never commit.
local function stale(expired)
    redis.call('HSET', KEYS[3], attempt, 'x')
    redis.call('ZADD', KEYS[4], now + attempt_memory, 'a' .. attempt)
    return {6, expired}
end

local function quantities(text)
    local q = {}
    for item, quantity in string.gmatch(text, '(%d+)=(%d+)') do
        q[item] = tonumber(quantity)
    end
    return q
end

local expired = ''
if redis.call('EXISTS', KEYS[1]) == 1 then
    if tonumber(redis.call('HGET', KEYS[1], 'deadline')) <= now then
        expired = finish(EXPIRED, now, outcome_memory, attempt_memory)
        if mode == 'set' then
            return stale(expired)
        end
    elseif mode == 'new' then
        return stale('')
    elseif mode == 'set' then
        local seq = redis.call('HGET', KEYS[1], 'seq')
        if seq ~= ARGV[13] or redis.call('HGET', KEYS[1], 'lines') ~= ARGV[14] then
            return stale('')
        end
        local current, wanted, adding = quantities(ARGV[14]), quantities(ARGV[15]),
            quantities(ARGV[4])
        local reduce = {}
        for item, w in pairs(wanted) do
            local c = current[item] or 0
            if w > c and adding[item] ~= w - c then
                return redis.error_reply('commit: the attempt does not add what the update needs')
            end
        end
        for item, c in pairs(current) do
            local w = wanted[item] or 0
            if c > w then
                reduce[item] = c - w
            end
        end
        local plan, holding = plan_cut(reduce)
        if plan == nil then
            return redis.error_reply('commit: the parts do not hold the reservation\'s lines')
        end
        local added = 0
        if ARGV[5] ~= '' then
            local _, commas = string.gsub(ARGV[5], ',', ',')
            added = commas + 1
        end
        if holding + added > tonumber(ARGV[9]) then
            return {5}
        end
        local kept, cut = apply_cut(plan, now, tonumber(ARGV[16]))
        local parts = kept
        if ARGV[5] ~= '' then
            if parts == '' then
                parts = ARGV[5]
            else
                parts = parts .. ',' .. ARGV[5]
            end
        end
        redis.call('HSET', KEYS[1], 'deadline', deadline, 'lines', ARGV[15], 'parts', parts)
        redis.call('HSET', KEYS[3], attempt, seq)
        if ARGV[5] == '' then
            -- No part will carry this mark to finish(): it guards only against a replayed commit.
            redis.call('ZADD', KEYS[4], now + attempt_memory, 'a' .. attempt)
        end
        return {0, seq, '', kept, cut}
    else
        -- Merge the lines, in ascending item order.
        local merged, order = {}, {}
        for _, source in ipairs({redis.call('HGET', KEYS[1], 'lines'), ARGV[4]}) do
            for item, quantity in string.gmatch(source, '(%d+)=(%d+)') do
                local i = tonumber(item)
                if merged[i] == nil then
                    merged[i] = 0
                    order[#order + 1] = i
                end
                merged[i] = merged[i] + tonumber(quantity)
            end
        end
        table.sort(order)
        for _, i in ipairs(order) do
            if merged[i] > tonumber(ARGV[8]) then
                return {2, i}
            end
        end
        if #order > tonumber(ARGV[7]) then
            return {3, #order}
        end
        local old_parts = redis.call('HGET', KEYS[1], 'parts')
        local _, commas = string.gsub(old_parts .. ',' .. ARGV[5], ',', ',')
        if commas + 1 > tonumber(ARGV[9]) then
            return {5}
        end
        local text = {}
        for _, i in ipairs(order) do
            text[#text + 1] = string.format('%d=%d', i, merged[i])
        end
        local seq = redis.call('HGET', KEYS[1], 'seq')
        redis.call('HSET', KEYS[1], 'deadline', deadline, 'lines', table.concat(text, ','),
            'parts', old_parts .. ',' .. ARGV[5])
        redis.call('HSET', KEYS[3], attempt, seq)
        return {0, seq, '', old_parts}
    end
elseif mode == 'set' then
    return stale('')
end

if tonumber(redis.call('GET', KEYS[5]) or '0') >= tonumber(ARGV[6]) then
    return {4}
end
redis.call('HSET', KEYS[1], 'seq', attempt, 'deadline', deadline, 'lines', ARGV[4],
    'parts', ARGV[5])
redis.call('INCR', KEYS[5])
redis.call('HSET', KEYS[3], attempt, attempt)
return {0, attempt, expired, ''}
