package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// tenantView is a tenant as GET and PATCH /v1/tenants/{id} return it.
type tenantView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	retentionView
	Effective retentionView `json:"effective"`
}

type retentionView struct {
	PayloadStorage       *string `json:"payload_storage"`
	UndeliveredRetention *string `json:"undelivered_retention"`
	PayloadRetention     *string `json:"payload_retention"`
	MetadataRetention    *string `json:"metadata_retention"`
	AuditRetention       *string `json:"audit_retention"`
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// A tenant's admin reads and sets its retention, and its viewers read it;
// the operator manages any tenant; another tenant is not found.
func TestTenantRetentionAPI(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{noDispatcher: true})
	var created struct{ ID, Token string }
	b.do(t, "POST", "/v1/tenants", b.operator, map[string]string{"name": "acme"}).want(t, http.StatusCreated, &created)
	path := "/v1/tenants/" + created.ID

	var got tenantView
	b.do(t, "GET", path, created.Token, nil).want(t, http.StatusOK, &got)
	if got.ID != created.ID || got.Name != "acme" || got.PayloadStorage != nil || got.PayloadRetention != nil ||
		str(got.Effective.PayloadStorage) != "retain" || str(got.Effective.UndeliveredRetention) != "72h0m0s" ||
		str(got.Effective.PayloadRetention) != "720h0m0s" || str(got.Effective.MetadataRetention) != "8760h0m0s" ||
		str(got.Effective.AuditRetention) != "8760h0m0s" {
		t.Fatalf("a new tenant = %+v, effective %+v; want no overrides and the defaults", got.retentionView, got.Effective)
	}
	viewer := b.key(t, created.Token, sluice.RoleViewer)
	b.do(t, "GET", path, viewer, nil).want(t, http.StatusOK, nil)
	b.do(t, "PATCH", path, viewer, map[string]any{"payload_storage": "none"}).wantError(t, http.StatusForbidden, "forbidden")

	b.do(t, "PATCH", path, created.Token, map[string]any{"payload_storage": "until_delivered",
		"payload_retention": "48h", "audit_retention": "2160h"}).want(t, http.StatusOK, &got)
	if str(got.PayloadStorage) != "until_delivered" || str(got.PayloadRetention) != "48h0m0s" ||
		str(got.AuditRetention) != "2160h0m0s" || got.MetadataRetention != nil ||
		str(got.Effective.PayloadRetention) != "48h0m0s" || str(got.Effective.MetadataRetention) != "8760h0m0s" {
		t.Fatalf("after PATCH = %+v, effective %+v", got.retentionView, got.Effective)
	}
	// "" gives an override back to the server; fields not given stay.
	b.do(t, "PATCH", path, b.operator, map[string]any{"payload_retention": "", "name": "acme2"}).want(t, http.StatusOK, &got)
	if got.Name != "acme2" || got.PayloadRetention != nil || str(got.PayloadStorage) != "until_delivered" {
		t.Fatalf("after clearing = %+v", got)
	}

	for _, bad := range []map[string]any{
		{"payload_storage": "forever"}, {"metadata_retention": "-1h"}, {"metadata_retention": "soon"},
		{"undelivered_retention": "0s"}, {"audit_retention": "100000h"}, {"name": ""}, {"color": "blue"},
	} {
		b.do(t, "PATCH", path, created.Token, bad).wantError(t, http.StatusBadRequest, "invalid")
	}
	b.do(t, "GET", path, created.Token, nil).want(t, http.StatusOK, &got)
	if str(got.PayloadStorage) != "until_delivered" || str(got.AuditRetention) != "2160h0m0s" {
		t.Fatalf("refused PATCHes changed the tenant: %+v", got.retentionView)
	}

	op, err := b.store.OperatorKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "GET", "/v1/tenants/"+op.TenantID, created.Token, nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "PATCH", "/v1/tenants/"+op.TenantID, created.Token, map[string]any{"payload_storage": "none"}).
		wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "GET", "/v1/tenants/ten_missing", b.operator, nil).wantError(t, http.StatusNotFound, "not_found")
	b.do(t, "GET", "/v1/tenants/"+op.TenantID, b.operator, nil).want(t, http.StatusOK, nil)
}

// With payload storage none, a published event is delivered from memory:
// the answer says it is not durable, and nothing of its payload is kept.
func TestPayloadStorageNone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	op, err := b.store.OperatorKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "PATCH", "/v1/tenants/"+op.TenantID, b.operator, map[string]any{"payload_storage": "none"}).
		want(t, http.StatusOK, nil)
	recv := newReceiver(t)
	b.destination(t, b.operator, map[string]any{"url": recv.srv.URL})

	var out struct {
		ID             string
		PayloadStorage string `json:"payload_storage"`
		Durable        *bool
	}
	b.do(t, "POST", "/v1/events", b.operator, map[string]any{"type": "order.paid",
		"payload": map[string]any{"note": "volatile-marker"}}).want(t, http.StatusAccepted, &out)
	if out.PayloadStorage != "none" || out.Durable == nil || *out.Durable {
		t.Fatalf("publish answered %+v; want payload_storage none, durable false", out)
	}
	b.waitDeliveries(t, b.operator, out.ID, func(ds []delivery) bool {
		return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded
	})
	if hooks := recv.got(); len(hooks) != 1 || string(hooks[0].body) != `{"note":"volatile-marker"}` {
		t.Fatalf("the receiver got %d deliveries; want the payload once", len(hooks))
	}
	var ev event
	b.do(t, "GET", "/v1/events/"+out.ID, b.operator, nil).want(t, http.StatusOK, &ev)
	if ev.PayloadState != sluice.PayloadNotStored || string(ev.Payload) != "null" {
		t.Fatalf("the event reads payload_state %q, payload %s", ev.PayloadState, ev.Payload)
	}
	b.do(t, "POST", "/v1/events/"+out.ID+"/replay", b.operator, map[string]any{}).wantError(t, http.StatusGone, "gone")
}

// A source's payload storage overrides its tenant's: until_delivered
// deletes an ingested payload once it is delivered.
func TestSourcePayloadStorage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t)
	b.destination(t, b.operator, map[string]any{"url": recv.srv.URL})
	src := b.source(t, b.operator, map[string]any{"verification": map[string]string{"type": "none"},
		"payload_storage": "until_delivered"})
	var shown struct {
		PayloadStorage *string `json:"payload_storage"`
	}
	b.do(t, "GET", "/v1/sources/"+src.ID, b.operator, nil).want(t, http.StatusOK, &shown)
	if str(shown.PayloadStorage) != "until_delivered" {
		t.Fatalf("source payload_storage %s", str(shown.PayloadStorage))
	}
	b.do(t, "PATCH", "/v1/sources/"+src.ID, b.operator, map[string]any{"payload_storage": "sometimes"}).
		wantError(t, http.StatusBadRequest, "invalid")

	var res struct {
		EventID string `json:"event_id"`
	}
	b.ingest(t, src.ID, []byte(`{"type":"order.paid","id":"o_1"}`), nil).want(t, http.StatusAccepted, &res)
	b.waitDeliveries(t, b.operator, res.EventID, func(ds []delivery) bool {
		return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded
	})
	var ev event
	testkit.WaitFor(t, 10*time.Second, func() bool {
		b.do(t, "GET", "/v1/events/"+res.EventID, b.operator, nil).want(t, http.StatusOK, &ev)
		return ev.PayloadState == sluice.PayloadExpired
	}, func() string { return "waiting for the delivered payload to go: " + string(ev.PayloadState) })

	// Cleared, the source keeps its tenant's storage again.
	b.do(t, "PATCH", "/v1/sources/"+src.ID, b.operator, map[string]any{"payload_storage": ""}).want(t, http.StatusOK, &shown)
	if shown.PayloadStorage != nil {
		t.Fatalf("cleared source payload_storage %s", str(shown.PayloadStorage))
	}
}
