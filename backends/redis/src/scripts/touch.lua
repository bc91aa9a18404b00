-- touch.lua: moves the deadline hint of one part (after an extend, or a reserve that added
-- lines to the cart's reservation and so moved its deadline). The hint only tells the sweeper
-- when to ask the reservation's home shard; the deadline itself lives in the cart record.
--
-- KEYS[1]     {ns:s}:due      sorted set of this shard's part deadlines
-- ARGV[1]     attempt id of the part
-- ARGV[2]     new deadline hint (ms)
--
-- Result: 1 moved; 0 the part is settled already (nothing to move)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[2], ARGV[1])
