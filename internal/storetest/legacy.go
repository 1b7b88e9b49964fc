package storetest

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// ExecFunc runs a SQL script, several statements without parameters, on
// the driver's database in one transaction.
type ExecFunc func(t *testing.T, d engine.Driver, script string)

// LegacySubjects checks the subjects of events indexed before subject keys
// existed, as a store upgraded from then has them: a key row without a
// key (id 0), and links without shares to events sealed under the
// tenant's key. Such an event stays readable and exportable; the subject's
// next event gives it a key, under which later events are sealed; an
// erasure takes every one of them.
func LegacySubjects(t *testing.T, open OpenFunc, exec ExecFunc) {
	ctx := context.Background()
	clock, master := testkit.NewClock(), testkit.NewMaster(t)
	d := open(t)
	opts := testkit.StoreOptions{Master: master, Now: clock.Now}
	// The first engine, which writes the rows the script makes legacy, is
	// left unclosed: the store opened after it closes the driver.
	before, err := engine.Open(ctx, engine.Config{Driver: d, Master: master, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "a"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := before.CreateTenant(ctx, ten, key); err != nil {
		t.Fatal(err)
	}
	create := func(s *engine.Store, body string, subjects ...sluice.Subject) string {
		t.Helper()
		in := &sluice.NewEvent{
			Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: ten.ID, Type: "customer.updated",
				Direction: sluice.Outbound, ReceivedAt: clock.Now()},
			Payload:  sluice.Payload{Body: []byte(body), ContentType: "application/json", ExpiresAt: clock.Now().Add(24 * time.Hour)},
			Subjects: subjects,
		}
		if _, err := s.CreateEvent(ctx, in, 0); err != nil {
			t.Fatalf("CreateEvent: %v", err)
		}
		return in.Event.ID
	}
	// ada's hash comes from an event about her, which the script deletes;
	// the legacy event is sealed under the tenant's key, and the script
	// links it to her as the index did before subject keys.
	hashed := create(before, `{"hashed":true}`, subjectAda)
	legacy := create(before, `{"legacy":true}`)
	exec(t, d, `CREATE TEMP TABLE legacy_subjects AS SELECT tenant_id, hash FROM subject_keys;
		DELETE FROM events WHERE id = '`+hashed+`';
		DELETE FROM subject_keys;
		INSERT INTO subject_keys (tenant_id, hash, key_id, created_at) SELECT tenant_id, hash, 0, 0 FROM legacy_subjects;
		INSERT INTO subject_index (tenant_id, hash, event_id, key_id) SELECT tenant_id, hash, '`+legacy+`', 0 FROM legacy_subjects;
		DROP TABLE legacy_subjects;`)

	s := testkit.OpenStore(t, d, opts)
	another, err := engine.Open(ctx, engine.Config{Driver: d, Master: master, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	stores := []*engine.Store{s, another}
	wantExport := func(ids ...string) {
		t.Helper()
		for i, st := range stores {
			got, err := st.SubjectPayloads(ctx, ten.ID, subjectAda)
			if err != nil {
				t.Fatalf("store %d: SubjectPayloads: %v", i, err)
			}
			var gotIDs []string
			for _, sp := range got {
				if sp.IntegrityError {
					t.Fatalf("store %d: %s fails its integrity check", i, sp.EventID)
				}
				gotIDs = append(gotIDs, sp.EventID)
			}
			if !slices.Equal(gotIDs, ids) {
				t.Fatalf("store %d: SubjectPayloads = %v, want %v", i, gotIDs, ids)
			}
		}
	}
	wantExport(legacy)
	// The next event about ada gives her a key, which the other store
	// reads and uses.
	keyed := create(s, `{"keyed":1}`, subjectAda)
	again := create(another, `{"keyed":2}`, subjectAda, subjectCust)
	wantExport(legacy, keyed, again)

	er, err := s.EraseSubject(ctx, ten.ID, subjectAda)
	if err != nil || er.EventsMatched != 3 || er.PayloadsErased != 3 {
		t.Fatalf("EraseSubject = %+v, %v, want 3 matched and erased", er, err)
	}
	for _, st := range stores {
		for _, id := range []string{legacy, keyed, again} {
			_, err := st.Payload(ctx, ten.ID, id)
			wantCode(t, "Payload after erasure", err, sluice.EGONE)
		}
	}
	wantExport()
}
