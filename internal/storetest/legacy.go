package storetest

import (
	"context"
	"log/slog"
	"maps"
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
		wantExported(t, stores, ten.ID, subjectAda, ids...)
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

// LegacyPaths checks what opening the store does to the field paths an
// earlier version stored with keys that are not identifiers, such as
// personal data used as keys: renamed to the present form (a key that is
// not an identifier becomes "*"), merged where several become one (the
// earliest sighting kept), and gone from the database's files; and the
// drift notices stored before, which may name them, erased.
func LegacyPaths(t *testing.T, open OpenFunc, exec ExecFunc, cfg CarveConfig) {
	ctx := context.Background()
	clock, master := testkit.NewClock(), testkit.NewMaster(t)
	d := open(t)
	before, err := engine.Open(ctx, engine.Config{Driver: d, Master: master, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{store: before, driver: d, clock: clock, ctx: ctx}
	ten, _ := b.tenant(t, "a")
	// A new field path of a type seen before: a drift notice.
	for _, body := range []string{`{"a":1}`, `{"a":1,"b":2}`} {
		in := b.newEvent(ten.ID, "order.paid", "")
		in.Payload.Body = []byte(body)
		if _, err := before.CreateEvent(ctx, in, 0); err != nil {
			t.Fatal(err)
		}
	}
	notices, err := d.Read().RetainedOfType(ctx, sluice.NoticeAnomalyPrefix+sluice.AnomalySchemaDrift, 10)
	if err != nil || len(notices) != 1 {
		t.Fatalf("drift notices = %v, %v; want one", notices, err)
	}
	// Paths as an earlier version stored them, and its drift notices as
	// not yet erased.
	exec(t, d, `DELETE FROM settings WHERE name = 'drift_notices_redacted';
		INSERT INTO observations (tenant_id, source_id, event_type, kind, name, first_seen) VALUES
		('`+ten.ID+`', '', 'customer.updated', 'field', 'by_email', 1000),
		('`+ten.ID+`', '', 'customer.updated', 'field', 'by_email.mallory@example.com', 1000),
		('`+ten.ID+`', '', 'customer.updated', 'field', 'by_email.mallory@example.com.plan', 1000),
		('`+ten.ID+`', '', 'customer.updated', 'field', 'by_email.eve.smith@example.org', 500),
		('`+ten.ID+`', '', 'customer.updated', 'field', 'by_email.eve.smith@example.org.plan', 2000);`)
	needles := map[string][]byte{"mallory's address": []byte("mallory@example.com"), "eve's address": []byte("eve.smith@example.org")}
	if found := testkit.Carve(t, cfg.PageSize, cfg.Files(t, d), needles); len(found) != len(needles) {
		t.Fatalf("before: found %d of the %d keys in the files: the carving cannot see them", len(found), len(needles))
	}

	s := testkit.OpenStore(t, d, testkit.StoreOptions{Master: master, Now: clock.Now})
	obs, err := s.Observations(ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, o := range obs {
		if o.EventType == "customer.updated" && o.Kind == sluice.ObservedField {
			got[o.Name] = o.FirstSeen.UnixMilli()
		}
	}
	want := map[string]int64{"by_email": 1000, "by_email.*": 500, "by_email.*.plan": 1000}
	if !maps.Equal(got, want) {
		t.Fatalf("field paths after opening = %v, want %v", got, want)
	}
	_, err = s.Payload(ctx, ten.ID, notices[0])
	wantCode(t, "Payload of a drift notice stored before", err, sluice.EGONE)
	testkit.WaitFor(t, 30*time.Second, func() bool {
		if err := s.Scrub(ctx); err != nil {
			t.Fatal(err)
		}
		return s.Scrubbed()
	}, func() string { return "waiting for the renamed paths to be scrubbed" })
	for what, where := range testkit.Carve(t, cfg.PageSize, cfg.Files(t, d), needles) {
		t.Errorf("after opening: %s is still in the files, at %s", what, where)
	}

	// A later start changes nothing more: a notice stored since stays.
	in := b.newEvent(ten.ID, "order.paid", "")
	in.Payload.Body = []byte(`{"a":1,"b":2,"c":3}`)
	if _, err := s.CreateEvent(ctx, in, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Open(ctx, engine.Config{Driver: d, Master: master, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if left, _ := d.Read().RetainedOfType(ctx, sluice.NoticeAnomalyPrefix+sluice.AnomalySchemaDrift, 10); len(left) != 1 {
		t.Fatalf("drift notices retained after a second start = %d, want the new one", len(left))
	}
}
