package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/viper"
)

// Leaves lists every key of Config as its dotted path ("smtp.host",
// "policy.frequency_cap.max"), lists and maps as one key each. It is what
// the environment can set, and what TestEveryKeyFromTheEnvironment walks.
func Leaves() []string { return leaves(reflect.TypeFor[Config]()) }

// leaves lists the keys of a config struct type, as Leaves does.
func leaves(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			path := prefix + tag
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, path+".")
				continue
			}
			out = append(out, path)
		}
	}
	walk(t, "")
	return out
}

// EnvName is the environment variable of a key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// notConfig are BASKETASSIST_ variables that are not configuration keys.
var notConfig = map[string]bool{
	EnvPrefix + "_SCREENSHOTS": true, // the browser tests' screenshot folder
}

// unknownEnv reports each BASKETASSIST_* variable that names no key: a
// typo would otherwise be ignored in silence.
func unknownEnv() error {
	known := map[string]bool{}
	var names []string
	for _, k := range Leaves() {
		known[EnvName(k)] = true
		names = append(names, EnvName(k))
	}
	var errs []error
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || known[name] || notConfig[name] {
			continue
		}
		msg := fmt.Sprintf("%s: names no configuration key", name)
		if near := nearest(name, names); near != "" {
			msg += " (did you mean " + near + "?)"
		}
		errs = append(errs, errors.New(msg))
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// nearestKey is the key a mistyped one probably meant: among every key, or,
// inside a storefront ("storefronts[2].api_kye"), among a storefront's.
func nearestKey(key string) string {
	if list, field, ok := strings.Cut(key, "]."); ok && strings.HasPrefix(list, "storefronts[") {
		if near := nearest(field, leaves(reflect.TypeFor[Storefront]())); near != "" {
			return list + "]." + near
		}
		return ""
	}
	return nearest(key, Leaves())
}

// nearest is the name within two edits of s, if any.
func nearest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var invalidKeys = regexp.MustCompile(`'([^']*)' has invalid keys: ([^\n]+)`)

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// fileProblem words a config file that could not be read as YAML: the line
// the parser stopped at and its complaint, without viper's wrapping and
// without anything the parser quoted from the file (a key, or a value that
// may be a secret).
func fileProblem(err error) error {
	var parse viper.ConfigParseError
	if !errors.As(err, &parse) {
		return err // reading it failed: the path and the system's reason
	}
	complaint := quoted.ReplaceAllString(errors.Unwrap(parse).Error(), "")
	complaint = strings.TrimPrefix(strings.TrimPrefix(complaint, "yaml: "), "unmarshal errors:")
	complaint = strings.Join(strings.Fields(complaint), " ") // one line
	at := ""
	if m := yamlLine.FindStringSubmatch(complaint); m != nil {
		at, complaint = " at line "+m[1], complaint[len(m[0]):]
	}
	if strings.Contains(complaint, "cannot start any token") {
		complaint += " (YAML indents with spaces, never tabs)"
	}
	return fmt.Errorf("not valid YAML%s: %s", at, complaint)
}

// quoted is what a YAML parser's message quotes from the file.
var quoted = regexp.MustCompile("`[^`]*`|\"[^\"]*\"|'[^']*'")

// decodeProblem turns mapstructure's text into "key: problem (fix)" lines.
func decodeProblem(err error) error {
	msg := err.Error()
	if m := invalidKeys.FindAllStringSubmatch(msg, -1); m != nil {
		var errs []error
		for _, g := range m {
			for _, k := range strings.Split(g[2], ", ") {
				key := strings.TrimSpace(k)
				if g[1] != "" {
					key = g[1] + "." + key
				}
				hint := "check its spelling and place; every key is in README, Configuration reference"
				if near := nearestKey(key); near != "" {
					hint = "did you mean " + near + "?"
				}
				errs = append(errs, fmt.Errorf("%s: unknown key (%s)", key, hint))
			}
		}
		return errors.Join(errs...)
	}
	// One line per key: "'smtp.port' cannot parse value as 'int': strconv…"
	// or "'smtp.port' expected type 'int', got unconvertible type …".
	var errs []error
	wrong := &WrongTypes{}
	for _, m := range badValue.FindAllStringSubmatch(msg, -1) {
		want := "of another type"
		switch k := wantKind.FindStringSubmatch(m[2]); {
		case k != nil:
			want = kindName(k[1])
		case strings.Contains(m[2], "duration"):
			want = kindName("time.Duration")
		case strings.Contains(m[2], "expected a map"):
			want = "a mapping of keys to values"
		}
		errs = append(errs, fmt.Errorf("%s: must be %s (fix the value's type)", m[1], want))
		wrong.Keys = append(wrong.Keys, m[1])
	}
	if len(errs) > 0 {
		wrong.err = errors.Join(errs...)
		return wrong
	}
	return err
}

// WrongTypes is Load's error for values of the wrong type: one line per
// key, the keys in Keys.
type WrongTypes struct {
	Keys []string
	err  error
}

func (w *WrongTypes) Error() string { return w.err.Error() }

// badValue is mapstructure's line about one key's value (the library's
// own words after the key are not shown); wantKind the type it wanted.
var (
	badValue = regexp.MustCompile(`(?m)^'([^'\s]+)' (.*)$`)
	wantKind = regexp.MustCompile(`(?:cannot parse value as|expected type) '([^']+)'`)
)

// kindName says in words what a Go type's value is written as.
func kindName(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 30s, 15m or 24h"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "of type " + goType
}

// placeholder reports a value that is the example file's placeholder or
// obviously not a secret.
func placeholder(v string) bool {
	l := strings.ToLower(v)
	for _, p := range []string{"change-me", "changeme", "change_me", "replace", "example", "placeholder", "your-", "xxxx"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return strings.ContainsAny(v, " \t")
}

// fromFile fills *value from file (Docker and Kubernetes secrets are files),
// trimming the final newline; both set is an error.
func fromFile(key string, value *string, file string) error {
	if file == "" {
		return nil
	}
	if *value != "" {
		return fmt.Errorf("%s: set it or %s_file, not both", key, key)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s_file: cannot read %s: %v", key, file, errors.Unwrap(err))
	}
	*value = strings.TrimRight(string(b), "\r\n")
	if *value == "" {
		return fmt.Errorf("%s_file: %s is empty", key, file)
	}
	return nil
}
