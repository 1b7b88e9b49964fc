package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// event is GET /v1/events/{id} as the API returns it.
type event struct {
	ID           string              `json:"id"`
	Type         string              `json:"type"`
	Direction    string              `json:"direction"`
	SourceID     *string             `json:"source_id"`
	Status       sluice.EventStatus  `json:"status"`
	ReceivedAt   time.Time           `json:"received_at"`
	PayloadState sluice.PayloadState `json:"payload_state"`
	Payload      json.RawMessage     `json:"payload"`
}

// auditActions returns the actions of the default tenant's audit log on
// resourceID, oldest first.
func (b *testBundle) auditActions(t *testing.T, resourceID string) []string {
	t.Helper()
	ctx := context.Background()
	op, err := b.store.OperatorKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := b.store.AuditLog(ctx, op.TenantID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range slices.Backward(entries) {
		if e.ResourceID == resourceID {
			out = append(out, e.Action)
		}
	}
	return out
}

// The same idempotency key returns the first event with 200 and stores
// nothing more; another key is another event.
func TestPublishIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	b.destination(t, b.operator, map[string]any{"url": "https://example.com/hook"})
	body := map[string]any{"type": "invoice.paid", "payload": map[string]string{"id": "inv_123"}, "idempotency_key": "inv_123_paid"}
	first := b.publish(t, b.operator, body)

	var again struct {
		ID        string
		Duplicate bool
	}
	b.do(t, "POST", "/v1/events", b.operator, body).want(t, http.StatusOK, &again)
	if again.ID != first || !again.Duplicate {
		t.Fatalf("repeat answered %+v, want id %s with duplicate", again, first)
	}
	if n := len(b.deliveries(t, b.operator, first)); n != 1 {
		t.Errorf("the first event has %d deliveries after the repeat, want 1", n)
	}
	body["idempotency_key"] = "inv_123_refunded"
	if other := b.publish(t, b.operator, body); other == first {
		t.Error("a different key returned the first event")
	}
	var list struct{ Data []event }
	b.do(t, "GET", "/v1/events", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 2 {
		t.Errorf("%d events stored, want 2", len(list.Data))
	}

	// An idempotency key may carry personal data: only its keyed hash is
	// stored.
	for _, f := range []string{b.dbPath, b.dbPath + "-wal"} {
		if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte("inv_123_paid")) {
			t.Errorf("%s holds the idempotency key in plain text", f)
		}
	}

	// Keys are per tenant: another tenant's same key is its own event.
	other := b.tenant(t, "other")
	if id := b.publish(t, other, map[string]any{"type": "invoice.paid", "payload": 1, "idempotency_key": "inv_123_paid"}); id == first {
		t.Error("another tenant's idempotency key returned this tenant's event")
	}
}

// An admin reads the payload exactly as published, and the read is audited;
// a viewer reads the metadata with a null payload, unaudited.
func TestGetEventPayloadAndAudit(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	const payload = `{"customer":{"email":"ada@example.com"},"amount":42,"note":"<b>&</b>"}`
	var pub struct{ ID string }
	b.do(t, "POST", "/v1/events", b.operator, `{"type":"invoice.paid","payload":`+payload+`,
		"subjects":[{"type":"email","value":"ada@example.com"}]}`).want(t, http.StatusAccepted, &pub)

	var ev event
	b.do(t, "GET", "/v1/events/"+pub.ID, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.ID != pub.ID || ev.Type != "invoice.paid" || ev.Direction != "outbound" || ev.SourceID != nil ||
		ev.Status != sluice.EventUnrouted || ev.PayloadState != sluice.PayloadRetained || ev.ReceivedAt.IsZero() {
		t.Errorf("event %+v", ev)
	}
	if string(ev.Payload) != payload {
		t.Errorf("payload %s, want %s", ev.Payload, payload)
	}
	if got := b.auditActions(t, pub.ID); !slices.Equal(got, []string{"event.payload_read"}) {
		t.Errorf("audit after an admin read: %v, want one event.payload_read", got)
	}

	viewer := b.key(t, b.operator, sluice.RoleViewer)
	res := b.do(t, "GET", "/v1/events/"+pub.ID, viewer, nil)
	var raw map[string]json.RawMessage
	res.want(t, http.StatusOK, &raw)
	if p, ok := raw["payload"]; !ok || string(p) != "null" {
		t.Errorf("viewer got payload %s, want null", p)
	}
	if got := b.auditActions(t, pub.ID); len(got) != 1 {
		t.Errorf("audit after a viewer read: %v, want still one entry", got)
	}
	b.assertLogsClean(t, "ada@example.com")
}

// Listing pages through every event once, newest first, and filters by type
// and status; it never carries payloads.
func TestListEventsPagesAndFilters(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	b.destination(t, b.operator, map[string]any{"url": "https://example.com/hook", "event_types": []string{"a.*"}})
	var ids []string
	for i := range 7 {
		typ := "a.x"
		if i%2 == 1 {
			typ = "b.y"
		}
		ids = append(ids, b.publish(t, b.operator, map[string]any{"type": typ, "payload": i}))
	}

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("paging does not end")
		}
		var page struct {
			Data       []map[string]json.RawMessage `json:"data"`
			NextCursor *string                      `json:"next_cursor"`
		}
		b.do(t, "GET", "/v1/events?limit=3&cursor="+url.QueryEscape(cursor), b.operator, nil).want(t, http.StatusOK, &page)
		for _, e := range page.Data {
			if _, ok := e["payload"]; ok {
				t.Fatal("a listed event carries a payload")
			}
			var id string
			json.Unmarshal(e["id"], &id)
			seen = append(seen, id)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Errorf("paged ids %v, want newest first %v", seen, want)
	}

	var list struct{ Data []event }
	b.do(t, "GET", "/v1/events?type=b.y", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 3 || slices.ContainsFunc(list.Data, func(e event) bool { return e.Type != "b.y" }) {
		t.Errorf("?type=b.y listed %+v", list.Data)
	}
	b.do(t, "GET", "/v1/events?status=unrouted", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 3 {
		t.Errorf("?status=unrouted listed %d events, want the 3 b.y ones", len(list.Data))
	}
	b.do(t, "GET", "/v1/events?status=pending&type=a.x", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 4 {
		t.Errorf("?status=pending&type=a.x listed %d events, want 4", len(list.Data))
	}
	var empty struct {
		Data       []event `json:"data"`
		NextCursor *string `json:"next_cursor"`
	}
	res := b.do(t, "GET", "/v1/events?type=nothing", b.operator, nil)
	res.want(t, http.StatusOK, &empty)
	if empty.Data == nil || len(empty.Data) != 0 || empty.NextCursor != nil {
		t.Errorf("an empty list answered %s, want data [] and next_cursor null", res.body)
	}
}

// A viewer may read events and their deliveries but not publish.
func TestViewerReadsMetadataOnly(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.destination(t, b.operator, map[string]any{"url": "https://example.com/hook"})
	id := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": 1})
	for _, path := range []string{"/v1/events", "/v1/events/" + id, "/v1/events/" + id + "/deliveries",
		"/v1/events/" + id + "/attempts", "/v1/destinations"} {
		if res := b.do(t, "GET", path, viewer, nil); res.status != http.StatusOK {
			t.Errorf("viewer GET %s: %d %s", path, res.status, res.body)
		}
	}
	b.do(t, "POST", "/v1/events", viewer, map[string]any{"type": "a.b", "payload": 1}).wantError(t, http.StatusForbidden, "forbidden")
}
