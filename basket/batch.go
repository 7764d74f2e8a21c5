package basket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxBatch is the most events one request to POST /v1/events, one
// Client.Send and one queued apply task hold: the one batch limit.
const MaxBatch = 500

// Input forms DecodeBatch accepts.
type Input int

const (
	// OneOrBatch is one JSON event or {"events": [...]}: the HTTP API.
	OneOrBatch Input = iota
	// OneBatchOrLines also accepts JSON lines, one event per line: emit.
	OneBatchOrLines
)

// Batch is what DecodeBatch found: the valid events, and every problem
// of the others, so that a caller can refuse the whole batch (the HTTP
// API) or keep what was valid (emit).
type Batch struct {
	Events []Event
	// Problems names every bad field, by event index; the events it names
	// are not in Events.
	Problems []Problem
	// Count is how many events the input held, valid or not.
	Count int
	// lines maps an event index to its 1-based line for JSON lines; nil
	// otherwise.
	lines  []int
	single bool
	at     []int // each of Events' index in the input
}

// Index is the input index of Events[i], for messages about it.
func (b Batch) Index(i int) int { return b.at[i] }

// Where names event i in the input's terms: "line 3" for JSON lines,
// "events[2]" in a batch, "event" alone.
func (b Batch) Where(i int) string {
	switch {
	case b.lines != nil:
		return fmt.Sprintf("line %d", b.lines[i])
	case b.single:
		return "event"
	default:
		return fmt.Sprintf("events[%d]", i)
	}
}

// Invalid counts the events with at least one problem.
func (b Batch) Invalid() int { return len(b.BadEvents()) }

// BadEvent is one invalid event with every problem found in it: the HTTP
// API's 400 lists one per bad event. Field and Message repeat its first
// problem, for a client that shows one line per event.
type BadEvent struct {
	Index    int       `json:"index"`
	Field    string    `json:"field"`
	Message  string    `json:"message"`
	Problems []Problem `json:"problems"`
}

// BadEvents groups Problems by event, in input order.
func (b Batch) BadEvents() []BadEvent {
	var out []BadEvent
	for _, p := range b.Problems {
		if n := len(out); n == 0 || out[n-1].Index != p.Index {
			out = append(out, BadEvent{Index: p.Index, Field: p.Field, Message: p.Message})
		}
		last := &out[len(out)-1]
		last.Problems = append(last.Problems, p)
	}
	return out
}

// DecodeBatch decodes and checks every event of data in one pass: a
// batch is streamed element by element, never parsed whole first. The
// error says why data as a whole is unusable (not JSON, not the shape,
// empty, over MaxBatch); problems of single events are in Batch.Problems.
func (v Validator) DecodeBatch(data []byte, form Input) (Batch, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Batch{}, errors.New("no events in the input")
	}
	if isBatch(trimmed) {
		return v.decodeArray(trimmed)
	}
	if form == OneBatchOrLines && !json.Valid(trimmed) {
		return v.decodeLines(data), nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return Batch{}, errors.New(`body must be one JSON event or {"events": [...]}`)
	}
	b := Batch{Count: 1, single: true}
	e, err := v.Decode(trimmed)
	b.add(0, e, err)
	return b, nil
}

func (b *Batch) add(i int, e Event, err error) {
	var invalid Invalid
	if errors.As(err, &invalid) {
		for _, p := range invalid {
			p.Index = i
			b.Problems = append(b.Problems, p)
		}
		return
	}
	b.Events = append(b.Events, e)
	b.at = append(b.at, i)
}

// isBatch reports whether data is an object whose first key is "events".
func isBatch(data []byte) bool {
	if data[0] != '{' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(data[1:], " \t\r\n"), []byte(`"events"`))
}

func (v Validator) decodeArray(data []byte) (Batch, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	shape := errors.New(`body must be one JSON event or {"events": [...]}`)
	for _, want := range []any{json.Delim('{'), "events", json.Delim('[')} {
		tok, err := dec.Token()
		if err != nil || tok != want {
			if want == json.Delim('[') {
				return Batch{}, errors.New("events: must be an array of events")
			}
			return Batch{}, shape
		}
	}
	var b Batch
	for dec.More() {
		if b.Count == MaxBatch {
			return Batch{}, fmt.Errorf("events: more than %d events; a batch holds at most %d (send several)", MaxBatch, MaxBatch)
		}
		e, err := v.decodeNext(dec, data)
		if isBroken(err) {
			return Batch{}, fmt.Errorf("events[%d]: %w", b.Count, err)
		}
		b.add(b.Count, e, err)
		b.Count++
	}
	if _, err := dec.Token(); err != nil { // ]
		return Batch{}, fmt.Errorf("events: malformed JSON after %d events: %v", b.Count, err)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return Batch{}, errors.New(`a batch holds only the key "events"`)
	}
	if b.Count == 0 {
		return Batch{}, errors.New("events: is empty")
	}
	return b, nil
}

// isBroken reports a problem that leaves the stream unreadable (malformed
// JSON), after which no further event can be found.
func isBroken(err error) bool {
	var invalid Invalid
	return errors.As(err, &invalid) && len(invalid) == 1 && invalid[0].Field == "event" &&
		bytes.HasPrefix([]byte(invalid[0].Message), []byte("malformed JSON"))
}

func (v Validator) decodeLines(data []byte) Batch {
	b := Batch{lines: []int{}}
	for n, line := range bytes.Split(data, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		e, err := v.Decode(line)
		b.add(b.Count, e, err)
		b.lines = append(b.lines, n+1)
		b.Count++
	}
	return b
}
