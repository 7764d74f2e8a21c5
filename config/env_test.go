package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envValue is a value for key's type, as the environment gives it, and
// what Load must turn it into.
func envValue(t *testing.T, key string, typ reflect.Type) (string, any) {
	switch {
	case typ == reflect.TypeOf(time.Duration(0)):
		return "7s", 7 * time.Second
	case typ.Kind() == reflect.String:
		return "from-env-" + key, "from-env-" + key
	case typ.Kind() == reflect.Int, typ.Kind() == reflect.Int64:
		return "7", reflect.ValueOf(7).Convert(typ).Interface()
	case typ.Kind() == reflect.Bool:
		return "true", true
	case typ.Kind() == reflect.Map:
		return `{"GBP": 7}`, map[string]int64{"GBP": 7}
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.String:
		return `["a", "b"]`, []string{"a", "b"}
	case typ.Kind() == reflect.Slice:
		return "", nil // lists of objects: TestStorefrontsFromEnvironmentWithoutFile and friends
	}
	t.Fatalf("%s: no test value for %s", key, typ)
	return "", nil
}

// field returns the Config field at a dotted key.
func field(c any, key string) reflect.Value {
	v := reflect.ValueOf(c)
	for _, part := range strings.Split(key, ".") {
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("mapstructure") == part {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

// Every key of Config, found by walking the struct, takes effect from the
// environment: none is ignored (dkim.*, templates.dir used to be).
func TestEveryKeyFromTheEnvironment(t *testing.T) {
	want := map[string]any{}
	for _, key := range Leaves() {
		f := field(Config{}, key)
		s, v := envValue(t, key, f.Type())
		if s == "" {
			continue
		}
		t.Setenv(EnvName(key), s)
		want[key] = v
	}
	require.Greater(t, len(want), 40, "the walk finds the keys")
	for _, k := range []string{"secrets.key_file", "smtp.password_file", "web.admin_token_file"} {
		os.Unsetenv(EnvName(k)) // these read files; TestSecretsFromFiles covers them
		delete(want, k)
	}
	c, err := Load("")
	require.NoError(t, err)
	for key, v := range want {
		assert.Equal(t, v, field(c, key).Interface(), "%s from %s", key, EnvName(key))
	}
}

func TestUnknownEnvironmentVariableIsAnError(t *testing.T) {
	t.Setenv("BASKETASSIST_SMTP_HOSTT", "mail.example")
	_, err := Load("")
	assert.EqualError(t, err, "environment:\nBASKETASSIST_SMTP_HOSTT: names no configuration key (did you mean BASKETASSIST_SMTP_HOST?)")
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	body := strings.Replace(sample, `secrets: {key: "`+key+`"}`, fmt.Sprintf("secrets: {key_file: %q}", write("key", key+"\n")), 1)
	body = strings.Replace(body, `smtp: {host: "127.0.0.1", port: 1025}`,
		fmt.Sprintf(`smtp: {host: "127.0.0.1", port: 1025, username: u, password_file: %q}`, write("pw", "s3cret\n")), 1)
	c, err := Load(writeConfig(t, body))
	require.NoError(t, err)
	assert.Equal(t, key, c.Secrets.Key, "the final newline is trimmed")
	assert.Equal(t, "s3cret", c.SMTP.Password)

	t.Setenv("BASKETASSIST_WEB_ADMIN_TOKEN_FILE", filepath.Join(dir, "missing"))
	_, err = Load(writeConfig(t, sample))
	assert.ErrorContains(t, err, "web.admin_token: set it or web.admin_token_file, not both")
}

// The example file's placeholders are refused, each by its key.
func TestPlaceholderConfigRefusesToStart(t *testing.T) {
	c, err := Load("../basketassist.example.yaml")
	require.NoError(t, err)
	err = c.Validate()
	require.Error(t, err)
	for _, key := range []string{"web.admin_token: is a placeholder", "secrets.key: is a placeholder", "storefronts[0].api_key: is a placeholder"} {
		assert.ErrorContains(t, err, key)
	}
}

func TestUnknownKeyNamesItsPath(t *testing.T) {
	_, err := Load(writeConfig(t, sample+"templates: {dri: x}\nbounces: {domian: y}\n"))
	require.Error(t, err)
	assert.ErrorContains(t, err, "templates.dri: unknown key (did you mean templates.dir?)")
	assert.ErrorContains(t, err, "bounces.domian: unknown key (did you mean bounces.domain?)")
	_, err = Load(writeConfig(t, strings.Replace(sample, "api_key:", "api_kye:", 1)))
	assert.ErrorContains(t, err, "storefronts[0].api_kye: unknown key (did you mean storefronts[0].api_key?)")
	_, err = Load(writeConfig(t, sample+"templates: {zzzzzz: x}\n"))
	assert.ErrorContains(t, err, "templates.zzzzzz: unknown key (check its spelling and place")
	_, err = Load(writeConfig(t, sample+"worker: {concurrency: many}\n"))
	assert.ErrorContains(t, err, "worker.concurrency: ")
	assert.NotContains(t, err.Error(), "decoding failed")
}

// Every value of the wrong type is named by its key, in our words: one line
// each, none of the decoding library's text.
func TestWrongTypesAreNamedOneLineEach(t *testing.T) {
	t.Setenv("BASKETASSIST_SMTP_PORT", "x25")
	_, err := Load(writeConfig(t, sample+"worker: {concurrency: many, poll_interval: soon}\npolicy: {dry_run: maybe}\n"))
	require.Error(t, err)
	assert.Equal(t, `config:
policy.dry_run: must be true or false (fix the value's type)
smtp.port: must be a whole number (fix the value's type)
worker.concurrency: must be a whole number (fix the value's type)
worker.poll_interval: must be a duration such as 30s, 15m or 24h (fix the value's type)`, sortedLines(err.Error()))
}

// A file with values of the wrong type and other mistakes names them all
// at once, and does not echo a wrongly typed key as its zero value.
func TestLoadValidNamesEveryProblemAtOnce(t *testing.T) {
	body := strings.Replace(sample, "port: 1025", "port: x25, tls: ssl", 1)
	_, err := LoadValid(writeConfig(t, body+"worker: {concurrency: many}\nbounces: {soft_limit: -1}\n"))
	require.Error(t, err)
	assert.Equal(t, `config:
bounces.soft_limit: must not be negative (0 turns it off), got -1
smtp.port: must be a whole number (fix the value's type)
smtp.tls: must be none, starttls, opportunistic or tls, got "ssl"
worker.concurrency: must be a whole number (fix the value's type)`, sortedLines(err.Error()))

	_, err = LoadValid(writeConfig(t, sample+"bounces: {soft_limit: -1}\n"))
	assert.EqualError(t, err, "invalid configuration:\nbounces.soft_limit: must not be negative (0 turns it off), got -1")
	_, err = LoadValid(writeConfig(t, sample+"templates: {dri: x}\nbounces: {soft_limit: -1}\n"))
	assert.ErrorContains(t, err, "templates.dri: unknown key", "an unknown key stops at the key")
	_, err = LoadValid(writeConfig(t, sample))
	assert.NoError(t, err)
}

// sortedLines sorts all but the first line: the library's order is a map's.
func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines[1:])
	return strings.Join(lines, "\n")
}
