package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"unicode/utf8"
)

// decodePublish reads the body of POST /v1/events into in, answering exactly
// as decodeJSON would: the same fields and the same errors. encoding/json
// scans a payload twice with a slow state machine, so the common
// well-formed body is instead decoded in one pass over its bytes; any body
// that pass does not fully understand is left to decodeJSON's own logic.
func decodePublish(r *http.Request, in *publishInput) error {
	body, err := readBody(r.Body, r.ContentLength)
	if err != nil {
		// Replaying the bytes read and then the error lets the decoder stop
		// where it would have stopped reading the body itself: an oversize
		// body that is malformed early on is still a syntax error, not 413.
		return decodeJSONFrom(io.MultiReader(bytes.NewReader(body), errReader{err}), in)
	}
	if decodePublishFast(body, in) {
		return nil
	}
	*in = publishInput{} // the fast pass may have set fields before giving up
	return decodeJSONFrom(bytes.NewReader(body), in)
}

// maxBodyHint caps the buffer allocated up front for a Content-Length,
// which the client chooses: the body limit still applies as it is read.
const maxBodyHint = 1 << 20

// readBody reads body to its end. It returns what it read along with any
// error but io.EOF.
func readBody(body io.Reader, contentLength int64) ([]byte, error) {
	size := 512
	if contentLength > 0 && contentLength < maxBodyHint {
		size = int(contentLength) + 1 // room to read the EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// The members of publishInput, as indexes into the spans decodePublishFast
// collects.
const (
	fieldType = iota
	fieldPayload
	fieldIdempotencyKey
	fieldSubjects
	numFields
)

// publishField is the index of the member named by key, a string token
// with its quotes, or -1. Only the exact spelling counts: encoding/json
// would also take "TYPE" or "typ\u0065", which the fast pass leaves to it.
func publishField(key []byte) int {
	switch string(key) {
	case `"type"`:
		return fieldType
	case `"payload"`:
		return fieldPayload
	case `"idempotency_key"`:
		return fieldIdempotencyKey
	case `"subjects"`:
		return fieldSubjects
	}
	return -1
}

// decodePublishFast decodes body into in and reports true when body is
// valid JSON, one object with only whitespace around it, whose members are
// among publishInput's, each spelt exactly, at most once, with a value of
// its field's type (and not null). For anything else it reports false,
// though encoding/json may well accept the body.
func decodePublishFast(body []byte, in *publishInput) bool {
	var spans [numFields][]byte
	v := validator{data: body}
	v.skipSpace()
	if !v.at('{') || !v.object(1, func(key, value []byte) bool {
		i := publishField(key)
		if i < 0 || spans[i] != nil {
			return false
		}
		spans[i] = value
		return true
	}) {
		return false
	}
	v.skipSpace()
	if v.pos != len(body) {
		return false
	}

	if s := spans[fieldPayload]; s != nil {
		in.Payload = s[:len(s):len(s)] // so an append cannot write over the rest of the body
	}
	var ok bool
	if s := spans[fieldType]; s != nil {
		if in.Type, ok = decodeString(s); !ok {
			return false
		}
	}
	if s := spans[fieldIdempotencyKey]; s != nil {
		if in.IdempotencyKey, ok = decodeString(s); !ok {
			return false
		}
	}
	if s := spans[fieldSubjects]; s != nil {
		if in.Subjects, ok = decodeSubjects(s); !ok {
			return false
		}
	}
	return true
}

// decodeString decodes a JSON string token as encoding/json does, reporting
// false for any other value.
func decodeString(tok []byte) (string, bool) {
	if tok[0] != '"' {
		return "", false
	}
	// encoding/json replaces invalid UTF-8 and resolves escapes; only
	// strings needing neither are copied as they are.
	if raw := tok[1 : len(tok)-1]; bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	var s string
	err := json.Unmarshal(tok, &s)
	return s, err == nil
}

// decodeSubjects decodes a JSON array of subjects as decodeJSON would,
// reporting false for any other value or any error, whose exact message
// only decoding the whole body gives.
func decodeSubjects(tok []byte) ([]subjectInput, bool) {
	if tok[0] != '[' {
		return nil, false
	}
	if subjects, ok := plainSubjects(tok); ok {
		return subjects, true
	}
	dec := json.NewDecoder(bytes.NewReader(tok))
	dec.DisallowUnknownFields()
	var subjects []subjectInput
	err := dec.Decode(&subjects)
	return subjects, err == nil
}

// plainSubjects decodes the usual subjects, valid JSON: an array of objects
// whose members are "type" and "value", spelt exactly, with string values
// (the last one wins, as in encoding/json). It reports false for any
// other shape. Going through encoding/json would cost more than all the
// rest of the body.
func plainSubjects(tok []byte) ([]subjectInput, bool) {
	subjects := []subjectInput{} // not nil: encoding/json decodes [] as empty
	v := validator{data: tok, pos: 1}
	v.skipSpace()
	if v.skip(']') {
		return subjects, true
	}
	for {
		var s subjectInput
		if !v.at('{') || !v.object(1, func(key, value []byte) bool {
			var ok bool
			switch string(key) {
			case `"type"`:
				s.Type, ok = decodeString(value)
			case `"value"`:
				s.Value, ok = decodeString(value)
			}
			return ok
		}) {
			return nil, false
		}
		subjects = append(subjects, s)
		v.skipSpace()
		if !v.skip(',') {
			return subjects, v.skip(']')
		}
		v.skipSpace()
	}
}

// maxFastDepth is how deeply the fast pass lets arrays and objects nest.
// encoding/json refuses more than 10000 levels; deep bodies are left to it
// rather than matching that limit, which also keeps the recursion shallow.
const maxFastDepth = 1000

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

func (v *validator) skipSpace() {
	for v.pos < len(v.data) {
		switch v.data[v.pos] {
		case ' ', '\t', '\n', '\r':
			v.pos++
		default:
			return
		}
	}
}

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
	if depth > maxFastDepth {
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
	if depth > maxFastDepth {
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
