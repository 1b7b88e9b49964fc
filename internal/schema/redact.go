package schema

import "strings"

// Redact returns path, a field path as Paths listed it before keys that
// are not identifiers were recorded as Placeholder, in the form Paths
// gives now: each key between dots that is not an identifier is replaced
// by Placeholder, and "[]" after a key (the elements of an array) is kept.
// A path in the present form comes back as it is.
//
// Paths listed a key containing a dot as it was, so a stored path cannot
// tell "a.b" inside one key from two keys, and Redact takes every dot as a
// separator: "by_email.ada.lovelace@example.com" becomes
// "by_email.ada.*.com", keeping "ada". RedactAll, given all the paths
// stored for an event type, finds such keys whole; a migration of stored
// paths should call it.
func Redact(path string) string {
	var b []byte // nil while path needs no change
	start := 0
	for start <= len(path) {
		end := strings.IndexByte(path[start:], '.')
		last := end < 0
		if last {
			end = len(path)
		} else {
			end += start
		}
		key, markers := path[start:end], ""
		if !last { // only a parent's key has markers: an array's elements
			key, markers = cutMarkers(key)
		}
		if !identifier(key) && key != Placeholder && b == nil {
			b = append(make([]byte, 0, len(path)), path[:start]...)
		}
		if b != nil {
			b = appendRedacted(b, key)
			b = append(b, markers...)
			if !last {
				b = append(b, '.')
			}
		}
		start = end + 1
	}
	if b == nil {
		return path
	}
	return string(b)
}

// RedactAll returns, index for index, the present form (see Redact) of
// paths: every field path stored for one source's event type by Paths
// before keys that are not identifiers were recorded as Placeholder.
// Several may come back the same, as Paths lists them now: a migration
// keeps one of each.
//
// Paths listed every path's parent before it, so among all the paths of an
// event type the parent of a path is the longest other one it extends (by
// a dot, after any "[]"), and what follows that dot is one key, dots
// included: "by_email.ada.lovelace@example.com" under "by_email" becomes
// "by_email.*". A path whose parent is missing, or is not found among the
// last 64 dots, is taken as one key, and so becomes Placeholder. A
// path is taken apart wrongly only when a key with a dot starts with the
// name of a key stored beside it, and then each part is still redacted.
func RedactAll(paths []string) []string {
	r := allRedactor{stored: make(map[string]bool, len(paths)), done: make(map[string]string, len(paths))}
	for _, p := range paths {
		r.stored[p] = true
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = r.redact(p)
	}
	return out
}

// maxParentTries bounds the dots of a path tried as the end of its parent,
// each a lookup of the part before it: a key with thousands of dots would
// otherwise cost time in their square. A path whose parent is not found
// within them is taken as one key, and so becomes Placeholder.
const maxParentTries = 64

// allRedactor redacts paths knowing every stored one.
type allRedactor struct {
	stored map[string]bool
	done   map[string]string // path → its present form
}

func (r *allRedactor) redact(path string) string {
	if s, ok := r.done[path]; ok {
		return s
	}
	s := appendRedacted(nil, path) // no parent: one key
	tries := 0
	for dot := strings.LastIndexByte(path, '.'); dot >= 0 && tries < maxParentTries; dot = strings.LastIndexByte(path[:dot], '.') {
		tries++
		if parent, markers, ok := r.parent(path[:dot]); ok {
			s = append([]byte(r.redact(parent)), markers...)
			s = appendRedacted(append(s, '.'), path[dot+1:])
			break
		}
	}
	r.done[path] = string(s)
	return r.done[path]
}

// parent finds the stored path that prefix, the part of a path before one
// of its dots, is: itself, or itself without the "[]" of arrays.
func (r *allRedactor) parent(prefix string) (parent, markers string, ok bool) {
	for p := prefix; ; p = p[:len(p)-2] {
		if r.stored[p] {
			return p, prefix[len(p):], true
		}
		if !strings.HasSuffix(p, "[]") {
			return "", "", false
		}
	}
}

// cutMarkers splits the "[]" of arrays off the end of a parent's key.
func cutMarkers(key string) (string, string) {
	k := key
	for strings.HasSuffix(k, "[]") {
		k = k[:len(k)-2]
	}
	return k, key[len(k):]
}

// appendRedacted appends key, or Placeholder when it is not an identifier.
func appendRedacted(b []byte, key string) []byte {
	if !identifier(key) {
		return append(b, Placeholder...)
	}
	return append(b, key...)
}
