-- decide.lua: the one place a reservation's fate is decided: confirm, release, extend, a
-- partial release, or the sweeper's expiry of a part found due. The cart record changes in one
-- script, so exactly one of confirm / release / expiry wins; the caller then settles the parts
-- on their shards (settle.lua), and a part whose caller died is settled by the sweeper the same
-- way. A reservation past its deadline is expired by whichever verb finds it. Also reads a
-- cart's live reservation for a cart update (set_cart). Runs after home.lua.
--
-- KEYS[1..6]  as in home.lua
-- ARGV[1]     verb: "confirm" | "release" | "extend" | "status" | "expire" | "read" | "lines"
-- ARGV[2]     the reservation's seq; "" for the cart's live reservation, whatever its seq;
--             for "expire" the attempt id of the part found due
-- ARGV[3]     now (ms)
-- ARGV[4]     new deadline (ms, "extend" only)
-- ARGV[5]     outcome memory (ms);  ARGV[6] attempt memory (ms)
-- ARGV[7]     ("expire") the shard of the part found due; ("lines") the lines to give back,
--             "i=q,i=q" (merged, ascending item)
-- ARGV[8]     ("lines") tentative lease (ms): when the sweeper trims a part cut here if its
--             caller did not
--
-- Result: {0, parts, seq}  decided by this call (confirmed, released, or extended; "lines":
--                        every unit given back, so released); parts to settle (or, for extend,
--                        to touch); the reservation's seq
--         {1, parts}     expired by this call (its deadline had passed); parts to give back
--         {2, state, lines}  finished earlier: 1 confirmed, 2 released, 3 expired; ("expire")
--                        lines: what the part holds since a line update trimmed it, or "" if
--                        no update did
--         {3}            unknown (never issued here, or forgotten)
--         {4, deadline, lines}  ("expire") still live: the part's hint should move to deadline;
--                        lines as for {2}
--         {5}            ("expire") the attempt was never committed: aborted now, for good;
--                        give the part back
--         {6}            ("status") held, its deadline not passed
--         {7}            (seq "") the cart has no live reservation
--         {8, seq, lines}  ("read") the cart's live reservation and its lines "i=q,i=q"
--         {9, item, requested, held}  ("lines") the reservation holds fewer units of item than
--                        asked to give back (the first such item): nothing changed
--         {10, cut}      ("lines") the lines given back, the rest still held: cut are the parts
--                        to trim to the lines given (trim.lua)
local verb, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local outcome_memory, attempt_memory = tonumber(ARGV[5]), tonumber(ARGV[6])

local seq = id
if id == '' then
    seq = redis.call('HGET', KEYS[1], 'seq')
    if seq == false then
        return {7}
    end
end
if verb == 'expire' then
    local mark = redis.call('HGET', KEYS[3], id)
    if mark == false then
        redis.call('HSET', KEYS[3], id, 'x')
        redis.call('ZADD', KEYS[4], now + attempt_memory, 'a' .. id)
        trim(now)
        return {5}
    end
    if mark == 'x' then
        return {5}
    end
    seq = mark
end
-- What a part found due holds since a line update trimmed it ("" if none did).
local function trimmed()
    return redis.call('HGET', KEYS[3], id .. '/' .. ARGV[7]) or ''
end

if redis.call('HGET', KEYS[1], 'seq') == seq then
    local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
    if deadline <= now then
        return {1, finish(EXPIRED, now, outcome_memory, attempt_memory)}
    end
    if verb == 'confirm' then
        return {0, finish(CONFIRMED, now, outcome_memory, attempt_memory), seq}
    elseif verb == 'release' then
        return {0, finish(RELEASED, now, outcome_memory, attempt_memory), seq}
    elseif verb == 'extend' then
        redis.call('HSET', KEYS[1], 'deadline', ARGV[4])
        return {0, redis.call('HGET', KEYS[1], 'parts'), seq}
    elseif verb == 'status' then
        return {6}
    elseif verb == 'read' then
        return {8, seq, redis.call('HGET', KEYS[1], 'lines')}
    elseif verb == 'lines' then
        local held = {}
        local lines = redis.call('HGET', KEYS[1], 'lines')
        for item, quantity in string.gmatch(lines, '(%d+)=(%d+)') do
            held[item] = tonumber(quantity)
        end
        local reduce = {}
        for item, quantity in string.gmatch(ARGV[7], '(%d+)=(%d+)') do
            local q, h = tonumber(quantity), held[item] or 0
            if q > h then
                return {9, tonumber(item), q, h}
            end
            reduce[item] = q
        end
        local left = {}
        for item, quantity in string.gmatch(lines, '(%d+)=(%d+)') do
            local rest = tonumber(quantity) - (reduce[item] or 0)
            if rest > 0 then
                left[#left + 1] = item .. '=' .. rest
            end
        end
        if #left == 0 then
            return {0, finish(RELEASED, now, outcome_memory, attempt_memory), seq}
        end
        local plan = plan_cut(reduce)
        if plan == nil then
            return redis.error_reply('decide: the parts do not hold the reservation\'s lines')
        end
        local _, cut = apply_cut(plan, now, tonumber(ARGV[8]))
        redis.call('HSET', KEYS[1], 'lines', table.concat(left, ','))
        return {10, cut}
    else
        return {4, deadline, trimmed()}
    end
end

local state = redis.call('HGET', KEYS[2], seq .. '/' .. CART)
if state then
    if verb == 'expire' then
        return {2, tonumber(state), trimmed()}
    end
    return {2, tonumber(state)}
end
return {3}
