package subject_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/sluicehq/sluice/internal/subject"
	"github.com/sluicehq/sluice/internal/testpayload"
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

func FuzzEmails(f *testing.F) {
	f.Add([]byte(`{"a":{"b":["Ada@Example.com","x"]},"bob@example.org":1}`), 0)
	f.Add([]byte(`"contact: Ada <Ada@Example.com>, thanks"`), 1)
	f.Add([]byte(`["a@b","@example.com","user@","a@@b.com","x@localhost","name@example.c"]`), 0)
	f.Add([]byte(`{"e":"ada\u0040example.com"} x`), 0)
	f.Add([]byte(`"ada@example.com`), -3)
	f.Add([]byte(`["ädam@example.com","«bob@example.org»","a@b.com@c.com"]`), 2)
	f.Add([]byte(`[1.5e400, true, null, "carol@example.net..."]`), 100)
	f.Fuzz(func(t *testing.T, body []byte, max int) {
		got := subject.Emails(body, max)
		limit := max
		if limit <= 0 {
			limit = 100
		}
		if len(got) > limit {
			t.Fatalf("Emails returned %d addresses, max %d", len(got), limit)
		}
		seen := map[string]bool{}
		for _, addr := range got {
			checkAddress(t, addr)
			if seen[addr] {
				t.Fatalf("Emails returned %q twice", addr)
			}
			seen[addr] = true
		}
		if !json.Valid(body) {
			if got != nil {
				t.Fatalf("Emails(invalid JSON %q) = %q, want nil", body, got)
			}
			return
		}
		texts, err := testpayload.Strings(body)
		if err != nil {
			t.Fatalf("decoding valid JSON %q: %v", body, err)
		}
		for _, addr := range got {
			if !containsFold(texts, addr) {
				t.Fatalf("Emails(%q) returned %q, which is in no string or key", body, addr)
			}
		}
		// A string that is nothing but an address (give or take space) is
		// always found, unless max cut the list short.
		if len(got) < limit {
			for _, s := range texts {
				if addr := lowerASCII(strings.TrimSpace(s)); isAddress(addr) && !seen[addr] {
					t.Fatalf("Emails(%q) = %q, missed %q", body, got, addr)
				}
			}
		}
	})
}

func containsFold(texts []string, addr string) bool {
	for _, s := range texts {
		if strings.Contains(lowerASCII(s), addr) {
			return true
		}
	}
	return false
}

// lowerASCII lower-cases A-Z only, as Emails does; strings.ToLower would also
// fold look-alikes such as the Kelvin sign into ASCII.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
