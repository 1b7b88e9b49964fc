package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/thin"
)

// thinEvent is what a thin destination receives.
type thinEvent struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	CreatedAt      time.Time `json:"created_at"`
	FetchURL       string    `json:"fetch_url"`
	FetchExpiresAt time.Time `json:"fetch_expires_at"`
}

// thinPayload is a payload with values no thin event may carry.
const thinPayload = `{"id":"inv_1","data":{"amount":4200,"customer":{"email":"ada@example.com"}},"note":"private"}`

// deliverThin publishes thinPayload to a new thin destination of the
// token's tenant, with the fields given (delivery thin is added), waits
// for the delivery, and returns the destination and the thin event it
// received, after checking its signature.
func (b *testBundle) deliverThin(t *testing.T, token string, fields map[string]any) (destination, *thinEvent, string) {
	t.Helper()
	rec := newReceiver(t)
	// A type of its own, so that no other destination of the test gets it.
	eventType := "invoice.paid." + strings.ToLower(sluice.NewID("t"))
	fields["url"], fields["delivery"], fields["event_types"] = rec.srv.URL, "thin", []string{eventType}
	dest := b.destination(t, token, fields)
	id := b.publish(t, token, map[string]any{"type": eventType, "payload": json.RawMessage(thinPayload)})
	b.waitDeliveries(t, token, id, func(ds []delivery) bool {
		return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded
	})
	got := rec.got()
	if len(got) != 1 {
		t.Fatalf("the thin destination got %d requests", len(got))
	}
	for _, value := range []string{"inv_1", "4200", "ada@example.com", "private"} {
		if strings.Contains(string(got[0].body), value) {
			t.Errorf("the thin event %s carries the payload's %q", got[0].body, value)
		}
	}
	wh, err := standardwebhooks.NewWebhook(dest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].body, got[0].header); err != nil {
		t.Errorf("the thin event does not verify: %v", err)
	}
	if ct := got[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("thin event content-type %q", ct)
	}
	var ev thinEvent
	if err := json.Unmarshal(got[0].body, &ev); err != nil {
		t.Fatalf("thin event %s: %v", got[0].body, err)
	}
	var keys map[string]any
	_ = json.Unmarshal(got[0].body, &keys)
	if len(keys) != 5 || ev.ID != id || ev.Type != eventType || got[0].header.Get("webhook-id") != id {
		t.Fatalf("thin event %s, want the five fields of event %s", got[0].body, id)
	}
	return dest, &ev, id
}

// fetch GETs a fetch URL without credentials.
func (b *testBundle) fetch(t *testing.T, url string) *response {
	t.Helper()
	if !strings.HasPrefix(url, b.srv.URL+thin.PathPrefix) {
		t.Fatalf("fetch URL %q is not on %s", url, b.srv.URL)
	}
	return b.do(t, "GET", strings.TrimPrefix(url, b.srv.URL), "", nil)
}

// fetchAuditEntry is an audit entry as the API returns it.
type fetchAuditEntry struct {
	ActorKeyID *string `json:"actor_key_id"`
	Action     string  `json:"action"`
	ResourceID *string `json:"resource_id"`
}

// fetchAudits returns the event.fetch* entries of the token's tenant on
// the event, newest first.
func (b *testBundle) fetchAudits(t *testing.T, token, eventID string) []fetchAuditEntry {
	t.Helper()
	var out struct{ Data []fetchAuditEntry }
	b.do(t, "GET", "/v1/audit?limit=500", token, nil).want(t, http.StatusOK, &out)
	var fetches []fetchAuditEntry
	for _, e := range out.Data {
		if strings.HasPrefix(e.Action, "event.fetch") && e.ResourceID != nil && *e.ResourceID == eventID {
			fetches = append(fetches, e)
		}
	}
	return fetches
}

// A thin destination receives the event's id, type, time and a fetch URL,
// signed; the URL answers, as often as asked until it expires, with
// exactly what a full delivery carries (the allowlist applied), signed
// the same way, and each fetch is audited with the destination as actor.
// After the fetch lifetime it answers 410; an altered token 404.
func TestThinDeliveryFetch(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, o setupOptions) {
		// Real time, as receivers check a signature's timestamp.
		clock := testkit.ClockAt(time.Now().UTC().Truncate(time.Millisecond))
		o.now = clock.Now
		b := setupWith(t, o)
		dest, ev, id := b.deliverThin(t, b.operator, map[string]any{"fields": []string{"id", "data.amount"},
			"fetch_ttl_seconds": 60})
		var stored event
		b.do(t, "GET", "/v1/events/"+id, b.operator, nil).want(t, http.StatusOK, &stored)
		if !ev.CreatedAt.Equal(stored.ReceivedAt) || !ev.FetchExpiresAt.Equal(clock.Now().Add(time.Minute).Truncate(time.Second)) {
			t.Errorf("thin event created_at %v, fetch_expires_at %v; want %v and %v", ev.CreatedAt, ev.FetchExpiresAt,
				stored.ReceivedAt, clock.Now().Add(time.Minute))
		}

		wh, err := standardwebhooks.NewWebhook(dest.Secret)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // usable until it expires
			res := b.fetch(t, ev.FetchURL)
			res.want(t, http.StatusOK, nil)
			if string(res.body) != `{"data":{"amount":4200},"id":"inv_1"}` {
				t.Errorf("fetched %s, want the allowlisted fields", res.body)
			}
			if res.header.Get("Content-Type") != "application/json" || res.header.Get("Cache-Control") != "no-store" ||
				res.header.Get("webhook-id") != id {
				t.Errorf("fetch headers %v", res.header)
			}
			if err := wh.Verify(res.body, res.header); err != nil {
				t.Errorf("the fetched payload does not verify: %v", err)
			}
		}
		audits := b.fetchAudits(t, b.operator, id)
		if len(audits) != 2 || audits[0].Action != "event.fetch" || audits[0].ActorKeyID == nil ||
			*audits[0].ActorKeyID != dest.ID {
			t.Errorf("fetch audit entries %+v, want two event.fetch by %s", audits, dest.ID)
		}

		token := strings.TrimPrefix(ev.FetchURL, b.srv.URL+thin.PathPrefix)
		altered := token[:len(token)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(token, "AA")]
		forged := b.fetch(t, b.srv.URL+thin.PathPrefix+altered).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
		garbage := b.fetch(t, b.srv.URL+thin.PathPrefix+"not-a-token").wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
		if forged != garbage {
			t.Errorf("an altered token says %q, garbage %q: they must read the same", forged, garbage)
		}

		clock.Advance(time.Minute)
		b.fetch(t, ev.FetchURL).wantError(t, http.StatusGone, sluice.EGONE)
		if audits := b.fetchAudits(t, b.operator, id); len(audits) != 3 || audits[0].Action != "event.fetch_gone" {
			t.Errorf("after an expired fetch, audit entries %+v", audits)
		}
		b.assertLogsClean(t, token, "ada@example.com", "private", "4200")
	})
}

// An erased payload's fetch answers 410; a deleted destination's, a token
// signed with another key and a token for a delivery that never was
// answer 404 as a forged one does. Another tenant's fetch is audited in
// that tenant only.
func TestThinFetchGoneOrNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, erased, erasedID := b.deliverThin(t, b.operator, map[string]any{})
	b.do(t, "DELETE", "/v1/events/"+erasedID+"/payload", b.operator, nil).want(t, http.StatusNoContent, nil)
	b.fetch(t, erased.FetchURL).wantError(t, http.StatusGone, sluice.EGONE)

	notFound := b.fetch(t, b.srv.URL+thin.PathPrefix+"x").wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
	dest, deleted, _ := b.deliverThin(t, b.operator, map[string]any{})
	b.fetch(t, deleted.FetchURL).want(t, http.StatusOK, nil)
	b.do(t, "DELETE", "/v1/destinations/"+dest.ID, b.operator, nil).want(t, http.StatusNoContent, nil)
	if msg := b.fetch(t, deleted.FetchURL).wantError(t, http.StatusNotFound, sluice.ENOTFOUND); msg != notFound {
		t.Errorf("a deleted destination's fetch says %q, want %q", msg, notFound)
	}

	other := b.tenant(t, "other")
	_, theirs, theirID := b.deliverThin(t, other, map[string]any{})
	var ds struct{ Data []delivery }
	b.do(t, "GET", "/v1/events/"+theirID+"/deliveries", other, nil).want(t, http.StatusOK, &ds)
	for name, token := range map[string]string{
		"another key": thin.Token(make([]byte, 32), thin.Grant{DeliveryID: ds.Data[0].ID, ExpiresAt: time.Now().Add(time.Hour)}),
		"no delivery": thin.Token(b.store.FetchKey(), thin.Grant{DeliveryID: sluice.NewID(sluice.PrefixDelivery),
			ExpiresAt: time.Now().Add(time.Hour)}),
	} {
		if msg := b.fetch(t, b.srv.URL+thin.PathPrefix+token).wantError(t, http.StatusNotFound, sluice.ENOTFOUND); msg != notFound {
			t.Errorf("%s: %q, want %q", name, msg, notFound)
		}
	}
	res := b.fetch(t, theirs.FetchURL)
	res.want(t, http.StatusOK, nil)
	if string(res.body) != thinPayload {
		t.Errorf("fetched %s, want the whole payload", res.body)
	}
	if n := len(b.fetchAudits(t, other, theirID)); n != 1 {
		t.Errorf("the other tenant has %d fetch audit entries, want 1", n)
	}
	if n := len(b.fetchAudits(t, b.operator, theirID)); n != 0 {
		t.Errorf("the default tenant has %d audit entries of the other's fetch", n)
	}
}

// A thin delivery's fetch answers with what a full delivery would carry,
// so what the tenant restricts is withheld from a destination without a
// grant there too.
func TestThinFetchWithholdsRestricted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ten struct{ ID, Token string }
	b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{"name": "shop"}).want(t, http.StatusCreated, &ten)
	b.do(t, "PATCH", "/v1/tenants/"+ten.ID, ten.Token, map[string]any{"restricted_data": map[string]any{
		"paths": []string{"data.customer"}, "subject_types": []string{}}}).want(t, http.StatusOK, nil)
	_, ev, _ := b.deliverThin(t, ten.Token, map[string]any{})
	res := b.fetch(t, ev.FetchURL)
	res.want(t, http.StatusOK, nil)
	if string(res.body) != `{"data":{"amount":4200},"id":"inv_1","note":"private"}` {
		t.Errorf("fetched %s, want the payload without data.customer", res.body)
	}
}

// A thin delivery's fetch pseudonymises as a full delivery does.
func TestThinFetchPseudonymizes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, ev, _ := b.deliverThin(t, b.operator, map[string]any{"pseudonymize": []string{"data.customer.email"}})
	res := b.fetch(t, ev.FetchURL)
	res.want(t, http.StatusOK, nil)
	var got struct {
		Data struct {
			Customer struct{ Email string }
		}
	}
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Data.Customer.Email, "pst_") {
		t.Errorf("fetched %s, want the email pseudonymised", res.body)
	}
}
