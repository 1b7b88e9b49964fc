package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/engine"
)

// The failures of the batch carrying COMMIT, by what they say of it:
// refused by the server (rolled back), nothing sent (lost before commit,
// run again), or anything else (in doubt, to be settled).
func TestCommitFailed(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "23505"}
	terminated := &pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01"}
	localized := &pgconn.PgError{Severity: "ERREUR", SeverityUnlocalized: "ERROR", Code: "40001"}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	const (
		asIs  = "as it is"
		lost  = "lost before commit"
		doubt = "in doubt"
	)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"a statement refused", live, fmt.Errorf("insert event: %w", refused), asIs},
		{"COMMIT refused, message localized", live, fmt.Errorf("commit: %w", localized), asIs},
		{"COMMIT answered ROLLBACK", live, errRolledBack, asIs},
		{"nothing sent", live, fmt.Errorf("insert event: %w", notSent{}), lost},
		{"nothing sent, the caller gone", ended, fmt.Errorf("insert event: %w", notSent{}), asIs},
		{"the session terminated", live, fmt.Errorf("insert event: %w", terminated), doubt},
		{"the connection reset", live, fmt.Errorf("commit: %w", reset), doubt},
		{"the answer cut short", live, fmt.Errorf("commit: %w", io.ErrUnexpectedEOF), doubt},
		{"the caller gone after sending", ended, fmt.Errorf("commit: %w", context.Canceled), doubt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := &engine.EventRows{}
			rows.Event.ID = "evt_1"
			err := commitFailed(tc.ctx, nil, tc.err, 7, rows)
			got := asIs
			if _, ok := errors.AsType[*lostBeforeCommit](err); ok {
				got = lost
			}
			if d, ok := errors.AsType[*commitInDoubt](err); ok {
				got = doubt
				if d.xid != 7 || d.eventID != "evt_1" {
					t.Errorf("in doubt about %d, %s; want 7, evt_1", d.xid, d.eventID)
				}
			}
			if got != tc.want {
				t.Fatalf("commitFailed(%v) is %s, want %s", tc.err, got, tc.want)
			}
			if got == asIs && err != tc.err {
				t.Fatalf("commitFailed(%v) = %v, want it unchanged", tc.err, err)
			}
		})
	}
}
