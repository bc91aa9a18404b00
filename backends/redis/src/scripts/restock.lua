-- restock.lua: adds units of one item.
--
-- KEYS[1]     {ns:s}:item:<i>
-- ARGV[1]     quantity (as the caller gave it)
-- ARGV[2]     MAX_STOCK: most units an item may have on hand (available and held)
--
-- Result: {0} added; {1} unknown item; {2} invalid quantity; {3, on_hand} would exceed MAX_STOCK
if redis.call('EXISTS', KEYS[1]) == 0 then
    return {1}
end
local quantity = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
if quantity == nil or quantity < 1 or quantity > max then
    return {2}
end
local received = tonumber(redis.call('HGET', KEYS[1], 'received'))
local sold = tonumber(redis.call('HGET', KEYS[1], 'sold'))
local on_hand = received - sold
if on_hand + quantity > max then
    return {3, on_hand}
end
redis.call('HINCRBY', KEYS[1], 'available', quantity)
redis.call('HINCRBY', KEYS[1], 'received', quantity)
return {0}
