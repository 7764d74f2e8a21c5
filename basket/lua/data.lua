-- Prepended to the scripts that read a basket's customer and contents.
-- They live in one string, "<customer length>:<customer><contents>"; a
-- basket stored before that layout has them in its state hash.
local function read_data(data_key, state_key)
  local d = redis.call('GET', data_key)
  if d then
    local colon = string.find(d, ':', 1, true)
    local n = tonumber(string.sub(d, 1, colon - 1))
    return string.sub(d, colon + 1, colon + n), string.sub(d, colon + n + 1)
  end
  local h = redis.call('HMGET', state_key, 'customer', 'contents')
  return h[1] or '', h[2] or ''
end
