package basket

import (
	"os"
	"strings"
	"testing"
)

// Every script in lua/ but the shared state.lua has a name, so that none
// is missing from the benchmark's breakdown.
func TestScriptNamesCoverEveryScript(t *testing.T) {
	files, err := os.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, name := range ScriptNames() {
		named[name] = true
	}
	for _, f := range files {
		if name := f.Name(); strings.HasSuffix(name, ".lua") && name != "state.lua" && !named[name] {
			t.Errorf("%s has no entry in ScriptNames", name)
		}
	}
	if len(ScriptNames()) != len(named) {
		t.Errorf("two scripts share a hash: %v", ScriptNames())
	}
}
