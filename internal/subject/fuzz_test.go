package subject_test

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/sluicehq/sluice/internal/subject"
)

var (
	typeGrammar  = regexp.MustCompile(`^[a-z0-9_.-]+$`)
	phoneGrammar = regexp.MustCompile(`^\+?[0-9]+$`)
)

func FuzzNormalize(f *testing.F) {
	f.Add("email", " Ada@Example.COM ")
	f.Add("EMAIL", "\u00a0ada@example.com\n")
	f.Add("phone", "+1 (555) 010-9999")
	f.Add("phone", "+")
	f.Add("customer_id", "\tCus_123 ")
	f.Add("\u212Aey", "x")
	f.Add("email", "ȺȺȺ@EXAMPLE.COM")
	f.Add("user.id-2", "\xff")
	f.Add("", "")
	f.Add("email", "Ju\u0308rgen@XN--BCHER-KVA.example")
	f.Add("email", " Ada%40Example.com ")
	f.Fuzz(func(t *testing.T, typ, value string) {
		in := subject.Subject{Type: typ, Value: value}
		n, err := subject.Normalize(in)
		if err != nil {
			if !normalizeErrors[err.Error()] {
				t.Fatalf("Normalize(%q) error %q is not one of the fixed messages", in, err)
			}
			if n != (subject.Subject{}) {
				t.Fatalf("Normalize(%q) returned %q with an error", in, n)
			}
			return
		}
		if len(n.Type) > subject.MaxTypeLen || !typeGrammar.MatchString(n.Type) {
			t.Fatalf("Normalize(%q) type %q is not [a-z0-9_.-]{1,64}", in, n.Type)
		}
		if n.Value == "" || len(n.Value) > subject.MaxValueLen || !utf8.ValidString(n.Value) {
			t.Fatalf("Normalize(%q) value %q is empty, too long or not UTF-8", in, n.Value)
		}
		if strings.TrimSpace(n.Value) != n.Value {
			t.Fatalf("Normalize(%q) value %q is not trimmed", in, n.Value)
		}
		switch n.Type {
		case "email":
			if strings.ToLower(n.Value) != n.Value || !norm.NFC.IsNormalString(n.Value) {
				t.Fatalf("Normalize(%q) email %q is not lower-case in NFC", in, n.Value)
			}
		case "phone":
			if !phoneGrammar.MatchString(n.Value) {
				t.Fatalf("Normalize(%q) phone %q is not digits with an optional leading +", in, n.Value)
			}
		}
		again, err := subject.Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize not idempotent: %q → %q → %q, %v", in, n, again, err)
		}
		// Another spelling of the same subject lands on the same entry.
		padded, err := subject.Normalize(subject.Subject{Type: " " + strings.ToUpper(n.Type) + "\t", Value: "\u00a0\n" + n.Value + " \u3000"})
		if err != nil || padded != n {
			t.Fatalf("padded %q normalises to %q, %v; want %q", n, padded, err, n)
		}
		key := []byte("fuzz-subject-key")
		if !bytes.Equal(subject.Hash(key, n), subject.Hash(key, padded)) {
			t.Fatalf("Hash differs for one normalised subject %q", n)
		}
	})
}

// fuzzContentTypes are the content types FuzzEmails gives a body, one of
// each kind and some spellings: its kind byte picks one.
var fuzzContentTypes = []string{"", "application/json", "application/x-ndjson", "application/x-www-form-urlencoded",
	"text/plain", "application/xml", "application/octet-stream", "application/vnd.api+json; charset=utf-8",
	"TEXT/HTML", "Application/X-WWW-Form-URLEncoded;charset=UTF-8"}

// FuzzEmails holds Emails to the reference, on bodies of every kind.
// Seeds are in testdata/fuzz/FuzzEmails, one or more of each kind.
func FuzzEmails(f *testing.F) {
	f.Add([]byte(`{"a":{"b":["Ada@Example.com","x"]},"bob@example.org":1}`), uint8(1))
	f.Add([]byte("email=ada%40example.com&name=Ada+Lovelace"), uint8(3))
	f.Add([]byte("{\"e\":\"ada\\u0040example.com\"}\nbob@example.org"), uint8(2))
	f.Add([]byte(`<a href="mailto:ada@example.com">bob&#64;example.org</a>`), uint8(5))
	f.Add([]byte("请联系Jürgen@xn--bcher-kva.example谢谢"), uint8(4))
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		contentType := fuzzContentTypes[int(kind)%len(fuzzContentTypes)]
		got := subject.Emails(body, contentType)
		if want := referenceEmails(body, contentType); !slices.Equal(got, want) {
			t.Fatalf("Emails(%q, %q) = %q, the reference %q", body, contentType, got, want)
		}
		for _, addr := range got {
			if n, err := subject.Normalize(subject.Subject{Type: "email", Value: addr}); err != nil || n.Value != addr {
				t.Fatalf("Emails(%q, %q) returned %q, which normalises to %q, %v", body, contentType, addr, n.Value, err)
			}
		}
	})
}
