package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// The operator deletes a tenant: only the operator may, not another
// tenant's admin nor a viewer of the operator's own tenant; an unknown
// tenant is 404 and the operator's own 409. Afterwards the tenant's
// tokens are 401 at once, its source takes no webhook, and the
// operator's audit log records the deletion; the operator's tenant goes
// on as before.
func TestOperatorDeletesTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	var acme struct{ ID, Token string }
	b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{"name": "acme"}).want(t, http.StatusCreated, &acme)
	acmeViewer := b.key(t, acme.Token, sluice.RoleViewer)
	b.destination(t, acme.Token, map[string]any{"url": recv.srv.URL + "/acme"})
	src := b.source(t, acme.Token, map[string]any{"name": "shop", "verification": map[string]string{"type": "none"}})
	ev := b.publish(t, acme.Token, map[string]any{"type": "order.paid", "payload": map[string]string{"email": "ada@example.com"},
		"subjects": []map[string]string{{"type": "email", "value": "ada@example.com"}}})
	b.waitDeliveries(t, acme.Token, ev, func(ds []delivery) bool { return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded })
	b.ingest(t, src.ID, []byte(`{"type":"order.created"}`), nil).want(t, http.StatusAccepted, nil)
	opDest := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL + "/operator"})
	opViewer := b.key(t, b.operator, sluice.RoleViewer)

	path := "/v1/tenants/" + acme.ID
	other := b.tenant(t, "other")
	for _, token := range []string{acme.Token, other, opViewer} {
		b.do(t, "DELETE", path, token, nil).wantError(t, http.StatusForbidden, "forbidden")
	}
	b.do(t, "DELETE", path, "", nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	b.do(t, "DELETE", "/v1/tenants/ten_nope", b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	op, err := b.store.OperatorKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msg := b.do(t, "DELETE", "/v1/tenants/"+op.TenantID, b.operator, nil).wantError(t, http.StatusConflict, "conflict")
	if !strings.Contains(msg, "operator") {
		t.Errorf("deleting the operator's tenant: %q, want a message saying it is the operator's", msg)
	}
	// The tenant is untouched by the refusals.
	b.do(t, "GET", "/v1/events/"+ev, acme.Token, nil).want(t, http.StatusOK, nil)
	b.do(t, "GET", path, b.operator, nil).want(t, http.StatusOK, nil)

	b.do(t, "DELETE", path, b.operator, nil).want(t, http.StatusNoContent, nil)
	for _, token := range []string{acme.Token, acmeViewer} {
		b.do(t, "GET", "/v1/destinations", token, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	b.ingest(t, src.ID, []byte(`{"type":"order.created"}`), nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "DELETE", path, b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "GET", path, b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	if got := b.auditActions(t, acme.ID); len(got) != 1 || got[0] != "tenant.delete" {
		t.Errorf("the operator's audit of the tenant: %v, want [tenant.delete]", got)
	}

	b.do(t, "GET", "/v1/destinations/"+opDest.ID, b.operator, nil).want(t, http.StatusOK, nil)
	mine := b.publish(t, b.operator, map[string]any{"type": "order.paid", "payload": 1})
	b.waitDeliveries(t, b.operator, mine, func(ds []delivery) bool { return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded })
	b.assertLogsClean(t, acme.Token, acmeViewer, b.operator, "ada@example.com")
}
