package sqlite

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
)

// The writer keeps a destination's health as RecordAttempts last read it,
// so a busy destination's successes read nothing; a failure, or any write
// to the destination, forgets it, so a success after failures still reads
// them and resets them.
func TestWriterKeepsDestinationHealth(t *testing.T) {
	s, drv, ten, dests := benchStore(t, 1)
	d := dests[0]
	ctx := context.Background()
	record := func(outcome sluice.AttemptOutcome) {
		t.Helper()
		c, err := storeClaimed(ctx, s, ten.ID, []byte(`{}`))
		if err == nil {
			err = recordAttempt(ctx, s, attemptResult(c, outcome))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// kept reads the writer's memory on the writer goroutine.
	kept := func() bool {
		t.Helper()
		var ok bool
		if err := drv.write(ctx, func(context.Context) error { _, ok = drv.tx.health[d.ID]; return nil }); err != nil {
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
	if !kept() {
		t.Fatal("after a success read its health, the destination's health is not kept")
	}
	record(sluice.AttemptFailed)
	if kept() || failures() != 1 {
		t.Fatalf("after a failure: kept %v, failures %d; want false, 1", kept(), failures())
	}
	record(sluice.AttemptSucceeded) // reads the failure and resets it
	if kept() || failures() != 0 {
		t.Fatalf("after the success that reset it: kept %v, failures %d; want false, 0", kept(), failures())
	}
	record(sluice.AttemptSucceeded)
	if !kept() {
		t.Fatal("a success on clean health did not keep it")
	}
	if err := s.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if kept() {
		t.Error("an updated destination's health is still kept")
	}
}
