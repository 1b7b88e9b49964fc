package subject_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/subject"
)

// addressGrammar is the ASCII part of the grammar Emails promises, written
// independently of its scanner: lower-case local part of dot-separated
// atoms, and two or more DNS labels ending in a letters-only top-level
// domain. (The whole grammar is the reference's, in reference_test.go.)
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
		got := subject.Emails([]byte(tc.body), "application/json")
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
		"a@b.com@c.com",
		"ada@example.com_x",
		"ada@example.com+x",
		"ada@exa mple.com",
		"ada @example.com",
		"ada@ example.com",
		long("l", 65) + "@example.com",
		"ada@" + long("d", 64) + ".com",
		long("l", 64) + "@" + long("d", 63) + "." + long("d", 63) + "." + long("d", 58) + ".com", // 255 bytes
		"ada@example.xn--ü",
		"ada@\u0301example.com",
		"ada@example.\u0301com",
		"ada@例子.中",
		"ada@example.c\u0301",
	} {
		body, _ := json.Marshal(map[string]any{"k": s, s: []string{"x " + s + " y"}})
		if got := subject.Emails(body, "application/json"); got != nil {
			t.Errorf("Emails(%s) = %q, want nil", body, got)
		}
	}
}

// Internationalised addresses (RFC 6531) are found, and written as
// Normalize writes them: lower-cased, in NFC, with A-labels.
func TestEmailsInternational(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"non-ASCII local part", "Jürgen@Example.DE", []string{"jürgen@example.de"}},
		{"U-label", "ada@Bücher.example", []string{"ada@xn--bcher-kva.example"}},
		{"A-label", "ada@xn--bcher-kva.example", []string{"ada@xn--bcher-kva.example"}},
		{"upper-case A-label", "ADA@XN--BCHER-KVA.EXAMPLE", []string{"ada@xn--bcher-kva.example"}},
		{"U-label TLD", "ada@example.рф", []string{"ada@example.xn--p1ai"}},
		{"A-label that is not Punycode kept", "ada@xn--99999999999.example", []string{"ada@xn--99999999999.example"}},
		{"decomposed", "ju\u0308rgen@example.de", []string{"jürgen@example.de"}},
		{"Cyrillic", "ИВАН@ПРИМЕР.РФ", []string{"иван@xn--e1afmkfd.xn--p1ai"}},
		{"Greek", "δοκιμή@παράδειγμα.ελ", []string{"δοκιμή@xn--hxajbheg2az3al.xn--qxam"}},
		{"Han", "用户@例子.中国", []string{"用户@xn--fsqu00a.xn--fiqs8s"}},
		{"TLD with marks", "ada@उदाहरण.भारत", []string{"ada@xn--p1b6ci4b4b3a.xn--h2brj9c"}},
		{"Latin letter before", "ädam@example.com", []string{"ädam@example.com"}},
		{"Latin letters after are the TLD's", "ada@example.comé", []string{"ada@example.xn--com-dma"}},
		{"Chinese around", "请联系ada@example.com谢谢", []string{"ada@example.com"}},
		{"digits after Chinese", "我的邮箱是123456@qq.com。", []string{"123456@qq.com"}},
		{"Japanese after", "ada@example.comまで", []string{"ada@example.com"}},
		{"Korean after", "ada@example.com으로 보내 주세요", []string{"ada@example.com"}},
		{"Thai before", "ติดต่อada@example.com", []string{"ada@example.com"}},
		{"Han local part in Chinese text", "请写信给用户@例子.中国", []string{"请写信给用户@xn--fsqu00a.xn--fiqs8s"}},
	} {
		body, _ := json.Marshal(map[string]string{"note": tc.text})
		for _, b := range [][]byte{body, escapeNonASCII(body)} {
			if got := subject.Emails(b, "application/json"); !slices.Equal(got, tc.want) {
				t.Errorf("%s: Emails(%s) = %q, want %q", tc.name, b, got, tc.want)
			}
		}
	}
}

// escapeNonASCII writes every non-ASCII character of JSON text as a \u
// escape, as Python's json.dumps and PHP's json_encode do by default.
func escapeNonASCII(body []byte) []byte {
	var b strings.Builder
	for _, r := range string(body) {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	return []byte(b.String())
}

// Each kind of body is read as what it is, whatever its content type
// claims when its bytes say otherwise.
func TestEmailsBodyKinds(t *testing.T) {
	t.Parallel()
	const (
		form  = "application/x-www-form-urlencoded"
		plain = "text/plain; charset=utf-8"
	)
	for _, tc := range []struct {
		name, contentType, body string
		want                    []string
	}{
		{"form", form, "name=Ada+Lovelace&email=Ada%40Example.org&tag=bob%2Btag%40example.com",
			[]string{"ada@example.org", "bob+tag@example.com"}},
		{"form plus is a space", form, "note=write+to+ada%40example.com", []string{"ada@example.com"}},
		{"form plain at sign", form, "email=ada@example.com&x=1", []string{"ada@example.com"}},
		{"form field name", form, "ada%40example.com=yes", []string{"ada@example.com"}},
		{"form bracketed name", form, "customer%5Bemail%5D=ada%40example.com", []string{"ada@example.com"}},
		{"form non-ASCII", form, "email=J%C3%9CRGEN%40example.de", []string{"jürgen@example.de"}},
		{"form double-encoded URL", form, "next=https%3A%2F%2Fx.example%2Fu%3Femail%3Dada%2540example.com",
			[]string{"ada@example.com"}},
		{"form bad escapes", form, "a=100%&b=%zz&email=ada%40example.com&c=%", []string{"ada@example.com"}},
		{"text", plain, "Hello,\nplease erase ada@example.com and Bob <BOB@example.org>.\n",
			[]string{"ada@example.com", "bob@example.org"}},
		{"text percent-encoded", plain, "unsubscribe: https://x.example/u?e=ada%40example.com&f=1",
			[]string{"ada@example.com"}},
		{"text percent-encoded keeps plus", plain, "e=bob+tag%40example.com", []string{"bob+tag@example.com"}},
		{"text character references", plain, "ada&#64;example.com, bob&#x40;example.org", []string{"ada@example.com", "bob@example.org"}},
		{"NDJSON", "application/x-ndjson",
			"{\"e\":\"ada@example.com\"}\n{\"e\":\"bob\\u0040example.org\"}\r\nnot JSON: carol@example.net\n\n",
			[]string{"ada@example.com", "bob@example.org", "carol@example.net"}},
		{"XML", "application/xml; charset=utf-8",
			`<?xml version="1.0"?><customer email="ada@example.com"><contact>bob&#64;example.org</contact>` +
				`<cc>carol&#x40;example.net</cc><name>D &amp; E &lt;dan@example.com&gt;</name></customer>`,
			[]string{"ada@example.com", "dan@example.com", "bob@example.org", "carol@example.net"}},
		{"HTML", "text/html", `<a href="mailto:ada@example.com">Ada</a> eve&#064;example.com`,
			[]string{"ada@example.com", "eve@example.com"}},
		{"multipart", "multipart/form-data; boundary=X",
			"--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nada@example.com\r\n--X--\r\n", []string{"ada@example.com"}},
		{"JSON escapes of a percent escape", "application/json", `{"u":"?e=ada\u0025\u0034\u0030example.com"}`,
			[]string{"ada@example.com"}},
		{"JSON escape of a character reference", "application/json", `{"h":"ada\u0026#64;example.com\n"}`,
			[]string{"ada@example.com"}},
		{"JSON escapes but none of an address", "application/json", `{"h":"ada example.com\n\/\u00e9"}`, nil},
		{"JSON as text/plain", plain, `{"email":"ada\u0040example.com"}`, []string{"ada@example.com"}},
		{"JSON as a form", form, `{"email":"bob+tag@example.com"}`, []string{"bob+tag@example.com"}},
		{"broken JSON", "application/json", `{"email":"ada@example.com",`, []string{"ada@example.com"}},
		{"JSON type on NDJSON", "application/json", "{\"a\":\"ada@example.com\"}\n{\"b\":\"bob@example.org\"}",
			[]string{"ada@example.com", "bob@example.org"}},
		{"vendor JSON type", "application/vnd.api+json", "[\"ada@example.com\"]\n[1]", []string{"ada@example.com"}},
		{"unknown type: JSON", "", `{"email":"ada@example.com"}`, []string{"ada@example.com"}},
		{"unknown type: NDJSON", "", "\uFEFF{\"a\":1}\n{\"b\":\"bob\\u0040example.org\"}", []string{"bob@example.org"}},
		{"unknown type: form", "application/octet-stream", "note=hi+ada%40example.com&x=1", []string{"ada@example.com"}},
		{"unknown type: text", "", "note = hi ada%40example.com", []string{"ada@example.com"}},
		{"unknown type: XML", "", "<a>ada&#64;example.com</a>", []string{"ada@example.com"}},
		{"content type case and parameters", "Application/X-WWW-Form-URLEncoded ; charset=UTF-8", "e=ada%40example.com",
			[]string{"ada@example.com"}},
		{"nothing", plain, "no address here: 100% & more", nil},
		{"empty", form, "", nil},
	} {
		got := subject.Emails([]byte(tc.body), tc.contentType)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Emails(%q, %q) = %q, want %q", tc.name, tc.body, tc.contentType, got, tc.want)
		}
		if ref := referenceEmails([]byte(tc.body), tc.contentType); !slices.Equal(got, ref) {
			t.Errorf("%s: Emails = %q, the reference %q", tc.name, got, ref)
		}
	}
}

// Every address is returned, however many: a payload with 10,000 is
// indexed under all of them.
func TestEmailsNoLimit(t *testing.T) {
	t.Parallel()
	addrs := make([]string, 10000)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("user%d@example.com", i)
	}
	jsonBody, _ := json.Marshal(map[string]any{"list": addrs, "again": addrs[:10]})
	formBody := "to=" + strings.Join(addrs, "&to=")
	textBody := strings.Join(addrs, ", ")
	for _, tc := range []struct{ contentType, body string }{
		{"application/json", string(jsonBody)},
		{"application/x-www-form-urlencoded", strings.ReplaceAll(formBody, "@", "%40")},
		{"text/plain", textBody},
	} {
		if got := subject.Emails([]byte(tc.body), tc.contentType); !slices.Equal(got, addrs) {
			t.Errorf("Emails(%s body) returned %d addresses, want all %d in order", tc.contentType, len(got), len(addrs))
		}
	}
}

// A body is JSON exactly when json.Valid says so, however deep; deeper than
// that it is text, where an unescaped address is still found.
func TestEmailsDeepJSON(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":[`, 5000) + `"ada\u0040example.com"` + strings.Repeat("]}", 5000)
	if !json.Valid([]byte(deep)) {
		t.Fatal("deep test case is not valid JSON")
	}
	if got := subject.Emails([]byte(deep), "application/json"); !slices.Equal(got, []string{"ada@example.com"}) {
		t.Errorf("Emails(10000 deep) = %q, want ada@example.com", got)
	}
	deeper := strings.Repeat("[", 10001) + `"ada@example.com"` + strings.Repeat("]", 10001)
	if got := subject.Emails([]byte(deeper), "application/json"); !slices.Equal(got, []string{"ada@example.com"}) {
		t.Errorf("Emails(10001 deep) = %q, want ada@example.com", got)
	}
}

// An address found in a body, however it is spelled there, normalises to
// the value of the same address as a user names it to POST /v1/erasures or
// the export, however the user spells it: the two meet in the index.
func TestEmailsMeetNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		bodies        []string // JSON unless given as contentType + "\x00" + body
		userSpellings []string
	}{
		{"ASCII", []string{`{"e":"ada@example.com"}`, "application/x-www-form-urlencoded\x00e=ada%40example.com",
			"text/plain\x00mailto:ada@example.com", `{"e":"ada\u0040example.com"}`, "text/xml\x00<e>ada&#64;example.com</e>"},
			[]string{"ada@example.com", " ada@example.com\n", "ada%40example.com"}},
		{"mixed case", []string{`{"e":"Ada.Lovelace@Example.COM"}`, "text/plain\x00ADA.LOVELACE%40EXAMPLE.COM"},
			[]string{"ada.lovelace@example.com", "Ada.Lovelace@EXAMPLE.com", "ADA.LOVELACE%40example.com"}},
		{"non-ASCII", []string{`{"e":"Jürgen@Bücher.example"}`, `{"e":"j\u00fcrgen@b\u00fccher.example"}`,
			`{"e":"ju\u0308rgen@xn--bcher-kva.example"}`, "application/x-www-form-urlencoded\x00e=j%C3%BCrgen%40b%C3%BCcher.example",
			"text/html\x00j&#252;rgen&#64;b&#xFC;cher.example"},
			[]string{"jürgen@bücher.example", "JÜRGEN@BÜCHER.EXAMPLE", "ju\u0308rgen@bu\u0308cher.example",
				"jürgen@xn--bcher-kva.example", "JÜRGEN@XN--BCHER-KVA.EXAMPLE", "j%C3%BCrgen%40b%C3%BCcher.example"}},
		{"percent-encoded", []string{"application/x-www-form-urlencoded\x00email=bob%2Btag%40example.com",
			"text/plain\x00https://x.example/?e=bob%2Btag%40example.com"},
			[]string{"bob+tag@example.com", "bob%2Btag%40example.com", "BOB+TAG@example.com"}},
	} {
		want := ""
		for _, spelling := range tc.userSpellings {
			n := mustNormalize(t, "email", spelling)
			if want == "" {
				want = n.Value
			}
			if n.Value != want {
				t.Errorf("%s: the user's %q normalises to %q, and %q to %q", tc.name, tc.userSpellings[0], want, spelling, n.Value)
			}
		}
		for _, body := range tc.bodies {
			contentType, text, ok := strings.Cut(body, "\x00")
			if !ok {
				contentType, text = "application/json", body
			}
			if got := subject.Emails([]byte(text), contentType); !slices.Equal(got, []string{want}) {
				t.Errorf("%s: Emails(%q, %q) = %q, want %q", tc.name, text, contentType, got, want)
			}
		}
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
	big := payload(64 << 10)
	// The same data as a form and as NDJSON: one line per item.
	var form, lines []string
	var doc struct {
		Data struct {
			Object struct {
				Lines []map[string]any `json:"lines"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(big, &doc); err != nil {
		b.Fatal(err)
	}
	for i, item := range doc.Data.Object.Lines {
		line, _ := json.Marshal(item)
		lines = append(lines, string(line))
		for k, v := range item {
			form = append(form, fmt.Sprintf("lines[%d][%s]=%s", i, url.QueryEscape(k), url.QueryEscape(fmt.Sprint(v))))
		}
	}
	slices.Sort(form)
	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{
		{"1KiB", "application/json", payload(1 << 10)},
		{"64KiB", "application/json", big},
		// The fast path: no '@' anywhere, so no decoding at all.
		{"64KiB-no-at", "application/json", bytes.ReplaceAll(big, []byte("@"), []byte("+"))},
		// Still no decoding when the JSON has escapes, but none of an '@'.
		{"64KiB-no-at-escaped", "application/json",
			bytes.ReplaceAll(bytes.ReplaceAll(big, []byte("@"), []byte("+")), []byte("; "), []byte(`;\n`))},
		{"64KiB-ndjson", "application/x-ndjson", []byte(strings.Join(lines, "\n"))},
		{"64KiB-form", "application/x-www-form-urlencoded", []byte(strings.Join(form, "&"))},
		{"64KiB-text", "text/plain", []byte(strings.Join(lines, "\n"))},
	} {
		body := tc.body
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = len(subject.Emails(body, tc.contentType))
			}
			b.ReportMetric(float64(n), "addresses")
		})
	}
}
