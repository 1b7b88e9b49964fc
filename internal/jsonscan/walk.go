package jsonscan

import (
	"bytes"
	"iter"
)

// The iterators below read JSON text that Valid or Object has accepted,
// skipping values by their brackets and quotes alone rather than checking
// them again. Given text that is not valid they stop early or yield
// meaningless tokens, but never panic.

// Members yields the key (a string token, quotes included) and value token
// of each member of the object that starts obj, in order, duplicates
// included. Bytes after the object are ignored.
func Members(obj []byte) iter.Seq2[[]byte, []byte] {
	// Kept small enough to inline, so that ranging over it allocates nothing.
	return func(yield func(key, value []byte) bool) { members(obj, yield) }
}

// Elements yields the token of each element of the array that starts arr,
// in order. Bytes after the array are ignored.
func Elements(arr []byte) iter.Seq[[]byte] {
	return func(yield func(value []byte) bool) { elements(arr, yield) }
}

// Strings yields every string token in data, quotes included: each key
// and each string value, at any depth, in order. In valid text every quote
// outside a string opens one, so it only looks for quotes.
func Strings(data []byte) iter.Seq[[]byte] {
	return func(yield func(tok []byte) bool) {
		for i := 0; ; {
			j := bytes.IndexByte(data[i:], '"')
			if j < 0 {
				return
			}
			start := i + j
			if i = stringEnd(data, start); !yield(data[start:i]) {
				return
			}
		}
	}
}

func members(d []byte, yield func(key, value []byte) bool) {
	if len(d) == 0 || d[0] != '{' {
		return
	}
	i := skipSpace(d, 1)
	for i < len(d) && d[i] == '"' {
		k := i
		i = stringEnd(d, i)
		key := d[k:i]
		if i = skipSpace(d, i); i >= len(d) || d[i] != ':' {
			return
		}
		s := skipSpace(d, i+1)
		if i = valueEnd(d, s); i == s || !yield(key, d[s:i]) {
			return
		}
		if i = skipSpace(d, i); i >= len(d) || d[i] != ',' {
			return
		}
		i = skipSpace(d, i+1)
	}
}

func elements(d []byte, yield func(value []byte) bool) {
	if len(d) == 0 || d[0] != '[' {
		return
	}
	i := skipSpace(d, 1)
	for i < len(d) && d[i] != ']' {
		s := i
		if i = valueEnd(d, s); i == s || !yield(d[s:i]) {
			return
		}
		if i = skipSpace(d, i); i >= len(d) || d[i] != ',' {
			return
		}
		i = skipSpace(d, i+1)
	}
}

// bracketOrQuote marks the bytes that matter when skipping an array or
// object: its brackets, and the quotes of the strings inside, which may
// hold brackets of their own.
var bracketOrQuote = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// endsScalar marks the bytes that may follow a number or literal.
var endsScalar = [256]bool{',': true, '}': true, ']': true, ' ': true, '\t': true, '\n': true, '\r': true}

// valueEnd is the index just past the value starting at d[i], or len(d)
// if the value does not end.
func valueEnd(d []byte, i int) int {
	if i >= len(d) {
		return len(d)
	}
	switch d[i] {
	case '"':
		return stringEnd(d, i)
	case '{', '[':
		depth := 0
		for i < len(d) {
			switch d[i] {
			case '"':
				i = stringEnd(d, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			for i++; i < len(d) && !bracketOrQuote[d[i]]; i++ {
			}
		}
		return len(d)
	}
	for i < len(d) && !endsScalar[d[i]] {
		i++
	}
	return i
}

// stringEnd is the index just past the string whose opening quote is at
// d[i], or len(d) if it does not end. Strings are mostly short, where a
// loop beats bytes.IndexByte.
func stringEnd(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch d[i] {
		case '"':
			return i + 1
		case '\\':
			i++ // whatever is escaped, the next byte is not the closing quote
		}
	}
	return len(d)
}
