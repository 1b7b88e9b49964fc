package deliver

import (
	"encoding/json"
	"errors"
	"strings"
)

// ErrClassFields is the error class of an attempt whose payload could not
// be reduced to the destination's field allowlist: it is not sent at all.
const ErrClassFields = "fields"

// errNotObject reports a body whose fields cannot be selected: a
// destination with a field allowlist gets nothing rather than everything.
var errNotObject = errors.New("the payload is not a JSON object")

// selectFields returns the JSON object body reduced to the dot paths in
// fields (data minimization), keeping each selected value's bytes.
// A path names object members only ("data.amount"); a value it reaches is
// kept whole, arrays included. Paths that reach nothing are left out, and a
// path inside one already selected whole adds nothing.
func selectFields(body []byte, fields []string) ([]byte, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(body, &root); err != nil || root == nil {
		return nil, errNotObject
	}
	out := selection{}
	for _, f := range fields {
		path := strings.Split(f, ".")
		if v, ok := lookupPath(root, path); ok {
			out.set(path, v)
		}
	}
	return json.Marshal(out)
}

// lookupPath follows path through nested objects.
func lookupPath(obj map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	v, ok := obj[path[0]]
	if !ok || len(path) == 1 {
		return v, ok
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(v, &inner) != nil || inner == nil {
		return nil, false
	}
	return lookupPath(inner, path[1:])
}

// selection is the object being built: each member is a selected value
// (json.RawMessage) or a selection of some of its members.
type selection map[string]any

func (s selection) set(path []string, v json.RawMessage) {
	if len(path) == 1 {
		s[path[0]] = v // the whole value, including anything selected inside it
		return
	}
	switch cur := s[path[0]].(type) {
	case json.RawMessage:
		return // already selected whole
	case selection:
		cur.set(path[1:], v)
	default:
		inner := selection{}
		inner.set(path[1:], v)
		s[path[0]] = inner
	}
}
