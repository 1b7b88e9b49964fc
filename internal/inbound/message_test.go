package inbound_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/inbound"
)

func TestLookup(t *testing.T) {
	t.Parallel()
	body := []byte(`{
		"type": "invoice.paid",
		"id": "evt_1",
		"data": {"object": {"customer_email": "ada@example.com", "amount": 4200, "ratio": -1.5e3, "paid": true, "void": false, "note": null,
			"lines": [{"sku": "A-1"}, {"sku": "B-2", "qty": 2}], "tags": ["x", "y"], "0": "zero key"}},
		"名前": "ユニコード",
		"escaped": "line\nbreak \u00e9",
		"big": 12345678901234567890123,
		"empty": ""
	}`)
	h := http.Header{}
	h.Set("X-GitHub-Event", "push")
	h.Add("X-Multi", "first")
	h.Add("X-Multi", "second")
	h.Set("X-Empty", "")
	h.Set("Svix-Id", "msg_svix")
	m := inbound.NewMessage(h, body)

	for _, tc := range []struct {
		path string
		want string
		ok   bool
	}{
		{"type", "invoice.paid", true},
		{"data.object.customer_email", "ada@example.com", true},
		{"data.object.amount", "4200", true},
		{"data.object.ratio", "-1.5e3", true},
		{"big", "12345678901234567890123", true},
		{"data.object.paid", "true", true},
		{"data.object.void", "false", true},
		{"data.object.lines.1.sku", "B-2", true},
		{"data.object.lines.1.qty", "2", true},
		{"data.object.tags.0", "x", true},
		{"data.object.0", "zero key", true},
		{"名前", "ユニコード", true},
		{"escaped", "line\nbreak é", true},
		{"empty", "", true},
		{"data.object.note", "", false},
		{"data.object", "", false},
		{"data.object.lines", "", false},
		{"data.object.lines.2.sku", "", false},
		{"data.object.lines.-1", "", false},
		{"data.object.lines.x", "", false},
		{"data.object.lines.99999999999999999999999", "", false},
		{"data.object.customer_email.x", "", false},
		{"type.0", "", false},
		{"missing", "", false},
		{"data..object", "", false},
		{"", "", false},
		{"header:X-GitHub-Event", "push", true},
		{"header:x-github-event", "push", true},
		{"header:X-Multi", "first", true},
		{"header:X-Empty", "", true},
		{"header:X-Absent", "", false},
		{"header:", "", false},
		{"header:webhook-id", "msg_svix", true}, // Svix's name for the same header
		{"header:Webhook-Timestamp", "", false},
	} {
		got, ok := m.Lookup(tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLookupNonJSONBody(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "type=push", `{"type":"a"} trailing`, `{"type":"a"}{"type":"b"}`, `{"type":`, "\xff"} {
		m := inbound.NewMessage(http.Header{"X-Event": {"push"}}, []byte(body))
		if v, ok := m.Lookup("type"); ok {
			t.Errorf("body %q: Lookup(type) = %q, true; want not found", body, v)
		}
		if v, ok := m.Lookup("header:X-Event"); !ok || v != "push" {
			t.Errorf("body %q: header lookup = %q, %v; want push, true", body, v, ok)
		}
	}
}

// A top-level array is JSON too, and an index is its first segment.
func TestLookupTopLevelArray(t *testing.T) {
	t.Parallel()
	m := inbound.NewMessage(nil, []byte(` [{"type":"a"},{"type":"b"}] `))
	if v, ok := m.Lookup("1.type"); !ok || v != "b" {
		t.Errorf("Lookup(1.type) = %q, %v; want b, true", v, ok)
	}
	if v, ok := m.Lookup("header:X-Anything"); ok {
		t.Errorf("header lookup on nil headers = %q, true; want not found", v)
	}
}

// A form: path reads a field of a form-encoded body, decoded, the first of
// its name; the content type need not say it is a form.
func TestLookupForm(t *testing.T) {
	t.Parallel()
	body := []byte("type=invoice.paid&email=Ada%40Example.com&customer%5Bemail%5D=bob%2Btag%40example.org" +
		"&customer[name]=Bob+Smith&email=second&flag&=anonymous&bad=100%&phone=%2B1+555+010+9999")
	for _, contentType := range []string{"application/x-www-form-urlencoded", "text/plain", ""} {
		m := inbound.NewMessage(http.Header{"Content-Type": {contentType}}, body)
		for _, tc := range []struct {
			path, want string
			ok         bool
		}{
			{"form:type", "invoice.paid", true},
			{"form:email", "Ada@Example.com", true},
			{"form:customer[email]", "bob+tag@example.org", true},
			{"form:customer[name]", "Bob Smith", true},
			{"form:flag", "", true},
			{"form:bad", "100%", true},
			{"form:phone", "+1 555 010 9999", true},
			{"form:Email", "", false},
			{"form:missing", "", false},
			{"form:", "", false},
			{"type", "", false}, // a JSON path, and the body is not JSON
		} {
			got, ok := m.Lookup(tc.path)
			if got != tc.want || ok != tc.ok {
				t.Errorf("%q: Lookup(%q) = %q, %v; want %q, %v", contentType, tc.path, got, ok, tc.want, tc.ok)
			}
		}
	}
	// A JSON body is not a form, and a form: path finds nothing in it.
	m := inbound.NewMessage(http.Header{"Content-Type": {"application/json"}}, []byte(`{"email":"ada@example.com"}`))
	if got, ok := m.Lookup("form:email"); ok {
		t.Errorf("Lookup(form:email) on JSON = %q, true", got)
	}
}

// A multipart/form-data body's fields are read as they were sent; files
// are not fields.
func TestLookupMultipartForm(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range [][2]string{{"from", "Ada <ada@example.com>"}, {"subject", "50% off"}, {"from", "second"}} {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("attachment", "note.txt")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte("file content"))
	w.Close()
	m := inbound.NewMessage(http.Header{"Content-Type": {w.FormDataContentType()}}, b.Bytes())
	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"form:from", "Ada <ada@example.com>", true},
		{"form:subject", "50% off", true},
		{"form:attachment", "", false},
		{"form:missing", "", false},
	} {
		got, ok := m.Lookup(tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
	// A damaged body yields the fields before the damage.
	cut := b.Bytes()[:bytes.Index(b.Bytes(), []byte("50% off"))]
	m = inbound.NewMessage(http.Header{"Content-Type": {w.FormDataContentType()}}, cut)
	if got, ok := m.Lookup("form:from"); !ok || got != "Ada <ada@example.com>" {
		t.Errorf("truncated body: Lookup(form:from) = %q, %v", got, ok)
	}
	if got, ok := m.Lookup("form:subject"); ok {
		t.Errorf("truncated body: Lookup(form:subject) = %q, true", got)
	}
}
