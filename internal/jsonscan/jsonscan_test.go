package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/jsonscan"
	"github.com/sluicehq/sluice/internal/testpayload"
)

var validCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+3`, `true`, `false`, `null`,
	" \t\r\n{ \"a\" : [ 1 , { } , [ ] ] , \"b\" : \"\\\"}\\\\\" } \n",
	`{"a":1,"a":2}`, `{"a\u002eb":"\uD83D\uDE00"}`, "\"\xff\xc3\"",
	strings.Repeat("[", jsonscan.MaxDepth) + strings.Repeat("]", jsonscan.MaxDepth),

	``, ` `, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `1e`, `-`, `+1`, `tru`,
	"\"\x01\"", `"\x"`, `"\u12"`, `{} {}`, `{}]`, "\ufeff{}", "\f1",
	strings.Repeat("[", jsonscan.MaxDepth+1) + strings.Repeat("]", jsonscan.MaxDepth+1),
}

func TestValid(t *testing.T) {
	t.Parallel()
	for _, tc := range validCases {
		checkValid(t, []byte(tc))
	}
}

// checkValid fails t unless Valid and Object agree with encoding/json on
// data, as far as MaxDepth, and the iterators yield what encoding/json
// finds in it.
func checkValid(t *testing.T, data []byte) {
	t.Helper()
	got, want := jsonscan.Valid(data), json.Valid(data)
	if got != want && (got || !tooDeep(data)) {
		t.Fatalf("Valid(%q) = %v, json.Valid %v", data, got, want)
	}
	var keys, values [][]byte
	obj := jsonscan.Object(data, func(key, value []byte) bool {
		keys, values = append(keys, key), append(values, value)
		return true
	})
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if isObject := got && trimmed[0] == '{'; obj != isObject {
		t.Fatalf("Object(%q) = %v, want %v", data, obj, isObject)
	}
	if !got {
		return
	}
	var strs []string
	for tok := range jsonscan.Strings(data) {
		s, ok := jsonscan.DecodeString(tok)
		if !ok {
			t.Fatalf("Strings(%q) yields %q, not a string token", data, tok)
		}
		strs = append(strs, s)
	}
	wantStrs, err := testpayload.Strings(data)
	if err != nil {
		t.Fatalf("encoding/json cannot read valid %q: %v", data, err)
	}
	if !slices.Equal(strs, wantStrs) {
		t.Fatalf("Strings(%q) yields %q; encoding/json's tokens hold %q", data, strs, wantStrs)
	}
	switch trimmed[0] {
	case '{':
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		var gotKeys, gotValues [][]byte
		for k, v := range jsonscan.Members(trimmed) {
			gotKeys, gotValues = append(gotKeys, k), append(gotValues, v)
		}
		if !slices.EqualFunc(gotKeys, keys, bytes.Equal) || !slices.EqualFunc(gotValues, values, bytes.Equal) {
			t.Fatalf("Members(%q) yields %q, %q; Object found %q, %q", data, gotKeys, gotValues, keys, values)
		}
		last := map[string][]byte{}
		for i, k := range keys {
			s, ok := jsonscan.DecodeString(k)
			if !ok {
				t.Fatalf("DecodeString(%q) failed", k)
			}
			last[s] = values[i]
		}
		if len(last) != len(raw) {
			t.Fatalf("%q: %d distinct keys, encoding/json finds %d", data, len(last), len(raw))
		}
		for k, v := range raw {
			if !bytes.Equal(last[k], v) {
				t.Fatalf("%q: member %q is %q, encoding/json has %q", data, k, last[k], v)
			}
		}
	case '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		var elems []json.RawMessage
		for v := range jsonscan.Elements(trimmed) {
			elems = append(elems, v)
		}
		if !slices.EqualFunc(elems, raw, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			t.Fatalf("Elements(%q) yields %q, encoding/json %q", data, elems, raw)
		}
	case '"':
		var want string
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if s, ok := jsonscan.DecodeString(bytes.TrimRight(trimmed, " \t\r\n")); !ok || s != want {
			t.Fatalf("DecodeString(%q) = %q, %v; want %q", data, s, ok, want)
		}
	}
}

// tooDeep reports whether data nests deeper than MaxDepth, counting the
// brackets outside strings.
func tooDeep(data []byte) bool {
	depth, inString := 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '['):
			if depth++; depth > jsonscan.MaxDepth {
				return true
			}
		case !inString && (c == '}' || c == ']'):
			depth--
		}
	}
	return false
}

// The iterators never panic, even on text that is not valid.
func TestIteratorsOnInvalidText(t *testing.T) {
	t.Parallel()
	for _, tc := range validCases {
		for _, d := range [][]byte{[]byte(tc), []byte("{" + tc), []byte("[" + tc), []byte(`{"a":` + tc), []byte(`{"a\`)} {
			for range jsonscan.Members(d) {
			}
			for range jsonscan.Elements(d) {
			}
			for range jsonscan.Strings(d) {
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, tc := range validCases {
		f.Add([]byte(tc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkValid(t, data)
		checkValid(t, slices.Concat([]byte(`{"k":`), data, []byte(`,"k":[`), data, []byte(`]}`)))
		for range jsonscan.Members(data) {
		}
		for range jsonscan.Elements(data) {
		}
		for range jsonscan.Strings(data) {
		}
	})
}
