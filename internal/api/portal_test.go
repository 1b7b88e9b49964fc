package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// A customer's destination gets that customer's events only, the tenant's
// own destination everyone's; both list by customer. A test event goes,
// signed, to the one destination it is sent to. A named replay of one
// customer's event to another's destination is refused.
func TestCustomersAndTestEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acmeRecv, ownRecv := newReceiver(t), newReceiver(t)
	acme := b.destination(t, b.operator, map[string]any{"url": acmeRecv.srv.URL, "customer": "cus_acme",
		"event_types": []string{"order.*"}})
	own := b.destination(t, b.operator, map[string]any{"url": ownRecv.srv.URL})
	var got struct {
		Customer string `json:"customer"`
	}
	b.do(t, "GET", "/v1/destinations/"+acme.ID, b.operator, nil).want(t, http.StatusOK, &got)
	if got.Customer != "cus_acme" {
		t.Errorf("destination customer %q, want cus_acme", got.Customer)
	}

	forAcme := b.publish(t, b.operator, map[string]any{"type": "order.paid", "payload": map[string]int{"n": 1}, "customer": "cus_acme"})
	forGlobex := b.publish(t, b.operator, map[string]any{"type": "order.paid", "payload": map[string]int{"n": 2}, "customer": "cus_globex"})
	delivered := func(ds []delivery) bool {
		return !slices.ContainsFunc(ds, func(d delivery) bool { return d.Status != sluice.DeliverySucceeded })
	}
	acmeTo := b.waitDeliveries(t, b.operator, forAcme, delivered)
	globexTo := b.waitDeliveries(t, b.operator, forGlobex, delivered)
	if len(acmeTo) != 2 || len(globexTo) != 1 || globexTo[0].DestinationID != own.ID {
		t.Errorf("acme's event went to %v, globex's to %v; want acme's and the own destination, then the own alone", acmeTo, globexTo)
	}

	var events struct {
		Data []struct {
			ID       string `json:"id"`
			Customer string `json:"customer"`
		} `json:"data"`
	}
	b.do(t, "GET", "/v1/events?customer=cus_acme", b.operator, nil).want(t, http.StatusOK, &events)
	if len(events.Data) != 1 || events.Data[0].ID != forAcme || events.Data[0].Customer != "cus_acme" {
		t.Errorf("events of cus_acme = %+v, want %s", events.Data, forAcme)
	}
	var dests struct{ Data []destination }
	b.do(t, "GET", "/v1/destinations?customer=cus_acme", b.operator, nil).want(t, http.StatusOK, &dests)
	if len(dests.Data) != 1 || dests.Data[0].ID != acme.ID {
		t.Errorf("destinations of cus_acme = %+v, want %s", dests.Data, acme.ID)
	}
	b.do(t, "POST", "/v1/events/"+forGlobex+"/replay", b.operator, map[string]string{"destination_id": acme.ID}).
		wantError(t, http.StatusConflict, sluice.ECONFLICT)
	for _, bad := range []struct{ method, path string }{
		{"POST", "/v1/events"}, {"POST", "/v1/destinations"},
	} {
		b.do(t, bad.method, bad.path, b.operator, map[string]any{"type": "a.b", "payload": 1, "url": ownRecv.srv.URL,
			"customer": "ada@example.com"}).wantError(t, http.StatusBadRequest, sluice.EINVALID)
	}

	var test struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Customer string `json:"customer"`
	}
	b.do(t, "POST", "/v1/destinations/"+acme.ID+"/test", b.operator, nil).want(t, http.StatusAccepted, &test)
	if test.Type != sluice.TestEventType || test.Customer != "cus_acme" {
		t.Errorf("test event %+v, want %s for cus_acme", test, sluice.TestEventType)
	}
	ds := b.waitDeliveries(t, b.operator, test.ID, delivered)
	if len(ds) != 1 || ds[0].DestinationID != acme.ID {
		t.Fatalf("test event's deliveries %+v, want one to %s", ds, acme.ID)
	}
	hooks := acmeRecv.got()
	last := hooks[len(hooks)-1]
	sw, err := standardwebhooks.NewWebhook(acme.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Verify(last.body, last.header); err != nil || last.header.Get("webhook-id") != test.ID {
		t.Errorf("test delivery: verify %v, webhook-id %q, want %s", err, last.header.Get("webhook-id"), test.ID)
	}
	if n := len(ownRecv.got()); n != 2 {
		t.Errorf("the own destination got %d requests, want the two orders and no test event", n)
	}
	// Names are unique among one customer's destinations, not across
	// customers: each may have its own "production".
	prodA := b.destination(t, b.operator, map[string]any{"name": "production", "url": ownRecv.srv.URL, "customer": "cus_a"})
	b.destination(t, b.operator, map[string]any{"name": "production", "url": ownRecv.srv.URL, "customer": "cus_b"})
	b.do(t, "POST", "/v1/destinations", b.operator, map[string]any{"name": "Production", "url": ownRecv.srv.URL,
		"customer": "cus_a"}).wantError(t, http.StatusConflict, sluice.ECONFLICT)
	b.do(t, "PATCH", "/v1/destinations/"+prodA.ID, b.operator, map[string]any{"customer": "cus_b"}).
		wantError(t, http.StatusConflict, sluice.ECONFLICT)

	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.do(t, "POST", "/v1/destinations/"+acme.ID+"/test", viewer, nil).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)
	b.do(t, "POST", "/v1/destinations/dst_nope/test", b.operator, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
}

// portalCreated is POST /v1/portal-sessions' answer.
type portalCreated struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	Scope struct {
		Customer string `json:"customer"`
		Payloads bool   `json:"payloads"`
	} `json:"scope"`
	LinkExpiresAt     time.Time `json:"link_expires_at"`
	SessionTTLSeconds int       `json:"session_ttl_seconds"`
}

// An admin creates a portal link for a customer: its URL leads to the
// portal's sign-in with a token that signs in once; the token is in the
// answer alone, never in the logs. Deleting the portal session ends it.
// Bad scopes and lifetimes are refused, and viewers may not create one.
func TestPortalSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var p portalCreated
	start := time.Now()
	b.do(t, "POST", "/v1/portal-sessions", b.operator, map[string]any{
		"scope": map[string]any{"customer": "cus_acme", "payloads": true}, "link_ttl_seconds": 60}).
		want(t, http.StatusCreated, &p)
	base := b.srv.URL + sluice.PortalSignInPath
	token, ok := strings.CutPrefix(p.URL, base)
	if !ok || token == "" || !sluice.ValidID(p.ID) || p.Scope.Customer != "cus_acme" || !p.Scope.Payloads ||
		p.SessionTTLSeconds != 3600 || p.LinkExpiresAt.Before(start.Add(59*time.Second)) ||
		p.LinkExpiresAt.After(time.Now().Add(60*time.Second)) {
		t.Fatalf("created %+v, want a link under %s for a minute, an hour's session", p, base)
	}

	var short portalCreated
	b.do(t, "POST", "/v1/portal-sessions", b.operator, map[string]any{"scope": "cus_acme", "session_ttl_seconds": 600}).
		want(t, http.StatusCreated, &short)
	if short.Scope.Customer != "cus_acme" || short.Scope.Payloads || short.SessionTTLSeconds != 600 {
		t.Errorf("created from a customer id alone %+v, want cus_acme without payloads, 10 minutes", short)
	}

	for _, bad := range []map[string]any{
		{},
		{"scope": 42},
		{"scope": map[string]any{}},
		{"scope": map[string]any{"customer": "ada@example.com"}},
		{"scope": map[string]any{"customer": "c", "everything": true}},
		{"scope": "c", "link_ttl_seconds": 0},
		{"scope": "c", "link_ttl_seconds": 7200},
		{"scope": "c", "session_ttl_seconds": 100000},
		{"scope": "c", "unknown": 1},
	} {
		msg := b.do(t, "POST", "/v1/portal-sessions", b.operator, bad).wantError(t, http.StatusBadRequest, sluice.EINVALID)
		if msg == "" {
			t.Errorf("%v: no message", bad)
		}
	}
	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.do(t, "POST", "/v1/portal-sessions", viewer, map[string]any{"scope": "c"}).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)

	id := sluice.NewToken()
	signedIn, err := b.store.SignInPortal(t.Context(), sluice.HashToken(token), sluice.HashSessionID(id), "csrf")
	if err != nil || signedIn.ID != p.ID {
		t.Fatalf("SignInPortal with the link's token = %+v, %v", signedIn, err)
	}
	other := b.tenant(t, "other")
	b.do(t, "DELETE", "/v1/portal-sessions/"+p.ID, other, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)
	b.do(t, "DELETE", "/v1/portal-sessions/"+p.ID, b.operator, nil).want(t, http.StatusNoContent, nil)
	if _, err := b.store.PortalSession(t.Context(), sluice.HashSessionID(id)); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("PortalSession after DELETE: %v, want ENOTFOUND", err)
	}
	b.do(t, "DELETE", "/v1/portal-sessions/"+p.ID, b.operator, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)

	var audit struct {
		Data []struct {
			Action     string          `json:"action"`
			ActorKeyID *string         `json:"actor_key_id"`
			Changes    json.RawMessage `json:"changes"`
		} `json:"data"`
	}
	b.do(t, "GET", "/v1/audit?resource_id="+p.ID, b.operator, nil).want(t, http.StatusOK, &audit)
	var actions []string
	for _, e := range audit.Data {
		actor := "sluice"
		if e.ActorKeyID != nil {
			actor = (*e.ActorKeyID)[:4]
		}
		actions = append(actions, fmt.Sprintf("%s by %s", e.Action, actor))
	}
	want := []string{"portal_session.delete by key_", "portal_session.sign_in by pts_", "portal_session.create by key_"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit of the portal session = %v, want %v", actions, want)
	}
	testkit.WaitFor(t, time.Second, func() bool { return true }, func() string { return "" })
	b.assertLogsClean(t, token, id)
}
