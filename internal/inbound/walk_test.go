package inbound_test

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inbound"
	"github.com/sluicehq/sluice/internal/testpayload"
)

// oldLookup is Message.Lookup for JSON paths as it was before lookups
// walked the body's bytes: decode it all, then follow the path through the
// tree. It is the reference the walk must match.
func oldLookup(body []byte, path string) (string, bool) {
	if path == "" {
		return "", false
	}
	root, ok := oldDecode(body)
	if !ok {
		return "", false
	}
	return oldWalk(root, path)
}

// oldDecode is the old Message's parse.
func oldDecode(body []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return root, true
}

// oldWalk is the old Message's walk through the decoded body.
func oldWalk(cur any, path string) (string, bool) {
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" {
			return "", false
		}
		switch c := cur.(type) {
		case map[string]any:
			var ok bool
			if cur, ok = c[seg]; !ok {
				return "", false
			}
		case []any:
			if strings.Trim(seg, "0123456789") != "" {
				return "", false
			}
			i, err := strconv.Atoi(seg)
			if err != nil || i >= len(c) {
				return "", false
			}
			cur = c[i]
		default:
			return "", false
		}
	}
	switch x := cur.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// checkLookup fails t unless a Message over body looks path up as
// oldLookup does, and returns what it found.
func checkLookup(t *testing.T, body []byte, path string) (string, bool) {
	t.Helper()
	got, ok := inbound.NewMessage(nil, body).Lookup(path)
	want, wantOK := oldLookup(body, path)
	if got != want || ok != wantOK {
		// The body is the test's own or the fuzzer's, never a webhook's.
		t.Fatalf("body %q: Lookup(%q) = %q, %v; the decoding lookup gives %q, %v", body, path, got, ok, want, wantOK)
	}
	return got, ok
}

// deep is a body whose value at path "a.a.…" (depth segments) is "x".
func deep(depth int) string {
	return strings.Repeat(`{"a":`, depth) + `"x"` + strings.Repeat("}", depth)
}

// walkCases are bodies and paths with the value Lookup finds.
var walkCases = []struct {
	name, body, path, want string
	ok                     bool
}{
	{"string", `{"type":"invoice.paid"}`, "type", "invoice.paid", true},
	{"nested", `{"data":{"object":{"id":"in_1","email":"ada@example.com"}}}`, "data.object.email", "ada@example.com", true},
	{"duplicate keys, last wins", `{"k":"a","k":"b"}`, "k", "b", true},
	{"duplicate objects, last wins", `{"d":{"x":"1"},"d":{"y":"2"}}`, "d.x", "", false},
	{"duplicate after a null", `{"k":"a","k":null}`, "k", "", false},
	{"escaped duplicate key", `{"k":"a","\u006b":"b"}`, "k", "b", true},
	{"escaped key", `{"typ\u0065":"a"}`, "type", "a", true},
	{"escaped dot in key", `{"a\u002eb":"x"}`, "a.b", "", false},
	{"escaped quote in key", `{"a\"b":"x","c":"y"}`, `a"b`, "x", true},
	{"backslash-ended key", `{"a\\":"x","c":"y"}`, `a\`, "x", true},
	{"key with invalid UTF-8", "{\"k\xff\":\"x\"}", "k\ufffd", "x", true},
	{"path with invalid UTF-8", "{\"k\xff\":\"x\"}", "k\xff", "", false},
	{"unicode key", `{"名前":"ユニコード"}`, "名前", "ユニコード", true},
	{"escapes in value", `{"v":"\"\\\/\b\f\n\r\t\u00e9"}`, "v", "\"\\/\b\f\n\r\té", true},
	{"surrogate pair", `{"v":"\uD83D\uDE00"}`, "v", "😀", true},
	{"lone surrogate", `{"v":"\ud800x"}`, "v", "\ufffdx", true},
	{"invalid UTF-8 value", "{\"v\":\"a\xff\xc3\"}", "v", "a\ufffd\ufffd", true},
	{"escaped quote in value", `{"v":"a\"}","w":"z"}`, "w", "z", true},
	{"brackets in strings", `{"a":{"s":"}]{["},"b":"y"}`, "b", "y", true},
	{"empty string", `{"v":""}`, "v", "", true},
	{"number", `{"n":4200}`, "n", "4200", true},
	{"exponent", `{"n":1e5}`, "n", "1e5", true},
	{"negative zero", `{"n":-0}`, "n", "-0", true},
	{"fraction", `{"n":-0.0e-2}`, "n", "-0.0e-2", true},
	{"huge number", `{"n":1e999}`, "n", "1e999", true},
	{"long integer", `{"n":12345678901234567890123}`, "n", "12345678901234567890123", true},
	{"true", `{"b":true}`, "b", "true", true},
	{"false", `{"b":false}`, "b", "false", true},
	{"null", `{"z":null}`, "z", "", false},
	{"object", `{"o":{"a":1}}`, "o", "", false},
	{"array", `{"a":[1]}`, "a", "", false},
	{"missing", `{"a":1}`, "b", "", false},
	{"through a scalar", `{"a":"x"}`, "a.b", "", false},
	{"through null", `{"a":null}`, "a.b", "", false},
	{"empty segment", `{"a":{"":{"b":"x"}}}`, "a..b", "", false},
	{"empty key", `{"":"x"}`, "", "", false},
	{"trailing dot", `{"a":"x"}`, "a.", "", false},
	{"empty object", `{}`, "a", "", false},
	{"index", `{"items":[{"email":"a@x"},{"email":"b@x"}]}`, "items.1.email", "b@x", true},
	{"index out of range", `{"items":[1,2]}`, "items.2", "", false},
	{"index in empty array", `{"items":[]}`, "items.0", "", false},
	{"leading zero index", `{"items":["a","b"]}`, "items.01", "b", true},
	{"huge index", `{"items":["a"]}`, "items.99999999999999999999", "", false},
	{"large index", `{"items":["a"]}`, "items.9223372036854775807", "", false},
	{"negative index", `{"items":["a"]}`, "items.-1", "", false},
	{"signed index", `{"items":["a","b"]}`, "items.+1", "", false},
	{"non-digit index", `{"items":["a"]}`, "items.x", "", false},
	{"digit key", `{"0":"zero"}`, "0", "zero", true},
	{"nested arrays", `[[1,[2,"x"]],3]`, "0.1.1", "x", true},
	{"top-level array", ` [{"type":"a"},{"type":"b"}] `, "1.type", "b", true},
	{"top-level string", `"x"`, "a", "", false},
	{"top-level number", `5`, "0", "", false},
	{"whitespace everywhere", " \t\r\n{ \"a\" :\n[ 1 ,\t{ \"b\" : \"x\" } ] , \"c\" : -1.5E+3 } \r\n", "a.1.b", "x", true},
	{"whitespace around a number", "{ \"c\" : -1.5E+3 \n}", "c", "-1.5E+3", true},
	{"deep", deep(500), strings.Repeat("a.", 499) + "a", "x", true},
	{"deeper than the scanner goes", deep(1500), strings.Repeat("a.", 1499) + "a", "x", true},
	{"trailing garbage", `{"type":"a"} x`, "type", "", false},
	{"trailing value", `{"type":"a"}{"type":"b"}`, "type", "", false},
	{"trailing comma", `{"type":"a",}`, "type", "", false},
	{"truncated", `{"type":"a"`, "type", "", false},
	{"not JSON", `type=a`, "type", "", false},
	{"empty body", ``, "type", "", false},
	{"byte order mark", "\ufeff{\"type\":\"a\"}", "type", "", false},
	{"control character", "{\"type\":\"a\x01\"}", "type", "", false},
}

func TestLookupWalk(t *testing.T) {
	t.Parallel()
	for _, tc := range walkCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := checkLookup(t, []byte(tc.body), tc.path)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// Lookups on one Message from many goroutines agree (and race detector
// runs find no race between the check and the fallback decoding).
func TestLookupConcurrent(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"a":"x","\u0062":"y"}`, deep(1500)} {
		m := inbound.NewMessage(nil, []byte(body))
		done := make(chan struct{})
		for range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for _, path := range []string{"a", "b", "c"} {
					got, ok := m.Lookup(path)
					if want, wantOK := oldLookup([]byte(body), path); got != want || ok != wantOK {
						t.Errorf("Lookup(%q) = %q, %v; want %q, %v", path, got, ok, want, wantOK)
					}
				}
			}()
		}
		for range 4 {
			<-done
		}
	}
}

// Whatever the body and path, Lookup answers as the decoding lookup does.
func FuzzMessageLookup(f *testing.F) {
	for _, tc := range walkCases {
		if len(tc.body) < 1000 {
			f.Add(tc.path, []byte(tc.body))
		}
	}
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		checkLookup(t, body, path)
		// Arbitrary bytes rarely make valid JSON; as a value inside some
		// they often do, and then the walk has work to do.
		for _, wrapped := range [][]byte{
			slices.Concat([]byte(`{"k":`), body, []byte(`}`)),
			slices.Concat([]byte(`{"a":"b","k":{"k":`), body, []byte(`},"k":`), body, []byte(`,"z":[1]}`)),
			slices.Concat([]byte(`[0,`), body, []byte(`,`), body, []byte(`]`)),
			slices.Concat([]byte(`{"k":[`), body, []byte(`],"x":"y"}`)),
		} {
			checkLookup(t, wrapped, path)
			checkLookup(t, wrapped, "k."+path)
			checkLookup(t, wrapped, "1."+path)
			checkLookup(t, wrapped, "k.0."+path)
			checkLookup(t, wrapped, "k.k")
			checkLookup(t, wrapped, "x")
		}
	})
}

// The lookups ingesting a Stripe event makes: its type, its id and one
// subject, on a new Message each time as each request has its own.
func BenchmarkMessageLookup1KiB(b *testing.B) {
	body := []byte(testpayload.StripeEvent)
	paths := []string{"type", "id", "data.object.customer_email"}
	b.Run("old", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			root, _ := oldDecode(body)
			for _, path := range paths {
				if _, ok := oldWalk(root, path); !ok {
					b.Fatalf("%s not found", path)
				}
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			m := inbound.NewMessage(nil, body)
			for _, path := range paths {
				if _, ok := m.Lookup(path); !ok {
					b.Fatalf("%s not found", path)
				}
			}
		}
	})
}
