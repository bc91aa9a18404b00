-- sweep.lua: lists this shard's parts whose deadline hint has passed, for the sweeper to ask
-- each part's home shard what became of it (decide.lua, verb "expire") and settle it.
-- Read-only but for dropping index entries whose part is gone.
--
-- KEYS[1]     {ns:s}:parts    hash: attempt -> "home|cart|i=q;i=q"
-- KEYS[2]     {ns:s}:due      sorted set of this shard's part deadlines
-- ARGV[1]     now (ms)
-- ARGV[2]     at most this many entries
--
-- Result: {n, attempt1, part1, attempt2, part2, ...}: n index entries were due (n = ARGV[2]
--         means there may be more), followed by the parts still there.
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {#due}
for _, attempt in ipairs(due) do
    local part = redis.call('HGET', KEYS[1], attempt)
    if part then
        out[#out + 1] = attempt
        out[#out + 1] = part
    else
        redis.call('ZREM', KEYS[2], attempt)
    end
end
return out
