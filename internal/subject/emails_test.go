package subject_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/subject"
)

// addressGrammar is the grammar Emails promises, written independently of
// its scanner: lower-case local part of dot-separated atoms, and two or more
// DNS labels ending in a letters-only top-level domain.
var addressGrammar = regexp.MustCompile(`^[a-z0-9_%+-]+(\.[a-z0-9_%+-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$`)

// isAddress reports whether addr is in the grammar, lengths included.
func isAddress(addr string) bool {
	if !addressGrammar.MatchString(addr) || len(addr) > 254 {
		return false
	}
	local, domain, _ := strings.Cut(addr, "@")
	if len(local) > 64 {
		return false
	}
	for label := range strings.SplitSeq(domain, ".") {
		if len(label) > 63 {
			return false
		}
	}
	return true
}

// checkAddress fails t unless addr is in the grammar.
func checkAddress(t *testing.T, addr string) {
	t.Helper()
	if !isAddress(addr) {
		t.Fatalf("address %q is outside the grammar", addr)
	}
}

func TestEmails(t *testing.T) {
	t.Parallel()
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	for _, tc := range []struct {
		name string
		body string
		want []string
	}{
		{"top-level string", `"ada@example.com"`, []string{"ada@example.com"}},
		{"nested objects and arrays",
			`{"data":{"object":{"customer":{"email":"ada@example.com"}}},"cc":[[{"to":["bob@example.org"]}], "carol@example.net"]}`,
			[]string{"ada@example.com", "bob@example.org", "carol@example.net"}},
		{"keys", `{"ada@example.com":{"Bob@Example.org":1}}`, []string{"ada@example.com", "bob@example.org"}},
		{"order first seen, key before value", `{"z":"zed@example.com","amy@example.com":"zed@example.com","a":"bob@example.com"}`,
			[]string{"zed@example.com", "amy@example.com", "bob@example.com"}},
		{"surrounding text", `"contact: Ada <Ada@Example.com>, thanks"`, []string{"ada@example.com"}},
		{"several in one string",
			`"to ada@example.com, bob.smith+tag@mail.example.co.uk; (carol_x%y@sub-1.example.io). mailto:Dan@Example.COM?subject=hi"`,
			[]string{"ada@example.com", "bob.smith+tag@mail.example.co.uk", "carol_x%y@sub-1.example.io", "dan@example.com"}},
		{"duplicates case-insensitive", `["ADA@example.com",{"k":"ada@EXAMPLE.com"},"x ada@example.com y","Ada@Example.Com"]`,
			[]string{"ada@example.com"}},
		{"unicode around", `{"note":"✉ ada@example.com — «bob@example.org»、carol@example.net。адрес:dan@example.com 😀eve@example.com😀"}`,
			[]string{"ada@example.com", "bob@example.org", "carol@example.net", "dan@example.com", "eve@example.com"}},
		{"escaped at sign", `{"e":"ada\u0040example.com"}`, []string{"ada@example.com"}},
		{"escaped letters and slash", `{"e":"\u0041da@Example.com\/x","f":"bob@example\u002eorg"}`, []string{"ada@example.com", "bob@example.org"}},
		{"escaped newline boundary", `"line\nada@example.com\tnext"`, []string{"ada@example.com"}},
		{"sentence punctuation", `["mail ada@example.com.", "...bob@example.org...", "(carol@example.net)", "dan@example.com-- or call", "eve@example.com.-"]`,
			[]string{"ada@example.com", "bob@example.org", "carol@example.net", "dan@example.com", "eve@example.com"}},
		{"URL query", `"https://example.com/unsubscribe?email=ada@example.com&x=1"`, []string{"ada@example.com"}},
		{"numbers, booleans and null ignored", `{"n":12,"f":-1.5e400,"t":true,"x":false,"z":null,"a":[1,2,3]}`, nil},
		{"numbers out of float64 range", `[1e400, -1e-400, 123456789012345678901234567890, "ada@example.com"]`, []string{"ada@example.com"}},
		{"no strings", `[]`, nil},
		{"no addresses", `{"a":"hello","b":"at @ sign"}`, nil},
		{"trailing white space", "{\"a\":\"ada@example.com\"} \r\n\t", []string{"ada@example.com"}},
		{"longest local part", `"` + long("l", 64) + `@example.com"`, []string{long("l", 64) + "@example.com"}},
		{"longest label", `"ada@` + long("d", 63) + `.com"`, []string{"ada@" + long("d", 63) + ".com"}},
		{"longest address", `"` + long("l", 64) + "@" + long("d", 63) + "." + long("d", 63) + "." + long("d", 57) + `.com"`,
			[]string{long("l", 64) + "@" + long("d", 63) + "." + long("d", 63) + "." + long("d", 57) + ".com"}},
		{"two-letter TLD and digits", `"1@2.io"`, []string{"1@2.io"}},
	} {
		got := subject.Emails([]byte(tc.body), 0)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Emails(%s) = %q, want %q", tc.name, tc.body, got, tc.want)
		}
		for _, addr := range got {
			checkAddress(t, addr)
			if n := mustNormalize(t, "email", addr); n.Value != addr {
				t.Errorf("%s: %q normalises to %q", tc.name, addr, n.Value)
			}
		}
	}
}

func TestEmailsNotAddresses(t *testing.T) {
	t.Parallel()
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	for _, s := range []string{
		"a@b",
		"@example.com",
		"user@",
		"a@@b.com",
		"x@localhost",
		"name@example.c",
		"name@example.c0m",
		"name@example.123",
		"name@1.2.3.4",
		"a..b@example.com",
		"ada.@example.com",
		"ada@example..com",
		"ada@.example.com",
		"ada@-example.com",
		"ada@example-.com",
		"ada@example.-com",
		"ada@example.com--x",
		"ada@example.xn--p1ai",
		"a@b.com@c.com",
		"ada@example.com_x",
		"ada@example.com+x",
		"ädam@example.com",
		"ada@example.comé",
		"e\u0301ada@example.com",
		"ada@exa mple.com",
		"ada @example.com",
		"ada@ example.com",
		long("l", 65) + "@example.com",
		"ada@" + long("d", 64) + ".com",
		long("l", 64) + "@" + long("d", 63) + "." + long("d", 63) + "." + long("d", 58) + ".com", // 255 bytes
	} {
		body, _ := json.Marshal(map[string]any{"k": s, s: []string{"x " + s + " y"}})
		if got := subject.Emails(body, 0); got != nil {
			t.Errorf("Emails(%s) = %q, want nil", body, got)
		}
	}
}

func TestEmailsMax(t *testing.T) {
	t.Parallel()
	addrs := make([]string, 150)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("user%d@example.com", i)
	}
	body, _ := json.Marshal(map[string]any{"list": addrs, "again": addrs[:10]})
	for _, tc := range []struct{ max, want int }{{1, 1}, {2, 2}, {149, 149}, {150, 150}, {1000, 150}, {0, 100}, {-1, 100}} {
		got := subject.Emails(body, tc.max)
		if len(got) != tc.want {
			t.Errorf("Emails(max %d) returned %d addresses, want %d", tc.max, len(got), tc.want)
			continue
		}
		if !slices.Equal(got, addrs[:tc.want]) {
			t.Errorf("Emails(max %d) = %q…, want the first %d in order", tc.max, got[:min(len(got), 3)], tc.want)
		}
	}
	// Reaching max stops collecting, not checking: the rest must still be JSON.
	if got := subject.Emails(append(body[:len(body):len(body)], 'x'), 1); got != nil {
		t.Errorf("Emails(full after max, then garbage) = %q, want nil", got)
	}
}

func TestEmailsNotJSON(t *testing.T) {
	t.Parallel()
	const obj = `{"a":"ada@example.com"}`
	for _, body := range []string{
		"",
		" \n",
		"ada@example.com",
		"To: ada@example.com\r\n\r\nhello",
		"<p>ada@example.com</p>",
		`{"a":"ada@example.com"`,
		`{"a":"ada@example.com",}`,
		`["ada@example.com" "bob@example.org"]`,
		`{"a" "ada@example.com"}`,
		`{"a":"ada@example.com"]`,
		obj + " trailing",
		obj + "}",
		obj + obj,
		obj + " " + obj,
		obj + `"bob@example.org"`,
		`"ada@example.com" 1`,
		`'ada@example.com'`,
		`{"a":"ada@example.com\x"}`,
		"\"ada@example.com\x01\"",
		`[1, 2, tru, "ada@example.com"]`,
		`[01, "ada@example.com"]`,
		strings.Repeat("[", 10001) + `"ada@example.com"` + strings.Repeat("]", 10001),
	} {
		if json.Valid([]byte(body)) {
			t.Fatalf("test case %.40q is valid JSON", body)
		}
		if got := subject.Emails([]byte(body), 0); got != nil {
			t.Errorf("Emails(%.60q) = %q, want nil", body, got)
		}
	}
	// As deep as encoding/json goes is still JSON.
	deep := strings.Repeat(`{"a":[`, 5000) + `"ada@example.com"` + strings.Repeat("]}", 5000)
	if !json.Valid([]byte(deep)) {
		t.Fatal("deep test case is not valid JSON")
	}
	if got := subject.Emails([]byte(deep), 0); !slices.Equal(got, []string{"ada@example.com"}) {
		t.Errorf("Emails(10000 deep) = %q, want ada@example.com", got)
	}
}

// payload is a JSON body of about size bytes shaped like a webhook: nested
// objects, a few addresses, mostly other strings and numbers.
func payload(size int) []byte {
	type item struct {
		ID       string  `json:"id"`
		Name     string  `json:"name"`
		Note     string  `json:"note"`
		Email    string  `json:"email,omitempty"`
		Amount   float64 `json:"amount"`
		Paid     bool    `json:"paid"`
		Metadata struct {
			Ref string `json:"ref"`
		} `json:"metadata"`
	}
	var items []item
	for i := 0; ; i++ {
		it := item{ID: fmt.Sprintf("ii_%08d", i), Name: "Widget, large", Amount: float64(i) * 1.25, Paid: i%2 == 0,
			Note: "Delivered to the front desk; contact support if anything is missing."}
		if i%4 == 0 {
			it.Email = fmt.Sprintf("Customer%d@Example.com", i)
		}
		it.Metadata.Ref = fmt.Sprintf("order %d for buyer%d@shop.example.org", i, i%8)
		items = append(items, it)
		body, _ := json.Marshal(map[string]any{"type": "invoice.paid", "data": map[string]any{"object": map[string]any{"lines": items}}})
		if len(body) >= size {
			return body
		}
	}
}

func BenchmarkEmails(b *testing.B) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"1KiB", payload(1 << 10)},
		{"64KiB", payload(64 << 10)},
		// The fast path: no '@' anywhere, so no decoding at all.
		{"64KiB-no-at", bytes.ReplaceAll(payload(64<<10), []byte("@"), []byte("+"))},
	} {
		body := tc.body
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = len(subject.Emails(body, 0))
			}
			b.ReportMetric(float64(n), "addresses")
		})
	}
}
