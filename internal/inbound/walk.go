package inbound

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// member is a member of the body's object: its key token and value token.
type member struct{ key, value []byte }

// check decides whether the body is JSON. jsonscan's validator accepts
// what encoding/json accepts, but only so deep: a body it refuses is left
// to encoding/json, so that the answer is always encoding/json's. The
// usual body, an object, has its members noted as they are checked, so
// that the lookups of its top-level keys do not walk it all again.
func (m *Message) check() {
	m.members = make([]member, 0, 16) // enough for most events
	if jsonscan.Object(m.body, func(key, value []byte) bool {
		m.members = append(m.members, member{key, value})
		return true
	}) {
		m.isJSON, m.scanned = true, true
		return
	}
	m.members = nil
	if jsonscan.Valid(m.body) {
		m.isJSON, m.scanned = true, true
		return
	}
	m.treeOnce.Do(m.parse)
	m.isJSON = m.rootOK
}

// walk is Lookup on a body jsonscan has validated, reading its bytes along
// path instead of decoding it. It answers exactly as lookupTree on the
// decoded body would, and reports walked false where it cannot be sure to,
// leaving the path to lookupTree.
func (m *Message) walk(path string) (value string, ok, walked bool) {
	if strings.Contains(path, "..") || path[0] == '.' || path[len(path)-1] == '.' {
		return "", false, true // an empty segment
	}
	cur := bytes.TrimLeft(m.body, " \t\n\r")
	rest, more := path, true
	if m.members != nil {
		var seg string
		seg, rest, more = strings.Cut(rest, ".")
		// Decoding into a map keeps the last of duplicate keys.
		var found []byte
		for i := len(m.members) - 1; i >= 0 && found == nil; i-- {
			same, sure := keyIs(m.members[i].key, seg)
			if !sure {
				return "", false, false
			}
			if same {
				found = m.members[i].value
			}
		}
		if found == nil {
			return "", false, true
		}
		cur = found
	}
	for more {
		var seg string
		seg, rest, more = strings.Cut(rest, ".")
		switch cur[0] {
		case '{':
			// Decoding into a map keeps the last of duplicate keys.
			var found []byte
			for key, val := range jsonscan.Members(cur) {
				same, sure := keyIs(key, seg)
				if !sure {
					return "", false, false
				}
				if same {
					found = val
				}
			}
			if found == nil {
				return "", false, true
			}
			cur = found
		case '[':
			if !allDigits(seg) {
				return "", false, true
			}
			i, err := strconv.Atoi(seg)
			if err != nil {
				return "", false, true
			}
			var found []byte
			for elem := range jsonscan.Elements(cur) {
				if i == 0 {
					found = elem
					break
				}
				i--
			}
			if found == nil {
				return "", false, true
			}
			cur = found
		default:
			return "", false, true
		}
	}
	switch c := cur[0]; {
	case c == '"':
		s, ok := jsonscan.DecodeString(cur)
		return s, ok, ok
	case c == 't':
		return "true", true, true
	case c == 'f':
		return "false", true, true
	case c == '-' || ('0' <= c && c <= '9'):
		return string(cur), true, true // as json.Number keeps it
	}
	return "", false, true // an object, an array or null
}

// keyIs reports whether the key token decodes to seg, and sure false if
// it cannot tell.
func keyIs(key []byte, seg string) (same, sure bool) {
	raw := key[1 : len(key)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw) == seg, true
	}
	// Escapes and invalid UTF-8, which decoding replaces, are rare in keys.
	s, ok := jsonscan.DecodeString(key)
	return s == seg, ok
}
