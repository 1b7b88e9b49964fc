package sluice

import "context"

// Listener hears of work that other processes sharing a store commit:
// deliveries that became due now. A store only one process uses has none
// (Store.Listener returns nil).
type Listener interface {
	// ListenWork calls wake whenever another process commits work due
	// now, and once each time it starts listening, since work may have
	// come while it was not. It keeps listening through lost connections
	// and returns nil when ctx ends. Notifications only shorten a
	// dispatcher's wait: its polling still finds any that was missed.
	ListenWork(ctx context.Context, wake func()) error
}

// Exclusive runs background work in one process at a time among those
// sharing a store. A store only one process uses has none
// (Store.Exclusive returns nil).
type Exclusive interface {
	// TryExclusive runs fn unless another process (or another caller in
	// this one) is running work of the same name, and reports whether it
	// ran. The work must be idempotent: if the process holding the right
	// to run it loses its connection, another may start the same work.
	TryExclusive(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error)
}
