package basket

// ScriptNames names each of the package's Lua scripts by its SHA-1, the
// way EVALSHA calls show in SLOWLOG and MONITOR: the benchmark breaks
// Redis's time down by script with it.
func ScriptNames() map[string]string {
	names := map[string]string{}
	for name, s := range map[string]interface{ Hash() string }{
		"apply.lua": applyScript, "claim.lua": claimScript, "handover.lua": handOverScript,
		"release.lua": releaseScript, "finish.lua": finishScript, "due.lua": dueScript,
		"record.lua": recordScript, "order.lua": orderScript, "forget.lua": forgetScript, "softbounce.lua": softBounceScript,
	} {
		names[s.Hash()] = name
	}
	return names
}
