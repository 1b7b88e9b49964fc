package api_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
)

// keyRotated is POST /v1/tenants/{id}/rotate-key as the API answers it.
type keyRotated struct {
	TenantID      string    `json:"tenant_id"`
	KeyID         string    `json:"key_id"`
	PreviousKeyID string    `json:"previous_key_id"`
	RotatedAt     time.Time `json:"rotated_at"`
}

// tenantOf returns the tenant of a token.
func (b *testBundle) tenantOf(t *testing.T, token string) string {
	t.Helper()
	k, err := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(token))
	if err != nil {
		t.Fatal(err)
	}
	return k.TenantID
}

// sealedBodyKey returns the data key an event's stored body names.
func (b *testBundle) sealedBodyKey(t *testing.T, eventID string) string {
	t.Helper()
	var body []byte
	if err := b.openDB(t).QueryRow(`SELECT body FROM event_payloads WHERE event_id = ?`, eventID).Scan(&body); err != nil {
		t.Fatal(err)
	}
	id, err := seal.SealedKeyID(body)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// An admin rotates its own tenant's data key and the operator any
// tenant's: new payloads are sealed under the new key, what came before
// reads as it did, and the audit log says who. Another tenant's id is 404
// to an admin, a viewer is 403, and the answer names keys only by id.
func TestRotateTenantKey(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	acme := b.tenant(t, "acme")
	acmeID, defaultID := b.tenantOf(t, acme), b.tenantOf(t, b.operator)
	viewer := b.key(t, acme, sluice.RoleViewer)
	dest := b.destination(t, acme, map[string]any{"url": "https://acme.example.com/hooks"})
	before := b.publish(t, acme, map[string]any{"type": "invoice.paid", "payload": map[string]any{"n": 1}})
	first := b.sealedBodyKey(t, before)
	path := "/v1/tenants/" + acmeID + "/rotate-key"

	res := b.do(t, "POST", path, acme, nil)
	var rot keyRotated
	res.want(t, http.StatusOK, &rot)
	var fields map[string]any
	if err := json.Unmarshal(res.body, &fields); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, []string{"key_id", "previous_key_id", "rotated_at", "tenant_id"}) {
		t.Fatalf("answer fields %v", got)
	}
	if rot.TenantID != acmeID || rot.PreviousKeyID != first || !strings.HasPrefix(rot.KeyID, "dk_") || rot.KeyID == first ||
		rot.RotatedAt.IsZero() {
		t.Fatalf("rotation %+v, want a new key succeeding %s", rot, first)
	}
	after := b.publish(t, acme, map[string]any{"type": "invoice.paid", "payload": map[string]any{"n": 2}})
	if got := b.sealedBodyKey(t, after); got != rot.KeyID {
		t.Fatalf("a payload after the rotation is sealed under %s, want %s", got, rot.KeyID)
	}
	var d destination
	b.do(t, "GET", "/v1/destinations/"+dest.ID, acme, nil).want(t, http.StatusOK, &d)
	if d.URL != "https://acme.example.com/hooks" {
		t.Fatalf("destination URL after the rotation %q", d.URL)
	}
	for id, want := range map[string]string{before: `{"n":1}`, after: `{"n":2}`} {
		var ev event
		b.do(t, "GET", "/v1/events/"+id, acme, nil).want(t, http.StatusOK, &ev)
		if string(ev.Payload) != want {
			t.Fatalf("payload of %s = %s, want %s", id, ev.Payload, want)
		}
	}

	// The operator, for another tenant and its own; an empty object is a
	// body too.
	var byOperator keyRotated
	b.do(t, "POST", path, b.operator, "{}").want(t, http.StatusOK, &byOperator)
	if byOperator.PreviousKeyID != rot.KeyID {
		t.Fatalf("the operator's rotation succeeded %s, want %s", byOperator.PreviousKeyID, rot.KeyID)
	}
	b.do(t, "POST", "/v1/tenants/"+defaultID+"/rotate-key", b.operator, nil).want(t, http.StatusOK, nil)

	b.do(t, "POST", "/v1/tenants/"+defaultID+"/rotate-key", acme, nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "POST", "/v1/tenants/ten_missing/rotate-key", b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "POST", path, viewer, nil).wantError(t, http.StatusForbidden, "forbidden")
	b.do(t, "POST", path, "", nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	b.do(t, "POST", path, acme, `{"key":"x"}`).wantError(t, http.StatusBadRequest, "invalid")
	b.do(t, "GET", path, acme, nil).wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")

	entries, _, err := b.store.AuditLog(context.Background(), acmeID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range slices.Backward(entries) {
		if e.Action == "tenant.rotate_key" {
			got = append(got, e.ResourceID+" by "+e.ActorKeyID)
		}
	}
	acmeKey, _ := b.store.KeyByTokenHash(context.Background(), sluice.HashToken(acme))
	op, _ := b.store.OperatorKey(context.Background())
	if want := []string{rot.KeyID + " by " + acmeKey.ID, byOperator.KeyID + " by " + op.ID}; !slices.Equal(got, want) {
		t.Fatalf("audit of the rotations = %v, want %v", got, want)
	}
	b.assertLogsClean(t, acme, viewer, b.operator, "acme.example.com")
}
