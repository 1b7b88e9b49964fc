package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
)

// listenDestination is a listen destination as POST /v1/listen returns it.
type listenDestination struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	URL         string     `json:"url"`
	EventTypes  []string   `json:"event_types"`
	Secret      string     `json:"secret"`
	Enabled     bool       `json:"enabled"`
	ListenUntil *time.Time `json:"listen_until"`
}

// listenDelivery is a claimed delivery as a listener gets it.
type listenDelivery struct {
	DeliveryID string            `json:"delivery_id"`
	EventID    string            `json:"event_id"`
	EventType  string            `json:"event_type"`
	Attempt    int               `json:"attempt"`
	Headers    map[string]string `json:"headers"`
	Body       []byte            `json:"body"`
	LeaseUntil time.Time         `json:"lease_until"`
}

// attemptRecorded is what became of a reported attempt.
type attemptRecorded struct {
	DeliveryID    string                `json:"delivery_id"`
	Attempt       int                   `json:"attempt"`
	Recorded      bool                  `json:"recorded"`
	Status        sluice.DeliveryStatus `json:"status"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
	Error         *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// listen creates a listen destination from the fields given.
func (b *testBundle) listen(t *testing.T, token string, fields map[string]any) listenDestination {
	t.Helper()
	var d listenDestination
	b.do(t, "POST", "/v1/listen", token, fields).want(t, http.StatusCreated, &d)
	if d.Kind != sluice.KindListen || d.URL != "" || !strings.HasPrefix(d.Secret, "whsec_") || d.ListenUntil == nil {
		t.Fatalf("created listen destination %+v", d)
	}
	return d
}

// claimListen claims the listen destination's deliveries, waiting up to
// wait for some.
func (b *testBundle) claimListen(t *testing.T, token, id, wait string) []listenDelivery {
	t.Helper()
	var out struct{ Data []listenDelivery }
	b.do(t, "POST", "/v1/listen/"+id+"/claim?wait="+wait, token, nil).want(t, http.StatusOK, &out)
	return out.Data
}

// claimOne claims until the listen destination has a delivery, and
// fails unless it gets exactly one.
func (b *testBundle) claimOne(t *testing.T, token, id string) listenDelivery {
	t.Helper()
	got := b.claimListen(t, token, id, "10s")
	if len(got) != 1 {
		t.Fatalf("claimed %d deliveries, want 1: %+v", len(got), got)
	}
	return got[0]
}

// report reports attempts of a listen destination's deliveries.
func (b *testBundle) report(t *testing.T, token, id string, attempts ...map[string]any) []attemptRecorded {
	t.Helper()
	var out struct{ Data []attemptRecorded }
	b.do(t, "POST", "/v1/listen/"+id+"/attempts", token, map[string]any{"attempts": attempts}).
		want(t, http.StatusOK, &out)
	if len(out.Data) != len(attempts) {
		t.Fatalf("report answered %d results for %d attempts", len(out.Data), len(attempts))
	}
	return out.Data
}

// A listener gets the request the dispatcher would have sent, signed for
// the listen destination's secret with the field allowlist applied, and
// only for the events it asked for; what it reports is recorded as the
// event's attempt. No dispatcher POSTs to it meanwhile.
func TestListenDeliversSignedRequests(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, o setupOptions) {
		b := setupWith(t, o)
		recv := newReceiver(t, http.StatusOK)
		b.destination(t, b.operator, map[string]any{"url": recv.srv.URL, "event_types": []string{"*"}})
		l := b.listen(t, b.operator, map[string]any{"event_types": []string{"order.*"}, "fields": []string{"id", "total"}})

		b.publish(t, b.operator, map[string]any{"type": "user.created", "payload": map[string]any{"id": "u1"}})
		eventID := b.publish(t, b.operator, map[string]any{"type": "order.created",
			"payload": map[string]any{"id": "o1", "total": 42, "card": "4242-secret-card"}})

		got := b.claimOne(t, b.operator, l.ID)
		if got.EventID != eventID || got.EventType != "order.created" || got.Attempt != 1 ||
			!strings.HasPrefix(got.DeliveryID, sluice.PrefixDelivery) || !got.LeaseUntil.After(time.Now()) {
			t.Fatalf("claimed %+v", got)
		}
		if string(got.Body) != `{"id":"o1","total":42}` {
			t.Errorf("body %s, want the allowlisted fields only", got.Body)
		}
		header := http.Header{}
		for name, v := range got.Headers {
			header.Set(name, v)
		}
		wh, err := standardwebhooks.NewWebhook(l.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(got.Body, header); err != nil {
			t.Errorf("standard-webhooks Verify: %v (headers %v)", err, got.Headers)
		}
		if header.Get("webhook-id") != eventID || header.Get("Content-Type") != "application/json" ||
			header.Get(sluice.HeaderHops) != "1" || header.Get("User-Agent") != sluice.UserAgent() {
			t.Errorf("headers %v", got.Headers)
		}
		if more := b.claimListen(t, b.operator, l.ID, "0s"); len(more) != 0 {
			t.Fatalf("claimed %d more: the user event, or the order again within its lease", len(more))
		}

		rec := b.report(t, b.operator, l.ID, map[string]any{"delivery_id": got.DeliveryID, "attempt": 1,
			"status": 202, "duration_ms": 12})
		if !rec[0].Recorded || rec[0].Status != sluice.DeliverySucceeded || rec[0].NextAttemptAt != nil {
			t.Fatalf("report = %+v, want recorded and succeeded", rec[0])
		}
		var as struct{ Data []attempt }
		b.do(t, "GET", "/v1/events/"+eventID+"/attempts", b.operator, nil).want(t, http.StatusOK, &as)
		var mine []attempt
		for _, a := range as.Data {
			if a.DestinationID == l.ID {
				mine = append(mine, a)
			}
		}
		if len(mine) != 1 || mine[0].Outcome != "succeeded" || mine[0].HTTPStatus == nil || *mine[0].HTTPStatus != 202 ||
			mine[0].DurationMS == nil || *mine[0].DurationMS != 12 || mine[0].DeliveryID != got.DeliveryID {
			t.Fatalf("attempts to the listen destination = %+v, want the one reported", mine)
		}
		// The http destination got both events; nothing tried to POST to
		// the listen destination, so its delivery has the one attempt.
		ds := b.waitDeliveries(t, b.operator, eventID, func(ds []delivery) bool {
			return len(ds) == 2 && ds[0].Status == sluice.DeliverySucceeded && ds[1].Status == sluice.DeliverySucceeded
		})
		for _, d := range ds {
			if d.Attempts != 1 {
				t.Errorf("delivery %+v, want 1 attempt", d)
			}
		}
		b.assertLogsClean(t, l.Secret, "4242-secret-card")
	})
}

// A failure a listener reports is retried on the schedule and recorded as
// the dispatcher's are; a 410 ends the delivery without disabling the
// listen destination; a stale or unknown report records nothing.
func TestListenRetriesReportedFailures(t *testing.T) {
	t.Parallel()
	b := setup(t) // schedule 0, 50ms, 50ms: three attempts
	l := b.listen(t, b.operator, map[string]any{})
	eventID := b.publish(t, b.operator, map[string]any{"type": "order.created", "payload": map[string]any{"n": 1}})

	first := b.claimOne(t, b.operator, l.ID)
	rec := b.report(t, b.operator, l.ID, map[string]any{"delivery_id": first.DeliveryID, "attempt": 1, "status": 500,
		"duration_ms": 3})
	if !rec[0].Recorded || rec[0].Status != sluice.DeliveryPending || rec[0].NextAttemptAt == nil {
		t.Fatalf("report of a 500 = %+v, want a retry", rec[0])
	}
	stale := b.report(t, b.operator, l.ID,
		map[string]any{"delivery_id": first.DeliveryID, "attempt": 1, "status": 200},
		map[string]any{"delivery_id": "dlv_unknown", "attempt": 1, "status": 200})
	if stale[0].Recorded || stale[0].Error == nil || stale[0].Error.Code != sluice.ECONFLICT ||
		stale[1].Recorded || stale[1].Error == nil || stale[1].Error.Code != sluice.ENOTFOUND {
		t.Fatalf("stale and unknown reports = %+v", stale)
	}

	second := b.claimOne(t, b.operator, l.ID)
	if second.DeliveryID != first.DeliveryID || second.Attempt != 2 || second.Headers["webhook-id"] != eventID {
		t.Fatalf("the retry = %+v", second)
	}
	rec = b.report(t, b.operator, l.ID, map[string]any{"delivery_id": second.DeliveryID, "attempt": 2, "status": 0,
		"error": "connect", "duration_ms": 1})
	if rec[0].Status != sluice.DeliveryPending {
		t.Fatalf("report of a refused connection = %+v, want a retry", rec[0])
	}
	third := b.claimOne(t, b.operator, l.ID)
	rec = b.report(t, b.operator, l.ID, map[string]any{"delivery_id": third.DeliveryID, "attempt": 3, "status": 204})
	if rec[0].Status != sluice.DeliverySucceeded {
		t.Fatalf("report of the last attempt = %+v", rec[0])
	}
	var as struct{ Data []attempt }
	b.do(t, "GET", "/v1/events/"+eventID+"/attempts", b.operator, nil).want(t, http.StatusOK, &as)
	if len(as.Data) != 3 || *as.Data[0].HTTPStatus != 500 || *as.Data[0].Error != "http_status" ||
		as.Data[1].HTTPStatus != nil || *as.Data[1].Error != "connect" || as.Data[2].Outcome != "succeeded" {
		t.Fatalf("attempts = %+v", as.Data)
	}

	goneID := b.publish(t, b.operator, map[string]any{"type": "order.created", "payload": map[string]any{"n": 2}})
	gone := b.claimOne(t, b.operator, l.ID)
	rec = b.report(t, b.operator, l.ID, map[string]any{"delivery_id": gone.DeliveryID, "attempt": 1, "status": 410})
	if rec[0].Status != sluice.DeliveryExhausted {
		t.Fatalf("report of a 410 = %+v, want exhausted", rec[0])
	}
	var d listenDestination
	b.do(t, "GET", "/v1/destinations/"+l.ID, b.operator, nil).want(t, http.StatusOK, &d)
	if !d.Enabled || d.Kind != sluice.KindListen {
		t.Fatalf("after a 410 the listen destination is %+v, want it enabled", d)
	}
	if ds := b.deliveries(t, b.operator, goneID); len(ds) != 1 || ds[0].Status != sluice.DeliveryExhausted {
		t.Fatalf("deliveries after a 410 = %+v", ds)
	}
}

// A waiting claim answers with work stored while it waits, and with
// nothing once its wait is over.
func TestListenClaimWaits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.listen(t, b.operator, map[string]any{})
	if got := b.claimListen(t, b.operator, l.ID, "100ms"); len(got) != 0 {
		t.Fatalf("claimed %d with nothing stored", len(got))
	}
	answer := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", b.srv.URL+"/v1/listen/"+l.ID+"/claim?wait=20s", nil)
		req.Header.Set("Authorization", "Bearer "+b.operator)
		res, err := b.srv.Client().Do(req)
		if err != nil {
			res = nil
		}
		answer <- res
	}()
	eventID := b.publish(t, b.operator, map[string]any{"type": "x.y", "payload": map[string]any{}})
	res := <-answer
	if res == nil {
		t.Fatal("the waiting claim failed")
	}
	defer res.Body.Close()
	var out struct{ Data []listenDelivery }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the waiting claim: %d, %v", res.StatusCode, err)
	}
	if got := out.Data; len(got) != 1 || got[0].EventID != eventID {
		t.Fatalf("the waiting claim got %+v, want the event published meanwhile", got)
	}
}

// A payload that does not reduce to the field allowlist is never handed
// out: its attempt is recorded failed at once, as the dispatcher does.
func TestListenFieldsFailureRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.listen(t, b.operator, map[string]any{"fields": []string{"id"}})
	eventID := b.publish(t, b.operator, map[string]any{"type": "x.y", "payload": []int{1, 2}})
	if got := b.claimListen(t, b.operator, l.ID, "0s"); len(got) != 0 {
		t.Fatalf("claimed %+v, a payload the allowlist cannot reduce", got)
	}
	var as struct{ Data []attempt }
	b.do(t, "GET", "/v1/events/"+eventID+"/attempts", b.operator, nil).want(t, http.StatusOK, &as)
	if len(as.Data) != 1 || as.Data[0].Error == nil || *as.Data[0].Error != "fields" {
		t.Fatalf("attempts = %+v, want one failed for its fields", as.Data)
	}
	if ds := b.deliveries(t, b.operator, eventID); len(ds) != 1 || ds[0].Status != sluice.DeliveryExhausted {
		t.Fatalf("deliveries = %+v, want exhausted", ds)
	}
}

// Deleting a listen destination cancels its deliveries; it is gone for
// every listen route after.
func TestListenDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.listen(t, b.operator, map[string]any{"name": "laptop", "event_types": []string{"x.*"}})
	var list struct{ Data []listenDestination }
	b.do(t, "GET", "/v1/destinations", b.operator, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 1 || list.Data[0].ID != l.ID || list.Data[0].Kind != sluice.KindListen {
		t.Fatalf("destinations = %+v, want the listen destination", list.Data)
	}
	// Unnamed listeners are named after their ids; a name taken is taken.
	unnamed := map[string]any{"event_types": []string{"other.*"}}
	first, second := b.listen(t, b.operator, unnamed), b.listen(t, b.operator, unnamed)
	for _, d := range []listenDestination{first, second} {
		if d.Name != "sluice listen "+d.ID {
			t.Errorf("an unnamed listen destination is named %q", d.Name)
		}
	}
	b.do(t, "POST", "/v1/listen", b.operator, map[string]any{"name": "laptop"}).wantError(t, http.StatusConflict, sluice.ECONFLICT)
	eventID := b.publish(t, b.operator, map[string]any{"type": "x.y", "payload": map[string]any{}})
	b.do(t, "DELETE", "/v1/listen/"+l.ID, b.operator, nil).want(t, http.StatusNoContent, nil)
	if ds := b.deliveries(t, b.operator, eventID); len(ds) != 1 || ds[0].Status != sluice.DeliveryCancelled {
		t.Fatalf("deliveries after the delete = %+v, want cancelled", ds)
	}
	b.do(t, "POST", "/v1/listen/"+l.ID+"/claim", b.operator, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
	b.do(t, "DELETE", "/v1/listen/"+l.ID, b.operator, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
	b.do(t, "GET", "/v1/destinations/"+l.ID, b.operator, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
}

// The listen routes are scoped to the token's tenant (another tenant's
// listen destination is 404), are for admins, work on listen destinations
// only, and refuse bad input with the field named.
func TestListenRoutesIsolatedAndChecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.listen(t, b.operator, map[string]any{})
	plain := b.destination(t, b.operator, map[string]any{"url": "https://example.com/hooks"})
	b.publish(t, b.operator, map[string]any{"type": "x.y", "payload": map[string]any{}})
	delivered := b.claimOne(t, b.operator, l.ID)
	report := map[string]any{"attempts": []map[string]any{{"delivery_id": delivered.DeliveryID, "attempt": 1,
		"status": 200}}}

	other := b.tenant(t, "other")
	for _, id := range []string{l.ID, plain.ID} {
		for _, token := range []string{other, b.operator} {
			if token == b.operator && id == l.ID {
				continue
			}
			b.do(t, "POST", "/v1/listen/"+id+"/claim", token, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
			b.do(t, "POST", "/v1/listen/"+id+"/attempts", token, report).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
			b.do(t, "DELETE", "/v1/listen/"+id, token, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
		}
	}
	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.do(t, "POST", "/v1/listen", viewer, map[string]any{}).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)
	b.do(t, "POST", "/v1/listen/"+l.ID+"/claim", viewer, nil).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)
	b.do(t, "POST", "/v1/listen", "", map[string]any{}).wantError(t, http.StatusUnauthorized, sluice.EUNAUTHORIZED)

	for _, tt := range []struct {
		method, path string
		body         any
		field        string
	}{
		{"POST", "/v1/listen", map[string]any{"url": "https://example.com"}, "url"},
		{"POST", "/v1/listen", map[string]any{"event_types": []string{}}, "event_types"},
		{"POST", "/v1/listen", map[string]any{"secret": "nope"}, "secret"},
		{"POST", "/v1/listen/" + l.ID + "/claim?wait=1h", nil, "wait"},
		{"POST", "/v1/listen/" + l.ID + "/claim?limit=0", nil, "limit"},
		{"POST", "/v1/listen/" + l.ID + "/attempts", map[string]any{"attempts": []any{}}, "attempts"},
		{"POST", "/v1/listen/" + l.ID + "/attempts", map[string]any{"attempts": []map[string]any{{"attempt": 1, "status": 200}}}, "delivery_id"},
		{"POST", "/v1/listen/" + l.ID + "/attempts", map[string]any{"attempts": []map[string]any{{"delivery_id": "dlv_x", "status": 200}}}, "attempt"},
		{"POST", "/v1/listen/" + l.ID + "/attempts", map[string]any{"attempts": []map[string]any{{"delivery_id": "dlv_x", "attempt": 1, "status": 42}}}, "status"},
		{"POST", "/v1/listen/" + l.ID + "/attempts", map[string]any{"attempts": []map[string]any{{"delivery_id": "dlv_x", "attempt": 1}}}, "error"},
		{"POST", "/v1/listen/" + l.ID + "/attempts", map[string]any{"attempts": []map[string]any{{"delivery_id": "dlv_x", "attempt": 1, "status": 200, "error": "timeout"}}}, "error"},
		{"POST", "/v1/listen/" + l.ID + "/attempts", map[string]any{"attempts": []map[string]any{{"delivery_id": "dlv_x", "attempt": 1, "status": 200, "duration_ms": -1}}}, "duration_ms"},
		{"PATCH", "/v1/destinations/" + l.ID, map[string]any{"url": "https://example.com"}, "url"},
	} {
		msg := b.do(t, tt.method, tt.path, b.operator, tt.body).wantError(t, http.StatusBadRequest, sluice.EINVALID)
		if !strings.Contains(msg, tt.field) {
			t.Errorf("%s %s: message %q does not name %s", tt.method, tt.path, msg, tt.field)
		}
	}
	// The delivery is still the listener's to report, once.
	var out struct{ Data []attemptRecorded }
	b.do(t, "POST", "/v1/listen/"+l.ID+"/attempts", b.operator, report).want(t, http.StatusOK, &out)
	if len(out.Data) != 1 || !out.Data[0].Recorded {
		t.Fatalf("report = %+v", out.Data)
	}
}

// A claim's body is the exact bytes signed, base64 in the JSON, whatever
// they are: an inbound form post arrives as it was sent.
func TestListenBodyIsExactBytes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := b.listen(t, b.operator, map[string]any{})
	var src struct {
		ID string `json:"id"`
	}
	b.do(t, "POST", "/v1/sources", b.operator, map[string]any{"name": "form",
		"verification": map[string]any{"type": "none"}}).want(t, http.StatusCreated, &src)
	const form = "a=1&b=%C3%A9t%C3%A9"
	req, err := http.NewRequest("POST", b.srv.URL+"/in/"+src.ID, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest: %d", res.StatusCode)
	}
	got := b.claimOne(t, b.operator, l.ID)
	if string(got.Body) != form || got.Headers["content-type"] != "application/x-www-form-urlencoded" {
		t.Fatalf("claimed body %q, headers %v", got.Body, got.Headers)
	}
	var asJSON struct {
		Data []struct {
			Body json.RawMessage `json:"body"`
		} `json:"data"`
	}
	b.do(t, "POST", "/v1/events/"+got.EventID+"/replay", b.operator, map[string]any{"destination_id": l.ID}).
		want(t, http.StatusAccepted, nil)
	b.do(t, "POST", "/v1/listen/"+l.ID+"/claim?wait=10s", b.operator, nil).want(t, http.StatusOK, &asJSON)
	if len(asJSON.Data) != 1 || string(asJSON.Data[0].Body) != `"`+base64.StdEncoding.EncodeToString([]byte(form))+`"` {
		t.Fatalf("the replay's body in JSON = %+v, want standard base64 of the bytes", asJSON.Data)
	}
}

// A listen destination takes no headers, auth or client certificate: a
// listener is handed the signed request alone, never a destination's
// credentials, so there would be nothing to send them with.
func TestListenDestinationTakesNoCredentials(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	l := b.listen(t, b.operator, map[string]any{})
	for _, in := range []map[string]any{
		{"headers": map[string]string{"X-Team": "a"}},
		{"auth": map[string]string{"type": "bearer", "token": "tok"}},
	} {
		msg := b.do(t, "PATCH", "/v1/destinations/"+l.ID, b.operator, in).wantError(t, http.StatusBadRequest, "invalid")
		if !strings.HasPrefix(msg, "headers, auth, client_certificate:") {
			t.Errorf("%v: message %q", in, msg)
		}
	}
}
