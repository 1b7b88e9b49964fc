// Package jsonscan checks and walks JSON text in place, without decoding it
// into values: a one-pass validator with the grammar of encoding/json, and
// iterators over the members, elements and strings of text it has
// validated.
package jsonscan

// MaxDepth is how deeply Valid and Object let arrays and objects nest.
// encoding/json refuses more than 10000 levels; deeper text is left to it
// rather than matching that limit, which also keeps the recursion shallow.
const MaxDepth = 1000

// Valid reports whether data is exactly one JSON value, nested at most
// MaxDepth deep, with only whitespace around it. Where it reports true,
// json.Valid does too; where it reports false, json.Valid does too unless
// data nests deeper than MaxDepth.
func Valid(data []byte) bool {
	v := validator{data: data}
	v.skipSpace()
	if !v.value(0) {
		return false
	}
	v.skipSpace()
	return v.pos == len(data)
}

// Object reports whether data is exactly one JSON object, nested at most
// MaxDepth deep, with only whitespace around it, calling member with each
// member's key (a string token, quotes included) and value token, in
// order, as it goes. When member reports false, Object stops and reports
// false too, so a caller can give up on an object it does not understand.
func Object(data []byte, member func(key, value []byte) bool) bool {
	v := validator{data: data}
	v.skipSpace()
	if !v.at('{') || !v.object(1, member) {
		return false
	}
	v.skipSpace()
	return v.pos == len(data)
}

// validator checks JSON text with the grammar of encoding/json: RFC 8259,
// with any byte from 0x20 up, even invalid UTF-8, allowed in a string.
// Each method checks one construct starting at pos, moves pos past it and
// reports whether it was valid.
type validator struct {
	data []byte
	pos  int
}

func (v *validator) at(c byte) bool { return v.pos < len(v.data) && v.data[v.pos] == c }

// skip moves past c if it is next.
func (v *validator) skip(c byte) bool {
	if v.at(c) {
		v.pos++
		return true
	}
	return false
}

func (v *validator) skipSpace() { v.pos = skipSpace(v.data, v.pos) }

// value checks the value starting at pos, nested in depth containers.
func (v *validator) value(depth int) bool {
	if v.pos >= len(v.data) {
		return false
	}
	switch c := v.data[v.pos]; {
	case c == '{':
		return v.object(depth+1, nil)
	case c == '[':
		return v.array(depth + 1)
	case c == '"':
		return v.string()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	case c == '-' || isDigit(c):
		return v.number()
	}
	return false
}

// object checks the object at pos, at nesting level depth. member, when
// set, gets each key token and value, and stops the check by reporting
// false.
func (v *validator) object(depth int, member func(key, value []byte) bool) bool {
	if depth > MaxDepth {
		return false
	}
	v.pos++ // {
	v.skipSpace()
	if v.skip('}') {
		return true
	}
	for {
		key := v.pos
		if !v.at('"') || !v.string() {
			return false
		}
		keyEnd := v.pos
		v.skipSpace()
		if !v.skip(':') {
			return false
		}
		v.skipSpace()
		start := v.pos
		if !v.value(depth) {
			return false
		}
		if member != nil && !member(v.data[key:keyEnd], v.data[start:v.pos]) {
			return false
		}
		v.skipSpace()
		if !v.skip(',') {
			return v.skip('}')
		}
		v.skipSpace()
	}
}

// array checks the array at pos, at nesting level depth.
func (v *validator) array(depth int) bool {
	if depth > MaxDepth {
		return false
	}
	v.pos++ // [
	v.skipSpace()
	if v.skip(']') {
		return true
	}
	for {
		if !v.value(depth) {
			return false
		}
		v.skipSpace()
		if !v.skip(',') {
			return v.skip(']')
		}
		v.skipSpace()
	}
}

// plainInString marks the bytes a string may hold as they are: all but
// the quote, the backslash and control characters.
var plainInString = func() (plain [256]bool) {
	for c := 0x20; c < len(plain); c++ {
		plain[c] = c != '"' && c != '\\'
	}
	return plain
}()

// string checks the string at pos.
func (v *validator) string() bool {
	d, i := v.data, v.pos+1
	for {
		for i < len(d) && plainInString[d[i]] {
			i++
		}
		switch {
		case i >= len(d):
			return false
		case d[i] == '"':
			v.pos = i + 1
			return true
		case d[i] == '\\':
			n := escapeLen(d[i+1:])
			if n == 0 {
				return false
			}
			i += 1 + n
		default:
			return false // a control character
		}
	}
}

// escapeLen is the length of the escape that follows a backslash at the
// start of d, or 0 if it is not one.
func escapeLen(d []byte) int {
	if len(d) == 0 {
		return 0
	}
	switch d[0] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 1
	case 'u':
		if len(d) < 5 {
			return 0
		}
		for _, c := range d[1:5] {
			if !isDigit(c) && !('a' <= c && c <= 'f') && !('A' <= c && c <= 'F') {
				return 0
			}
		}
		return 5
	}
	return 0
}

// number checks the number at pos: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *validator) number() bool {
	d, i := v.data, v.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && isDigit(d[i]):
		i = skipDigits(d, i)
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		j := skipDigits(d, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := skipDigits(d, i)
		if j == i {
			return false
		}
		i = j
	}
	v.pos = i
	return true
}

// literal checks that word (true, false or null) is at pos.
func (v *validator) literal(word string) bool {
	if end := v.pos + len(word); end > len(v.data) || string(v.data[v.pos:end]) != word {
		return false
	}
	v.pos += len(word)
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipDigits is the index of the first byte from i on that is not a digit.
func skipDigits(d []byte, i int) int {
	for i < len(d) && isDigit(d[i]) {
		i++
	}
	return i
}

// skipSpace is the index of the first byte from i on that is not JSON
// whitespace.
func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
