package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/sluicehq/sluice"
)

// hook is one request a receiver got.
type hook struct {
	path   string
	header http.Header
	body   []byte
}

// receiver is a loopback webhook endpoint answering with the statuses of
// respond in turn (the last repeating) and keeping every request.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	respond []int
	hooks   []hook
}

func newReceiver(t *testing.T, respond ...int) *receiver {
	t.Helper()
	if len(respond) == 0 {
		respond = []int{http.StatusNoContent}
	}
	r := &receiver{respond: respond}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := r.respond[min(len(r.hooks), len(r.respond)-1)]
		r.hooks = append(r.hooks, hook{path: req.URL.Path, header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hooks)
}

// attempt is an attempt as the API returns it.
type attempt struct {
	ID            string  `json:"id"`
	DeliveryID    string  `json:"delivery_id"`
	DestinationID string  `json:"destination_id"`
	Attempt       int     `json:"attempt"`
	Outcome       string  `json:"outcome"`
	HTTPStatus    *int    `json:"http_status"`
	DurationMS    *int64  `json:"duration_ms"`
	Error         *string `json:"error"`
	At            string  `json:"at"`
}

// A published event reaches its destination through the whole path: the
// body byte for byte, verified by the Standard Webhooks and Svix libraries,
// the same webhook-id on the retry, and both attempts recorded.
func TestPublishedEventIsDeliveredSigned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, http.StatusInternalServerError, http.StatusNoContent)
	dest := b.destination(t, b.operator, map[string]any{"name": "billing", "url": recv.srv.URL + "/hooks",
		"event_types": []string{"invoice.*"}})

	// Sent as raw text so the odd spacing is what the receiver must get back.
	const payload = `{"id": "inv_1",  "amount" :4200, "email":"ada@example.com"}`
	var pub struct{ ID string }
	b.do(t, "POST", "/v1/events", b.operator, `{"type":"invoice.paid","payload":`+payload+`}`).
		want(t, http.StatusAccepted, &pub)

	ds := b.waitDeliveries(t, b.operator, pub.ID, func(ds []delivery) bool {
		return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded
	})
	if ds[0].Attempts != 2 || ds[0].DestinationID != dest.ID || ds[0].NextAttemptAt != nil {
		t.Errorf("delivery %+v, want 2 attempts to %s and no next attempt", ds[0], dest.ID)
	}

	hooks := recv.got()
	if len(hooks) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(hooks))
	}
	sw, err := standardwebhooks.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := svix.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hooks {
		if string(h.body) != payload {
			t.Errorf("request %d body %q, want the published bytes %q", i, h.body, payload)
		}
		if got := h.header.Get("webhook-id"); got != pub.ID {
			t.Errorf("request %d webhook-id %q, want the event id %q", i, got, pub.ID)
		}
		if h.path != "/hooks" || h.header.Get("Content-Type") != "application/json" ||
			h.header.Get("User-Agent") != sluice.UserAgent() {
			t.Errorf("request %d: path %q, headers %v", i, h.path, h.header)
		}
		if err := sw.Verify(h.body, h.header); err != nil {
			t.Errorf("request %d: standard-webhooks Verify: %v", i, err)
		}
		if err := sv.Verify(h.body, h.header); err != nil {
			t.Errorf("request %d: svix Verify: %v", i, err)
		}
	}

	var as struct{ Data []attempt }
	b.do(t, "GET", "/v1/events/"+pub.ID+"/attempts", b.operator, nil).want(t, http.StatusOK, &as)
	if len(as.Data) != 2 {
		t.Fatalf("attempts %+v, want 2", as.Data)
	}
	first, second := as.Data[0], as.Data[1]
	if first.Attempt != 1 || first.Outcome != "failed" || first.HTTPStatus == nil || *first.HTTPStatus != 500 ||
		first.Error == nil || *first.Error != "http_status" || first.DeliveryID != ds[0].ID || first.DurationMS == nil {
		t.Errorf("first attempt %+v, want 1 failed with 500 http_status", first)
	}
	if second.Attempt != 2 || second.Outcome != "succeeded" || second.HTTPStatus == nil || *second.HTTPStatus != 204 ||
		second.Error != nil || second.DestinationID != dest.ID {
		t.Errorf("second attempt %+v, want 2 succeeded with 204", second)
	}

	var ev struct{ Status sluice.EventStatus }
	b.do(t, "GET", "/v1/events/"+pub.ID, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.Status != sluice.EventDelivered {
		t.Errorf("event status %q, want delivered", ev.Status)
	}
	b.assertLogsClean(t, recv.srv.URL, dest.Secret, b.operator, "ada@example.com", "inv_1")
}

// A disabled destination's delivery is created pending and waits, while an
// enabled one is delivered; enabling it lets its delivery go.
func TestDisabledDestinationWaitsUntilEnabled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	off := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL + "/off", "enabled": false})
	on := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL + "/on"})
	if off.State != sluice.StateDisabled || off.DisabledReason != sluice.DisabledManual || off.Enabled {
		t.Fatalf("created disabled destination %+v, want state disabled, reason manual", off)
	}
	id := b.publish(t, b.operator, map[string]any{"type": "order.created", "payload": map[string]int{"n": 1}})

	ds := b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool {
		return slices.ContainsFunc(ds, func(d delivery) bool {
			return d.DestinationID == on.ID && d.Status == sluice.DeliverySucceeded
		})
	})
	// The dispatcher has delivered to the enabled destination, so it has had
	// its chance at the disabled one too: that one must still be waiting.
	i := slices.IndexFunc(ds, func(d delivery) bool { return d.DestinationID == off.ID })
	if i < 0 || ds[i].Status != sluice.DeliveryPending || ds[i].Attempts != 0 || ds[i].NextAttemptAt == nil {
		t.Fatalf("disabled destination's delivery %+v, want pending with 0 attempts", ds)
	}

	var patched destination
	b.do(t, "PATCH", "/v1/destinations/"+off.ID, b.operator, map[string]any{"enabled": true}).
		want(t, http.StatusOK, &patched)
	if patched.State != sluice.StateActive || patched.DisabledReason != "" {
		t.Errorf("enabled destination %+v, want active without a reason", patched)
	}
	b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool {
		return len(ds) == 2 && ds[0].Status == sluice.DeliverySucceeded && ds[1].Status == sluice.DeliverySucceeded
	})
	paths := map[string]int{}
	for _, h := range recv.got() {
		paths[h.path]++
	}
	if paths["/on"] != 1 || paths["/off"] != 1 {
		t.Errorf("receiver got %v, want one delivery on each path", paths)
	}
}

// A 410 from the receiver disables the destination, which the API shows as
// state disabled with reason gone.
func TestGoneDisablesDestination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, http.StatusGone)
	dest := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL})
	id := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": true})
	ds := b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool {
		return len(ds) == 1 && ds[0].Status == sluice.DeliveryExhausted
	})
	if ds[0].Attempts != 1 {
		t.Errorf("delivery %+v, want exhausted after 1 attempt", ds[0])
	}
	var got destination
	b.do(t, "GET", "/v1/destinations/"+dest.ID, b.operator, nil).want(t, http.StatusOK, &got)
	if got.Enabled || got.State != sluice.StateDisabled || got.DisabledReason != sluice.DisabledGone {
		t.Errorf("destination after 410: %+v, want disabled, reason gone", got)
	}
}

// Routing: exact types, "prefix.*" and "*" match; source-filtered
// destinations do not get published events.
func TestEventTypeRouting(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	url := "https://example.com/hook"
	prefix := b.destination(t, b.operator, map[string]any{"url": url, "event_types": []string{"invoice.*"}})
	exact := b.destination(t, b.operator, map[string]any{"url": url, "event_types": []string{"customer.created"}})
	all := b.destination(t, b.operator, map[string]any{"url": url})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"}})
	bySource := b.destination(t, b.operator, map[string]any{"url": url, "source_ids": []string{src.ID}})
	if !slices.Equal(all.EventTypes, []string{"*"}) {
		t.Errorf("default event_types %v, want [*]", all.EventTypes)
	}

	tests := []struct {
		typ  string
		want []string
	}{
		{"invoice.paid", []string{prefix.ID, all.ID}},
		{"invoice.line.added", []string{prefix.ID, all.ID}},
		{"customer.created", []string{exact.ID, all.ID}},
		{"customer.deleted", []string{all.ID}},
		{"invoices", []string{all.ID}},
	}
	for _, tt := range tests {
		id := b.publish(t, b.operator, map[string]any{"type": tt.typ, "payload": 1})
		var got []string
		for _, d := range b.deliveries(t, b.operator, id) {
			got = append(got, d.DestinationID)
		}
		slices.Sort(got)
		slices.Sort(tt.want)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s routed to %v, want %v", tt.typ, got, tt.want)
		}
		if slices.Contains(got, bySource.ID) {
			t.Errorf("%s reached the source-filtered destination", tt.typ)
		}
	}

	// An event nobody subscribes to is stored, unrouted.
	b.do(t, "DELETE", "/v1/destinations/"+all.ID, b.operator, nil).want(t, http.StatusNoContent, nil)
	id := b.publish(t, b.operator, map[string]any{"type": "nobody.cares", "payload": 1})
	var ev struct{ Status sluice.EventStatus }
	b.do(t, "GET", "/v1/events/"+id, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.Status != sluice.EventUnrouted || len(b.deliveries(t, b.operator, id)) != 0 {
		t.Errorf("unsubscribed event: status %q, want unrouted with no deliveries", ev.Status)
	}
}

// The retry schedule's first delay holds back the first attempt.
func TestFirstDelayFromSchedule(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true, retrySchedule: []time.Duration{time.Hour}})
	b.destination(t, b.operator, map[string]any{"url": "https://example.com/hook"})
	before := time.Now()
	id := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": 1})
	ds := b.deliveries(t, b.operator, id)
	if len(ds) != 1 || ds[0].NextAttemptAt == nil {
		t.Fatalf("deliveries %+v, want one with a next attempt", ds)
	}
	if d := ds[0].NextAttemptAt.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("next attempt in %s, want the first delay of 1h", d)
	}
}
