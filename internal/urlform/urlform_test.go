package urlform_test

import (
	"net/url"
	"testing"

	"github.com/sluicehq/sluice/internal/urlform"
)

func TestUnescape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in         string
		plus       bool
		want       string
		wantNoPlus string
	}{
		{in: "ada%40example.com", want: "ada@example.com", wantNoPlus: "ada@example.com"},
		{in: "Ada+Lovelace", want: "Ada Lovelace", wantNoPlus: "Ada+Lovelace"},
		{in: "bob%2Btag%40example.com", want: "bob+tag@example.com", wantNoPlus: "bob+tag@example.com"},
		{in: "j%C3%bCrgen", want: "jürgen", wantNoPlus: "jürgen"},
		{in: "100%", want: "100%", wantNoPlus: "100%"},
		{in: "%zz%4", want: "%zz%4", wantNoPlus: "%zz%4"},
		{in: "%%41%", want: "%A%", wantNoPlus: "%A%"},
		{in: "%FF", want: "\xff", wantNoPlus: "\xff"},
		{in: "", want: "", wantNoPlus: ""},
	} {
		if got := string(urlform.Unescape(nil, []byte(tc.in), true)); got != tc.want {
			t.Errorf("Unescape(%q, plus) = %q, want %q", tc.in, got, tc.want)
		}
		if got := string(urlform.Unescape([]byte("x"), []byte(tc.in), false)); got != "x"+tc.wantNoPlus {
			t.Errorf("Unescape(%q) after x = %q, want x%q", tc.in, got, tc.wantNoPlus)
		}
	}
}

func TestFieldsAndValue(t *testing.T) {
	t.Parallel()
	const body = "&name=Ada+Lovelace&&email=ada%40example.com&flag&customer%5Bemail%5D=bob%40example.org&email=second&=anon&a=b=c"
	var got [][2]string
	for n, v := range urlform.Fields([]byte(body)) {
		got = append(got, [2]string{string(n), string(v)})
	}
	want := [][2]string{{"name", "Ada+Lovelace"}, {"email", "ada%40example.com"}, {"flag", ""},
		{"customer%5Bemail%5D", "bob%40example.org"}, {"email", "second"}, {"", "anon"}, {"a", "b=c"}}
	if len(got) != len(want) {
		t.Fatalf("Fields = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"name", "Ada Lovelace", true},
		{"email", "ada@example.com", true}, // the first of two
		{"customer[email]", "bob@example.org", true},
		{"flag", "", true},
		{"", "anon", true},
		{"a", "b=c", true},
		{"Email", "", false},
		{"missing", "", false},
	} {
		got, ok := urlform.Value([]byte(body), tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Value(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// Where net/url can decode a value, Unescape decodes it the same way.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"ada%40example.com", "a+b", "%zz", "100%", "%e2%82%ac", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if want, err := url.QueryUnescape(s); err == nil {
			if got := string(urlform.Unescape(nil, []byte(s), true)); got != want {
				t.Fatalf("Unescape(%q, plus) = %q, net/url %q", s, got, want)
			}
		}
		if want, err := url.PathUnescape(s); err == nil {
			if got := string(urlform.Unescape(nil, []byte(s), false)); got != want {
				t.Fatalf("Unescape(%q) = %q, net/url %q", s, got, want)
			}
		}
	})
}
