package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// Two processes share a database, each keeping the subject keys it opened.
// One erases a subject whose key the other keeps: the other's next event
// about that subject is sealed under a new key, not the destroyed one, and
// opens in both; the erased events open in neither.
func testSubjectKeysAcrossStores(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	other := b.another(t)
	stores := []*engine.Store{b.store, other}

	create := func(s *engine.Store, body string, subjects ...sluice.Subject) string {
		t.Helper()
		in := b.newEvent(ten.ID, "customer.updated", "")
		in.Payload.Body, in.Subjects = []byte(body), subjects
		created, err := s.CreateEvent(b.ctx, in, 0)
		if err != nil {
			t.Fatalf("CreateEvent: %v", err)
		}
		return created.Event.ID
	}
	wantOpens := func(id, body string) {
		t.Helper()
		for i, s := range stores {
			p, err := s.Payload(b.ctx, ten.ID, id)
			if err != nil || string(p.Body) != body {
				t.Fatalf("store %d: Payload(%s) = %v, want the body", i, id, err)
			}
		}
	}
	wantExport := func(subj sluice.Subject, ids ...string) {
		t.Helper()
		wantExported(t, stores, ten.ID, subj, ids...)
	}

	first := create(other, `{"n":1}`, subjectAda)
	second := create(b.store, `{"n":2}`, subjectAda, subjectCust)
	custOnly := create(other, `{"n":3}`, subjectCust)
	wantOpens(first, `{"n":1}`)
	wantOpens(second, `{"n":2}`)
	wantExport(subjectAda, first, second)

	er, err := b.store.EraseSubject(ctx, ten.ID, subjectAda)
	if err != nil || er.EventsMatched != 2 || er.PayloadsErased != 2 {
		t.Fatalf("EraseSubject = %+v, %v, want 2 matched and erased", er, err)
	}
	for _, s := range stores {
		for _, id := range []string{first, second} {
			_, err := s.Payload(b.ctx, ten.ID, id)
			wantCode(t, "Payload of an erased subject's event", err, sluice.EGONE)
		}
	}
	wantOpens(custOnly, `{"n":3}`)
	wantExport(subjectCust, custOnly)

	// The other store still keeps ada's destroyed key; its next event
	// about her must not be sealed under it.
	third := create(other, `{"n":4}`, subjectAda)
	fourth := create(b.store, `{"n":5}`, subjectAda, subjectCust)
	wantOpens(third, `{"n":4}`)
	wantOpens(fourth, `{"n":5}`)
	wantExport(subjectAda, third, fourth)
	wantExport(subjectCust, custOnly, fourth)
}

// wantExported checks that each of the stores exports exactly the events
// with the ids for the tenant's subject, in that order, each opening.
func wantExported(t *testing.T, stores []*engine.Store, tenantID string, subj sluice.Subject, ids ...string) {
	t.Helper()
	for i, s := range stores {
		got, err := s.SubjectPayloads(context.Background(), tenantID, subj)
		if err != nil {
			t.Fatalf("store %d: SubjectPayloads: %v", i, err)
		}
		var gotIDs []string
		for _, sp := range got {
			if sp.IntegrityError {
				t.Fatalf("store %d: SubjectPayloads: %s fails its integrity check", i, sp.EventID)
			}
			gotIDs = append(gotIDs, sp.EventID)
		}
		if !slices.Equal(gotIDs, ids) {
			t.Fatalf("store %d: SubjectPayloads = %v, want %v", i, gotIDs, ids)
		}
	}
}
