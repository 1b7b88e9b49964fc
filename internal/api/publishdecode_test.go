package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sluicehq/sluice/internal/jsonscan"
	"github.com/sluicehq/sluice/internal/testpayload"
)

// noLimit is a body limit of none.
const noLimit = -1

// publishRequest is a request to POST /v1/events with body, limited to
// limit bytes as the handler limits it. A streamed body comes a byte at a
// time and without a Content-Length, as a slow client's might.
func publishRequest(body []byte, limit int64, streamed bool) *http.Request {
	var rd io.Reader = bytes.NewReader(body)
	r := &http.Request{Method: "POST", ContentLength: int64(len(body))}
	if streamed {
		rd, r.ContentLength = iotest.OneByteReader(rd), -1
	}
	r.Body = io.NopCloser(rd)
	if limit != noLimit {
		r.Body = http.MaxBytesReader(nil, r.Body, limit)
	}
	return r
}

// checkSameAsDecodeJSON fails unless decodePublish decodes body, limited to
// limit bytes, to the same fields and error as decodeJSON, and returns
// that error.
func checkSameAsDecodeJSON(t *testing.T, body []byte, limit int64) error {
	t.Helper()
	var want publishInput
	wantErr := decodeJSON(publishRequest(body, limit, true), &want)
	for _, streamed := range []bool{false, true} {
		var got publishInput
		err := decodePublish(publishRequest(body, limit, streamed), &got)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || reflect.TypeOf(err) != reflect.TypeOf(wantErr) {
			t.Fatalf("limit %d, streamed %v: error %v, decodeJSON's %v", limit, streamed, err, wantErr)
		}
		if got.Type != want.Type || got.IdempotencyKey != want.IdempotencyKey ||
			!bytes.Equal(got.Payload, want.Payload) || (got.Payload == nil) != (want.Payload == nil) ||
			!reflect.DeepEqual(got.Subjects, want.Subjects) {
			t.Fatalf("limit %d, streamed %v: decoded %#v, decodeJSON decoded %#v", limit, streamed, got, want)
		}
	}
	return wantErr
}

// nested is a body nested depth levels deep: the object, and arrays in its
// payload.
func nested(depth int) string {
	return `{"type":"a","payload":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// publishDecodeCases are bodies of POST /v1/events: fast is whether the
// fast pass decodes the body itself (checked only without a limit, as the
// fast pass never sees a body over it), err the error every decoding
// answers.
var publishDecodeCases = []struct {
	name  string
	body  string
	limit int64
	fast  bool
	err   string
}{
	{name: "typical", body: `{"type":"invoice.paid","payload":{"id":"inv_1","amount":4200,"email":"ada@example.com"},"idempotency_key":"k1","subjects":[{"type":"email","value":"ada@example.com"}]}`, fast: true},
	{name: "empty object", body: `{}`, fast: true},
	{name: "spaced", body: " \t\r\n{ \"type\" :\t\"a\" ,\n\"payload\" : [ 1 , { } , [ ] ] } \r\n", fast: true},
	{name: "scalar payloads", body: `{"payload":-0.5e+10,"type":"a"}`, fast: true},
	{name: "null payload", body: `{"type":"a","payload":null}`, fast: true},
	{name: "literals", body: `{"type":"a","payload":[true,false,null,0,-0,1E9,2.50,1e-3]}`, fast: true},
	{name: "escapes", body: `{"type":"a\u002eb\/c","payload":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00","idempotency_key":"\u0000"}`, fast: true},
	{name: "unicode", body: `{"type":"façade.😀","payload":"  é","idempotency_key":"ключ"}`, fast: true},
	{name: "invalid UTF-8", body: "{\"type\":\"a.\xff\",\"payload\":\"\xfe\xff\",\"idempotency_key\":\"\xc3\"}", fast: true},
	{name: "empty subjects", body: `{"type":"a","payload":1,"subjects":[]}`, fast: true},
	{name: "case-folded subject keys", body: `{"type":"a","payload":1,"subjects":[{"TYPE":"email","Value":"x"},null]}`, fast: true},
	{name: "nested payload", body: nested(jsonscan.MaxDepth - 1), fast: true},
	{name: "within the limit", body: `{"type":"a","payload":1}`, limit: 24, fast: true},

	{name: "null subjects", body: `{"type":"a","payload":1,"subjects":null}`},
	{name: "null type", body: `{"type":null,"payload":1}`},
	{name: "null body", body: `null`},
	{name: "case-folded keys", body: `{"TYPE":"a","Payload":{},"Idempotency_Key":"k","SUBJECTS":[]}`},
	{name: "unicode-folded key", body: `{"type":"a","payload":1,"ſubjects":[]}`},
	{name: "escaped key", body: `{"typ\u0065":"a","payload":1}`},
	{name: "duplicate keys", body: `{"type":"a","payload":1,"type":"b","payload":[2],"subjects":[{"type":"x"}],"subjects":[]}`},
	{name: "deeper than the fast pass goes", body: nested(jsonscan.MaxDepth + 1)},
	{name: "as deep as encoding/json goes", body: nested(10000)},

	{name: "empty", body: ``, err: "invalid: body: a JSON object is required"},
	{name: "only space", body: " \n", err: "invalid: body: a JSON object is required"},
	{name: "array", body: `[1]`, err: "invalid: body: must be a JSON object"},
	{name: "wrong types", body: `{"type":5,"payload":1,"subjects":"x"}`, err: "invalid: type: must be a string"},
	{name: "wrong subject type", body: `{"type":"a","subjects":[{"type":1}]}`, err: "invalid: subjects.type: must be a string"},
	{name: "subjects object", body: `{"type":"a","subjects":{}}`, err: "invalid: subjects: must be an array of objects"},
	{name: "unknown field", body: `{"type":"a","payload":1,"extra":true}`, err: `invalid: body: unknown field "extra"`},
	{name: "unknown subject field", body: `{"type":"a","subjects":[{"kind":"email"}]}`, err: `invalid: body: unknown field "kind"`},
	{name: "trailing object", body: `{"type":"a","payload":1} {"type":"b"}`, err: "invalid: body: must be a single JSON object"},
	{name: "trailing garbage", body: `{"type":"a","payload":1}]`, err: "invalid: body: must be a single JSON object"},
	{name: "truncated", body: `{"type":"a","payload":[1,`, err: "invalid: body: malformed JSON (it ends too early)"},
	{name: "trailing comma", body: `{"type":"a",}`, err: "invalid: body: malformed JSON at byte 13"},
	{name: "control character", body: "{\"type\":\"a\x01\"}", err: "invalid: body: malformed JSON at byte 11"},
	{name: "bad escape", body: `{"type":"\x"}`, err: "invalid: body: malformed JSON at byte 11"},
	{name: "short unicode escape", body: `{"type":"\u12"}`, err: "invalid: body: malformed JSON at byte 14"},
	{name: "leading zero", body: `{"payload":01}`, err: "invalid: body: malformed JSON at byte 13"},
	{name: "bare point", body: `{"payload":1.}`, err: "invalid: body: malformed JSON at byte 14"},
	{name: "bare exponent", body: `{"payload":1e}`, err: "invalid: body: malformed JSON at byte 14"},
	{name: "lone minus", body: `{"payload":-}`, err: "invalid: body: malformed JSON at byte 13"},
	{name: "plus", body: `{"payload":+1}`, err: "invalid: body: malformed JSON at byte 12"},
	{name: "short literal", body: `{"payload":tru}`, err: "invalid: body: malformed JSON at byte 15"},
	{name: "form feed as space", body: "{\"payload\":\f1}", err: "invalid: body: malformed JSON at byte 12"},
	{name: "byte order mark", body: "\ufeff{}", err: "invalid: body: malformed JSON at byte 1"},
	{name: "too deep", body: nested(10001), err: "invalid: body: malformed JSON at byte 10022"},
	{name: "over the limit", body: `{"type":"a","payload":1}`, limit: 23, err: "too_large: body: larger than 23 bytes"},
	{name: "space over the limit", body: `{"type":"a","payload":1}  `, limit: 25, err: "too_large: body: larger than 25 bytes"},
	{name: "malformed before the limit", body: `{"type":x,"payload":1}`, limit: 12, err: "invalid: body: malformed JSON at byte 9"},
}

func TestPublishDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range publishDecodeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			limit := tc.limit
			if limit == 0 {
				limit = noLimit
			}
			err := checkSameAsDecodeJSON(t, []byte(tc.body), limit)
			if got := fmt.Sprint(err); (err != nil || tc.err != "") && got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
			var in publishInput
			if fast := decodePublishFast([]byte(tc.body), &in); fast != tc.fast && tc.limit == 0 {
				t.Errorf("decoded by the fast pass: %v, want %v", fast, tc.fast)
			}
		})
	}
}

// Whatever the body and the limit, decodePublish decodes as decodeJSON does.
func FuzzPublishDecode(f *testing.F) {
	for _, tc := range publishDecodeCases {
		if len(tc.body) < 1000 {
			f.Add([]byte(tc.body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameAsDecodeJSON(t, body, noLimit)
		checkSameAsDecodeJSON(t, body, int64(len(body)/2))
		if len(body) > 0 {
			checkSameAsDecodeJSON(t, body, int64(len(body)-1))
		}
		// Arbitrary bytes rarely make a well-formed body, which the fast
		// pass decodes itself; as the value of a field they often do.
		for _, field := range []string{"payload", "type", "subjects"} {
			wrapped := slices.Concat([]byte(`{"idempotency_key":"k","`+field+`":`), body, []byte(`}`))
			checkSameAsDecodeJSON(t, wrapped, noLimit)
		}
	})
}

// resettableBody is a request body that can be read again.
type resettableBody struct{ bytes.Reader }

func (*resettableBody) Close() error { return nil }

func BenchmarkPublishDecode1KiB(b *testing.B) {
	body := []byte(`{"type":"invoice.paid","idempotency_key":"evt_1PqR2sT3uV4wX5yZ","payload":` + testpayload.StripeEvent +
		`,"subjects":[{"type":"email","value":"ada.lovelace@example.com"}]}`)
	if !json.Valid(body) {
		b.Fatal("the body is not valid JSON")
	}
	for _, bench := range []struct {
		name   string
		decode func(*http.Request, *publishInput) error
	}{
		{"old", func(r *http.Request, in *publishInput) error { return decodeJSON(r, in) }},
		{"new", decodePublish},
	} {
		b.Run(bench.name, func(b *testing.B) {
			rd := &resettableBody{}
			r := httptest.NewRequest("POST", "/v1/events", nil)
			r.Body, r.ContentLength = rd, int64(len(body))
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				var in publishInput
				if err := bench.decode(r, &in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
