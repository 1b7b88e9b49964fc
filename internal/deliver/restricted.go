package deliver

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// errNotJSON reports a body from which restricted data cannot be removed:
// a destination without a personal data grant gets nothing rather than
// everything.
var errNotJSON = errors.New("the payload is not JSON")

// withholdRestricted returns body without what the claim's tenant
// restricts as personal data (Claim.Restricted), unless the destination
// has a personal data grant: every path of the policy, and every path
// where the event carries a value of a restricted subject type
// (Claim.SubjectPaths). A body with none of them is returned as it is.
// It reports false when they cannot be withheld: the body is then not
// sent.
//
// A path names object members ("customer.email"); it steps through arrays,
// applying to each element ("items.email", or "items[].email" as schema
// paths write it), unless its segment is an index ("items.0.email"); a "*"
// names every member. A body that is not valid JSON (form-encoded, XML,
// text) cannot have its restricted data removed: with a policy that
// restricts anything, a destination without a grant is sent nothing of it.
func withholdRestricted(c *sluice.Claim, body []byte) ([]byte, bool) {
	if c.Destination.PersonalData.Allowed || c.Restricted.Empty() {
		return body, true
	}
	out, err := removeRestricted(body, c.Restricted.PathsOf(c.SubjectPaths))
	return out, err == nil
}

// removeRestricted returns body without what each of paths reaches, or
// body itself when they reach nothing; errNotJSON for a body that is not
// valid JSON.
func removeRestricted(body []byte, paths []string) ([]byte, error) {
	if !json.Valid(body) {
		return nil, errNotJSON
	}
	out := json.RawMessage(body)
	changed := false
	for _, p := range paths {
		v, ok, err := removePath(out, sluice.PathSegments(p))
		if err != nil {
			return nil, err
		}
		if ok {
			out, changed = v, true
		}
	}
	if !changed {
		return body, nil
	}
	return out, nil
}

// removePath returns v without what the path segs reaches, and whether it
// reached anything.
func removePath(v json.RawMessage, segs []string) (json.RawMessage, bool, error) {
	switch firstByte(v) {
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil {
			return nil, false, err
		}
		changed := false
		for name, member := range obj {
			if segs[0] != "*" && segs[0] != name {
				continue
			}
			if len(segs) == 1 {
				delete(obj, name)
				changed = true
				continue
			}
			inner, ok, err := removePath(member, segs[1:])
			if err != nil {
				return nil, false, err
			}
			if ok {
				obj[name], changed = inner, true
			}
		}
		if !changed {
			return v, false, nil
		}
		out, err := encodeJSON(obj)
		return out, true, err
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(v, &arr); err != nil {
			return nil, false, err
		}
		changed := false
		if i, err := strconv.Atoi(segs[0]); err == nil && strings.Trim(segs[0], "0123456789") == "" {
			// An index names one element: dropped at the path's end.
			if i >= len(arr) {
				return v, false, nil
			}
			if len(segs) == 1 {
				arr, changed = append(arr[:i], arr[i+1:]...), true
			} else {
				inner, ok, err := removePath(arr[i], segs[1:])
				if err != nil {
					return nil, false, err
				}
				if ok {
					arr[i], changed = inner, true
				}
			}
		} else {
			for i, e := range arr {
				inner, ok, err := removePath(e, segs)
				if err != nil {
					return nil, false, err
				}
				if ok {
					arr[i], changed = inner, true
				}
			}
		}
		if !changed {
			return v, false, nil
		}
		out, err := encodeJSON(arr)
		return out, true, err
	}
	return v, false, nil
}

// firstByte is the first byte of v after white space, or 0.
func firstByte(v []byte) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// encodeJSON encodes v without escaping HTML, so what is kept reads as it
// was sent.
func encodeJSON(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
