package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Backoff between attempts to restore a dropped work listener.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 30 * time.Second
)

// ListenWork calls wake whenever any process sharing the database stores
// work that is due now (CreateEvent, Replay, UpdateDestination enabling a
// destination): they NOTIFY on commit, and this LISTENs on one connection
// of its own. It also calls wake each time it starts listening, since work
// may have arrived while it was not. When the connection drops it
// reconnects with backoff. It returns nil when ctx ends.
//
// The channel is "sluice_work", or "sluice_work_<schema>" with
// Config.Schema, since channels are shared by the whole database; the
// notifications carry no payload. They only shorten the wait: one missed
// while reconnecting, or lost with a database failover, is found by the
// dispatcher's polling, which remains the fallback.
func (d *Driver) ListenWork(ctx context.Context, wake func()) error {
	backoff := listenBackoffMin
	for {
		listened, err := d.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			backoff = listenBackoffMin
		}
		d.logger.Warn("work notifications interrupted; polling until they resume",
			"error", err, "retry_in", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listenOnce listens on one connection until it fails or ctx ends, and
// reports whether it got as far as listening.
func (d *Driver) listenOnce(ctx context.Context, wake func()) (listened bool, err error) {
	pc, err := d.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire listener connection: %w", err)
	}
	// The connection leaves the pool for good: one that has LISTENed, or
	// failed half-way, must not serve queries again.
	conn := pc.Hijack()
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{d.channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		wake()
	}
}

// closeConn closes a connection taken out of the pool, bounded in time so a
// dead server cannot hold up the caller.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
