-- register.lua: hands out the next dense item id (0, 1, 2, ...), up to a bound. The item's
-- counts are then created on the item's own shard (a plain HSET: nothing reads an item before
-- that, and a reserve naming it meanwhile is refused as an unknown item).
--
-- KEYS[1]     {ns:g}:items    number of item ids handed out
-- ARGV[1]     MAX_ITEMS
--
-- Result: {0, id} the new id; {1} the catalog is full
local issued = tonumber(redis.call('GET', KEYS[1]) or '0')
if issued >= tonumber(ARGV[1]) then
    return {1}
end
redis.call('INCR', KEYS[1])
return {0, issued}
