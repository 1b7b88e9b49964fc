package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// tenantFake is the fake with a tenant's rows to delete: it counts what
// is left of them and logs what each transaction does.
type tenantFake struct {
	*fake
	operatorTenant       string          // "" for a store without an operator key
	tenants              map[string]bool // ids
	eventRows, auditRows int             // rows of the fake's tenant left
	keysGone             bool
	txs                  []string // one line a transaction
	ops                  []string // of the transaction under way
	entries              []*sluice.AuditEntry
}

func newTenantFake(t *testing.T, clock *testkit.Clock) (*tenantFake, *engine.Store) {
	t.Helper()
	t.Parallel()
	f := &tenantFake{fake: newFake(), operatorTenant: "ten_op", tenants: map[string]bool{"ten_op": true}}
	f.tenants[f.tenantID] = true
	master := testkit.NewMaster(t)
	dk := seal.NewDataKey()
	f.keyID, f.wrappedKey = dk.ID(), master.Wrap(dk)
	s, err := engine.Open(context.Background(), engine.Config{Driver: f, Master: master, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f, s
}

func (f *tenantFake) Read() engine.Reader { return f }

func (f *tenantFake) WithTx(ctx context.Context, fn func(ctx context.Context, tx engine.Tx) error) error {
	f.ops = nil
	err := fn(ctx, f)
	f.txs = append(f.txs, strings.Join(f.ops, ", "))
	return err
}

func (f *tenantFake) OperatorKey(context.Context) (*sluice.APIKey, error) {
	if f.operatorTenant == "" {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "operator key not found")
	}
	return &sluice.APIKey{ID: "key_op", TenantID: f.operatorTenant, Operator: true}, nil
}

func (f *tenantFake) NewestDataKey(ctx context.Context, tenantID string) (*engine.DataKeyRow, error) {
	if f.keysGone && tenantID == f.tenantID {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "data key not found")
	}
	return f.fake.NewestDataKey(ctx, tenantID)
}

func (f *tenantFake) DataKey(ctx context.Context, id string) ([]byte, error) {
	if f.keysGone && id == f.keyID {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "data key not found")
	}
	return f.fake.DataKey(ctx, id)
}

func (f *tenantFake) InsertAudit(_ context.Context, e *sluice.AuditEntry) error {
	f.ops = append(f.ops, "audit")
	f.entries = append(f.entries, e)
	return nil
}

func (f *tenantFake) LockTenant(_ context.Context, id string) error {
	f.ops = append(f.ops, "lock")
	if !f.tenants[id] {
		return sluice.Errorf(sluice.ENOTFOUND, "tenant not found")
	}
	return nil
}

func (f *tenantFake) DeleteTenantKeys(context.Context, string) ([]string, error) {
	f.ops = append(f.ops, "keys")
	if f.keysGone {
		return nil, nil
	}
	f.keysGone = true
	return []string{f.keyID}, nil
}

func (f *tenantFake) DeleteTenantConfig(context.Context, string) ([]string, error) {
	f.ops = append(f.ops, "config")
	return nil, nil
}

func (f *tenantFake) DeleteTenantEvents(_ context.Context, _ string, limit int) ([]string, error) {
	n := min(f.eventRows, limit)
	f.eventRows -= n
	f.ops = append(f.ops, fmt.Sprint("events ", n))
	return make([]string, n), nil
}

func (f *tenantFake) DeleteTenantAudit(_ context.Context, _ string, limit int) (int, error) {
	n := min(f.auditRows, limit)
	f.auditRows -= n
	f.ops = append(f.ops, fmt.Sprint("audit ", n))
	return n, nil
}

func (f *tenantFake) DeleteTenant(_ context.Context, id string) error {
	f.ops = append(f.ops, "tenant")
	if f.eventRows+f.auditRows > 0 {
		return fmt.Errorf("tenant %s still has rows", id)
	}
	delete(f.tenants, id)
	return nil
}

// A tenant's keys go first, alone, recorded in the operator's tenant; its
// events and then its audit entries go a thousand a transaction, each
// locking the tenant first, and the rest with the tenant in the last. The
// files are scrubbed after the keys and at the end, and the keyring keeps
// nothing of the tenant: storing an event for it fails.
func TestDeleteTenantInBatches(t *testing.T) {
	clock := testkit.NewClock()
	f, s := newTenantFake(t, clock)
	ctx := context.Background()
	if _, err := s.CreateEvent(ctx, newEvent(clock, "x.y", `{}`), 0); err != nil {
		t.Fatalf("CreateEvent before: %v", err) // the tenant's key is cached now
	}
	f.eventRows, f.auditRows, f.txs = 2500, 1200, nil
	opCtx := sluice.WithActor(ctx, sluice.Actor{TenantID: "ten_op", KeyID: "key_op"})
	if err := s.DeleteTenant(opCtx, f.tenantID); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	want := []string{
		"config, lock, keys, audit",
		"lock, events 1000",
		"lock, events 1000",
		"lock, events 500, audit 1000",
		"lock, events 0, audit 200, config, keys, tenant",
	}
	if !slices.Equal(f.txs, want) {
		t.Errorf("transactions:\n%s\nwant\n%s", strings.Join(f.txs, "\n"), strings.Join(want, "\n"))
	}
	if len(f.entries) != 1 || f.entries[0].TenantID != "ten_op" || f.entries[0].ActorKeyID != "key_op" ||
		f.entries[0].Action != "tenant.delete" || f.entries[0].ResourceID != f.tenantID {
		t.Errorf("audit entries %+v, want tenant.delete of %s in ten_op by key_op", f.entries, f.tenantID)
	}
	if f.scrubs != 2 {
		t.Errorf("%d scrubs, want 2: after the keys and at the end", f.scrubs)
	}
	if _, err := s.CreateEvent(ctx, newEvent(clock, "x.y", `{}`), 0); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("CreateEvent after the deletion: %v, want not_found", err)
	}
	if err := s.DeleteTenant(opCtx, f.tenantID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("DeleteTenant again: %v, want not_found", err)
	}
}

// The operator's tenant holds the record of every deletion: it cannot be
// deleted, nor can any tenant of a store without one. Neither changes
// anything.
func TestDeleteTenantRefused(t *testing.T) {
	f, s := newTenantFake(t, testkit.NewClock())
	ctx := context.Background()
	if err := s.DeleteTenant(ctx, "ten_op"); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Errorf("DeleteTenant(the operator's): %v, want conflict", err)
	}
	f.operatorTenant = ""
	if err := s.DeleteTenant(ctx, f.tenantID); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Errorf("DeleteTenant without an operator: %v, want conflict", err)
	}
	if f.keysGone || len(f.entries) > 0 || f.scrubs > 0 {
		t.Errorf("a refused deletion changed things: keys gone %v, %d audit entries, %d scrubs", f.keysGone,
			len(f.entries), f.scrubs)
	}
}

// An attempt of a tenant whose keys are gone, while its rows are being
// deleted, is recorded without the notices it would publish: they cannot
// be sealed, and there is no one left to tell.
func TestRecordAttemptsOfTenantBeingDeleted(t *testing.T) {
	clock := testkit.NewClock()
	f, s := newTenantFake(t, clock)
	f.keysGone = true
	gone := attempt(clock, "dlv_1", "dst_a", sluice.AttemptFailed, sluice.DeliveryExhausted)
	gone.Attempt.HTTPStatus, gone.DisableDestination = 410, sluice.DisabledGone
	rec := s.RecordAttempts(context.Background(), []*sluice.AttemptResult{gone})[0]
	if rec.Err != nil || rec.Unclaimed {
		t.Fatalf("RecordAttempts = %+v, want recorded with nothing to claim", rec)
	}
	if len(f.attempts) != 1 || len(f.events) != 0 {
		t.Fatalf("%d attempts and %d notices stored, want the attempt alone", len(f.attempts), len(f.events))
	}
}
