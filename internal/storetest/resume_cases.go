package storetest

import (
	"testing"

	"github.com/sluicehq/sluice"
)

// ResumeDestination closes a paused destination's circuit by hand: its
// failures are forgotten, the deliveries the pause held back are claimed
// at once, and the resume is audited with its actor. A destination that
// is not paused, is disabled or is another tenant's is refused.
func testResumeDestination(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	if err := b.store.ResumeDestination(ctx, ten.ID, d.ID); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Fatalf("resuming an active destination: %v, want conflict", err)
	}
	for range 4 {
		b.event(t, ctx, ten.ID, "x.y")
	}
	claims := b.claim(t, 2)
	if len(claims) != 2 {
		t.Fatalf("claimed %d, want 2", len(claims))
	}
	for _, c := range claims {
		fail(t, b, c)
	}
	if got := b.reload(t, d); got.State() != sluice.StatePaused {
		t.Fatalf("after 2 failures the state is %q, want paused", got.State())
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %d while paused", len(got))
	}

	other, _ := b.tenant(t, "b")
	if err := b.store.ResumeDestination(ctx, other.ID, d.ID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Fatalf("resuming another tenant's destination: %v, want not_found", err)
	}
	if err := b.store.ResumeDestination(ctx, ten.ID, d.ID); err != nil {
		t.Fatalf("ResumeDestination: %v", err)
	}
	got := b.reload(t, d)
	if got.State() != sluice.StateActive || got.Failures != 0 || !got.FailingSince.IsZero() || !got.PausedUntil.IsZero() {
		t.Fatalf("after resuming: state %q, failures %d, failing since %v, paused until %v",
			got.State(), got.Failures, got.FailingSince, got.PausedUntil)
	}
	if !hasAudit(t, b, ten.ID, "destination.resume", d.ID, sluice.ActorFrom(ctx).KeyID) {
		t.Fatal("no destination.resume audit entry naming the key")
	}
	// Every delivery the pause held back goes now, without a probe first:
	// the two never tried and the two whose retry came during the pause.
	if got := b.claim(t, 10); len(got) != 4 {
		t.Fatalf("after resuming claimed %d, want the 4 waiting", len(got))
	}
	if err := b.store.ResumeDestination(ctx, ten.ID, d.ID); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Fatalf("resuming twice: %v, want conflict", err)
	}

	d.SetEnabled(false)
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := b.store.ResumeDestination(ctx, ten.ID, d.ID); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Fatalf("resuming a disabled destination: %v, want conflict", err)
	}
}
