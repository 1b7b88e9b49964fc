package subject_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/subject"
)

// normalizeErrors are every message Normalize may return: a fixed set, so no
// message can carry a value.
var normalizeErrors = map[string]bool{
	"subject type: required":                                 true,
	"subject type: at most 64 bytes":                         true,
	"subject type: only letters, digits, '_', '.' and '-'":   true,
	"subject type: not valid UTF-8":                          true,
	"subject value: required":                                true,
	"subject value: at most 1024 bytes":                      true,
	"subject value: not valid UTF-8":                         true,
	"subject value: a phone number needs at least one digit": true,
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   subject.Subject
		want subject.Subject
	}{
		{"email spaces and case", subject.Subject{Type: "email", Value: " Ada@Example.COM "}, subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"email tabs and newlines", subject.Subject{Type: "email", Value: "\t\r\nada@example.com\n\t"}, subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"email NBSP", subject.Subject{Type: "email", Value: "\u00a0ada@example.com\u00a0"}, subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"email other Unicode spaces", subject.Subject{Type: "email", Value: "\u2003\u3000ada@example.com\u2028\u0085"}, subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"email non-ASCII lower-cased", subject.Subject{Type: "email", Value: "ÀDA@EXAMPLE.COM"}, subject.Subject{Type: "email", Value: "àda@example.com"}},
		{"email not validated", subject.Subject{Type: "email", Value: "Not An Address"}, subject.Subject{Type: "email", Value: "not an address"}},
		{"email NFC", subject.Subject{Type: "email", Value: "Ju\u0308rgen@example.de"}, subject.Subject{Type: "email", Value: "jürgen@example.de"}},
		{"email U-label", subject.Subject{Type: "email", Value: "ada@BÜCHER.example"}, subject.Subject{Type: "email", Value: "ada@xn--bcher-kva.example"}},
		{"email A-label", subject.Subject{Type: "email", Value: "ada@XN--BCHER-KVA.example"}, subject.Subject{Type: "email", Value: "ada@xn--bcher-kva.example"}},
		{"email U-labels", subject.Subject{Type: "email", Value: "ada@例え.テスト"}, subject.Subject{Type: "email", Value: "ada@xn--r8jz45g.xn--zckzah"}},
		{"email A-label in the local part kept", subject.Subject{Type: "email", Value: "xn--bcher-kva@example.com"}, subject.Subject{Type: "email", Value: "xn--bcher-kva@example.com"}},
		{"email A-label of upper case lower-cased", subject.Subject{Type: "email", Value: "ada@xn--wca.example"}, subject.Subject{Type: "email", Value: "ada@xn--tda.example"}},
		{"email percent-encoded", subject.Subject{Type: "email", Value: " Ada%40Example.com "}, subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"email percent-encoded non-ASCII", subject.Subject{Type: "email", Value: "J%C3%BCrgen%40example.de"}, subject.Subject{Type: "email", Value: "jürgen@example.de"}},
		{"email percent-encoded space trimmed", subject.Subject{Type: "email", Value: "%20ada%40example.com%0A"}, subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"email percent kept with an at sign", subject.Subject{Type: "email", Value: "a%40b@example.com"}, subject.Subject{Type: "email", Value: "a%40b@example.com"}},
		{"email percent kept when not UTF-8", subject.Subject{Type: "email", Value: "j%FCrgen%40example.de"}, subject.Subject{Type: "email", Value: "j%fcrgen%40example.de"}},
		{"type trimmed and lower-cased", subject.Subject{Type: " EMAIL\t", Value: "ada@example.com"}, subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"phone punctuation", subject.Subject{Type: "phone", Value: "+1 (555) 010-9999"}, subject.Subject{Type: "phone", Value: "+15550109999"}},
		{"phone dots, no plus", subject.Subject{Type: "phone", Value: " 555.010.9999 "}, subject.Subject{Type: "phone", Value: "5550109999"}},
		{"phone plus after trimming", subject.Subject{Type: "Phone", Value: "\u00a0+44 20 7946 0958"}, subject.Subject{Type: "phone", Value: "+442079460958"}},
		{"phone inner plus dropped", subject.Subject{Type: "phone", Value: "1+2 ext. 3"}, subject.Subject{Type: "phone", Value: "123"}},
		{"phone second plus dropped", subject.Subject{Type: "phone", Value: "++1 555"}, subject.Subject{Type: "phone", Value: "+1555"}},
		{"customer id keeps case", subject.Subject{Type: "customer_id", Value: " Cus_AbC123 "}, subject.Subject{Type: "customer_id", Value: "Cus_AbC123"}},
		{"customer id keeps inner space", subject.Subject{Type: "customer_id", Value: "\tcus 1\u00a0 2\n"}, subject.Subject{Type: "customer_id", Value: "cus 1\u00a0 2"}},
		{"user id", subject.Subject{Type: "USER_ID", Value: "u-42"}, subject.Subject{Type: "user_id", Value: "u-42"}},
		{"type punctuation", subject.Subject{Type: "Acme.Account-ID_v2", Value: "7"}, subject.Subject{Type: "acme.account-id_v2", Value: "7"}},
		{"longest type", subject.Subject{Type: strings.Repeat("T", 64), Value: "x"}, subject.Subject{Type: strings.Repeat("t", 64), Value: "x"}},
		{"longest value", subject.Subject{Type: "user_id", Value: " " + strings.Repeat("v", 1024) + " "}, subject.Subject{Type: "user_id", Value: strings.Repeat("v", 1024)}},
	} {
		got, err := subject.Normalize(tc.in)
		if err != nil {
			t.Errorf("%s: Normalize(%q) error %v", tc.name, tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: Normalize(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
		again, err := subject.Normalize(got)
		if err != nil || again != got {
			t.Errorf("%s: Normalize not idempotent: %q → %q, %v", tc.name, got, again, err)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	t.Parallel()
	const secret = "ada.lovelace@example.com"
	for _, tc := range []struct {
		name string
		in   subject.Subject
		want string
	}{
		{"empty type", subject.Subject{Type: "", Value: secret}, "subject type: required"},
		{"blank type", subject.Subject{Type: " \t\u00a0", Value: secret}, "subject type: required"},
		{"long type", subject.Subject{Type: strings.Repeat("a", 65), Value: secret}, "subject type: at most 64 bytes"},
		{"type with space", subject.Subject{Type: "e mail", Value: secret}, "subject type: only letters, digits, '_', '.' and '-'"},
		{"type with slash", subject.Subject{Type: "email/" + secret, Value: secret}, "subject type: only letters, digits, '_', '.' and '-'"},
		{"non-ASCII type", subject.Subject{Type: "émail", Value: secret}, "subject type: only letters, digits, '_', '.' and '-'"},
		{"Kelvin sign type", subject.Subject{Type: "\u212Aey", Value: secret}, "subject type: only letters, digits, '_', '.' and '-'"},
		{"NUL in type", subject.Subject{Type: "email\x00", Value: secret}, "subject type: only letters, digits, '_', '.' and '-'"},
		{"invalid UTF-8 type", subject.Subject{Type: "email\xff", Value: secret}, "subject type: not valid UTF-8"},
		{"empty value", subject.Subject{Type: "email", Value: ""}, "subject value: required"},
		{"blank value", subject.Subject{Type: "email", Value: " \t\r\n\u00a0\u3000"}, "subject value: required"},
		{"long value", subject.Subject{Type: "customer_id", Value: secret + strings.Repeat("x", 1025-len(secret))}, "subject value: at most 1024 bytes"},
		{"value long once lower-cased", subject.Subject{Type: "email", Value: secret + strings.Repeat("Ⱥ", 500)}, "subject value: at most 1024 bytes"},
		{"invalid UTF-8 value", subject.Subject{Type: "email", Value: secret + "\xc3"}, "subject value: not valid UTF-8"},
		{"phone without digits", subject.Subject{Type: "phone", Value: "call ada.lovelace"}, "subject value: a phone number needs at least one digit"},
		{"phone only plus", subject.Subject{Type: "phone", Value: " + "}, "subject value: a phone number needs at least one digit"},
	} {
		got, err := subject.Normalize(tc.in)
		if err == nil {
			t.Errorf("%s: Normalize = %q, want error %q", tc.name, got, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.want)
		}
		if got != (subject.Subject{}) {
			t.Errorf("%s: returned %q with the error, want the zero Subject", tc.name, got)
		}
		if strings.Contains(err.Error(), "lovelace") || strings.Contains(err.Error(), "ada.") {
			t.Errorf("%s: error %q shows the value", tc.name, err)
		}
		if !normalizeErrors[err.Error()] {
			t.Errorf("%s: error %q is not in the known set", tc.name, err)
		}
	}
}

func mustNormalize(t *testing.T, typ, value string) subject.Subject {
	t.Helper()
	s, err := subject.Normalize(subject.Subject{Type: typ, Value: value})
	if err != nil {
		t.Fatalf("Normalize(%q, %q): %v", typ, value, err)
	}
	return s
}

func TestHash(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0x5a}, 32)
	other := bytes.Repeat([]byte{0xa5}, 32)
	ada := mustNormalize(t, "email", "ada@example.com")

	got := subject.Hash(key, ada)
	if len(got) != sha256.Size {
		t.Fatalf("len(Hash) = %d, want %d", len(got), sha256.Size)
	}
	if again := subject.Hash(key, ada); !bytes.Equal(again, got) {
		t.Errorf("Hash not deterministic: %x then %x", got, again)
	}

	// The index is persistent, so the construction is pinned.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("email\x00ada@example.com"))
	if want := m.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("Hash = %x, want HMAC-SHA256(key, type NUL value) = %x", got, want)
	}

	padded := mustNormalize(t, " Email ", " Ada@Example.COM ")
	if h := subject.Hash(key, padded); !bytes.Equal(h, got) {
		t.Errorf("Hash(Normalize(\" Ada@Example.COM \")) = %x, want %x as for ada@example.com", h, got)
	}

	for _, tc := range []struct {
		name string
		key  []byte
		s    subject.Subject
	}{
		{"other key", other, ada},
		{"other type", key, mustNormalize(t, "user_id", "ada@example.com")},
		{"other value", key, mustNormalize(t, "email", "bob@example.com")},
		{"type/value split moved", key, subject.Subject{Type: "emaila", Value: "da@example.com"}},
		{"empty key", nil, ada},
	} {
		if h := subject.Hash(tc.key, tc.s); bytes.Equal(h, got) {
			t.Errorf("%s: Hash = %x, same as for ada@example.com under key", tc.name, h)
		}
	}
}

// A domain's labels are written as A-labels, whichever way they come:
// RFC 3492's and IANA's examples as U-labels and as A-labels in capitals
// give the A-label, and what is not Punycode is kept as it is.
func TestNormalizeALabels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ uLabel, aLabel string }{
		{"bücher", "xn--bcher-kva"},
		{"MÜNCHEN", "xn--mnchen-3ya"},
		{"рф", "xn--p1ai"},
		{"中国", "xn--fiqs8s"},
		{"例え", "xn--r8jz45g"},
		{"テスト", "xn--zckzah"},
		{"他们为什么不说中文", "xn--ihqwcrb4cv8a8dqg056pqjye"},
		{"3年B組金八先生", "xn--3b-ww4c5e180e575a65lsy2b"},
		{"jürgen", "xn--jrgen-kva"},
		{"ü", "xn--tda"},
	} {
		for _, spelling := range []string{tc.uLabel, tc.aLabel, strings.ToUpper(tc.aLabel)} {
			if got := mustNormalize(t, "email", "ada@"+spelling+".example"); got.Value != "ada@"+tc.aLabel+".example" {
				t.Errorf("the domain %s.example normalises to %q, want %s.example", spelling, got.Value, tc.aLabel)
			}
		}
	}
	for _, kept := range []string{
		"xn--99999999999",            // not Punycode
		"xn--egbpdaj6bu4bxfgehfvwxn", // RFC 3492's Arabic sample ends in '؟'
		"xn---kva",
		"xn--ü",
		"xn--",
		"xn--abc-",     // all ASCII
		"xn--a",        // U+0080, a control
		"xn--a-cbb",    // '˷', a symbol
		"xn--xn---3ra", // "xn--ü", an A-label's prefix
		"xn--zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
		"a☃b", // a symbol in a U-label
		// Longer than a DNS label: not decoded, however valid its Punycode.
		"xn--" + strings.Repeat("a", 59) + "-" + strings.Repeat("ba", 10),
	} {
		if got := mustNormalize(t, "email", "ada@"+kept+".example"); got.Value != "ada@"+kept+".example" {
			t.Errorf("the domain %s.example normalises to %q, want it kept", kept, got.Value)
		}
	}
}

// A source's subject type is checked as a type, so that "phone", whose
// values must hold a digit, is as good as any.
func TestCheckType(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"email", "phone", "customer_id", "user_id", " Phone ", "acme.account-id_v2"} {
		if err := subject.CheckType(typ); err != nil {
			t.Errorf("CheckType(%q) = %v", typ, err)
		}
	}
	for _, typ := range []string{"", " ", "e mail", "émail", strings.Repeat("t", 65), "email\xff"} {
		if err := subject.CheckType(typ); err == nil || !normalizeErrors[err.Error()] {
			t.Errorf("CheckType(%q) = %v, want one of Normalize's errors", typ, err)
		}
	}
}

// Normalizing a long value is linear: a domain label far longer than DNS
// allows is not Punycode-decoded, which is quadratic in its length (this
// one would take minutes).
func TestNormalizeLongALabel(t *testing.T) {
	t.Parallel()
	value := "ada@xn--" + strings.Repeat("ab", 512<<10) + ".example" // valid Punycode for a million runes
	start := time.Now()
	if _, err := subject.Normalize(subject.Subject{Type: "email", Value: value}); err == nil {
		t.Error("Normalize of a 1 MiB value succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Normalize of a 1 MiB A-label took %v", d)
	}
}
