package pseudonym

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Errors of Values and Replace. Neither names a value.
var (
	// ErrNotObject reports a body that is not a JSON object: its values
	// cannot be found by path, so it cannot be pseudonymised.
	ErrNotObject = errors.New("the payload is not a JSON object")
	// ErrNoToken reports a value Replace was given no token for.
	ErrNoToken = errors.New("a value to pseudonymise has no token")
)

// Found is a value at one of the paths: the path, and the value as text (a
// string's content, a number as written).
type Found struct {
	Path, Value string
}

// Key is the key, in the tokens Replace takes, of the value at path.
func Key(path, value string) string { return path + "\x00" + value }

// Values returns the distinct values Replace would replace at the paths,
// in the order found: ErrNotObject when body is not a JSON object.
func Values(body []byte, paths []string) ([]Found, error) {
	var out []Found
	seen := make(map[string]bool)
	_, err := walk(body, paths, false, func(path, value string) (string, error) {
		if k := Key(path, value); !seen[k] {
			seen[k] = true
			out = append(out, Found{Path: path, Value: value})
		}
		return "", nil
	})
	return out, err
}

// Replace returns the JSON object body with every value at the paths
// replaced by its token, tokens[Key(path, value)]: ErrNotObject when body
// is not a JSON object, ErrNoToken when a value has no token.
//
// A path names object members ("customer.email"), as a field allowlist's
// does; arrays on the way are not entered. A value it reaches is replaced
// when it is a string or a number, and each string and number inside it
// when it is an object or an array (object keys stay). true, false, null
// and strings that are empty or blank are left as they are: they name no
// one. A path inside another path of the list adds nothing. Each object a
// replacement is made in is written again, its members in key order.
func Replace(body []byte, paths []string, tokens map[string]string) ([]byte, error) {
	return walk(body, paths, true, func(path, value string) (string, error) {
		t, ok := tokens[Key(path, value)]
		if !ok {
			return "", ErrNoToken
		}
		return t, nil
	})
}

// replacer returns what replaces the value at path.
type replacer func(path, value string) (string, error)

// walk calls fn with every value at the paths, and returns body with the
// values replaced by what fn returns, when rewrite is set.
func walk(body []byte, paths []string, rewrite bool, fn replacer) ([]byte, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(body, &root); err != nil || root == nil {
		return nil, ErrNotObject
	}
	changed := false
	for _, p := range outermost(paths) {
		c, err := replaceAt(root, strings.Split(p, "."), p, rewrite, fn)
		if err != nil {
			return nil, err
		}
		changed = changed || c
	}
	if !rewrite || !changed {
		return body, nil
	}
	return json.Marshal(root)
}

// outermost returns the distinct paths that are not inside another of the
// paths: replacing "customer" replaces "customer.email" already.
func outermost(paths []string) []string {
	var out []string
	for _, p := range paths {
		inside := slices.ContainsFunc(paths, func(q string) bool { return strings.HasPrefix(p, q+".") })
		if !inside && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// replaceAt follows segs through nested objects from obj and replaces the
// value it reaches, reporting whether it changed anything.
func replaceAt(obj map[string]json.RawMessage, segs []string, path string, rewrite bool, fn replacer) (bool, error) {
	v, ok := obj[segs[0]]
	if !ok {
		return false, nil
	}
	if len(segs) == 1 {
		nv, changed, err := replaceValue(v, path, rewrite, fn)
		if changed {
			obj[segs[0]] = nv
		}
		return changed, err
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(v, &inner) != nil || inner == nil {
		return false, nil
	}
	changed, err := replaceAt(inner, segs[1:], path, rewrite, fn)
	if err != nil || !changed {
		return false, err
	}
	if obj[segs[0]], err = json.Marshal(inner); err != nil {
		return false, err
	}
	return true, nil
}

// replaceValue replaces a string or number, or each inside an object or
// an array.
func replaceValue(v json.RawMessage, path string, rewrite bool, fn replacer) (json.RawMessage, bool, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return v, false, nil
	}
	var text string
	switch c := v[0]; {
	case c == '"':
		if err := json.Unmarshal(v, &text); err != nil {
			return v, false, err
		}
		if strings.TrimSpace(text) == "" {
			return v, false, nil
		}
	case c == '-' || '0' <= c && c <= '9':
		text = string(v)
	case c == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil {
			return v, false, err
		}
		changed := false
		for k, m := range obj {
			nm, c, err := replaceValue(m, path, rewrite, fn)
			if err != nil {
				return v, false, err
			}
			obj[k], changed = nm, changed || c
		}
		return remarshal(v, obj, changed)
	case c == '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(v, &arr); err != nil {
			return v, false, err
		}
		changed := false
		for i, m := range arr {
			nm, c, err := replaceValue(m, path, rewrite, fn)
			if err != nil {
				return v, false, err
			}
			arr[i], changed = nm, changed || c
		}
		return remarshal(v, arr, changed)
	default:
		return v, false, nil // true, false, null
	}
	token, err := fn(path, text)
	if err != nil || !rewrite {
		return v, false, err
	}
	out, err := json.Marshal(token)
	return out, true, err
}

func remarshal(v json.RawMessage, x any, changed bool) (json.RawMessage, bool, error) {
	if !changed {
		return v, false, nil
	}
	out, err := json.Marshal(x)
	return out, true, err
}
