package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// destinationVia creates a destination through the API and returns its id.
func (b *testBundle) destinationVia(t *testing.T, name, types string) string {
	t.Helper()
	var d struct{ ID string }
	body := map[string]any{"name": name, "url": "https://" + name + ".example.com", "event_types": []string{types}}
	if code, raw := b.call(t, "POST", "/v1/destinations", b.operator, body, &d); code != http.StatusCreated {
		t.Fatalf("create destination: %d %s", code, raw)
	}
	return d.ID
}

// operatorKey is the bundle's admin key.
func (b *testBundle) operatorKey(t *testing.T) *sluice.APIKey {
	t.Helper()
	key, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(b.operator))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// attemptAll claims every due delivery and records a failed attempt of
// each, ending it with status (pending: retried at once). It returns how
// many it recorded.
func (b *testBundle) attemptAll(t *testing.T, status sluice.DeliveryStatus) int {
	t.Helper()
	now := time.Now()
	claims, err := b.store.ClaimDue(context.Background(), sluice.ClaimRequest{Now: now, Limit: 100, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range claims {
		r := &sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500, Error: "http_status",
			Duration: time.Millisecond, At: now},
			EventType: c.EventType, Status: status, NextAttemptAt: now, CountsForHealth: true}
		if rec := b.store.RecordAttempts(context.Background(), []*sluice.AttemptResult{r})[0]; rec.Err != nil {
			t.Fatal(rec.Err)
		}
	}
	return len(claims)
}

// lastAudit is the newest audit entry of the action, or nil.
func (b *testBundle) lastAudit(t *testing.T, action string) *sluice.AuditEntry {
	t.Helper()
	for _, e := range b.audit(t) {
		if e.Action == action {
			return e
		}
	}
	return nil
}

// An admin replays an event to one destination, then to every destination
// it matches now, from the event page: new deliveries, the dispatcher
// woken, and the same audit entry as the API's replay. An expired payload
// is refused in the API's words.
func TestReplayFromEventPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, c := b.destinationVia(t, "alpha", "order.*"), b.destinationVia(t, "beta", "order.*")
	b.destinationVia(t, "gamma", "other.*")
	id := b.publish(t, map[string]any{"type": "order.paid", "payload": map[string]any{"id": 1}})
	key := b.operatorKey(t)
	br := b.signIn(t, b.operator)

	_, page := br.get("/ui/events/" + id)
	for _, want := range []string{`id="replay-form"`, `<option value="all">`, `alpha (` + a + `)`, "alpha <code>" + a + "</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("event page lacks %q", want)
		}
	}

	if got, want := flash(t, br.post("/ui/events/"+id+"/replay", url.Values{"destination_id": {c}})), "Replayed to 1 destination: beta ("+c+")."; got != want {
		t.Errorf("replay to one: %q, want %q", got, want)
	}
	uiEntry := b.lastAudit(t, "event.replay")
	if code, raw := b.call(t, "POST", "/v1/events/"+id+"/replay", b.operator, map[string]any{"destination_id": c}, nil); code != http.StatusAccepted {
		t.Fatalf("API replay: %d %s", code, raw)
	}
	apiEntry := b.lastAudit(t, "event.replay")
	if uiEntry == nil || uiEntry.ID == apiEntry.ID || uiEntry.ResourceID != apiEntry.ResourceID || uiEntry.ActorKeyID != key.ID ||
		apiEntry.ActorKeyID != key.ID || len(uiEntry.Changes) != len(apiEntry.Changes) {
		t.Errorf("audit: dashboard %+v, API %+v", uiEntry, apiEntry)
	}

	got := flash(t, br.post("/ui/events/"+id+"/replay", url.Values{"destination_id": {"all"}}))
	if !strings.HasPrefix(got, "Replayed to 2 destinations: ") || !strings.Contains(got, "alpha ("+a+")") || strings.Contains(got, "gamma") {
		t.Errorf("replay to all: %q", got)
	}
	var ds struct {
		Data []struct {
			DestinationID string `json:"destination_id"`
		}
	}
	b.call(t, "GET", "/v1/events/"+id+"/deliveries", b.operator, nil, &ds)
	if len(ds.Data) != 2+1+1+2 { // routed, replayed by the dashboard, the API, then to all
		t.Errorf("%d deliveries, want 6", len(ds.Data))
	}
	if b.wakes.Load() != 2 {
		t.Errorf("%d wakes, want 2", b.wakes.Load())
	}

	_, raw := b.call(t, "POST", "/v1/events/"+id+"/replay", b.operator, map[string]any{"destination_id": "dst_nope"}, nil)
	if got, want := flash(t, br.post("/ui/events/"+id+"/replay", url.Values{"destination_id": {"dst_nope"}})), "Not replayed: "+apiError(t, raw); got != want {
		t.Errorf("replay to an unknown destination: %q, want %q", got, want)
	}
	if code, raw := b.call(t, "DELETE", "/v1/events/"+id+"/payload", b.operator, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete payload: %d %s", code, raw)
	}
	_, raw = b.call(t, "POST", "/v1/events/"+id+"/replay", b.operator, nil, nil)
	if got, want := flash(t, br.post("/ui/events/"+id+"/replay", url.Values{"destination_id": {"all"}})), "Not replayed: "+apiError(t, raw); got != want {
		t.Errorf("replay of an erased payload: %q, want %q", got, want)
	}
}

// Recovering a window goes through a confirmation step, then retries the
// destination's exhausted deliveries as the API does, with its audit
// entry and its rule for the window.
func TestRecoverWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.destinationVia(t, "alpha", "*")
	b.publish(t, map[string]any{"type": "order.paid", "payload": 1})
	b.publish(t, map[string]any{"type": "order.paid", "payload": 2})
	if n := b.attemptAll(t, sluice.DeliveryExhausted); n != 2 {
		t.Fatalf("exhausted %d, want 2", n)
	}
	key := b.operatorKey(t)
	br := b.signIn(t, b.operator)
	if code, page := br.get("/ui/destinations/" + d + "/recover"); code != http.StatusOK || !strings.Contains(page, `id="recover"`) {
		t.Fatalf("recover page: %d", code)
	}
	since := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")
	until := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")

	res := br.post("/ui/destinations/"+d+"/recover", url.Values{"since": {since}, "until": {until}})
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `name="confirm" value="1"`) || !strings.Contains(body, "exhausted between") {
		t.Fatalf("recover without confirming: %d %s", res.StatusCode, body)
	}
	if b.lastAudit(t, "destination.recover") != nil {
		t.Fatal("recovered before it was confirmed")
	}

	form := url.Values{"since": {since}, "until": {until}, "confirm": {"1"}}
	if got, want := flash(t, br.post("/ui/destinations/"+d+"/recover", form)), "Recovered 2 deliveries to alpha."; got != want {
		t.Errorf("recover: %q, want %q", got, want)
	}
	uiEntry := b.lastAudit(t, "destination.recover")
	b.call(t, "POST", "/v1/destinations/"+d+"/recover", b.operator, map[string]any{"since": time.Now().Add(-time.Hour)}, nil)
	apiEntry := b.lastAudit(t, "destination.recover")
	if uiEntry == nil || uiEntry.ID == apiEntry.ID || uiEntry.ResourceID != d || apiEntry.ResourceID != d || uiEntry.ActorKeyID != key.ID {
		t.Errorf("audit: dashboard %+v, API %+v", uiEntry, apiEntry)
	}
	if b.wakes.Load() != 1 {
		t.Errorf("%d wakes, want 1", b.wakes.Load())
	}

	at := time.Now().UTC().Format(time.RFC3339)
	_, raw := b.call(t, "POST", "/v1/destinations/"+d+"/recover", b.operator, map[string]any{"since": at, "until": at}, nil)
	if got, want := flash(t, br.post("/ui/destinations/"+d+"/recover", url.Values{"since": {since}, "until": {since}, "confirm": {"1"}})),
		"Not recovered: "+apiError(t, raw); got != want {
		t.Errorf("an empty window: %q, want %q", got, want)
	}
	if got := flash(t, br.post("/ui/destinations/"+d+"/recover", url.Values{"since": {"yesterday"}})); !strings.HasPrefix(got, "Not recovered: since: ") {
		t.Errorf("a bad since: %q", got)
	}
}

// A destination paused by its circuit breaker is resumed from the
// dashboard as through the API: active again, the resume audited with the
// key, and a destination not paused refused in the API's words.
func TestResumeFromDashboard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.destinationVia(t, "alpha", "*")
	b.publish(t, map[string]any{"type": "order.paid", "payload": 1})
	for range 10 { // the default breaker opens after 10 failures in a row
		if n := b.attemptAll(t, sluice.DeliveryPending); n != 1 {
			t.Fatalf("claimed %d, want 1", n)
		}
	}
	key := b.operatorKey(t)
	br := b.signIn(t, b.operator)
	if _, page := br.get("/ui/destinations/" + d + "/recover"); !strings.Contains(page, `id="resume"`) {
		t.Fatal("a paused destination's page has no resume button")
	}
	if _, page := br.get("/ui/"); !strings.Contains(page, `href="/ui/destinations/`+d+`"`) {
		t.Error("the failing destination on the overview is no link")
	}
	if got, want := flash(t, br.post("/ui/destinations/"+d+"/resume", url.Values{})), "Destination "+d+" resumed: its waiting deliveries go now."; got != want {
		t.Errorf("resume: %q, want %q", got, want)
	}
	got, err := b.store.Destination(context.Background(), key.TenantID, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.State() != sluice.StateActive || got.Failures != 0 || b.wakes.Load() != 1 {
		t.Errorf("after resuming: state %s, %d failures, %d wakes", got.State(), got.Failures, b.wakes.Load())
	}
	if e := b.lastAudit(t, "destination.resume"); e == nil || e.ResourceID != d || e.ActorKeyID != key.ID {
		t.Errorf("audit %+v, want destination.resume of %s by %s", e, d, key.ID)
	}
	_, raw := b.call(t, "POST", "/v1/destinations/"+d+"/resume", b.operator, nil, nil)
	if got, want := flash(t, br.post("/ui/destinations/"+d+"/resume", url.Values{"back": {"/ui/destinations"}})), "Not resumed: "+apiError(t, raw); got != want {
		t.Errorf("resume an active destination: %q, want %q", got, want)
	}
}

// Erasing a subject and disabling a destination each take a second,
// confirming post: the first shows what will happen and changes nothing.
func TestDestructiveActionsAskFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.destinationVia(t, "alpha", "*")
	b.publish(t, map[string]any{"type": "user.created", "payload": map[string]any{"email": "ada@example.com"}})
	key := b.operatorKey(t)
	br := b.signIn(t, b.operator)

	res := br.post("/ui/erasures", url.Values{"type": {"email"}, "value": {"ada@example.com"}})
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="confirm"`) || !strings.Contains(body, "cannot be undone") ||
		!strings.Contains(body, `name="confirm" value="1"`) || !strings.Contains(body, `action="/ui/erasures"`) {
		t.Fatalf("erase without confirming: %d %s", res.StatusCode, body)
	}
	if n := erasures(t, b); n != "0" || b.lastAudit(t, "subject.erase") != nil {
		t.Fatalf("erased before it was confirmed: counter %s", n)
	}
	if strings.Contains(b.logs.String(), "ada@example.com") {
		t.Error("the subject's value was logged")
	}

	res = br.post("/ui/destinations/"+d+"/enabled", url.Values{"enabled": {"false"}})
	body = readBody(t, res)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Disable alpha?") || !strings.Contains(body, `name="confirm" value="1"`) {
		t.Fatalf("disable without confirming: %d %s", res.StatusCode, body)
	}
	got, err := b.store.Destination(context.Background(), key.TenantID, d)
	if err != nil || !got.Enabled {
		t.Fatalf("disabled before it was confirmed: %+v %v", got, err)
	}
	// Enabling is not destructive: it needs no confirmation.
	if got := flash(t, br.post("/ui/destinations/"+d+"/enabled", url.Values{"enabled": {"true"}})); got != "Destination "+d+" enabled." {
		t.Errorf("enable: %q", got)
	}
}

// The layout names the signed-in key and its role; a viewer sees no
// action form and is refused, in the API's words, when it posts anyway.
func TestRoleShownAndViewerRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.destinationVia(t, "alpha", "*")
	id := b.publish(t, map[string]any{"type": "order.paid", "payload": 1})
	if _, page := b.signIn(t, b.operator).get("/ui/"); !strings.Contains(page, "Signed in as <strong>operator</strong> (admin)") {
		t.Error("the admin's page does not say who is signed in")
	}
	_, token := b.viewer(t)
	br := b.signIn(t, token)
	_, event := br.get("/ui/events/" + id)
	_, recover := br.get("/ui/destinations/" + d + "/recover")
	if !strings.Contains(event, "Signed in as <strong>viewer</strong> (viewer)") {
		t.Error("the viewer's page does not say who is signed in")
	}
	if strings.Contains(event, "replay-form") || strings.Contains(recover, `id="recover"`) || strings.Contains(recover, `id="resume"`) {
		t.Error("a viewer is shown an action form")
	}
	entries := len(b.audit(t))
	for path, want := range map[string]string{
		"/ui/events/" + id + "/replay":       "Not replayed: " + forbidden,
		"/ui/destinations/" + d + "/recover": "Not recovered: " + forbidden,
		"/ui/destinations/" + d + "/resume":  "Not resumed: " + forbidden,
	} {
		form := url.Values{"destination_id": {"all"}, "since": {"2020-01-01T00:00"}, "confirm": {"1"}}
		if got := flash(t, br.post(path, form)); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	if n := len(b.audit(t)); n != entries {
		t.Errorf("%d audit entries after the viewer's attempts, want %d", n, entries)
	}
}
