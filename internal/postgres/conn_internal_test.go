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
)

// notSent is an error pgconn would call safe to retry: it happened before
// anything was sent.
type notSent struct{}

func (notSent) Error() string     { return "conn closed" }
func (notSent) SafeToRetry() bool { return true }

// A lost connection is told from a statement's failure and from the
// caller's context ending.
func TestLostConnection(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"a statement's error", &pgconn.PgError{Severity: "ERROR", Code: "23505"}, false},
		{"the session terminated", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true},
		{"no server", &pgconn.ConnectError{}, true},
		{"the network", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, true},
		{"end of stream", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"a connection closed already", notSent{}, true},
		{"the caller's context", fmt.Errorf("query: %w", context.Canceled), false},
		{"nothing", nil, false},
		{"anything else", errors.New("scan: wrong type"), false},
	} {
		if got := lostConnection(tc.err); got != tc.want {
			t.Errorf("%s: lostConnection = %v, want %v", tc.name, got, tc.want)
		}
	}
}
