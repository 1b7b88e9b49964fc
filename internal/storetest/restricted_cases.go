package storetest

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// restrictedCases carry what withholding a tenant's restricted data takes
// to every claim, and alert on restricted fields as they appear.
var restrictedCases = []testCase{
	{name: "RestrictedClaims", fn: testRestrictedClaims},
	{name: "RestrictedFieldAlert", fn: testRestrictedFieldAlert},
}

// restrictTenant sets the tenant's restricted data policy.
func (b *bundle) restrictTenant(t *testing.T, tenantID string, r sluice.RestrictedData) {
	t.Helper()
	ten, err := b.store.Tenant(b.ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	ten.Restricted = r
	if err := b.store.UpdateTenant(b.ctx, ten); err != nil {
		t.Fatal(err)
	}
}

// A claim carries its tenant's policy and where its event's payload
// carries its subjects, by type: the source's subject paths and the paths
// of the values of its subjects, found in nested objects, arrays, keys and
// text. Paths name no value. Claims made at once and claimed later agree,
// and a policy changed takes effect on the next claim.
func testRestrictedClaims(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "order.paid")
	policy := sluice.RestrictedData{Paths: []string{"note"}, SubjectTypes: []string{"email"}}
	b.restrictTenant(t, ten.ID, policy)

	ne := b.newEvent(ten.ID, "order.paid", "")
	ne.Payload.Body = []byte(`{"customer":{"email":"Ada@Example.com","id":"cus_NffrFeUfNV2Hib"},` +
		`"items":[{"buyer":"bob@example.com"}],"by_email":{"ada@example.com":{"plan":"pro"}},` +
		`"note":"write to ada@example.com soon","ada@example.com":1,"count":7}`)
	ne.Subjects = []sluice.Subject{{Type: "email", Value: "ada@example.com"}, {Type: "email", Value: "bob@example.com"},
		{Type: "customer_id", Value: "cus_NffrFeUfNV2Hib"}}
	ne.SubjectPaths = []sluice.SubjectPath{{Path: "account.owner", Type: "Email"}, {Path: "header:X-User", Type: "email"}}
	ne.Claim = &sluice.ClaimRequest{Now: b.clock.Now(), Limit: 10, Lease: 30 * time.Second}
	created, err := b.store.CreateEvent(ctx, ne, 0)
	if err != nil || len(created.Claims) != 1 {
		t.Fatalf("CreateEvent = %+v, %v; want one claim", created, err)
	}
	want := []sluice.SubjectPath{{Path: "account.owner", Type: "email"}, {Path: "customer.email", Type: "email"},
		{Path: "customer.id", Type: "customer_id"}, {Path: "items.buyer", Type: "email"}, {Path: "by_email.*", Type: "email"},
		{Path: "note", Type: "email"}, {Path: "*", Type: "email"}}
	check := func(what string, c *sluice.Claim, policy sluice.RestrictedData) {
		t.Helper()
		if !slices.Equal(c.SubjectPaths, want) {
			t.Errorf("%s: SubjectPaths = %v\nwant %v", what, c.SubjectPaths, want)
		}
		if !slicesEqual(c.Restricted.Paths, policy.Paths) || !slicesEqual(c.Restricted.SubjectTypes, policy.SubjectTypes) {
			t.Errorf("%s: Restricted = %+v, want %+v", what, c.Restricted, policy)
		}
		for _, p := range c.SubjectPaths {
			if bytes.Contains([]byte(p.Path), []byte("@")) || bytes.Contains([]byte(p.Path), []byte("Nffr")) {
				t.Errorf("%s: a subject path names a value: %q", what, p.Path)
			}
		}
	}
	check("claimed at once", created.Claims[0], policy)

	// Its lease ends: claimed again from the store, after the policy changed.
	policy = sluice.RestrictedData{SubjectTypes: []string{"customer_id"}}
	b.restrictTenant(t, ten.ID, policy)
	b.clock.Advance(time.Minute)
	claims := b.claim(t, 10)
	if len(claims) != 1 {
		t.Fatalf("claimed %d, want 1", len(claims))
	}
	check("claimed from the store", claims[0], policy)

	// An event with no subjects carries none.
	b.event(t, ctx, ten.ID, "order.paid")
	b.clock.Advance(time.Minute)
	for _, c := range b.claim(t, 10) {
		if c.Delivery.EventID != created.Event.ID && c.SubjectPaths != nil {
			t.Errorf("an event without subjects has subject paths %v", c.SubjectPaths)
		}
	}
}

// slicesEqual compares string slices, nil and empty alike.
func slicesEqual(a, b []string) bool { return len(a) == 0 && len(b) == 0 || slices.Equal(a, b) }

// A field path new to a source's event type that the tenant restricts, as
// a path or as where a restricted subject type is, is announced once by
// sluice.anomaly.restricted_field naming the path and never the value; a
// path it does not restrict is not.
func testRestrictedFieldAlert(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "sluice.anomaly.*")
	b.restrictTenant(t, ten.ID, sluice.RestrictedData{Paths: []string{"customer"}, SubjectTypes: []string{"phone"}})
	alerts := func() []sluice.AnomalyNotice {
		t.Helper()
		var out []sluice.AnomalyNotice
		for _, e := range b.eventsOfType(t, ten.ID, sluice.NoticeAnomalyPrefix+sluice.AnomalyRestrictedField) {
			p, err := b.store.Payload(b.ctx, ten.ID, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"ada@example.com", "555", "Ada"} {
				if bytes.Contains(p.Body, []byte(secret)) {
					t.Fatalf("the alert holds a value: %s", p.Body)
				}
			}
			var n sluice.AnomalyNotice
			if err := json.Unmarshal(p.Body, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	create := func(body string, subjects ...sluice.Subject) *sluice.EventCreated {
		t.Helper()
		ne := b.newEvent(ten.ID, "order.paid", "")
		ne.Event.SourceID, ne.Payload.Body, ne.Subjects = "src_1", []byte(body), subjects
		created, err := b.store.CreateEvent(ctx, ne, 0)
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	create(`{"id":"o_1"}`)
	if got := alerts(); len(got) != 0 {
		t.Fatalf("alerts before any restricted field: %+v", got)
	}
	created := create(`{"id":"o_2","customer":{"name":"Ada","email":"ada@example.com"},"contact":"+1 555 0100"}`,
		sluice.Subject{Type: "phone", Value: "+1 555 0100"})
	if !created.Unclaimed {
		t.Fatal("the alert's delivery is not due")
	}
	got := alerts()
	if len(got) != 1 {
		t.Fatalf("alerts = %+v, want one", got)
	}
	if n := got[0]; n.SourceID != "src_1" || n.EventType != "order.paid" || n.Kind != sluice.AnomalyRestrictedField ||
		n.Detail != "new field paths restricted as personal data: customer, customer.name, customer.email, contact" {
		t.Fatalf("alert = %+v", n)
	}
	// The same paths again, and a new path not restricted: no alert.
	create(`{"id":"o_3","customer":{"name":"Bob","email":"bob@example.com"},"contact":"+1 555 0199","total":3}`,
		sluice.Subject{Type: "phone", Value: "+1 555 0199"})
	if got := alerts(); len(got) != 1 {
		t.Fatalf("alerts after known paths = %+v, want still one", got)
	}
}
