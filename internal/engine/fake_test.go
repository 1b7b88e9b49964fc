package engine_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// fake is a Driver, its Reader and its Tx in memory, holding what the
// engine's decisions are checked against: the rows it was given, and the
// rows it answers with. Operations a test does not expect panic (the
// embedded engine.Tx is nil).
type fake struct {
	engine.Tx

	tenantID   string
	keyID      string
	wrappedKey []byte
	settings   map[string]string

	routes []*engine.DestinationRow
	// shapes are the observations stored, by tenant and observation.
	shapes map[shape]bool
	// events are the rows of every event inserted; duplicate, when set,
	// makes the next insert find its dedup key taken, held by that event.
	events    []*engine.EventRows
	duplicate *sluice.Event
	// subjectKeys are the subjects' sealed keys, by tenant and hash.
	subjectKeys map[string]engine.SubjectKeyRow
	scrubs      int
	retention   sluice.Retention // the tenant's overrides

	health    map[string]*engine.DestinationHealth // by destination
	stale     map[string]bool                      // deliveries no longer claimed
	attempts  []*engine.AttemptRow
	refreshed [][]string
	disabled  map[string]string
	audits    []string // action resource
	failTx    error    // returned by RecordAttempts
}

// shape is an observation of a tenant.
type shape struct {
	tenantID string
	sluice.Observation
}

// newFake returns a fake with one tenant, ten_1.
func newFake() *fake {
	return &fake{tenantID: "ten_1", settings: map[string]string{},
		shapes: map[shape]bool{}, health: map[string]*engine.DestinationHealth{}, stale: map[string]bool{},
		disabled: map[string]string{}, subjectKeys: map[string]engine.SubjectKeyRow{}}
}

// open opens the engine over f, with a master key and the tenant's data
// key under it, on the clock.
func (f *fake) open(t *testing.T, clock *testkit.Clock, health engine.Health) *engine.Store {
	t.Helper()
	master := testkit.NewMaster(t)
	dk := seal.NewDataKey()
	f.keyID, f.wrappedKey = dk.ID(), master.Wrap(dk)
	s, err := engine.Open(context.Background(), engine.Config{Driver: f, Master: master, Now: clock.Now, Health: health,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fake) Read() engine.Reader { return f }

func (f *fake) WithTx(ctx context.Context, fn func(ctx context.Context, tx engine.Tx) error) error {
	return fn(ctx, f)
}

func (f *fake) CreateEvent(ctx context.Context, tenantID string, hashes [][]byte,
	plan func([]*engine.DestinationRow, []engine.SubjectKeyRow) (*engine.EventRows, error)) (*engine.EventInserted, error) {
	routes, err := f.Routes(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	keys, err := f.SubjectKeys(ctx, tenantID, hashes)
	if err != nil {
		return nil, err
	}
	rows, err := plan(routes, keys)
	if err != nil {
		return nil, err
	}
	return f.InsertEvent(ctx, rows)
}

func (f *fake) Listener() sluice.Listener                  { return nil }
func (f *fake) Exclusive() sluice.Exclusive                { return nil }
func (f *fake) Ping(context.Context) error                 { return nil }
func (f *fake) Scrub(context.Context) (bool, error)        { f.scrubs++; return false, nil }
func (f *fake) Close() error                               { return nil }
func (f *fake) CountDataKeys(context.Context) (int, error) { return 0, nil }

func (f *fake) Setting(_ context.Context, name string) (string, error) {
	v, ok := f.settings[name]
	if !ok {
		return "", sluice.Errorf(sluice.ENOTFOUND, "setting not found")
	}
	return v, nil
}

func (f *fake) InsertSetting(ctx context.Context, name, value string) (string, error) {
	if _, ok := f.settings[name]; !ok {
		f.settings[name] = value
	}
	return f.Setting(ctx, name)
}

func (f *fake) NewestDataKey(_ context.Context, tenantID string) (*engine.DataKeyRow, error) {
	if tenantID != f.tenantID {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "data key not found")
	}
	return &engine.DataKeyRow{ID: f.keyID, TenantID: f.tenantID, Wrapped: f.wrappedKey}, nil
}

// AddSeals takes the counts of a clock moved past a flush.
func (f *fake) AddSeals(context.Context, string, int64) error { return nil }

func (f *fake) DataKey(_ context.Context, id string) ([]byte, error) {
	if id != f.keyID {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "data key not found")
	}
	return f.wrappedKey, nil
}

func (f *fake) Routes(context.Context, string) ([]*engine.DestinationRow, error) {
	return f.routes, nil
}

func (f *fake) InsertEvent(_ context.Context, rows *engine.EventRows) (*engine.EventInserted, error) {
	if f.duplicate != nil {
		return &engine.EventInserted{}, nil
	}
	for _, k := range rows.NewSubjectKeys {
		if _, ok := f.subjectKeys[rows.Event.TenantID+string(k.Hash)]; ok {
			return nil, sluice.Errorf(sluice.ECONFLICT, "subject key exists")
		}
	}
	for _, k := range rows.NewSubjectKeys {
		f.subjectKeys[rows.Event.TenantID+string(k.Hash)] = k
	}
	f.events = append(f.events, rows)
	out := &engine.EventInserted{Inserted: true, NewObservations: make([]bool, len(rows.Observations))}
	for i, o := range rows.Observations {
		k := shape{rows.Event.TenantID, o}
		out.NewObservations[i] = !f.shapes[k]
		f.shapes[k] = true
	}
	return out, nil
}

func (f *fake) EventByDedupKey(context.Context, string, string) (*sluice.Event, error) {
	return f.duplicate, nil
}

func (f *fake) RecordAttempts(_ context.Context, as []*engine.AttemptRow, _ time.Time) ([]engine.AttemptWritten, error) {
	if f.failTx != nil {
		return nil, f.failTx
	}
	out := make([]engine.AttemptWritten, len(as))
	for i, a := range as {
		f.attempts = append(f.attempts, a)
		if f.stale[a.Attempt.DeliveryID] {
			continue
		}
		out[i] = engine.AttemptWritten{Recorded: true, Health: f.healthOf(a.Attempt.DestinationID)}
	}
	return out, nil
}

func (f *fake) healthOf(destinationID string) *engine.DestinationHealth {
	h, ok := f.health[destinationID]
	if !ok {
		h = &engine.DestinationHealth{Enabled: true}
	}
	copied := *h
	return &copied
}

func (f *fake) LockHealth(_ context.Context, _, destinationID string) (*engine.DestinationHealth, error) {
	return f.healthOf(destinationID), nil
}

func (f *fake) UpdateHealth(_ context.Context, destinationID string, h *engine.DestinationHealth) error {
	copied := *h
	f.health[destinationID] = &copied
	return nil
}

func (f *fake) ResetRateLimit(context.Context, string) error { return nil }

func (f *fake) DisableDestination(_ context.Context, destinationID, reason string, _ time.Time) error {
	f.disabled[destinationID] = reason
	return nil
}

func (f *fake) RefreshEventStatus(_ context.Context, eventIDs []string) error {
	f.refreshed = append(f.refreshed, slices.Clone(eventIDs))
	return nil
}

func (f *fake) InsertAudit(_ context.Context, e *sluice.AuditEntry) error {
	f.audits = append(f.audits, e.Action+" "+e.ResourceID)
	return nil
}

// eventsOfType returns the rows of the events inserted of the type.
func (f *fake) eventsOfType(typ string) []*engine.EventRows {
	var out []*engine.EventRows
	for _, e := range f.events {
		if e.Event.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func (f *fake) InsertDestination(_ context.Context, d *engine.DestinationRow) error {
	f.routes = append(f.routes, d)
	return nil
}

func (f *fake) Payload(_ context.Context, _, eventID string) (*engine.PayloadRow, error) {
	for _, e := range f.events {
		if e.Event.ID == eventID {
			return &engine.PayloadRow{State: e.Event.PayloadState, ContentType: e.ContentType, Body: e.Body,
				Headers: e.Headers, KeyShare: e.KeyShare, ExpiresAt: e.ExpiresAt}, nil
		}
	}
	return nil, sluice.Errorf(sluice.ENOTFOUND, "event not found")
}

func (f *fake) SubjectKeys(_ context.Context, tenantID string, hashes [][]byte) ([]engine.SubjectKeyRow, error) {
	var out []engine.SubjectKeyRow
	for _, h := range hashes {
		if k, ok := f.subjectKeys[tenantID+string(h)]; ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// KeyShares answers as the stores do: a subject's link goes with its key.
func (f *fake) KeyShares(_ context.Context, eventIDs []string) ([]engine.KeyShareRow, error) {
	var out []engine.KeyShareRow
	for _, e := range f.events {
		if !slices.Contains(eventIDs, e.Event.ID) {
			continue
		}
		for _, l := range e.Subjects {
			if k, ok := f.subjectKeys[e.Event.TenantID+string(l.Hash)]; ok && k.ID == l.KeyID {
				out = append(out, engine.KeyShareRow{EventID: e.Event.ID, TenantID: e.Event.TenantID, Hash: l.Hash,
					KeyID: l.KeyID, Share: l.Share, SealedSubjectKey: k.SealedKey})
			}
		}
	}
	return out, nil
}

func (f *fake) FieldObservations(context.Context) ([]engine.TenantObservation, error) {
	return nil, nil
}

func (f *fake) RetainedOfType(context.Context, string, int) ([]string, error) { return nil, nil }

// Tenant answers for the fake's tenant, with the server's retention.
func (f *fake) Tenant(_ context.Context, id string) (*sluice.Tenant, error) {
	if id != f.tenantID {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "tenant not found")
	}
	return &sluice.Tenant{ID: id, Retention: f.retention}, nil
}
