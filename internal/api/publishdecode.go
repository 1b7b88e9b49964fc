package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/sluicehq/sluice/internal/jsonscan"
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
	fieldCustomer
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
	case `"customer"`:
		return fieldCustomer
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
	if !jsonscan.Object(body, func(key, value []byte) bool {
		i := publishField(key)
		if i < 0 || spans[i] != nil {
			return false
		}
		spans[i] = value
		return true
	}) {
		return false
	}

	if s := spans[fieldPayload]; s != nil {
		in.Payload = s[:len(s):len(s)] // so an append cannot write over the rest of the body
	}
	var ok bool
	if s := spans[fieldType]; s != nil {
		if in.Type, ok = jsonscan.DecodeString(s); !ok {
			return false
		}
	}
	if s := spans[fieldIdempotencyKey]; s != nil {
		if in.IdempotencyKey, ok = jsonscan.DecodeString(s); !ok {
			return false
		}
	}
	if s := spans[fieldCustomer]; s != nil {
		if in.Customer, ok = jsonscan.DecodeString(s); !ok {
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

// plainSubjects decodes the usual subjects, tok being valid JSON: an array
// of objects whose members are "type" and "value", spelt exactly, with
// string values (the last one wins, as in encoding/json). It reports false
// for any other shape. Going through encoding/json would cost more than
// all the rest of the body.
func plainSubjects(tok []byte) ([]subjectInput, bool) {
	subjects := []subjectInput{} // not nil: encoding/json decodes [] as empty
	for elem := range jsonscan.Elements(tok) {
		if elem[0] != '{' {
			return nil, false
		}
		var s subjectInput
		for key, value := range jsonscan.Members(elem) {
			var ok bool
			switch string(key) {
			case `"type"`:
				s.Type, ok = jsonscan.DecodeString(value)
			case `"value"`:
				s.Value, ok = jsonscan.DecodeString(value)
			}
			if !ok {
				return nil, false
			}
		}
		subjects = append(subjects, s)
	}
	return subjects, true
}
