package basket

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestDecodeBatchReportsEveryBadEventByIndex(t *testing.T) {
	t.Parallel()
	good := oneLine(validEvent)
	unknown := strings.Replace(good, `"id": "evt_1"`, `"id": "evt_2", "colour": "red"`, 1)
	typed := strings.Replace(good, `"quantity": 2`, `"quantity": "two"`, 1)
	body := `{"events": [` + good + `, 5, ` + unknown + `, null, ` + typed + `]}`

	b, err := testValidator().DecodeBatch([]byte(body), OneOrBatch)
	require.NoError(t, err)
	assert.Equal(t, 5, b.Count)
	assert.Equal(t, 4, b.Invalid())
	require.Len(t, b.Events, 1)
	assert.Equal(t, "evt_1", b.Events[0].ID)
	assert.Equal(t, 0, b.Index(0))
	assert.Equal(t, []Problem{
		{Index: 1, Field: "event", Message: "must be an object"},
		{Index: 2, Field: "colour", Message: "unknown field (contract v1)"},
		{Index: 3, Field: "event", Message: "must be an object"},
		{Index: 4, Field: "basket.items[0].quantity", Message: `must be a JSON number, not a string, got "two"`},
	}, b.Problems)
	assert.Equal(t, "events[4]", b.Where(4))
}

func TestDecodeBatchRefusesUnusableInput(t *testing.T) {
	t.Parallel()
	many := `{"events": [` + strings.Repeat(`{},`, MaxBatch) + `{}]}`
	for body, want := range map[string]string{
		``:                          "no events in the input",
		`[1, 2]`:                    `body must be one JSON event or {"events": [...]}`,
		`{"events": [`:              "events: malformed JSON after 0 events",
		`{"events": {}}`:            "events: must be an array of events",
		`{"events": []}`:            "events: is empty",
		`{"events": [{}], "x":1}`:   `a batch holds only the key "events"`,
		`{"events": [{}, {"id": ]}`: "events[1]: event: malformed JSON",
		many:                        "more than 500 events",
		"{\"id\": 1}\n{}":           `body must be one JSON event`,
	} {
		_, err := testValidator().DecodeBatch([]byte(body), OneOrBatch)
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want, body)
	}
}

func TestDecodeBatchOneEventAndLines(t *testing.T) {
	t.Parallel()
	b, err := testValidator().DecodeBatch([]byte(validEvent), OneOrBatch)
	require.NoError(t, err)
	assert.Equal(t, 1, b.Count)
	require.Len(t, b.Events, 1)

	lines := oneLine(validEvent) + "\n\nnot json\n" + strings.Replace(oneLine(validEvent), `"storefront": "pink"`, `"storefront": "blue"`, 1) + "\n"
	b, err = testValidator().DecodeBatch([]byte(lines), OneBatchOrLines)
	require.NoError(t, err)
	assert.Equal(t, 3, b.Count)
	assert.Len(t, b.Events, 1, "the valid line is kept")
	assert.Equal(t, "line 1", b.Where(b.Index(0)))
	require.Len(t, b.Problems, 2)
	assert.Equal(t, "line 3", b.Where(b.Problems[0].Index))
	assert.Equal(t, "line 4", b.Where(b.Problems[1].Index))
	assert.Equal(t, "storefront", b.Problems[1].Field)

	_, err = testValidator().DecodeBatch([]byte(lines), OneOrBatch)
	assert.Error(t, err, "the HTTP form takes no JSON lines")
}
