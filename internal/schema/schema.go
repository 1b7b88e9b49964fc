// Package schema lists the field paths of JSON payloads: the shape of the
// data that flows, never its values. The data map and schema-drift alerts
// are built from these paths.
package schema

import (
	"bytes"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// Limits on what Paths walks, so an adversarial payload costs little.
const (
	MaxDepth = 8   // deeper fields are not listed
	MaxPaths = 200 // a payload lists at most this many paths
)

// Paths returns the distinct field paths of a JSON object, in document
// order: keys joined by dots ("data.object.id"), with "[]" for the elements
// of an array ("items[].sku"). Only objects' keys make paths, at most
// MaxPaths of them, at most MaxDepth deep. A body that is not a JSON object,
// or not valid JSON (jsonscan.Valid), has none.
//
// Keys are data too (a map keyed by email addresses, customer ids or
// names), and paths are kept in plaintext and sent in drift alerts, so a
// path names only the keys that are identifiers; any other key is recorded
// as Placeholder, "*". Sibling keys that are not identifiers therefore make
// one path: {"by_email":{"ada@example.com":{"plan":"pro"},
// "bob@example.com":{"plan":"free"}}} has the paths "by_email",
// "by_email.*" and "by_email.*.plan", whatever the number of addresses.
// A key, once its JSON escapes are resolved, is an identifier when:
//
//   - it is 1 to MaxKeyLen (64) bytes long;
//   - it starts with an ASCII letter or '_', after at most one '$' or '@'
//     ("$ref", "@type", "@context"), and goes on with ASCII letters,
//     digits, '_' and '-' only: snake_case, camelCase, PascalCase and
//     kebab-case pass, while a number, a date, an email address, a phone
//     number, a URL, free text, "@odata.type" or "José" (a digit first, a
//     space, '.', '+', ':', '/', a non-ASCII letter) do not;
//   - it holds at most 3 digits: "line1", "sha256" and "x509" pass,
//     "user_12345" and "iso8601" do not;
//   - it is not a hexadecimal id: 8 or more letters and digits, all
//     hexadecimal, one at least a decimal digit (a UUID, a hash, an
//     ObjectId);
//   - none of its words (runs of letters and digits between '_' and '-')
//     looks like the random part of an id: 12 or more characters, 3 or
//     more upper-case letters, 3 or more lower-case ones and a letter
//     right after a digit ("NffrFeUfNV2Hib" in "cus_NffrFeUfNV2Hib").
//
// The rule reads syntax only. A key that is a plain word is recorded even
// when it is a name ("ada", "Ada_Lovelace"), and so is a random token the
// clauses miss: of one case, shorter than 12, or with its digits only at
// its end. An escaped dot or any other byte outside the alphabet makes a
// key "*", so every dot in a path separates two keys.
//
// It walks the bytes with jsonscan: encoding/json's tokenizer cost 23 µs and
// 142 allocations for a 1 KiB payload, on every event received. A path is
// built in one buffer and copied out only when it is new, so a payload
// whose keys repeat (an array of objects, a map of ids) costs no more
// allocations than the paths it lists.
func Paths(body []byte) []string {
	obj := bytes.TrimLeft(body, " \t\r\n")
	if len(obj) == 0 || obj[0] != '{' || !jsonscan.Valid(obj) {
		return nil
	}
	w := walker{path: make([]byte, 0, 128), paths: make([]string, 0, smallPaths)}
	w.value(obj, 0)
	return w.paths
}

// walker collects the paths of a valid JSON value.
type walker struct {
	path  []byte // of the value being walked
	seen  map[string]struct{}
	paths []string
}

// value lists the paths in v, found at w.path, depth levels down. It leaves
// w.path as it found it, and reports false once MaxPaths is reached, which
// ends the walk.
func (w *walker) value(v []byte, depth int) bool {
	if depth >= MaxDepth {
		return true // nothing deeper is listed
	}
	at := len(w.path)
	switch v[0] {
	case '{':
		for k, member := range jsonscan.Members(v) {
			w.path = w.path[:at]
			if at > 0 {
				w.path = append(w.path, '.')
			}
			w.path = appendKey(w.path, k)
			if !w.add() || !w.value(member, depth+1) {
				return false
			}
		}
	case '[':
		w.path = append(w.path, "[]"...)
		for e := range jsonscan.Elements(v) {
			if !w.value(e, depth+1) {
				return false
			}
		}
	}
	w.path = w.path[:at]
	return true
}

// add lists w.path unless it is listed already; it reports false when
// MaxPaths are listed and it would be one too many.
func (w *walker) add() bool {
	if w.listed() {
		return true
	}
	if len(w.paths) >= MaxPaths {
		return false
	}
	p := string(w.path)
	w.paths = append(w.paths, p)
	if w.seen != nil {
		w.seen[p] = struct{}{}
	}
	return true
}

// smallPaths is how many paths are searched one by one before a map is
// made: most payloads list fewer, and need none.
const smallPaths = 16

// listed reports whether w.path is listed.
func (w *walker) listed() bool {
	if w.seen == nil {
		for _, p := range w.paths {
			if p == string(w.path) {
				return true
			}
		}
		if len(w.paths) < smallPaths {
			return false
		}
		w.seen = make(map[string]struct{}, 2*smallPaths)
		for _, p := range w.paths {
			w.seen[p] = struct{}{}
		}
		return false
	}
	_, ok := w.seen[string(w.path)]
	return ok
}

// appendKey appends the key a string token names in a path: its text when
// it is an identifier, else Placeholder.
func appendKey(path, tok []byte) []byte {
	key := tok[1 : len(tok)-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		s, _ := jsonscan.DecodeString(tok)
		key = []byte(s)
	}
	if !identifier(key) {
		return append(path, Placeholder...)
	}
	return append(path, key...)
}
