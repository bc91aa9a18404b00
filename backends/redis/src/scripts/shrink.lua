-- shrink.lua: takes available units of one item off the shelf (damage, loss): out of
-- `available` and out of `received`, so that `sold` counts sales only.
--
-- KEYS[1]     {ns:s}:item:<i>
-- ARGV[1]     quantity (as the caller gave it)
-- ARGV[2]     MAX_STOCK
--
-- Result: {0} removed; {1} unknown item; {2} invalid quantity; {3, available} fewer available
if redis.call('EXISTS', KEYS[1]) == 0 then
    return {1}
end
local quantity = tonumber(ARGV[1])
if quantity == nil or quantity < 1 or quantity > tonumber(ARGV[2]) then
    return {2}
end
local available = tonumber(redis.call('HGET', KEYS[1], 'available'))
if available < quantity then
    return {3, available}
end
redis.call('HINCRBY', KEYS[1], 'available', -quantity)
redis.call('HINCRBY', KEYS[1], 'received', -quantity)
return {0}
