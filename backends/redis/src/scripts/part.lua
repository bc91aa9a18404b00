-- part.lua: prepended to the scripts that change one part of a reservation on its shard
-- (settle.lua, touch.lua, trim.lua), whose KEYS[4..] must name the part's items in the order
-- of its lines.
--
-- check_part_keys(lines, script): the number of lines in `lines` ("i=q;i=q") if KEYS[4..]
-- name their items, in order; else nil and the error to return, so that a bad call changes
-- nothing.
local function check_part_keys(lines, script)
    local k = 0
    for item in string.gmatch(lines, '(%d+)=%d+') do
        k = k + 1
        local key = KEYS[k + 3]
        local suffix = ':item:' .. item
        if key == nil or string.sub(key, -#suffix) ~= suffix then
            return nil, redis.error_reply(script .. ': the keys do not name the part\'s items')
        end
    end
    return k
end

