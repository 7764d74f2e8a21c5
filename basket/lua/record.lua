-- Append one decision to a basket's record (append_record, state.lua).
-- KEYS[1] state, KEYS[2] decision record, KEYS[3] legacy state hash
-- ARGV: 1 decision JSON, 2 entries kept
return append_record(KEYS[1], KEYS[3], KEYS[2], ARGV[1], ARGV[2])
