package inbound_test

import (
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
