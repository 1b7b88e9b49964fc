package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// capabilityCases run where the driver has the capability they check and
// skip where it has none, as a database only one process uses has none.
var capabilityCases = []testCase{
	{name: "ListenWork", fn: testListenWork},
	{name: "TryExclusive", fn: testTryExclusive},
}

// A listener is woken once when it starts listening, and again when work
// due now is committed; it returns nil when its context ends.
func testListenWork(t *testing.T, b *bundle) {
	l := b.store.Listener()
	if l == nil {
		t.Skip("the driver has no listener: one process owns its database")
	}
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	wakes := make(chan struct{}, 16)
	listenCtx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() {
		done <- l.ListenWork(listenCtx, func() { wakes <- struct{}{} })
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up %s", what)
		}
	}
	wait("when listening began")
	b.event(t, ctx, ten.ID, "x.y")
	wait("after an event with a delivery due now")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenWork returned %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenWork did not return after its context ended")
	}
}

// Work of one name runs once at a time; work of another name runs beside
// it; the error of the work is returned; the name is free again after.
func testTryExclusive(t *testing.T, b *bundle) {
	x := b.store.Exclusive()
	if x == nil {
		t.Skip("the driver runs no work exclusively: one process owns its database")
	}
	boom := errors.New("boom")
	var innerSame, innerOther bool
	ran, err := x.TryExclusive(b.ctx, "purge", func(ctx context.Context) error {
		var err error
		if innerSame, err = x.TryExclusive(ctx, "purge", func(context.Context) error { return nil }); err != nil {
			return err
		}
		if innerOther, err = x.TryExclusive(ctx, "other", func(context.Context) error { return nil }); err != nil {
			return err
		}
		return boom
	})
	if !ran || !errors.Is(err, boom) {
		t.Fatalf("TryExclusive = %v, %v; want it ran and returned the work's error", ran, err)
	}
	if innerSame || !innerOther {
		t.Fatalf("inside: the same name ran %v (want false), another name ran %v (want true)", innerSame, innerOther)
	}
	testkit.WaitFor(t, 10*time.Second, func() bool {
		ran, err := x.TryExclusive(b.ctx, "purge", func(context.Context) error { return nil })
		return ran && err == nil
	}, func() string { return "the name was not free again after its work ended" })
}
