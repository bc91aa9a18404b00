-- sweep.lua: lists this shard's parts whose deadline hint has passed, and its tentative parts
-- whose lease has passed (their caller died or stalled between taking and committing), for the
-- sweeper to ask each part's home shard what became of it (decide.lua, verb "expire") and
-- settle or firm it. Read-only but for dropping index entries whose part is gone.
--
-- KEYS[1]     {ns:s}:parts      hash: attempt -> "home|cart|i=q;i=q"
-- KEYS[2]     {ns:s}:due        sorted set of this shard's part deadlines
-- KEYS[3]     {ns:s}:tentative  sorted set of this shard's tentative parts (by lease)
-- ARGV[1]     now (ms)
-- ARGV[2]     at most this many entries of each index
--
-- Result: {n, attempt1, part1, attempt2, part2, ...}: n index entries were due in the index
--         with more of them (n = ARGV[2] means there may be more), followed by the parts still
--         there, each once.
local limit = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit)
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, limit)
local out = {math.max(#due, #stale)}
local listed = {}
for _, entries in ipairs({due, stale}) do
    for _, attempt in ipairs(entries) do
        if not listed[attempt] then
            listed[attempt] = true
            local part = redis.call('HGET', KEYS[1], attempt)
            if part then
                out[#out + 1] = attempt
                out[#out + 1] = part
            else
                redis.call('ZREM', KEYS[2], attempt)
                redis.call('ZREM', KEYS[3], attempt)
            end
        end
    end
end
return out
