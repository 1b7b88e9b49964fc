package pseudonym

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/subject"
)

func TestTokenStablePerDestination(t *testing.T) {
	tenant := []byte("0123456789abcdef0123456789abcdef")
	k1, k2 := DestinationKey(tenant, "dst_1"), DestinationKey(tenant, "dst_2")
	ada := subject.Subject{Type: "email", Value: "ada@example.com"}
	a1, again, a2 := Token(k1, ada), Token(k1, ada), Token(k2, ada)
	if a1 != again {
		t.Fatalf("one destination, one subject: %s then %s", a1, again)
	}
	if a1 == a2 {
		t.Fatalf("two destinations got the same token %s", a1)
	}
	if !Valid(a1) || len(a1) != TokenLen || !strings.HasPrefix(a1, Prefix) {
		t.Fatalf("token %q is not valid", a1)
	}
	if other := Token(DestinationKey([]byte("another tenant's subject key..."), "dst_1"), ada); other == a1 {
		t.Fatal("two tenants' destinations of one id got the same token")
	}
	if Token(k1, subject.Subject{Type: "user_id", Value: "ada@example.com"}) == a1 {
		t.Fatal("two subject types of one value got the same token")
	}
	for _, bad := range []string{"", "pst_", "ada@example.com", a1[:len(a1)-1], "pst_" + strings.Repeat("!", 32), strings.ToUpper(a1)} {
		if Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
}

func TestSubjectOf(t *testing.T) {
	tests := []struct {
		path, value string
		want        subject.Subject
	}{
		{"customer.email", "Ada@Example.COM", subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"user.id", "ada@example.com", subject.Subject{Type: "email", Value: "ada@example.com"}},
		{"customer.email", "not an address", subject.Subject{Type: "customer_email", Value: "not an address"}},
		{"user.id", " 42 ", subject.Subject{Type: "user_id", Value: "42"}},
		{"User.ID", "AbC", subject.Subject{Type: "user_id", Value: "AbC"}},
		{"data.$ref", "x", subject.Subject{Type: "data__ref", Value: "x"}},
		{"a@b.c", "x", subject.Subject{Type: "a_b_c", Value: "x"}},
	}
	for _, tt := range tests {
		got, err := SubjectOf(tt.path, tt.value)
		if err != nil || got != tt.want {
			t.Errorf("SubjectOf(%q, %q) = %+v, %v; want %+v", tt.path, tt.value, got, err, tt.want)
		}
	}
	if got := TypeOfPath(strings.Repeat("a", 100)); len(got) != subject.MaxTypeLen {
		t.Errorf("TypeOfPath of a long path = %q, want it cut to %d", got, subject.MaxTypeLen)
	}
	if _, err := SubjectOf("user.id", strings.Repeat("x", subject.MaxValueLen+1)); err == nil {
		t.Error("an over-long value has a subject")
	}
}

// tokensFor mints a token for every value found, as the store does.
func tokensFor(t *testing.T, body string, paths []string) map[string]string {
	t.Helper()
	found, err := Values([]byte(body), paths)
	if err != nil {
		t.Fatalf("Values: %v", err)
	}
	tokens := make(map[string]string)
	for _, f := range found {
		tokens[Key(f.Path, f.Value)] = "T(" + f.Path + "=" + f.Value + ")"
	}
	return tokens
}

func TestReplace(t *testing.T) {
	tests := []struct {
		name, body string
		paths      []string
		want       string
	}{
		{"string and number", `{"customer":{"email":"ada@example.com","plan":"pro"},"user":{"id":42},"n":1}`,
			[]string{"customer.email", "user.id"},
			`{"customer":{"email":"T(customer.email=ada@example.com)","plan":"pro"},"n":1,"user":{"id":"T(user.id=42)"}}`},
		{"missing paths untouched", `{"customer":{"plan":"pro"},"user":"u"}`, []string{"customer.email", "user.id", "nope"},
			`{"customer":{"plan":"pro"},"user":"u"}`},
		{"array of scalars", `{"emails":["a@x.io",7,true,null,""]}`, []string{"emails"},
			`{"emails":["T(emails=a@x.io)","T(emails=7)",true,null,""]}`},
		{"object: each scalar, keys kept", `{"customer":{"email":"a@x.io","tags":["v"],"vip":false}}`, []string{"customer"},
			`{"customer":{"email":"T(customer=a@x.io)","tags":["T(customer=v)"],"vip":false}}`},
		{"a path inside another adds nothing", `{"customer":{"email":"a@x.io"}}`, []string{"customer.email", "customer"},
			`{"customer":{"email":"T(customer=a@x.io)"}}`},
		{"arrays on the way are not entered", `{"items":[{"email":"a@x.io"}]}`, []string{"items.email"},
			`{"items":[{"email":"a@x.io"}]}`},
		{"blank and null left", `{"e":"  ","f":null}`, []string{"e", "f"}, `{"e":"  ","f":null}`},
		{"escaped string", `{"e":"ada\u0040example.com"}`, []string{"e"}, `{"e":"T(e=ada@example.com)"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replace([]byte(tt.body), tt.paths, tokensFor(t, tt.body, tt.paths))
			if err != nil {
				t.Fatalf("Replace: %v", err)
			}
			var g, w any
			if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(tt.want), &w) != nil {
				t.Fatalf("Replace = %s, not JSON", got)
			}
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if string(gb) != string(wb) {
				t.Fatalf("Replace =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

func TestReplaceRefuses(t *testing.T) {
	for _, body := range []string{`[{"e":"a@x.io"}]`, `e=a%40x.io`, `null`, ``, `"a@x.io"`} {
		if _, err := Replace([]byte(body), []string{"e"}, nil); !errors.Is(err, ErrNotObject) {
			t.Errorf("Replace(%q) = %v, want ErrNotObject", body, err)
		}
	}
	body := []byte(`{"e":"a@x.io","f":"b@x.io"}`)
	tokens := map[string]string{Key("e", "a@x.io"): "pst_a"}
	out, err := Replace(body, []string{"e", "f"}, tokens)
	if !errors.Is(err, ErrNoToken) || out != nil {
		t.Fatalf("Replace with a value lacking a token = %s, %v; want nothing and ErrNoToken", out, err)
	}
	if strings.Contains(err.Error(), "x.io") {
		t.Fatalf("the error %q names a value", err)
	}
}
