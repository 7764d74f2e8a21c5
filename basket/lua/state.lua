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
-- The sealed customer and the contents stay in the stored string until
-- body asks for them: most scripts need only the header.
local function load_state(key, legacy_hash, legacy_data)
  local d = redis.call('GET', key)
  if d then
    local nl = string.find(d, '\n', 1, true)
    local f = {}
    for w in string.gmatch(string.sub(d, 1, nl - 1), '%S+') do f[#f + 1] = w end
    local st = {v = tonumber(f[1]), at = tonumber(f[2]), status = f[3], sent = tonumber(f[4]), task = f[5] == '1',
      has_email = f[6], consent = f[7], ids = {}, raw = d, nl = nl, n = tonumber(f[8])}
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

-- body returns the sealed customer and the contents JSON: those set on st
-- (st.customer, st.contents), else the stored ones.
local function body(st)
  local customer, contents = st.customer, st.contents
  if st.raw then
    if customer == nil then customer = string.sub(st.raw, st.nl + 1, st.nl + st.n) end
    if contents == nil then contents = string.sub(st.raw, st.nl + st.n + 1) end
  end
  return customer or '', contents or ''
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

-- header is st's first line, for a sealed customer of customer_len bytes.
local function header(st, customer_len)
  local head = table.concat({st.v, st.at, st.status, st.sent, st.task and '1' or '0', st.has_email, st.consent,
    customer_len}, ' ')
  if #st.ids > 0 then head = head .. ' ' .. table.concat(st.ids, ' ') end
  return head
end

-- save_state writes st; ttl_s renews the basket's life, nil keeps it.
-- When only the header changed and kept its length (a claim, a finish),
-- it is overwritten in place (SETRANGE keeps the TTL), without copying
-- the body. A basket in the legacy layout moves to the string with its TTL.
local function save_state(key, st, ttl_s, legacy_hash, legacy_data)
  if not ttl_s and st.raw and st.customer == nil and st.contents == nil then
    local head = header(st, st.n)
    if #head == st.nl - 1 then
      redis.call('SETRANGE', key, 0, head)
      return
    end
  end
  local customer, contents = body(st)
  local value = header(st, #customer) .. '\n' .. customer .. contents
  if ttl_s then
    redis.call('SET', key, value, 'EX', ttl_s)
  elseif st.legacy then
    local ms = redis.call('PTTL', legacy_hash)
    if ms > 0 then redis.call('SET', key, value, 'PX', ms) else redis.call('SET', key, value) end
  else
    redis.call('SET', key, value, 'KEEPTTL')
  end
  st.customer, st.contents, st.raw = customer, contents, nil -- the stored header's length may have changed
  if st.legacy then
    redis.call('DEL', legacy_hash, legacy_data)
    st.legacy = nil
  end
end

-- append_record adds entry (a decision's JSON) to a basket's decision
-- record, keeps the last keep entries and lets the record expire with the
-- basket (its state, in either layout). A basket that is gone gets no
-- record. An entry the record already holds (the same decision, to the
-- millisecond) is not added again: that is the same write run a second
-- time, as a finish whose WAIT went unconfirmed is. Returns 1 when the
-- entry was added.
local function append_record(state_key, legacy_hash, record_key, entry, keep)
  local ttl = redis.call('PTTL', state_key)
  if ttl == -2 then ttl = redis.call('PTTL', legacy_hash) end
  if ttl == -2 then return 0 end
  if redis.call('LPOS', record_key, entry) then return 0 end
  redis.call('RPUSH', record_key, entry)
  redis.call('LTRIM', record_key, -tonumber(keep), -1)
  if ttl > 0 then redis.call('PEXPIRE', record_key, ttl) end
  return 1
end
