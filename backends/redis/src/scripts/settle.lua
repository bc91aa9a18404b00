-- settle.lua: applies a decided fate to one part of a reservation: its units become sold, or
-- available again. Idempotent: a part is settled once, then forgotten, so a repeated settle
-- (the caller's and the sweeper's, or a retry) moves nothing. A part still tentative (see
-- take.lua) leaves the item's `tentative` count in the same script that gives its units back,
-- so a taker waiting for them sees them either on their way back or available, never neither.
--
-- KEYS[1]     {ns:s}:parts      hash: attempt -> "home|cart|i=q;i=q"
-- KEYS[2]     {ns:s}:due        sorted set of this shard's part deadlines
-- KEYS[3]     {ns:s}:tentative  sorted set of this shard's tentative parts (by lease)
-- KEYS[4..]   {ns:s}:item:<i>   the part's items, in the order of its lines
-- ARGV[1]     attempt id of the part
-- ARGV[2]     "sold" (confirmed) or "return" (released, expired, or never committed)
-- ARGV[3..]   ("sold") the quantities the reservation's home shard says the part holds, in
--             KEYS order: fewer than the part took if a line update trimmed it and this shard
--             has not applied the trim (trim.lua) yet; the difference is given back
--
-- Result: {1} settled by this call; {0} nothing to settle (already settled, or never taken)
local part = redis.call('HGET', KEYS[1], ARGV[1])
if not part then
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
    return {0}
end
local lines = string.match(part, '^[^|]*|[^|]*|(.*)$')
-- Check the keys before changing anything: a bad call changes nothing.
local _, bad = check_part_keys(lines, 'settle')
if bad then
    return bad
end
local tentative = redis.call('ZREM', KEYS[3], ARGV[1]) == 1
local k = 0
for _, quantity in string.gmatch(lines, '(%d+)=(%d+)') do
    k = k + 1
    local key = KEYS[k + 3]
    quantity = tonumber(quantity)
    -- `0 - q`, not `-q`: a line a cart update cut to 0 would send "-0", which HINCRBY refuses.
    redis.call('HINCRBY', key, 'held', 0 - quantity)
    if tentative then
        redis.call('HINCRBY', key, 'tentative', 0 - quantity)
    end
    if ARGV[2] == 'sold' then
        local sold = math.min(quantity, tonumber(ARGV[k + 2] or quantity))
        redis.call('HINCRBY', key, 'sold', sold)
        if sold < quantity then
            redis.call('HINCRBY', key, 'available', quantity - sold)
        end
    else
        redis.call('HINCRBY', key, 'available', quantity)
    end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {1}
