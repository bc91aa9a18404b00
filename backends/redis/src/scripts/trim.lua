-- trim.lua: a line update gave back some units of a live reservation: its home shard cut them
-- from this part (home.lua's plan_cut) and answered the lines the part holds now. This gives
-- the difference back to `available`, and drops the part if it holds nothing any more. A part
-- only ever shrinks (a line update adds units as new parts), so a trim keeps, per line, the
-- smaller of what the part holds and what it is told: idempotent, and a late trim to an older,
-- larger quantity moves nothing. A part still tentative (take.lua) leaves the item's
-- `tentative` count by the units given back, in the same script.
--
-- KEYS[1]     {ns:s}:parts      hash: attempt -> "home|cart|i=q;i=q"
-- KEYS[2]     {ns:s}:due        sorted set of this shard's part deadlines
-- KEYS[3]     {ns:s}:tentative  sorted set of this shard's tentative parts (by lease)
-- KEYS[4..]   {ns:s}:item:<i>   the part's items, in the order of its lines
-- ARGV[1]     attempt id of the part
-- ARGV[2..]   the quantities the part holds now, in KEYS order
--
-- Result: {1} units given back by this call; {0} nothing to give back (already trimmed,
--         settled, or never taken)
local part = redis.call('HGET', KEYS[1], ARGV[1])
if not part then
    return {0}
end
local head, lines = string.match(part, '^([^|]*|[^|]*|)(.*)$')
-- Check the keys and quantities before changing anything: a bad call changes nothing.
local k, bad = check_part_keys(lines, 'trim')
if bad then
    return bad
end
for i = 1, k do
    if tonumber(ARGV[i + 1]) == nil then
        return redis.error_reply('trim: the keys do not name the part\'s items')
    end
end
if k ~= #KEYS - 3 or k ~= #ARGV - 1 then
    return redis.error_reply('trim: the keys do not name the part\'s items')
end
local tentative = redis.call('ZSCORE', KEYS[3], ARGV[1]) ~= false
local kept, holds, moved = {}, false, false
k = 0
for item, quantity in string.gmatch(lines, '(%d+)=(%d+)') do
    k = k + 1
    local key = KEYS[k + 3]
    local q = tonumber(quantity)
    local keep = math.min(q, tonumber(ARGV[k + 1]))
    if keep < q then
        moved = true
        redis.call('HINCRBY', key, 'held', keep - q)
        redis.call('HINCRBY', key, 'available', q - keep)
        if tentative then
            redis.call('HINCRBY', key, 'tentative', keep - q)
        end
    end
    if keep > 0 then
        holds = true
    end
    kept[k] = item .. '=' .. keep
end
if not holds then
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
elseif moved then
    redis.call('HSET', KEYS[1], ARGV[1], head .. table.concat(kept, ';'))
end
if moved then
    return {1}
end
return {0}
