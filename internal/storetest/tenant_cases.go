package storetest

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// fullTenant is a tenant with something of everything a tenant has: keys,
// a source, destinations, events published and received, with payloads,
// headers, subjects and a dedup key, deliveries and attempts, an erasure,
// audit entries and observations; and one delivery claimed and not yet
// recorded, as a dispatcher would hold it.
type fullTenant struct {
	tenant       *sluice.Tenant
	ctx          context.Context // a request of its admin
	tokens       []string        // of its keys
	source       *sluice.Source
	destinations []*sluice.Destination
	events       []string          // ids, in the order made
	bodies       map[string]string // the retained payloads, by event id
	inFlight     *sluice.Claim
	named        string // a word only this tenant's names and types carry
}

// subjectEve is erased in every full tenant.
var subjectEve = sluice.Subject{Type: "email", Value: "eve@example.com"}

// fullTenant makes a tenant with everything, its names and event types
// carrying named. Other tenants' deliveries it claims meanwhile are given
// back.
func (b *bundle) fullTenant(t *testing.T, named string) *fullTenant {
	t.Helper()
	ft := &fullTenant{named: named, bodies: map[string]string{}}
	ft.tenant = &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: named}
	admin := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: named + "-admin", Role: sluice.RoleAdmin}
	viewer := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: ft.tenant.ID, Name: named + "-viewer",
		Role: sluice.RoleViewer}
	for _, k := range []*sluice.APIKey{admin, viewer} {
		token := sluice.NewToken()
		k.TokenHash, ft.tokens = sluice.HashToken(token), append(ft.tokens, token)
	}
	if err := b.store.CreateTenant(b.ctx, ft.tenant, admin); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	ft.ctx = sluice.WithActor(b.ctx, sluice.Actor{TenantID: ft.tenant.ID, KeyID: admin.ID})
	if err := b.store.CreateAPIKey(ft.ctx, viewer); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	ft.source = b.source(t, ft.tenant.ID)
	ft.source.Name = named + "-source"
	if err := b.store.UpdateSource(ft.ctx, ft.source); err != nil {
		t.Fatalf("UpdateSource: %v", err)
	}
	for _, types := range [][]string{{"*"}, {named + ".*"}} {
		d := b.destination(t, ft.ctx, ft.tenant.ID, types...)
		d.Name = named + "-destination"
		if err := b.store.UpdateDestination(ft.ctx, d); err != nil {
			t.Fatalf("UpdateDestination: %v", err)
		}
		ft.destinations = append(ft.destinations, d)
	}

	create := func(kind, body, dedup string, headers http.Header, subjects ...sluice.Subject) string {
		t.Helper()
		in := b.newEvent(ft.tenant.ID, named+"."+kind, dedup)
		in.Payload.Body, in.Payload.Headers, in.Subjects = []byte(body), headers, subjects
		if kind == "received" {
			in.Event.Direction, in.Event.SourceID = sluice.Inbound, ft.source.ID
		}
		if _, err := b.store.CreateEvent(ft.ctx, in, 0); err != nil {
			t.Fatalf("CreateEvent: %v", err)
		}
		ft.events = append(ft.events, in.Event.ID)
		ft.bodies[in.Event.ID] = body
		return in.Event.ID
	}
	create("plain", `{"`+named+`field":1}`, "", nil)
	create("subjects", `{"email":"ada@example.com","`+named+`field":2}`, "",
		http.Header{"X-Request-Id": {"r1"}}, subjectAda, subjectCust)
	create("received", `{"type":"x","`+named+`field":3}`, "provider-evt-1", http.Header{"X-Id": {"provider-evt-1"}},
		subjectCust)
	eve := create("subjects", `{"email":"eve@example.com"}`, "", nil, subjectEve)

	claims := b.claim(t, 100)
	var (
		mine   []*sluice.Claim
		others []string
	)
	for _, c := range claims {
		if c.Delivery.TenantID == ft.tenant.ID {
			mine = append(mine, c)
		} else {
			others = append(others, c.Delivery.ID)
		}
	}
	if err := b.store.ReturnClaims(b.ctx, others); err != nil {
		t.Fatalf("ReturnClaims: %v", err)
	}
	if len(mine) < 3 {
		t.Fatalf("claimed %d deliveries of the tenant, want at least 3", len(mine))
	}
	// One succeeds, one fails and waits for its retry, one stays in flight.
	ft.inFlight = mine[len(mine)-1]
	for i, c := range mine[:2] {
		r := attemptResult(b, c, sluice.AttemptSucceeded, sluice.DeliverySucceeded)
		if i == 1 {
			r = attemptResult(b, c, sluice.AttemptFailed, sluice.DeliveryPending)
			r.NextAttemptAt = b.clock.Now().Add(time.Minute)
		}
		if err := b.record(r); err != nil {
			t.Fatalf("RecordAttempts: %v", err)
		}
	}
	if err := b.store.ReturnClaims(b.ctx, claimIDs(mine[2:len(mine)-1])); err != nil {
		t.Fatalf("ReturnClaims: %v", err)
	}

	if _, err := b.store.EraseSubject(ft.ctx, ft.tenant.ID, subjectEve); err != nil {
		t.Fatalf("EraseSubject: %v", err)
	}
	delete(ft.bodies, eve)
	if err := b.store.RecordAudit(ft.ctx, &sluice.AuditEntry{TenantID: ft.tenant.ID, ActorKeyID: admin.ID,
		Action: "event.payload_read", ResourceID: ft.events[0]}); err != nil {
		t.Fatalf("RecordAudit: %v", err)
	}
	return ft
}

func claimIDs(claims []*sluice.Claim) []string {
	ids := make([]string, len(claims))
	for i, c := range claims {
		ids[i] = c.Delivery.ID
	}
	return ids
}

// attemptResult is the next attempt of a claimed delivery, at the clock's
// time.
func attemptResult(b *bundle, c *sluice.Claim, outcome sluice.AttemptOutcome, status sluice.DeliveryStatus) *sluice.AttemptResult {
	d := &c.Delivery
	return &sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: d.TenantID,
		DeliveryID: d.ID, EventID: d.EventID, DestinationID: d.DestinationID, Number: d.Attempts + 1,
		Outcome: outcome, HTTPStatus: map[bool]int{true: 204, false: 500}[outcome == sluice.AttemptSucceeded],
		Duration: 10 * time.Millisecond, At: b.clock.Now()}, EventType: c.EventType, Status: status,
		CountsForHealth: true}
}

// tenantView is everything the store answers about a tenant, to tell
// that a tenant kept it all.
type tenantView struct {
	Tenant       *sluice.Tenant
	Keys         []*sluice.APIKey
	Source       *sluice.Source
	Sources      []*sluice.Source
	Destinations []*sluice.Destination
	Events       []*sluice.Event
	Payloads     map[string]string
	Deliveries   map[string][]*sluice.Delivery
	Attempts     map[string][]*sluice.Attempt
	Exported     []string
	Observations []*sluice.Observation
	Audit        []*sluice.AuditEntry
	Retained     int
}

// view reads everything the store answers about the tenant.
func (b *bundle) view(t *testing.T, ft *fullTenant) *tenantView {
	t.Helper()
	ctx, id := b.ctx, ft.tenant.ID
	v := &tenantView{Payloads: map[string]string{}, Deliveries: map[string][]*sluice.Delivery{},
		Attempts: map[string][]*sluice.Attempt{}}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s of tenant %s: %v", what, ft.named, err)
		}
	}
	var err error
	v.Tenant, err = b.store.Tenant(ctx, id)
	must("Tenant", err)
	for _, token := range ft.tokens {
		k, err := b.store.KeyByTokenHash(ctx, sluice.HashToken(token))
		must("KeyByTokenHash", err)
		v.Keys = append(v.Keys, k)
	}
	v.Source, err = b.store.IngestSource(ctx, ft.source.ID)
	must("IngestSource", err)
	v.Sources, _, err = b.store.Sources(ctx, id, sluice.Page{Limit: 100})
	must("Sources", err)
	v.Destinations, _, err = b.store.Destinations(ctx, id, sluice.Page{Limit: 100})
	must("Destinations", err)
	v.Events, _, err = b.store.Events(ctx, id, sluice.EventFilter{Page: sluice.Page{Limit: 100}})
	must("Events", err)
	for _, e := range v.Events {
		if p, err := b.store.Payload(ctx, id, e.ID); err == nil {
			v.Payloads[e.ID] = string(p.Body)
		} else if sluice.ErrorCode(err) != sluice.EGONE {
			must("Payload", err)
		}
		v.Deliveries[e.ID], err = b.store.Deliveries(ctx, id, e.ID)
		must("Deliveries", err)
		v.Attempts[e.ID], err = b.store.Attempts(ctx, id, e.ID)
		must("Attempts", err)
	}
	exported, err := b.store.SubjectPayloads(ctx, id, subjectAda)
	must("SubjectPayloads", err)
	for _, sp := range exported {
		v.Exported = append(v.Exported, sp.EventID+" "+string(sp.Payload.Body))
	}
	v.Observations, err = b.store.Observations(ctx, id)
	must("Observations", err)
	v.Audit, _, err = b.store.AuditLog(ctx, id, sluice.Page{Limit: 500})
	must("AuditLog", err)
	v.Retained, _, err = b.store.RetainedPayloads(ctx, id)
	must("RetainedPayloads", err)
	return v
}

// operator creates the default tenant and its operator key, and returns
// the tenant and the context of a request made with the key.
func (b *bundle) operator(t *testing.T) (*sluice.Tenant, context.Context) {
	t.Helper()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	op := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "operator", Role: sluice.RoleAdmin, Operator: true,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := b.store.CreateTenant(b.ctx, ten, op); err != nil {
		t.Fatalf("CreateTenant(operator): %v", err)
	}
	return ten, sluice.WithActor(b.ctx, sluice.Actor{TenantID: ten.ID, KeyID: op.ID})
}

// Deleting a tenant leaves nothing of it that the store answers with: no
// key authenticates, every read of its resources is not found, its lists
// are empty, nothing of it is claimed, and nothing can be stored for it.
// The operator's tenant records the deletion; another tenant keeps
// everything it had, payloads opening as before. The operator's own
// tenant cannot be deleted, nor a tenant twice.
func testDeleteTenant(t *testing.T, b *bundle) {
	opTenant, opCtx := b.operator(t)
	kept := b.fullTenant(t, "kept")
	gone := b.fullTenant(t, "gone")
	keptBefore := b.view(t, kept)
	if len(keptBefore.Payloads) != 3 || len(keptBefore.Exported) != 1 || len(keptBefore.Observations) == 0 {
		t.Fatalf("the kept tenant before: %d payloads, %d exported, %d observations; want 3, 1 and some",
			len(keptBefore.Payloads), len(keptBefore.Exported), len(keptBefore.Observations))
	}
	goneBefore := b.view(t, gone)
	if len(goneBefore.Events) != 4 || len(goneBefore.Payloads) != 3 {
		t.Fatalf("the tenant to delete has %d events and %d payloads, want 4 and 3", len(goneBefore.Events),
			len(goneBefore.Payloads))
	}
	dataKey, err := b.driver.Read().NewestDataKey(b.ctx, gone.tenant.ID)
	if err != nil {
		t.Fatalf("NewestDataKey: %v", err)
	}
	shares, err := b.driver.Read().KeyShares(b.ctx, gone.events)
	if err != nil || len(shares) == 0 {
		t.Fatalf("KeyShares = %d, %v; want the subjects' shares", len(shares), err)
	}
	var hashes [][]byte
	for _, s := range shares {
		hashes = append(hashes, s.Hash)
	}

	wantCode(t, "DeleteTenant(the operator's)", b.store.DeleteTenant(opCtx, opTenant.ID), sluice.ECONFLICT)
	wantCode(t, "DeleteTenant(unknown)", b.store.DeleteTenant(opCtx, "ten_nope"), sluice.ENOTFOUND)
	b.clock.Advance(time.Second)
	if err := b.store.DeleteTenant(opCtx, gone.tenant.ID); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}

	ctx, id := b.ctx, gone.tenant.ID
	_, err = b.store.Tenant(ctx, id)
	wantCode(t, "Tenant", err, sluice.ENOTFOUND)
	for _, token := range gone.tokens {
		_, err := b.store.KeyByTokenHash(ctx, sluice.HashToken(token))
		wantCode(t, "KeyByTokenHash of a deleted tenant's token", err, sluice.ENOTFOUND)
	}
	_, err = b.store.Source(ctx, id, gone.source.ID)
	wantCode(t, "Source", err, sluice.ENOTFOUND)
	_, err = b.store.IngestSource(ctx, gone.source.ID)
	wantCode(t, "IngestSource", err, sluice.ENOTFOUND)
	for _, d := range gone.destinations {
		_, err = b.store.Destination(ctx, id, d.ID)
		wantCode(t, "Destination", err, sluice.ENOTFOUND)
	}
	for _, e := range gone.events {
		_, err = b.store.Event(ctx, id, e)
		wantCode(t, "Event", err, sluice.ENOTFOUND)
		_, err = b.store.Payload(ctx, id, e)
		wantCode(t, "Payload", err, sluice.ENOTFOUND)
		_, err = b.store.Deliveries(ctx, id, e)
		wantCode(t, "Deliveries", err, sluice.ENOTFOUND)
		_, err = b.store.Attempts(ctx, id, e)
		wantCode(t, "Attempts", err, sluice.ENOTFOUND)
	}
	sources, _, err := b.store.Sources(ctx, id, sluice.Page{Limit: 10})
	wantEmpty(t, "Sources", len(sources), err)
	dests, _, err := b.store.Destinations(ctx, id, sluice.Page{Limit: 10})
	wantEmpty(t, "Destinations", len(dests), err)
	events, _, err := b.store.Events(ctx, id, sluice.EventFilter{Page: sluice.Page{Limit: 10}})
	wantEmpty(t, "Events", len(events), err)
	obs, err := b.store.Observations(ctx, id)
	wantEmpty(t, "Observations", len(obs), err)
	audit, _, err := b.store.AuditLog(ctx, id, sluice.Page{Limit: 10})
	wantEmpty(t, "AuditLog", len(audit), err)
	retained, _, err := b.store.RetainedPayloads(ctx, id)
	wantEmpty(t, "RetainedPayloads", retained, err)
	_, err = b.driver.Read().NewestDataKey(ctx, id)
	wantCode(t, "NewestDataKey", err, sluice.ENOTFOUND)
	_, err = b.driver.Read().DataKey(ctx, dataKey.ID)
	wantCode(t, "DataKey", err, sluice.ENOTFOUND)
	subjectKeys, err := b.driver.Read().SubjectKeys(ctx, id, hashes)
	wantEmpty(t, "SubjectKeys", len(subjectKeys), err)
	shares, err = b.driver.Read().KeyShares(ctx, gone.events)
	wantEmpty(t, "KeyShares", len(shares), err)
	_, err = b.store.SubjectPayloads(ctx, id, subjectAda)
	wantCode(t, "SubjectPayloads", err, sluice.ENOTFOUND)
	_, err = b.store.CreateEvent(gone.ctx, b.newEvent(id, "gone.after", ""), 0)
	wantCode(t, "CreateEvent for a deleted tenant", err, sluice.ENOTFOUND)
	err = b.store.CreateAPIKey(gone.ctx, &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: id,
		Role: sluice.RoleAdmin, TokenHash: sluice.HashToken(sluice.NewToken())})
	wantCode(t, "CreateAPIKey for a deleted tenant", err, sluice.ENOTFOUND)

	entries, _, err := b.store.AuditLog(ctx, opTenant.ID, sluice.Page{Limit: 10})
	if err != nil || len(entries) == 0 {
		t.Fatalf("the operator's audit log: %d entries, %v", len(entries), err)
	}
	if e := entries[0]; e.Action != "tenant.delete" || e.ResourceID != id || e.ActorKeyID != sluice.ActorFrom(opCtx).KeyID {
		t.Errorf("the operator's newest audit entry = %+v, want tenant.delete of %s by the operator key", e, id)
	}
	wantCode(t, "DeleteTenant twice", b.store.DeleteTenant(opCtx, id), sluice.ENOTFOUND)

	// The other tenant answers as before; its deliveries are claimed as
	// before, and the deleted tenant's are not.
	keptAfter := b.view(t, kept)
	if !reflect.DeepEqual(keptAfter, keptBefore) {
		t.Errorf("the other tenant changed:\nbefore %+v\nafter  %+v", keptBefore, keptAfter)
	}
	for id, body := range kept.bodies {
		if keptAfter.Payloads[id] != body {
			t.Errorf("the other tenant's payload of %s reads %q, want %q", id, keptAfter.Payloads[id], body)
		}
	}
	b.clock.Advance(time.Minute) // past the leases and the retry, short of the payloads' expiry
	claimed := b.claim(t, 100)
	for _, c := range claimed {
		if c.Delivery.TenantID != kept.tenant.ID {
			t.Errorf("claimed delivery %s of tenant %s, want the kept tenant's only", c.Delivery.ID, c.Delivery.TenantID)
		}
	}
	if len(claimed) != 5 {
		t.Errorf("claimed %d deliveries, want the kept tenant's 5 pending", len(claimed))
	}
}

func wantEmpty(t *testing.T, what string, n int, err error) {
	t.Helper()
	if err != nil || n != 0 {
		t.Errorf("%s of a deleted tenant = %d, %v; want none", what, n, err)
	}
}

// A dispatcher may hold a delivery of a tenant being deleted: recording
// its attempt afterwards, whatever it ends in, changes nothing and says
// the delivery is no longer claimed.
func testDeleteTenantInFlight(t *testing.T, b *bundle) {
	_, opCtx := b.operator(t)
	gone := b.fullTenant(t, "gone")
	c := gone.inFlight
	if err := b.store.DeleteTenant(opCtx, gone.tenant.ID); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	exhausted := attemptResult(b, c, sluice.AttemptFailed, sluice.DeliveryExhausted)
	disables := attemptResult(b, c, sluice.AttemptFailed, sluice.DeliveryExhausted)
	disables.Attempt.HTTPStatus, disables.DisableDestination = http.StatusGone, sluice.DisabledGone
	for _, r := range []*sluice.AttemptResult{exhausted, disables,
		attemptResult(b, c, sluice.AttemptSucceeded, sluice.DeliverySucceeded)} {
		rec := b.store.RecordAttempts(b.ctx, []*sluice.AttemptResult{r})[0]
		wantCode(t, "RecordAttempts of a deleted tenant's delivery", rec.Err, sluice.ECONFLICT)
		if rec.Unclaimed || rec.Disabled != "" {
			t.Errorf("RecordAttempts of a deleted tenant's delivery = %+v, want nothing done", rec)
		}
	}
	_, err := b.store.Event(b.ctx, gone.tenant.ID, c.Delivery.EventID)
	wantCode(t, "Event after the attempt", err, sluice.ENOTFOUND)
	if stats, err := b.store.QueueStats(b.ctx, b.clock.Now()); err != nil || stats.Due+stats.Scheduled+stats.InFlight != 0 {
		t.Errorf("QueueStats = %+v, %v; want no delivery left", stats, err)
	}
}
