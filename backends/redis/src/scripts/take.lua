-- take.lua: takes one part of a reservation attempt on one shard, all or nothing.
--
-- One attempt (a reserve call) takes one part per shard its lines live on, in ascending shard
-- order; the part is recorded here with the attempt id and indexed by its deadline, so that a
-- part nobody commits (the caller died) is found by the sweeper and given back.
--
-- KEYS[1]     {ns:s}:parts    hash: attempt -> "home|cart|i=q;i=q" (this shard's parts)
-- KEYS[2]     {ns:s}:due      sorted set: attempt, scored by its deadline hint (ms)
-- KEYS[3..]   {ns:s}:item:<i> one per line of the part, ascending item id
-- ARGV[1]     attempt id
-- ARGV[2]     home shard of the cart (where the reservation's fate is decided)
-- ARGV[3]     cart id
-- ARGV[4]     deadline (ms)
-- ARGV[5]     the part's lines, "i=q;i=q", in KEYS order
-- ARGV[6..]   the quantities, in KEYS order
--
-- Result: {0}                taken
--         {1, k, available}  line k (1-based) is short: nothing taken
--         {2, k}             line k names an item not (yet) registered: nothing taken
--         (a retry of a take that was applied, e.g. resent by the client across a failover,
--         finds its part already there and answers {0} again: attempt ids are never reused)
local lines = #KEYS - 2
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
    return {0}
end
for k = 1, lines do
    local available = redis.call('HGET', KEYS[k + 2], 'available')
    if not available then
        return {2, k}
    end
    if tonumber(available) < tonumber(ARGV[k + 5]) then
        return {1, k, tonumber(available)}
    end
end
for k = 1, lines do
    local quantity = tonumber(ARGV[k + 5])
    redis.call('HINCRBY', KEYS[k + 2], 'available', -quantity)
    redis.call('HINCRBY', KEYS[k + 2], 'held', quantity)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return {0}
