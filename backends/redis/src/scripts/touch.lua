-- touch.lua: a part that will not be given back for a shortfall: one of a committed
-- reservation, or of an attempt whose every part is taken (its commit runs concurrently).
-- Moves its deadline hint (after an extend, a reserve that added lines to the cart's
-- reservation and so moved its deadline, or a sweeper that found it live), and firms it if it
-- was taken tentatively (take.lua): its units leave the items' `tentative` count, so a taker
-- short of them may answer "short". The hint only tells the sweeper when to ask the
-- reservation's home shard; the deadline itself lives in the cart record.
--
-- KEYS[1]     {ns:s}:parts      hash: attempt -> "home|cart|i=q;i=q"
-- KEYS[2]     {ns:s}:due        sorted set of this shard's part deadlines
-- KEYS[3]     {ns:s}:tentative  sorted set of this shard's tentative parts (by lease)
-- KEYS[4..]   {ns:s}:item:<i>   the part's items, in the order of its lines
-- ARGV[1]     attempt id of the part
-- ARGV[2]     new deadline hint (ms)
--
-- Result: 1 moved; 0 the part is settled already (nothing to move, nothing to firm)
local part = redis.call('HGET', KEYS[1], ARGV[1])
if not part then
    -- Settled: settle.lua removed the part from both indexes already.
    return 0
end
local lines = string.match(part, '^[^|]*|[^|]*|(.*)$')
local _, bad = check_part_keys(lines, 'touch')
if bad then
    return bad
end
-- ZREM answers whether the part was tentative, so it is firmed once however often touched.
if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
    local k = 0
    for _, quantity in string.gmatch(lines, '(%d+)=(%d+)') do
        k = k + 1
        -- `0 - q`, not `-q`: a line a cart update cut to 0 would send "-0", which HINCRBY
        -- refuses.
        redis.call('HINCRBY', KEYS[k + 3], 'tentative', 0 - tonumber(quantity))
    end
end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
return 1
