package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// writeJSON answers with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // this is an API, not a page: payloads come back as they went in
	_ = enc.Encode(v)        // a failed write means the client went away
}

// writeStored answers a publish (field "id") or an ingest ("event_id") of
// the event created: 202, or 200 with "duplicate": true for a repeat; an
// event whose payload is stored nowhere says so, and that it is not
// durable. It writes what writeJSON would, by hand, as these answers are
// on the hot path; an id it would have to escape, which Sluice never
// makes, goes through writeJSON.
func writeStored(w http.ResponseWriter, field string, created *sluice.EventCreated) {
	id, duplicate := created.Event.ID, created.Duplicate
	volatile := created.Storage == sluice.StorageNone && !duplicate
	status := http.StatusAccepted
	if duplicate {
		status = http.StatusOK
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			v := map[string]any{field: id}
			if duplicate {
				v["duplicate"] = true
			}
			if volatile {
				v["payload_storage"], v["durable"] = sluice.StorageNone, false
			}
			writeJSON(w, status, v)
			return
		}
	}
	b := make([]byte, 0, 96)
	b = append(b, `{"`...)
	b = append(b, field...)
	b = append(b, `":"`...)
	b = append(b, id...)
	b = append(b, '"')
	if duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	if volatile {
		b = append(b, `,"payload_storage":"none","durable":false`...)
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client went away
}

// list is the shape of every list answer. NextCursor is null on the last page.
type list[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// newList converts a page of items; Data is [] rather than null when empty.
func newList[S, T any](items []S, next string, convert func(S) T) list[T] {
	out := list[T]{Data: make([]T, len(items))}
	for i, it := range items {
		out.Data[i] = convert(it)
	}
	if next != "" {
		out.NextCursor = &next
	}
	return out
}

// maxLimit is the largest page a list returns.
const maxLimit = 500

// pageFrom reads ?limit= and ?cursor=: EINVALID for a limit that is not an
// integer from 1 to maxLimit, or a cursor that is not an id.
func pageFrom(r *http.Request) (sluice.Page, error) {
	q := r.URL.Query()
	p := sluice.Page{Limit: 50, Cursor: q.Get("cursor")}
	if p.Cursor != "" && !sluice.ValidID(p.Cursor) {
		return p, sluice.Errorf(sluice.EINVALID, "cursor: not a cursor this API gave; pass next_cursor as a list returned it")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, sluice.Errorf(sluice.EINVALID, "limit: must be an integer from 1 to %d", maxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// decodeJSON reads the request body as exactly one JSON object into v.
// Unknown fields are refused, so a misspelt field is an error rather than a
// silently ignored setting. Errors are EINVALID naming the field, or
// ETOOLARGE for a body over the limit.
func decodeJSON(r *http.Request, v any) error {
	return decodeJSONFrom(r.Body, v)
}

// decodeJSONFrom is decodeJSON reading from body.
func decodeJSONFrom(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return decodeError(err)
		}
		return sluice.Errorf(sluice.EINVALID, "body: must be a single JSON object")
	}
	return nil
}

// decodeError turns a decoding error into a user-facing one. It quotes the
// field name and the expected type, never the value sent.
func decodeError(err error) error {
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return sluice.Errorf(sluice.ETOOLARGE, "body: larger than %d bytes", tooLarge.Limit)
	}
	if syntax, ok := errors.AsType[*json.SyntaxError](err); ok {
		return sluice.Errorf(sluice.EINVALID, "body: malformed JSON at byte %d", syntax.Offset)
	}
	if in, ok := errors.AsType[*inputError](err); ok {
		return sluice.Errorf(sluice.EINVALID, "%s", in.msg)
	}
	if typ, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if typ.Field == "" {
			return sluice.Errorf(sluice.EINVALID, "body: must be a JSON object")
		}
		return sluice.Errorf(sluice.EINVALID, "%s: must be %s", typ.Field, describeType(typ.Type))
	}
	switch {
	case errors.Is(err, io.EOF):
		return sluice.Errorf(sluice.EINVALID, "body: a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return sluice.Errorf(sluice.EINVALID, "body: malformed JSON (it ends too early)")
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return sluice.Errorf(sluice.EINVALID, "body: unknown field %s", field)
	}
	return sluice.Errorf(sluice.EINVALID, "body: not valid JSON")
}

// inputError is a decoding error that names the field and what it must
// be itself, from a type's UnmarshalJSON; it never quotes the value.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// describeType names the JSON type a Go type is decoded from.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	default:
		return "an object"
	}
}
