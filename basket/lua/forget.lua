-- Erase one basket: state (either layout, state.lua), decision record and
-- step claims. Markers of event ids written by earlier versions hold no
-- personal data and expire on their own.
-- KEYS[1] state, KEYS[2] decision record, KEYS[3] legacy state hash,
-- KEYS[4] legacy customer and contents, KEYS[5..] step claims
-- Reply: the basket's version (0 when it was gone): every reminder task it
-- can have had is named by a step and a version up to this one.
local st = load_state(KEYS[1], KEYS[3], KEYS[4])
redis.call('DEL', unpack(KEYS))
if st then return st.v end
return 0
