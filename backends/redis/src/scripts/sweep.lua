-- sweep.lua: lists this shard's parts whose deadline hint has passed, and its tentative parts
-- whose lease has passed (their caller died or stalled between taking and committing), for the
-- sweeper to ask each part's home shard what became of it (decide.lua, verb "expire") and
-- settle or firm it. Also, as the home shard of carts, takes the due entries of its pending
-- trims (parts a line update cut, whose caller may have died before trimming them on their
-- shards), for the sweeper to trim (trim.lua). Read-only but for dropping index entries whose
-- part is gone, and the pending trims it hands out.
--
-- KEYS[1]     {ns:s}:parts      hash: attempt -> "home|cart|i=q;i=q"
-- KEYS[2]     {ns:s}:due        sorted set of this shard's part deadlines
-- KEYS[3]     {ns:s}:tentative  sorted set of this shard's tentative parts (by lease)
-- KEYS[4]     {ns:s}:pending    sorted set: "a/P" of parts cut by line updates (home.lua)
-- KEYS[5]     {ns:s}:attempts   hash: "a/P" -> the lines part (P, a) holds since its cut
-- ARGV[1]     now (ms)
-- ARGV[2]     at most this many entries of each index
--
-- Result: {n, m, attempt1, part1, ..., attemptm, partm, name1, lines1, ...}: n index entries
--         were due in the index with more of them (n = ARGV[2] means there may be more);
--         then the m parts still there, each once; then the pending trims taken, each "a/P"
--         with the lines the part holds ("" if forgotten: nothing to trim).
local limit = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, limit)
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, limit)
local pending = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1], 'LIMIT', 0, limit)
local out = {math.max(#due, #stale, #pending), 0}
local listed = {}
for _, entries in ipairs({due, stale}) do
    for _, attempt in ipairs(entries) do
        if not listed[attempt] then
            listed[attempt] = true
            local part = redis.call('HGET', KEYS[1], attempt)
            if part then
                out[#out + 1] = attempt
                out[#out + 1] = part
                out[2] = out[2] + 1
            else
                redis.call('ZREM', KEYS[2], attempt)
                redis.call('ZREM', KEYS[3], attempt)
            end
        end
    end
end
for _, name in ipairs(pending) do
    out[#out + 1] = name
    out[#out + 1] = redis.call('HGET', KEYS[5], name) or ''
    redis.call('ZREM', KEYS[4], name)
end
return out
