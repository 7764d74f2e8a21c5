-- Prepended to every script that reads or writes a basket's state.
--
-- A basket is one string, so that a pending basket costs one key:
--   "<v> <at> <status> <sent> <task> <has_email> <consent> <customer length>[ <event id>...]\n<customer><contents>"
-- task is 1 while a reminder is wanted: its id is then <stem>:s<sent+1>:v<v>
-- (task_id). The event ids are those of the last MAX_IDS applied events;
-- ids hold no spaces or control characters (basket.Validator), and one
-- that does is not remembered. The sealed customer is binary, hence its
-- length. basket/state.go's parseState reads the same layout in Go.
--
-- Baskets written before this layout (until 2026-12) are a state hash
-- (v, at, status, sent, task, has_email, consent) and a data string
-- "<customer length>:<customer><contents>", or everything in the hash;
-- load_state reads them and save_state moves them to the string.
local MAX_IDS = 4

local function read_legacy_data(data_key, hash_key)
  local d = redis.call('GET', data_key)
  if d then
    local colon = string.find(d, ':', 1, true)
    local n = tonumber(string.sub(d, 1, colon - 1))
    return string.sub(d, colon + 1, colon + n), string.sub(d, colon + n + 1)
  end
  local h = redis.call('HMGET', hash_key, 'customer', 'contents')
  return h[1] or '', h[2] or ''
end

-- load_state returns the basket's state as a table, or nil when there is none.
local function load_state(key, legacy_hash, legacy_data)
  local d = redis.call('GET', key)
  if d then
    local nl = string.find(d, '\n', 1, true)
    local f = {}
    for w in string.gmatch(string.sub(d, 1, nl - 1), '%S+') do f[#f + 1] = w end
    local n = tonumber(f[8])
    local st = {v = tonumber(f[1]), at = tonumber(f[2]), status = f[3], sent = tonumber(f[4]), task = f[5] == '1',
      has_email = f[6], consent = f[7], customer = string.sub(d, nl + 1, nl + n), contents = string.sub(d, nl + n + 1),
      ids = {}}
    for i = 9, #f do st.ids[#st.ids + 1] = f[i] end
    return st
  end
  local h = redis.call('HMGET', legacy_hash, 'v', 'at', 'status', 'sent', 'task', 'has_email', 'consent')
  if not h[1] then return nil end
  local st = {v = tonumber(h[1]), at = tonumber(h[2]) or 0, status = h[3] or 'active', sent = tonumber(h[4]) or 0,
    task = (h[5] or '') ~= '', has_email = h[6] or '0', consent = h[7] or '0', ids = {}, legacy = true}
  st.customer, st.contents = read_legacy_data(legacy_data, legacy_hash)
  return st
end

-- task_id names the reminder the state wants ('' for none).
local function task_id(st, stem)
  if not st.task then return '' end
  return stem .. ':s' .. (st.sent + 1) .. ':v' .. st.v
end

-- remember_id keeps id among the last MAX_IDS applied events.
local function remember_id(st, id)
  if id == '' or string.find(id, '%s') then return end
  st.ids[#st.ids + 1] = id
  if #st.ids > MAX_IDS then table.remove(st.ids, 1) end
end

local function seen_id(st, id)
  for _, seen in ipairs(st.ids) do
    if seen == id then return true end
  end
  return false
end

-- save_state writes st; ttl_s renews the basket's life, nil keeps it.
-- A basket in the legacy layout moves to the string with its TTL.
local function save_state(key, st, ttl_s, legacy_hash, legacy_data)
  local head = table.concat({st.v, st.at, st.status, st.sent, st.task and '1' or '0', st.has_email, st.consent,
    #st.customer}, ' ')
  if #st.ids > 0 then head = head .. ' ' .. table.concat(st.ids, ' ') end
  local value = head .. '\n' .. st.customer .. st.contents
  if ttl_s then
    redis.call('SET', key, value, 'EX', ttl_s)
  elseif st.legacy then
    local ms = redis.call('PTTL', legacy_hash)
    if ms > 0 then redis.call('SET', key, value, 'PX', ms) else redis.call('SET', key, value) end
  else
    redis.call('SET', key, value, 'KEEPTTL')
  end
  if st.legacy then
    redis.call('DEL', legacy_hash, legacy_data)
    st.legacy = nil
  end
end
