-- take.lua: takes one part of a reservation attempt on one shard, all or nothing.
--
-- One attempt (a reserve call) takes one part per shard its lines live on, in ascending shard
-- order; the part is recorded here with the attempt id and indexed by its deadline, so that a
-- part nobody commits (the caller died) is found by the sweeper and given back.
--
-- A part taken while later shards are still to be taken may be given back if one of them is
-- short: it is taken *tentatively*. Its units count in `held` as any part's, and also in the
-- item's `tentative` field, and the part is indexed in KEYS[3] by a lease: until the attempt
-- commits (touch.lua then firms the part) or gives the part back (settle.lua), those units are
-- on their way back as far as another taker knows, and a taker short of them waits rather than
-- answering "short". A part still tentative when its lease passes belongs to a caller that died
-- or stalled: the sweeper lists it (sweep.lua) and heals it like a due part.
--
-- KEYS[1]     {ns:s}:parts      hash: attempt -> "home|cart|i=q;i=q" (this shard's parts)
-- KEYS[2]     {ns:s}:due        sorted set: attempt, scored by its deadline hint (ms)
-- KEYS[3]     {ns:s}:tentative  sorted set: attempt of a tentative part, scored by its lease (ms)
-- KEYS[4..]   {ns:s}:item:<i>   one per line of the part, ascending item id
-- ARGV[1]     attempt id
-- ARGV[2]     home shard of the cart (where the reservation's fate is decided)
-- ARGV[3]     cart id
-- ARGV[4]     deadline (ms)
-- ARGV[5]     the part's lines, "i=q;i=q", in KEYS order
-- ARGV[6]     lease (ms) if the part is tentative; "0" if it is the attempt's last part
-- ARGV[7..]   the quantities, in KEYS order
--
-- Result: {0}                           taken
--         {1, k, available, tentative}  line k (1-based) is short: nothing taken; `tentative`
--                                       of the item's units are held by parts that may still
--                                       be given back
--         {2, k}                        line k names an item not (yet) registered: nothing
--                                       taken
--         (a retry of a take that was applied, e.g. resent by the client across a failover,
--         finds its part already there and answers {0} again: attempt ids are never reused)
local lines = #KEYS - 3
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
    return {0}
end
-- Check every line before changing any: the part is taken whole or not at all.
for k = 1, lines do
    local available = redis.call('HGET', KEYS[k + 3], 'available')
    if not available then
        return {2, k}
    end
    if tonumber(available) < tonumber(ARGV[k + 6]) then
        local tentative = redis.call('HGET', KEYS[k + 3], 'tentative')
        return {1, k, tonumber(available), tonumber(tentative or '0')}
    end
end
local lease = tonumber(ARGV[6])
for k = 1, lines do
    local quantity = tonumber(ARGV[k + 6])
    redis.call('HINCRBY', KEYS[k + 3], 'available', -quantity)
    redis.call('HINCRBY', KEYS[k + 3], 'held', quantity)
    if lease > 0 then
        -- Counted in the same script as the take: no taker can see the units gone from
        -- `available` without seeing them in `tentative`.
        redis.call('HINCRBY', KEYS[k + 3], 'tentative', quantity)
    end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if lease > 0 then
    redis.call('ZADD', KEYS[3], lease, ARGV[1])
end
return {0}
