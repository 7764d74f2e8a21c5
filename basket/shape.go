package basket

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// shapeProblems adds to out every field of raw (a JSON value decoded with
// UseNumber) that t has no field for, and every value of the wrong JSON
// kind, each named by its path ("basket.items[0].colour"): the strict
// decoder stops at the first of them, and names an unknown field without
// its path. Names match as encoding/json matches them (case-insensitively);
// a type that decodes itself (Consent, json.RawMessage) is its own judge.
func shapeProblems(path string, t reflect.Type, raw any, out *Invalid) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if raw == nil || reflect.PointerTo(t).Implements(unmarshalerType) {
		return // null leaves the zero value, as encoding/json does
	}
	if want, ok := jsonKinds[t.Kind()]; ok && kindOf(raw) != want {
		// Numbers are left to encoding/json: the wire type holds none.
		*out = append(*out, Problem{Field: orEvent(path), Message: "must be " + jsonKind(t.Kind().String()) + ", got " + kindOf(raw)})
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj := raw.(map[string]any)
		names := make([]string, 0, len(obj))
		for name := range obj {
			names = append(names, name)
		}
		slices.Sort(names) // a map has no order; problems should have one
		for _, name := range names {
			field, ok := fieldNamed(t, name)
			if !ok {
				*out = append(*out, Problem{Field: join(path, name), Message: "unknown field (contract v1)"})
				continue
			}
			shapeProblems(join(path, name), field.Type, obj[name], out)
		}
	case reflect.Slice:
		for i, v := range raw.([]any) {
			shapeProblems(path+"["+strconv.Itoa(i)+"]", t.Elem(), v, out)
		}
	}
}

// jsonKinds is the JSON kind (as kindOf names it) each Go kind decodes from.
var jsonKinds = map[reflect.Kind]string{reflect.Struct: "object", reflect.Slice: "array",
	reflect.String: "string", reflect.Bool: "bool"}

// fieldNamed finds the field of struct t that JSON name decodes into.
func fieldNamed(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if strings.EqualFold(tag, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// kindOf names a decoded JSON value's kind as encoding/json's errors do.
func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	}
	return "object"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orEvent(path string) string {
	if path == "" {
		return "event"
	}
	return path
}

// everyProblem lists all that is wrong with one event, raw, that the strict
// decoder refused (strictErr: an unknown field or a value of the wrong
// kind): every such field by its path, then what checking the rest finds,
// leaving out what those fields' absence alone would cause.
func (v Validator) everyProblem(raw []byte, strictErr error) Invalid {
	var shape Invalid
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&generic) == nil {
		shapeProblems("", reflect.TypeFor[wire](), generic, &shape)
	}
	var w wire
	complete := true
	if err := json.Unmarshal(raw, &w); err != nil {
		// A value of the wrong kind, which the walk found, is skipped and
		// the rest decoded; what a self-decoding type (Consent) refused,
		// which the walk leaves to it, stops the decoding there, so the
		// rest is not checked (it would read as missing).
		if p := DescribeJSON(err, "event"); !covered(p.Field, shape) {
			shape = append(shape, p)
			complete = false
		}
	}
	if len(shape) == 0 {
		shape = Invalid{DescribeJSON(strictErr, "event")}
	}
	out := shape
	if !complete {
		return out
	}
	if _, err := v.check(w); err != nil {
		var rest Invalid
		if errors.As(err, &rest) {
			for _, p := range rest {
				if !covered(p.Field, shape) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// covered reports whether a problem about field is already told by one of
// shape's: the same field, or one inside or around it.
func covered(field string, shape Invalid) bool {
	for _, s := range shape {
		if field == s.Field || strings.HasPrefix(field, s.Field+".") || strings.HasPrefix(field, s.Field+"[") ||
			strings.HasPrefix(s.Field, field+".") || strings.HasPrefix(s.Field, field+"[") || s.Field == "event" {
			return true
		}
	}
	return false
}
