package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TryExclusive runs fn if no other process sharing the database (nor
// another caller in this one) is running work of the same name, and
// reports whether it ran. Retention purges use it so that N processes do
// not purge the same rows N times at once.
//
// It holds a session-level advisory lock, pg_try_advisory_lock on the
// hashed name, on a connection of its own while fn runs. Advisory locks
// rather than leader election: the work is short, idempotent and batched,
// so all it needs is "not twice at the same time", which one lock call
// gives without a leader table, heartbeats, terms or fencing; PostgreSQL
// releases the lock by itself when the holder's session ends, so a process
// that dies holds nothing; and each kind of work is locked on its own, so
// different processes may run different kinds. If the lock's connection
// is lost while fn runs the lock goes with it and another process may
// start the same work; being idempotent, that costs only duplicated
// effort. Names are scoped to Config.Schema.
func (d *Driver) TryExclusive(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("exclusive %s: acquire connection: %w", name, err)
	}
	key := "sluice." + d.schema + "." + name
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&locked); err != nil {
		conn.Release()
		return false, fmt.Errorf("exclusive %s: lock: %w", name, err)
	}
	if !locked {
		conn.Release()
		return false, nil
	}
	defer func() {
		// Unlock even when ctx has ended; should that fail, closing the
		// session releases the lock instead of returning it to the pool
		// still held.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var unlocked bool
		uerr := conn.QueryRow(uctx, `SELECT pg_advisory_unlock(hashtext($1))`, key).Scan(&unlocked)
		if uerr != nil || !unlocked {
			closeConn(conn.Hijack())
			if uerr != nil {
				err = errors.Join(err, fmt.Errorf("exclusive %s: unlock: %w", name, uerr))
			}
			return
		}
		conn.Release()
	}()
	return true, fn(ctx)
}
