-- decide.lua: the one place a reservation's fate is decided: confirm, release, extend, or the
-- sweeper's expiry of a part found due. The cart record changes in one script, so exactly one
-- of confirm / release / expiry wins; the caller then settles the parts on their shards
-- (settle.lua), and a part whose caller died is settled by the sweeper the same way. A
-- reservation past its deadline is expired by whichever verb finds it. Runs after home.lua.
--
-- KEYS[1..5]  as in home.lua
-- ARGV[1]     verb: "confirm" | "release" | "extend" | "status" | "expire"
-- ARGV[2]     the reservation's seq; "" for the cart's live reservation, whatever its seq;
--             for "expire" the attempt id of the part found due
-- ARGV[3]     now (ms)
-- ARGV[4]     new deadline (ms, "extend" only)
-- ARGV[5]     outcome memory (ms);  ARGV[6] attempt memory (ms)
--
-- Result: {0, parts, seq}  decided by this call (confirmed, released, or extended); parts to
--                        settle (or, for extend, to touch); the reservation's seq
--         {1, parts}     expired by this call (its deadline had passed); parts to give back
--         {2, state}     finished earlier: 1 confirmed, 2 released, 3 expired
--         {3}            unknown (never issued here, or forgotten)
--         {4, deadline}  ("expire") still live: the part's hint should move to deadline
--         {5}            ("expire") the attempt was never committed: aborted now, for good;
--                        give the part back
--         {6}            ("status") held, its deadline not passed
--         {7}            (seq "") the cart has no live reservation
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
    else
        return {4, deadline}
    end
end

local state = redis.call('HGET', KEYS[2], seq .. '/' .. CART)
if state then
    return {2, tonumber(state)}
end
return {3}
