-- sku.lua: registers a SKU: hands out the next dense item id (as register.lua) and names it
-- by the SKU, in one step, so a SKU names one item or none. The item's counts are then
-- created on its own shard, as for register.lua.
--
-- KEYS[1]     {ns:g}:items    number of item ids handed out
-- KEYS[2]     {ns:g}:skus     hash: SKU -> item id
-- ARGV[1]     MAX_ITEMS
-- ARGV[2]     the SKU
--
-- Result: {0, id} the new id; {1} the catalog is full; {2, id} the SKU names item id already
local existing = redis.call('HGET', KEYS[2], ARGV[2])
if existing then
    return {2, tonumber(existing)}
end
local issued = tonumber(redis.call('GET', KEYS[1]) or '0')
if issued >= tonumber(ARGV[1]) then
    return {1}
end
redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[2], issued)
return {0, issued}
