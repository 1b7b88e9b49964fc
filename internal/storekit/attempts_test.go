package storekit

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sluicehq/sluice"
)

// A batch records in destination and delivery order, leaves a conflicting
// result out without stopping, and fails every result with the
// transaction.
func TestAttemptBatch(t *testing.T) {
	result := func(dest, delivery string) *sluice.AttemptResult {
		return &sluice.AttemptResult{Attempt: sluice.Attempt{DestinationID: dest, DeliveryID: delivery,
			Outcome: sluice.AttemptSucceeded}, Status: sluice.DeliverySucceeded}
	}
	rs := []*sluice.AttemptResult{result("dst_b", "dlv_1"), result("dst_a", "dlv_2"), result("dst_a", "dlv_1")}
	// No notices to seal: the keyring is never used.
	b := NewAttemptBatch(context.Background(), nil, rs)
	var seen []string
	err := b.Run(func(r *sluice.AttemptResult, _ SealedNotices) error {
		seen = append(seen, r.Attempt.DestinationID+"/"+r.Attempt.DeliveryID)
		if r == rs[1] {
			return sluice.Errorf(sluice.ECONFLICT, "taken")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []string{"dst_a/dlv_1", "dst_a/dlv_2", "dst_b/dlv_1"}; !slices.Equal(seen, want) {
		t.Errorf("recorded in order %v, want %v", seen, want)
	}
	errs := b.Errors(nil)
	if errs[0] != nil || errs[2] != nil || sluice.ErrorCode(errs[1]) != sluice.ECONFLICT {
		t.Errorf("Errors(nil) = %v, want only the second to conflict", errs)
	}

	boom := errors.New("disk full")
	if err := b.Run(func(*sluice.AttemptResult, SealedNotices) error { return boom }); err != boom {
		t.Errorf("Run with a failing record = %v, want it returned", err)
	}
	for i, err := range b.Errors(boom) {
		if err != boom {
			t.Errorf("after a failed transaction, result %d: %v, want the transaction's error", i, err)
		}
	}
}

func TestSealedNoticesFor(t *testing.T) {
	n := SealedNotices{Notices: make([]Notice, 1, 4), Disabled: &Notice{Event: &sluice.NewEvent{}}}
	if got := n.For(false); len(got) != 1 {
		t.Errorf("For(false) = %d notices, want 1", len(got))
	}
	got := n.For(true)
	if len(got) != 2 || got[1] != *n.Disabled {
		t.Errorf("For(true) = %d notices, want 2 ending with the disabled notice", len(got))
	}
	// A transaction run again must find the sealed notices as they were.
	if spare := n.Notices[:2][1]; spare != (Notice{}) {
		t.Error("For(true) wrote into the sealed notices' array")
	}
}
