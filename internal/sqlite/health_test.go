package sqlite

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
)

// A success for a destination last read healthy skips reading its health;
// a failure, or any write to the destination, makes the next success read
// it again, so a success after failures still resets them.
func TestHealthyDestinationSkipsTheHealthRead(t *testing.T) {
	s, ten, dests := benchStore(t, 1)
	d := dests[0]
	ctx := context.Background()
	record := func(outcome string) {
		t.Helper()
		c, err := storeClaimed(ctx, s, ten.ID, []byte(`{}`))
		if err == nil {
			err = s.RecordAttempt(ctx, attemptResult(c, outcome))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// healthy reads the writer's map on the writer goroutine.
	healthy := func() bool {
		t.Helper()
		var ok bool
		if err := s.write(ctx, func(context.Context, querier) error { ok = s.healthy[d.ID]; return nil }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	failures := func() int {
		t.Helper()
		got, err := s.Destination(ctx, ten.ID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Failures
	}

	record(sluice.AttemptSucceeded)
	if !healthy() {
		t.Fatal("after a success read clean health, the destination is not known healthy")
	}
	record(sluice.AttemptFailed)
	if healthy() || failures() != 1 {
		t.Fatalf("after a failure: known healthy %v, failures %d; want false, 1", healthy(), failures())
	}
	record(sluice.AttemptSucceeded) // reads the failure and resets it
	if healthy() || failures() != 0 {
		t.Fatalf("after the success that reset it: known healthy %v, failures %d; want false, 0", healthy(), failures())
	}
	record(sluice.AttemptSucceeded)
	if !healthy() {
		t.Fatal("a success on clean health did not mark the destination healthy")
	}
	if err := s.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if healthy() {
		t.Error("an updated destination is still known healthy")
	}
}
