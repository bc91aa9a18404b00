-- commit.lua: commits a reserve attempt whose parts are all taken: it becomes the cart's new
-- reservation, or is added to the cart's live one (whose deadline moves to the attempt's).
-- A cart record past its deadline is expired first. Runs after home.lua.
--
-- KEYS[1..5]  as in home.lua
-- ARGV[1]     attempt id (the new reservation's seq if it becomes one)
-- ARGV[2]     now (ms)
-- ARGV[3]     deadline (ms)
-- ARGV[4]     the attempt's lines "i=q,i=q" (merged, ascending item)
-- ARGV[5]     the attempt's parts "P/a/i=q;i=q,..."
-- ARGV[6]     most live reservations homed on one shard
-- ARGV[7]     MAX_LINES;  ARGV[8] MAX_LINE_QUANTITY;  ARGV[9] most parts per reservation
-- ARGV[10]    outcome memory (ms);  ARGV[11] attempt memory (ms)
--
-- Result: {0, seq, expired_parts, moved_parts}  committed as reservation seq; expired_parts
--                                   (maybe "") are the parts of the cart's previous
--                                   reservation, expired here, to give back; moved_parts (maybe
--                                   "") are the live reservation's older parts, whose deadline
--                                   hints must move to the new deadline (touch.lua)
--                                   (a retried commit answers {0, seq, '', ''} again)
--         {1}                       the attempt was aborted by a sweeper: give its parts back
--         {2, item}                 merged with the live reservation, item's units exceed
--                                   MAX_LINE_QUANTITY
--         {3, lines}                merged, the reservation would have too many lines
--         {4}                       too many live reservations on this shard
--         {5}                       merged, the reservation would have too many parts
local attempt, now, deadline = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local outcome_memory, attempt_memory = tonumber(ARGV[10]), tonumber(ARGV[11])

local mark = redis.call('HGET', KEYS[3], attempt)
if mark == 'x' then
    return {1}
end
if mark then
    -- Committed already (a retry of an applied commit, e.g. resent across a failover).
    return {0, mark, '', ''}
end

local expired = ''
if redis.call('EXISTS', KEYS[1]) == 1 then
    if tonumber(redis.call('HGET', KEYS[1], 'deadline')) <= now then
        expired = finish(EXPIRED, now, outcome_memory, attempt_memory)
    else
        -- Merge the lines, in ascending item order.
        local merged, order = {}, {}
        for _, source in ipairs({redis.call('HGET', KEYS[1], 'lines'), ARGV[4]}) do
            for item, quantity in string.gmatch(source, '(%d+)=(%d+)') do
                local i = tonumber(item)
                if merged[i] == nil then
                    merged[i] = 0
                    order[#order + 1] = i
                end
                merged[i] = merged[i] + tonumber(quantity)
            end
        end
        table.sort(order)
        for _, i in ipairs(order) do
            if merged[i] > tonumber(ARGV[8]) then
                return {2, i}
            end
        end
        if #order > tonumber(ARGV[7]) then
            return {3, #order}
        end
        local old_parts = redis.call('HGET', KEYS[1], 'parts')
        local _, commas = string.gsub(old_parts .. ',' .. ARGV[5], ',', ',')
        if commas + 1 > tonumber(ARGV[9]) then
            return {5}
        end
        local text = {}
        for _, i in ipairs(order) do
            text[#text + 1] = string.format('%d=%d', i, merged[i])
        end
        local seq = redis.call('HGET', KEYS[1], 'seq')
        redis.call('HSET', KEYS[1], 'deadline', deadline, 'lines', table.concat(text, ','),
            'parts', old_parts .. ',' .. ARGV[5])
        redis.call('HSET', KEYS[3], attempt, seq)
        return {0, seq, '', old_parts}
    end
end

if tonumber(redis.call('GET', KEYS[5]) or '0') >= tonumber(ARGV[6]) then
    return {4}
end
redis.call('HSET', KEYS[1], 'seq', attempt, 'deadline', deadline, 'lines', ARGV[4],
    'parts', ARGV[5])
redis.call('INCR', KEYS[5])
redis.call('HSET', KEYS[3], attempt, attempt)
return {0, attempt, expired, ''}
