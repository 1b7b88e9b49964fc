package api_test

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
)

// The operator creates tenants; each new tenant's token is an admin of an
// empty tenant of its own.
func TestOperatorCreatesTenants(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	token := b.tenant(t, "acme")
	var list struct{ Data []destination }
	b.do(t, "GET", "/v1/destinations", token, nil).want(t, http.StatusOK, &list)
	if len(list.Data) != 0 {
		t.Errorf("a new tenant sees %d destinations", len(list.Data))
	}
	b.destination(t, token, map[string]any{"url": "https://acme.example.com"})
	b.do(t, "POST", "/v1/tenants", token, map[string]string{"name": "nested"}).wantError(t, http.StatusForbidden, "forbidden")
	b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{}).wantError(t, http.StatusBadRequest, "invalid")
}

// A key works until it is deleted; a viewer may not manage keys.
func TestKeysCreateAndDelete(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	var k struct {
		ID, Name, Role, Token string
	}
	b.do(t, "POST", "/v1/keys", b.operator, map[string]any{"name": "ci", "role": "admin"}).want(t, http.StatusCreated, &k)
	if k.Name != "ci" || k.Role != "admin" || k.Token == "" || k.ID == "" {
		t.Fatalf("created key %+v", k)
	}
	b.do(t, "GET", "/v1/destinations", k.Token, nil).want(t, http.StatusOK, nil)

	viewer := b.key(t, b.operator, sluice.RoleViewer)
	b.do(t, "POST", "/v1/keys", viewer, map[string]any{"role": "admin"}).wantError(t, http.StatusForbidden, "forbidden")
	b.do(t, "DELETE", "/v1/keys/"+k.ID, viewer, nil).wantError(t, http.StatusForbidden, "forbidden")

	b.do(t, "DELETE", "/v1/keys/"+k.ID, b.operator, nil).want(t, http.StatusNoContent, nil)
	b.do(t, "GET", "/v1/destinations", k.Token, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	b.do(t, "DELETE", "/v1/keys/"+k.ID, b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	if got := b.auditActions(t, k.ID); len(got) != 2 || got[0] != "key.create" || got[1] != "key.delete" {
		t.Errorf("audit of the key: %v", got)
	}
	b.assertLogsClean(t, k.Token, viewer, b.operator)
}

// Tenant B can neither read nor change tenant A's destinations, events or
// keys: every such call is 404, and A's data is as it was.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	a := b.operator
	var aKey struct{ ID string }
	b.do(t, "POST", "/v1/keys", a, map[string]any{"role": "viewer"}).want(t, http.StatusCreated, &aKey)
	dest := b.destination(t, a, map[string]any{"name": "a-only", "url": recv.srv.URL})
	ev := b.publish(t, a, map[string]any{"type": "a.secret", "payload": map[string]string{"note": "tenant-a-data"}})
	b.waitDeliveries(t, a, ev, func(ds []delivery) bool { return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded })

	bTok := b.tenant(t, "b")
	bViewer := b.key(t, bTok, sluice.RoleViewer)
	for _, tok := range []string{bTok, bViewer} {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/destinations/" + dest.ID, nil},
			{"GET", "/v1/events/" + ev, nil},
			{"GET", "/v1/events/" + ev + "/deliveries", nil},
			{"GET", "/v1/events/" + ev + "/attempts", nil},
		} {
			b.do(t, c.method, c.path, tok, c.body).wantError(t, http.StatusNotFound, "not_found")
		}
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/destinations/" + dest.ID + "/secret", nil},
		{"PATCH", "/v1/destinations/" + dest.ID, map[string]any{"enabled": false}},
		{"PATCH", "/v1/destinations/" + dest.ID, map[string]any{"url": "https://attacker.example.com"}},
		{"DELETE", "/v1/destinations/" + dest.ID, nil},
		{"DELETE", "/v1/keys/" + aKey.ID, nil},
	} {
		b.do(t, c.method, c.path, bTok, c.body).wantError(t, http.StatusNotFound, "not_found")
	}

	var dl struct{ Data []destination }
	b.do(t, "GET", "/v1/destinations", bTok, nil).want(t, http.StatusOK, &dl)
	var el struct{ Data []event }
	b.do(t, "GET", "/v1/events", bTok, nil).want(t, http.StatusOK, &el)
	if len(dl.Data) != 0 || len(el.Data) != 0 {
		t.Errorf("tenant B lists %d destinations and %d events of A's", len(dl.Data), len(el.Data))
	}
	// B's own destination for "*" does not get A's events either.
	bDest := b.destination(t, bTok, map[string]any{"url": recv.srv.URL + "/b"})
	ev2 := b.publish(t, a, map[string]any{"type": "a.more", "payload": 2})
	for _, d := range b.deliveries(t, a, ev2) {
		if d.DestinationID == bDest.ID {
			t.Error("A's event was routed to B's destination")
		}
	}

	var got destination
	b.do(t, "GET", "/v1/destinations/"+dest.ID, a, nil).want(t, http.StatusOK, &got)
	if !got.Enabled || got.URL != recv.srv.URL || got.Name != "a-only" {
		t.Errorf("A's destination changed: %+v", got)
	}
	b.do(t, "GET", "/v1/events/"+ev, a, nil).want(t, http.StatusOK, nil)
}
